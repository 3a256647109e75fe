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
        // Bidi embeddings, overrides, isolates and marks (Trojan Source), zero-width
        // characters and the BOM: invisible, so shown by name.
        0x061c
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x2064
        | 0x2066..=0x2069
        | 0xfeff
        | 0xfff9..=0xfffb => Some(format!("<U+{code:04X}>")),
        _ => None,
    }
}

fn is_combining(c: char) -> bool {
    c.width() == Some(0) && placeholder(c).is_none() && !c.is_control()
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
        match rest.find('\n') {
            Some(end) => {
                let line = &rest[..end];
                // The `\r` of a `\r\n` ends the line with it; a lone one is shown.
                let line = line.strip_suffix('\r').unwrap_or(line);
                lines.push(sanitize(line, Mode::Document, &mut findings));
                rest = &rest[end + 1..];
            }
            None => {
                lines.push(sanitize(rest, Mode::Document, &mut findings));
                break;
            }
        }
    }
    (lines, findings)
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
