//! What a review compares: a run's digest (exit code, hash of its normalised output and
//! errors, first lines, unsafe characters) and the masks that normalise outputs first.

use crate::transcript::decode::{self, ExitCode, ScriptResult};

/// Masks applied to outputs before they are compared, so runs that differ only in
/// timestamps, GUIDs and the like fall into one cluster. The built-in masks (ISO and US
/// timestamps, GUIDs) are one hand-written pass: outputs run to many megabytes and regexes
/// would dominate a review. Users add their own as regular expressions.
pub struct Normaliser {
    masks: Vec<(regex_lite::Regex, String)>,
}

fn digits(bytes: &[u8], at: usize, count: usize) -> bool {
    bytes.len() >= at + count && bytes[at..at + count].iter().all(u8::is_ascii_digit)
}

fn hex(bytes: &[u8], at: usize, count: usize) -> bool {
    bytes.len() >= at + count && bytes[at..at + count].iter().all(u8::is_ascii_hexdigit)
}

/// Length of an ISO 8601 timestamp starting at `at`, if one does.
fn iso_time(b: &[u8], at: usize) -> Option<usize> {
    let ok = digits(b, at, 4)
        && b.get(at + 4) == Some(&b'-')
        && digits(b, at + 5, 2)
        && b.get(at + 7) == Some(&b'-')
        && digits(b, at + 8, 2)
        && matches!(b.get(at + 10), Some(b'T' | b' '))
        && digits(b, at + 11, 2)
        && b.get(at + 13) == Some(&b':')
        && digits(b, at + 14, 2)
        && b.get(at + 16) == Some(&b':')
        && digits(b, at + 17, 2);
    if !ok {
        return None;
    }
    let mut end = at + 19;
    if b.get(end) == Some(&b'.') && digits(b, end + 1, 1) {
        end += 1;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if b.get(end) == Some(&b'Z') {
        end += 1;
    } else if matches!(b.get(end), Some(b'+' | b'-')) && digits(b, end + 1, 2) {
        let colon = usize::from(b.get(end + 3) == Some(&b':'));
        if digits(b, end + 3 + colon, 2) {
            end += 5 + colon;
        }
    }
    Some(end - at)
}

/// Length of a US timestamp (`11/19/2026 3:02:05 AM`) starting at `at`, if one does.
fn us_time(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    let number = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i - start >= min
    };
    if !(number(&mut i, 1, 2) && b.get(i) == Some(&b'/')) {
        return None;
    }
    i += 1;
    if !(number(&mut i, 1, 2) && b.get(i) == Some(&b'/')) {
        return None;
    }
    i += 1;
    if !(digits(b, i, 4) && b.get(i + 4) == Some(&b' ')) {
        return None;
    }
    i += 5;
    if !(number(&mut i, 1, 2) && b.get(i) == Some(&b':') && digits(b, i + 1, 2)) {
        return None;
    }
    i += 3;
    if b.get(i) == Some(&b':') && digits(b, i + 1, 2) {
        i += 3;
    }
    if b.get(i) == Some(&b' ')
        && matches!(b.get(i + 1), Some(b'A' | b'P'))
        && b.get(i + 2) == Some(&b'M')
    {
        i += 3;
    }
    Some(i - at)
}

fn guid(b: &[u8], at: usize) -> Option<usize> {
    (hex(b, at, 8)
        && b.get(at + 8) == Some(&b'-')
        && hex(b, at + 9, 4)
        && b.get(at + 13) == Some(&b'-')
        && hex(b, at + 14, 4)
        && b.get(at + 18) == Some(&b'-')
        && hex(b, at + 19, 4)
        && b.get(at + 23) == Some(&b'-')
        && hex(b, at + 24, 12))
    .then_some(36)
}

fn mask_builtin(line: &str, out: &mut String) {
    let bytes = line.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        // Only where a token can start, and not in the middle of a longer word or number.
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && byte.is_ascii_hexdigit() {
            let found = if byte.is_ascii_digit() {
                iso_time(bytes, i)
                    .map(|n| (n, "<time>"))
                    .or_else(|| us_time(bytes, i).map(|n| (n, "<time>")))
            } else {
                None
            }
            .or_else(|| guid(bytes, i).map(|n| (n, "<guid>")));
            if let Some((length, replacement)) = found {
                out.push_str(&line[copied..i]);
                out.push_str(replacement);
                i += length;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&line[copied..]);
}

impl Normaliser {
    /// The built-in masks alone.
    pub fn builtin() -> Self {
        Self { masks: Vec::new() }
    }

    /// The built-in masks plus the user's own (`PATTERN` or `PATTERN=>REPLACEMENT`).
    pub fn new(extra: &[String]) -> Result<Self, String> {
        let mut masks = Vec::new();
        for mask in extra {
            let (pattern, replacement) =
                mask.split_once("=>").unwrap_or((mask.as_str(), "<masked>"));
            let regex = regex_lite::Regex::new(pattern)
                .map_err(|e| format!("mask '{pattern}' is not a valid pattern: {e}"))?;
            masks.push((regex, replacement.to_string()));
        }
        Ok(Self { masks })
    }

    /// Drops the transcript header and NUL padding, trims line ends, applies the masks.
    pub fn normalise(&self, output: &str) -> String {
        let mut out = String::with_capacity(output.len());
        for line in output.trim_end_matches('\0').lines() {
            if decode::is_transcript_header(line) {
                continue;
            }
            let start = out.len();
            mask_builtin(line.trim_end(), &mut out);
            if !self.masks.is_empty() {
                let mut masked = out[start..].to_string();
                for (regex, replacement) in &self.masks {
                    if regex.is_match(&masked) {
                        masked = regex
                            .replace_all(&masked, replacement.as_str())
                            .into_owned();
                    }
                }
                out.truncate(start);
                out.push_str(&masked);
            }
            out.push('\n');
        }
        while out.ends_with('\n') {
            out.pop();
        }
        out
    }
}

/// What the review needs of one fetched result, computed once when it arrives.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// `None` for `GetFile` results (a file has no exit code).
    pub exit_code: Option<ExitCode>,
    /// Of the normalised output (`RunScript`) or the payload (`GetFile`).
    pub hash: String,
    /// First error line, or else the first output line worth reading.
    pub summary: String,
    /// Control, escape or invisible characters in the output and errors.
    pub control_characters: usize,
    /// The teammate who downloaded the result, when it came from the team's store.
    pub teammate: Option<String>,
    /// The first output lines worth reading, each with the fingerprint of its normalised
    /// text, so that the review can show the first line that tells runs apart rather than
    /// a header every run shares. Empty when the run has errors (its summary is the error).
    pub opening_lines: Vec<(u64, String)>,
}

/// How many of a run's first lines the review compares: enough to get past a CSV header
/// and a banner, few enough that 5,000 digests stay small.
const OPENING_LINES: usize = 12;

impl Digest {
    /// The same digest, marked as a teammate's download (or not).
    #[must_use]
    pub fn fetched_by(self, teammate: Option<&str>) -> Self {
        Self {
            teammate: teammate.map(str::to_string),
            ..self
        }
    }

    pub fn of_script(result: &ScriptResult, normaliser: &Normaliser) -> Self {
        let clean = result.script_errors.trim().is_empty();
        let summary = if clean {
            first_meaningful_line(result.visible_output())
        } else {
            first_meaningful_line(&result.script_errors)
        };
        let opening_lines = if clean {
            meaningful_lines(result.visible_output())
                .take(OPENING_LINES)
                .map(|line| (fingerprint(&normaliser.normalise(line)), shown_line(line)))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            exit_code: Some(result.exit_code.clone()),
            // Errors count too: an exit-1 "Access denied" run is not like the clean ones.
            hash: short_hash(&format!(
                "{}\u{0}{}",
                normaliser.normalise(result.visible_output()),
                normaliser.normalise(&result.script_errors)
            )),
            summary,
            control_characters: crate::sanitize::unsafe_characters(result.visible_output())
                + crate::sanitize::unsafe_characters(&result.script_errors),
            teammate: None,
            opening_lines,
        }
    }

    /// A collected file, by its own SHA-256 (not its gzip's).
    pub fn of_file(sha256: &str) -> Self {
        Self {
            exit_code: None,
            hash: sha256.to_string(),
            summary: format!("sha256 {}", &sha256[..sha256.len().min(16)]),
            control_characters: 0,
            teammate: None,
            opening_lines: Vec::new(),
        }
    }

    /// A `GetFile` payload that could not be decompressed: known only by the download's hash.
    pub fn of_unreadable_file(download_sha256: &str) -> Self {
        Self {
            exit_code: None,
            hash: download_sha256.to_string(),
            summary: format!(
                "not a readable gzip · download sha256 {}",
                &download_sha256[..download_sha256.len().min(16)]
            ),
            control_characters: 0,
            teammate: None,
            opening_lines: Vec::new(),
        }
    }

    /// A `GetFile` payload on disk, decompressed (bounded) to hash the file itself.
    pub fn of_file_payload(path: &std::path::Path, download_sha256: &str, limit: u64) -> Self {
        std::fs::File::open(path)
            .ok()
            .and_then(|file| {
                crate::transcript::decode::gunzip_bounded(file, std::io::sink(), limit).ok()
            })
            .map_or_else(
                || Self::of_unreadable_file(download_sha256),
                |file| Self::of_file(&file.hashes.sha256),
            )
    }
}

pub(crate) fn first_meaningful_line(text: &str) -> String {
    meaningful_lines(text)
        .next()
        .map(shown_line)
        .unwrap_or_default()
}

/// Lines worth reading: not blank, not the transcript's header, not a rule of dashes.
fn meaningful_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| {
        !l.is_empty()
            && !decode::is_transcript_header(l)
            && !l.chars().all(|c| c == '-' || c == ' ')
    })
}

fn shown_line(line: &str) -> String {
    crate::sanitize::line(line).chars().take(160).collect()
}

fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// A 128-bit content hash for clustering: not a security boundary, so a fast keyed `SipHash`
/// (fixed keys, so the same output hashes alike in every process) rather than SHA-256.
pub(crate) fn short_hash(text: &str) -> String {
    use std::hash::{Hash as _, Hasher as _};
    #[expect(
        deprecated,
        reason = "SipHasher's fixed keys are what makes the hash stable"
    )]
    let mut first =
        std::hash::SipHasher::new_with_keys(0x6c72_7820_7265_7669, 0x6577_2063_6c75_7374);
    #[expect(deprecated, reason = "as above")]
    let mut second =
        std::hash::SipHasher::new_with_keys(0x7365_636f_6e64_2068, 0x6173_6820_6b65_7921);
    text.hash(&mut first);
    text.hash(&mut second);
    format!("{:016x}{:016x}", first.finish(), second.finish())
}
