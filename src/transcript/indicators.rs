//! Indicators an analyst hunts for in script output — IP addresses, URLs, domains, hashes,
//! Windows paths, registry keys, SIDs, e-mail addresses — found per line, so the viewer can
//! mark them in the visible window at any document size.

use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Url,
    Email,
    Ip,
    Hash,
    Sid,
    Registry,
    Path,
    Domain,
}

const PATTERN: &str = concat!(
    r"(?P<url>\b(?:https?|ftp)://[^\s<>()]+)",
    r"|(?P<email>\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b)",
    r"|(?P<sid>\bS-1-\d+(?:-\d+){1,14}\b)",
    r"|(?P<registry>\b(?:HKLM|HKCU|HKCR|HKU|HKEY_[A-Z_]+)(?::)?\\[^\s,;]+)",
    // A folder may have spaces in its name (`Program Files`) when another `\` follows it;
    // the last part may not, so a path never swallows the prose after it.
    r#"|(?P<path>(?:\b[A-Za-z]:|\\\\[A-Za-z0-9._-]+)\\(?:[^\s<>|?*,;"\\]+(?: [^\s<>|?*,;"\\]+)*\\)*[^\s<>|?*,;"\\]*)"#,
    r"|(?P<hash>\b(?:[A-Fa-f0-9]{64}|[A-Fa-f0-9]{40}|[A-Fa-f0-9]{32})\b)",
    r"|(?P<ip>\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b|\b(?:[A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4}\b|\b(?:[A-Fa-f0-9]{1,4}:){1,6}:[A-Fa-f0-9]{0,4}\b)",
    r"|(?P<domain>\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:com|net|org|io|ru|cn|info|biz|xyz|top|onion|gov|edu|mil|us|uk|de|fr|nl|local|corp|internal|microsoft|windows)\b)",
);

fn regex() -> &'static regex_lite::Regex {
    static REGEX: OnceLock<regex_lite::Regex> = OnceLock::new();
    REGEX.get_or_init(|| {
        #[expect(
            clippy::expect_used,
            reason = "a constant pattern, covered by the tests"
        )]
        let regex = regex_lite::Regex::new(PATTERN).expect("indicator pattern");
        regex
    })
}

/// Very long lines are not scanned: they are shown plainly (and would cost more than they give).
const MAX_LINE: usize = 20_000;

/// Byte ranges of indicators in `line`, in order, not overlapping.
pub fn find(line: &str) -> Vec<(usize, usize, Kind)> {
    if line.len() > MAX_LINE || !line.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Vec::new();
    }
    let names = [
        ("url", Kind::Url),
        ("email", Kind::Email),
        ("sid", Kind::Sid),
        ("registry", Kind::Registry),
        ("path", Kind::Path),
        ("hash", Kind::Hash),
        ("ip", Kind::Ip),
        ("domain", Kind::Domain),
    ];
    regex()
        .captures_iter(line)
        .filter_map(|captures| {
            names.iter().find_map(|(name, kind)| {
                captures.name(name).map(|m| {
                    // Trailing punctuation belongs to the sentence, not the indicator.
                    let text = m.as_str().trim_end_matches(['.', ',', ')', '"', '\'', ']']);
                    (m.start(), m.start() + text.len(), *kind)
                })
            })
        })
        .filter(|(start, end, _)| end > start)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<(String, Kind)> {
        find(line)
            .into_iter()
            .map(|(s, e, k)| (line[s..e].to_string(), k))
            .collect()
    }

    #[test]
    fn finds_what_analysts_hunt_for() {
        assert_eq!(
            kinds("rundll32 -> 185.220.101.47:443 and http://evil.example.com/x.ps1."),
            vec![
                ("185.220.101.47".into(), Kind::Ip),
                ("http://evil.example.com/x.ps1".into(), Kind::Url)
            ]
        );
        assert_eq!(
            kinds("sha256 e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8")[0].1,
            Kind::Hash
        );
        assert_eq!(
            kinds("md5 5f4dcc3b5aa765d61d8327deb882cf99")[0].1,
            Kind::Hash
        );
        assert_eq!(
            kinds(r"C:\Users\Public\Libraries\msupd.dll loaded")[0],
            (r"C:\Users\Public\Libraries\msupd.dll".into(), Kind::Path)
        );
        assert_eq!(
            kinds(r"C:\Program Files\Windows Defender\MsMpEng.exe is running")[0],
            (
                r"C:\Program Files\Windows Defender\MsMpEng.exe".into(),
                Kind::Path
            )
        );
        assert_eq!(
            kinds(r#""C:\Users\Public\a b\evil.exe","OneDrive""#)[0],
            (r"C:\Users\Public\a b\evil.exe".into(), Kind::Path)
        );
        assert_eq!(
            kinds(r"share \\fs01\Team Share\tools\x.ps1 ok")[0],
            (r"\\fs01\Team Share\tools\x.ps1".into(), Kind::Path)
        );
        assert_eq!(
            kinds(r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run")[0].1,
            Kind::Registry
        );
        assert_eq!(
            kinds("S-1-5-21-3623811015-3361044348-30300820-1013")[0].1,
            Kind::Sid
        );
        assert_eq!(
            kinds("mail j.alvarez@contoso.com now")[0],
            ("j.alvarez@contoso.com".into(), Kind::Email)
        );
        assert_eq!(
            kinds("resolved cdn-updates.microsoft-syncservice.com")[0].1,
            Kind::Domain
        );
        assert_eq!(kinds("fe80::1ff:fe23:4567:890a")[0].1, Kind::Ip);
        assert!(kinds("nothing to see here").is_empty());
    }
}
