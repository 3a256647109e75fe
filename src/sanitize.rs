//! Makes untrusted text safe to put on a terminal: every control character, escape sequence
//! introducer, bidi control and invisible character becomes a visible placeholder. Nothing
//! is dropped silently, and nothing reaches the terminal that it would interpret.

use unicode_width::UnicodeWidthChar as _;

/// How many combining marks one base character may carry before the rest are summarised.
const MAX_COMBINING: usize = 4;
/// Tab stops every 8 columns, as terminals and `less` do.
pub const TAB_WIDTH: usize = 8;

/// A visible stand-in for a character that must not reach the terminal, or `None` if the
/// character is safe to print as is.
pub fn placeholder(c: char) -> Option<String> {
    let code = u32::from(c);
    match code {
        // C0 controls: the Unicode Control Pictures block mirrors them one to one.
        0x00..=0x1f => char::from_u32(0x2400 + code).map(String::from),
        0x7f => Some("\u{2421}".into()),
        // C1 controls, including the 8-bit CSI (0x9b) that some terminals still honour.
        0x80..=0x9f => Some(format!("<{code:02X}>")),
        _ if is_invisible(c) => Some(format!("<U+{code:04X}>")),
        _ => None,
    }
}

/// Characters that draw nothing (or nothing honest) yet change what text means: every
/// format character (Unicode category Cf: bidi controls as in Trojan Source, zero-width
/// characters, the soft hyphen, the BOM, interlinear annotations, the tag characters that
/// smuggle hidden text to whoever pastes it into an assistant), the line and paragraph
/// separators (Zl, Zp), and the fillers and blanks that look like nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        // Cf, as of Unicode 16.
        0x00ad
            | 0x0600..=0x0605
            | 0x061c
            | 0x06dd
            | 0x070f
            | 0x0890..=0x0891
            | 0x08e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            // The whole tag block, unassigned U+E0000 included.
            | 0xe0000..=0xe007f
            // Zl, Zp.
            | 0x2028
            | 0x2029
            // Fillers and blanks: Hangul fillers, the combining grapheme joiner, Khmer
            // inherent vowels, Mongolian free variation selectors, the braille blank.
            | 0x034f
            | 0x115f
            | 0x1160
            | 0x17b4
            | 0x17b5
            | 0x180b..=0x180d
            | 0x180f
            | 0x2800
            | 0x3164
            | 0xffa0
    )
}

/// Variation selectors pick a glyph for the character before them; one is ordinary
/// (emoji), a run of them is a known way to hide bytes in text.
fn is_variation_selector(c: char) -> bool {
    matches!(u32::from(c), 0xfe00..=0xfe0f | 0xe0100..=0xe01ef)
}

fn is_combining(c: char) -> bool {
    c.width() == Some(0) && placeholder(c).is_none() && !c.is_control() && !is_variation_selector(c)
}

/// What sanitising found, for the viewer's badges.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Findings {
    pub controls: usize,
    pub escapes: usize,
    pub invisible: usize,
    pub combining_trimmed: usize,
}

impl Findings {
    pub fn add(&mut self, other: Self) {
        self.controls += other.controls;
        self.escapes += other.escapes;
        self.invisible += other.invisible;
        self.combining_trimmed += other.combining_trimmed;
    }

    pub fn total(&self) -> usize {
        self.controls + self.invisible + self.combining_trimmed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One line: newlines and tabs are shown as pictures too.
    Line,
    /// A document: `\n` and `\r\n` end lines, tabs are expanded to tab stops.
    Document,
}

fn sanitize(text: &str, mode: Mode, findings: &mut Findings) -> String {
    // Printable ASCII is shown as it is: most lines of most outputs take this path.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut column = 0usize;
    let mut combining_run = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if mode == Mode::Document {
            match c {
                '\n' => {
                    out.push('\n');
                    column = 0;
                    combining_run = 0;
                    continue;
                }
                '\r' if chars.peek() == Some(&'\n') => continue,
                '\t' => {
                    let spaces = TAB_WIDTH - column % TAB_WIDTH;
                    out.extend(std::iter::repeat_n(' ', spaces));
                    column += spaces;
                    continue;
                }
                _ => {}
            }
        }
        if is_combining(c) {
            combining_run += 1;
            if combining_run > MAX_COMBINING {
                // Count the whole flood, then say how much was held back.
                let mut extra = 1;
                while chars.peek().is_some_and(|next| is_combining(*next)) {
                    chars.next();
                    extra += 1;
                }
                findings.combining_trimmed += extra;
                let note = format!("<+{extra} marks>");
                column += note.len();
                out.push_str(&note);
                continue;
            }
            out.push(c);
            continue;
        }
        combining_run = 0;
        if is_variation_selector(c) {
            // The first after a visible character is kept; more are summarised.
            let mut extra = 0;
            while chars
                .peek()
                .is_some_and(|next| is_variation_selector(*next))
            {
                chars.next();
                extra += 1;
            }
            let after_visible = !out.is_empty() && !out.ends_with(['>', '\n', ' ']);
            if after_visible && extra == 0 {
                out.push(c);
            } else {
                let count = extra + 1;
                findings.invisible += count;
                let note = format!("<{count} variation selectors>");
                column += note.len();
                out.push_str(&note);
            }
            continue;
        }
        if (0xe0000..=0xe007f).contains(&u32::from(c)) {
            // Tag characters spell ASCII invisibly: show the hidden text itself.
            let mut hidden = String::new();
            let mut count = 0;
            let mut next = Some(c);
            while let Some(tag) = next {
                count += 1;
                let ascii = u32::from(tag) - 0xe0000;
                match char::from_u32(ascii).filter(|a| a.is_ascii_graphic() || *a == ' ') {
                    Some(a) => hidden.push(a),
                    None => hidden.push('?'),
                }
                next = chars
                    .peek()
                    .copied()
                    .filter(|n| (0xe0000..=0xe007f).contains(&u32::from(*n)));
                if next.is_some() {
                    chars.next();
                }
            }
            findings.invisible += count;
            let note = format!("<hidden tag text: {hidden:?}>");
            column += note.chars().count();
            out.push_str(&note);
            continue;
        }
        if let Some(shown) = placeholder(c) {
            if c == '\u{1b}' || c == '\u{9b}' {
                findings.escapes += 1;
            }
            if c.is_control() {
                findings.controls += 1;
            } else {
                findings.invisible += 1;
            }
            column += shown.chars().count();
            out.push_str(&shown);
        } else {
            column += c.width().unwrap_or(0);
            out.push(c);
        }
    }
    out
}

/// How many characters of `text` would be shown as placeholders (line ends and tabs are
/// ordinary): what marks an output as carrying escape sequences or hidden text.
pub fn unsafe_characters(text: &str) -> usize {
    if text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t')
    {
        return 0;
    }
    let mut count = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let ordinary = matches!(c, '\n' | '\t') || (c == '\r' && chars.peek() == Some(&'\n'));
        if !ordinary && (placeholder(c).is_some() || is_variation_selector(c)) {
            count += 1;
        }
    }
    count
}

/// One line of untrusted text (a machine name, an error string, a table cell).
pub fn line(text: &str) -> String {
    sanitize(text, Mode::Line, &mut Findings::default())
}

/// A whole document of untrusted text, with what was found in it.
pub fn document(text: &str) -> (String, Findings) {
    let mut findings = Findings::default();
    let out = sanitize(text, Mode::Document, &mut findings);
    (out, findings)
}

/// A whole document of untrusted text as sanitised lines (split at `\n` and `\r\n`), with
/// what was found in it. Line by line, so a huge output is never copied whole once more.
pub fn document_lines(text: &str) -> (Vec<String>, Findings) {
    let mut findings = Findings::default();
    let mut lines = Vec::with_capacity(text.len() / 64);
    let mut rest = text;
    loop {
        if let Some(end) = rest.find('\n') {
            let line = &rest[..end];
            // The `\r` of a `\r\n` ends the line with it; a lone one is shown.
            let line = line.strip_suffix('\r').unwrap_or(line);
            lines.push(sanitize(line, Mode::Document, &mut findings));
            rest = &rest[end + 1..];
        } else {
            lines.push(sanitize(rest, Mode::Document, &mut findings));
            break;
        }
    }
    (lines, findings)
}

/// Serialised JSON with every character a terminal could act on, or that hides, written as
/// a `\\u` escape: DEL, C1 controls (the 8-bit CSI), bidi and format characters, separators
/// and variation selectors. `serde_json` escapes C0 itself; outside strings JSON is ASCII, so
/// a pass over the whole text only ever touches string contents. `jq` reads them back.
pub fn json_for_terminal(json: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| {
        matches!(u32::from(c), 0x7f..=0x9f) || is_invisible(c) || is_variation_selector(c)
    };
    if !json.chars().any(needs) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_inert(text: &str) {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "control left in {text:?}"
        );
        assert!(!text.contains('\u{202e}') && !text.contains('\u{200d}'));
    }

    #[test]
    fn escape_sequences_become_visible_text() {
        let hostile = "a\u{1b}[2J\u{1b}]52;c;Y3VybA==\u{7}b\u{9b}31m\u{8}\u{0}\u{7f}";
        let shown = line(hostile);
        assert_inert(&shown);
        assert_eq!(
            shown,
            "a\u{241b}[2J\u{241b}]52;c;Y3VybA==\u{2407}b<9B>31m\u{2408}\u{2400}\u{2421}"
        );
    }

    #[test]
    fn every_invisible_character_is_shown() {
        for c in [
            '\u{ad}',
            '\u{600}',
            '\u{180e}',
            '\u{200b}',
            '\u{2028}',
            '\u{2029}',
            '\u{206a}',
            '\u{206f}',
            '\u{feff}',
            '\u{fff9}',
            '\u{1d173}',
            '\u{3164}',
            '\u{115f}',
            '\u{2800}',
            '\u{e0001}',
        ] {
            let shown = line(&format!("a{c}b"));
            assert!(!shown.contains(c), "{c:?} left in {shown:?}");
            assert!(
                shown.contains("<U+") || shown.contains("<hidden"),
                "{shown}"
            );
        }
    }

    #[test]
    fn tag_characters_show_the_text_they_hide() {
        let hidden: String = "ignore previous"
            .chars()
            .map(|c| char::from_u32(0xe0000 + u32::from(c)).unwrap_or('?'))
            .collect();
        let (shown, findings) = document(&format!("ok{hidden}!"));
        assert_eq!(shown, "ok<hidden tag text: \"ignore previous\">!");
        assert_eq!(findings.invisible, 15);
    }

    #[test]
    fn one_variation_selector_is_kept_and_a_run_is_summarised() {
        assert_eq!(line("\u{2764}\u{fe0f}"), "\u{2764}\u{fe0f}");
        let smuggled = format!("x{}", "\u{fe01}\u{e0110}".repeat(20));
        assert_eq!(line(&smuggled), "x<40 variation selectors>");
        assert_eq!(line("\u{fe0f}"), "<1 variation selectors>");
    }

    #[test]
    fn json_escapes_what_a_terminal_would_act_on_and_stays_the_same_value() {
        let value = serde_json::json!({"m": "a\u{9b}31m\u{202e}b\u{e0041}\u{2028}\u{7f}ü"});
        let text = value.to_string();
        let safe = json_for_terminal(&text);
        assert!(safe.is_ascii() || safe.contains('ü'));
        assert!(
            safe.contains("\\u009b") && safe.contains("\\u202e") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn documents_keep_lines_and_expand_tabs() {
        let (shown, findings) = document("a\tb\r\nxy\tz\rq\n");
        assert_eq!(shown, "a       b\nxy      z\u{240d}q\n");
        assert_eq!(findings.controls, 1);
    }

    #[test]
    fn bidi_zero_width_and_combining_floods_are_named() {
        let (shown, findings) = document("evil\u{202e}txt.exe\u{202c} a\u{200d}b");
        assert_inert(&shown);
        assert!(shown.contains("<U+202E>") && shown.contains("<U+200D>"));
        assert_eq!(findings.invisible, 3);
        let flood = format!("Z{}", "\u{301}".repeat(10_000));
        let (shown, findings) = document(&flood);
        assert!(
            shown.starts_with("Z\u{301}\u{301}\u{301}\u{301}<+9996 marks>"),
            "{shown}"
        );
        assert_eq!(findings.combining_trimmed, 9996);
    }
}
