//! A result made ready to show: sanitised lines with a class each, the badges, and search.
//! UI-free, so the viewer, the CLI and exports agree on what an analyst sees.

use std::sync::Arc;

use super::decode::{self, ExitCode, ScriptResult};
use super::highlight::{self, Kind};
use super::highlighter::SectionHighlighter;
use crate::sanitize::{self, Findings};

pub use super::line::{Line, LineClass};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Output,
    Errors,
    /// The payload as received.
    Raw,
    /// The same JSON payload one member a line (asked for with `3` again), keys in the
    /// order they came.
    RawIndented,
}

impl Section {
    /// The sections' tabs; `RawIndented` is shown in the Raw tab.
    pub const ALL: [Self; 3] = [Self::Output, Self::Errors, Self::Raw];

    /// The tab this section is shown in.
    #[must_use]
    pub fn tab(self) -> Self {
        match self {
            Self::RawIndented => Self::Raw,
            other => other,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Output => "Output",
            Self::Errors => "Errors",
            Self::Raw => "Raw",
            Self::RawIndented => "Raw, indented",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub name: String,
    pub compressed_size: u64,
    pub size: Option<u64>,
    pub file_type: String,
    pub hex_head: Vec<String>,
    pub problem: Option<String>,
    /// Of the file itself; the document's `sha256` is the gzip's, as downloaded.
    pub hashes: Option<decode::FileHashes>,
}

impl FileSummary {
    /// Rows of the file view: name, type, size, the hashes (three, or one saying why
    /// not), the download's hash, a problem if any, a blank, then the hex rows. The viewer
    /// draws exactly these, and pages through them.
    pub fn view_rows(&self) -> usize {
        let hashes = if self.hashes.is_some() { 3 } else { 1 };
        3 + hashes + 1 + usize::from(self.problem.is_some()) + 1 + self.hex_head.len()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Script {
        script_name: Option<String>,
        exit_code: ExitCode,
        output: Arc<[Line]>,
        errors: Arc<[Line]>,
        raw: Arc<[Line]>,
        /// `None` when the payload is not JSON, or too large to lay out twice.
        raw_indented: Option<Arc<[Line]>>,
        problems: Vec<String>,
        nul_padding_trimmed: usize,
        invalid_utf8: bool,
    },
    File(FileSummary),
}

#[derive(Debug, Clone)]
pub struct Document {
    pub content: Content,
    /// Syntax highlighting per section (Output, Errors, Raw, Raw indented), computed as
    /// lines are looked at.
    pub highlighters: [Option<SectionHighlighter>; 4],
    pub findings: Findings,
    pub payload_size: u64,
    pub sha256: String,
    pub from_cache: bool,
    /// False for a preview: the first lines of a huge output while the rest is built.
    pub complete: bool,
}

/// Outputs larger than this are previewed while they are built.
const PREVIEW_ABOVE: usize = 4 * 1024 * 1024;
/// Lines in a preview: the first screen of even a very tall terminal.
const PREVIEW_LINES: usize = 200;

fn classify(line: &str, in_errors: bool) -> LineClass {
    let trimmed = line.trim_start();
    if decode::is_transcript_header(line) {
        LineClass::Meta
    } else if in_errors
        || trimmed.starts_with("+ CategoryInfo")
        || trimmed.starts_with("+ FullyQualifiedErrorId")
        || trimmed.contains(" : Access denied")
        || trimmed.starts_with("ERROR")
        || trimmed.starts_with("Error:")
    {
        LineClass::Error
    } else if trimmed.starts_with("WARNING") || trimmed.starts_with("Warning:") {
        LineClass::Warning
    } else if !trimmed.is_empty() && trimmed.chars().all(|c| c == '-' || c == ' ' || c == '=') {
        LineClass::Heading
    } else {
        LineClass::Normal
    }
}

/// Texts longer than this are sanitised in two halves at once.
const PARALLEL_ABOVE: usize = 4 * 1024 * 1024;

fn classified(text: &str, in_errors: bool) -> (Vec<Line>, Findings) {
    let (clean, found) = sanitize::document_lines(text);
    let lines = clean
        .into_iter()
        .map(|text| Line {
            class: classify(&text, in_errors),
            text,
        })
        .collect();
    (lines, found)
}

/// Sanitised, classified lines; a long text is cut at a line break near its middle and the
/// halves done on two threads (every line is sanitised on its own, so the result is the same).
fn classified_in_parallel(
    text: &str,
    in_errors: bool,
    parallel_above: usize,
) -> (Vec<Line>, Findings) {
    let middle = text.len() / 2;
    let cut = (text.len() > parallel_above)
        .then(|| text.as_bytes()[middle..].iter().position(|b| *b == b'\n'))
        .flatten()
        .map(|at| middle + at);
    let Some(cut) = cut else {
        return classified(text, in_errors);
    };
    // The first half's last line ended with the `\n` at the cut: drop its `\r` as the
    // whole-text split would.
    let first = &text[..cut];
    let first = first.strip_suffix('\r').unwrap_or(first);
    let second = &text[cut + 1..];
    std::thread::scope(|scope| {
        let later = scope.spawn(|| classified(second, in_errors));
        let (mut lines, mut findings) = classified(first, in_errors);
        let (rest, more) = later
            .join()
            .unwrap_or_else(|_| classified(second, in_errors));
        lines.extend(rest);
        findings.add(more);
        (lines, findings)
    })
}

fn lines(text: &str, in_errors: bool, findings: &mut Findings) -> Vec<Line> {
    let (mut out, found) = classified_in_parallel(text, in_errors, PARALLEL_ABOVE);
    findings.add(found);
    // Header lines above a `----` rule are headings too.
    for i in 1..out.len() {
        if out[i].class == LineClass::Heading && out[i - 1].class == LineClass::Normal {
            out[i - 1].class = LineClass::Heading;
        }
    }
    if out.last().is_some_and(|l| l.text.is_empty()) {
        out.pop();
    }
    out
}

/// Above this size the Raw section is not built: the Output section already shows the text,
/// and a second full copy would double the memory a huge transcript takes.
const RAW_VIEW_LIMIT: usize = 16 * 1024 * 1024;

/// The payload pretty-printed when it is JSON, otherwise as text.
fn raw_lines(bytes: &[u8]) -> Vec<Line> {
    if bytes.len() > RAW_VIEW_LIMIT {
        return vec![Line {
            text: format!(
                "The raw payload is {} MB, too large to show twice; the Output and Errors sections hold its text, and s saves the exact bytes.",
                bytes.len() / (1024 * 1024)
            ),
            class: LineClass::Meta,
        }];
    }
    // As received: the service's bytes in the service's order, split only where it put
    // line breaks. (Re-serialising would sort the keys and hide what was really sent.)
    let text = String::from_utf8_lossy(bytes);
    // Everything the raw view could flag is already counted from the decoded fields.
    lines(&text, false, &mut Findings::default())
}

/// Above this size a JSON payload is not laid out a second time, indented: `s` saves it
/// for `jq`.
const INDENT_LIMIT: usize = 4 * 1024 * 1024;

/// The Raw section, made from the payload's bytes (which can then be let go).
pub struct RawView {
    lines: Vec<Line>,
    indented: Option<Vec<Line>>,
    kind: Kind,
    payload_size: u64,
}

impl RawView {
    pub fn of(bytes: &[u8]) -> Self {
        let kind = if bytes.len() <= RAW_VIEW_LIMIT
            && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
        {
            Kind::Json
        } else {
            Kind::Transcript
        };
        let indented = (kind == Kind::Json && bytes.len() <= INDENT_LIMIT)
            .then(|| std::str::from_utf8(bytes).ok())
            .flatten()
            .and_then(super::indent::indent_json)
            .map(|text| lines(&text, false, &mut Findings::default()));
        Self {
            lines: raw_lines(bytes),
            indented,
            kind,
            payload_size: bytes.len() as u64,
        }
    }
}

impl Document {
    /// The hash an analyst quotes: a collected file's own SHA-256 (not its gzip's), or the
    /// payload's for a transcript.
    pub fn evidence_sha256(&self) -> &str {
        match &self.content {
            Content::File(FileSummary {
                hashes: Some(hashes),
                ..
            }) => &hashes.sha256,
            _ => &self.sha256,
        }
    }

    pub fn from_script(bytes: &[u8], sha256: String, from_cache: bool) -> Self {
        Self::from_result(&decode::script_result(bytes), bytes, sha256, from_cache)
    }

    /// As `from_script`, for a payload the caller has decoded already.
    pub fn from_result(
        result: &ScriptResult,
        bytes: &[u8],
        sha256: String,
        from_cache: bool,
    ) -> Self {
        Self::from_parts(result, RawView::of(bytes), sha256, from_cache)
    }

    /// As `from_result`, once the payload's bytes are gone: a huge payload need not be held
    /// while its output is split into lines.
    pub fn from_parts(
        result: &ScriptResult,
        raw: RawView,
        sha256: String,
        from_cache: bool,
    ) -> Self {
        Self::build(
            result,
            result.visible_output(),
            &result.script_errors,
            raw,
            sha256,
            from_cache,
        )
    }

    /// The first lines of a huge output, to show while the whole document is built (a few
    /// hundred milliseconds for 100 MB); None when the output is small enough to build whole
    /// at once.
    pub fn preview(
        result: &ScriptResult,
        payload_size: u64,
        sha256: String,
        from_cache: bool,
    ) -> Option<Self> {
        let output = result.visible_output();
        if output.len() <= PREVIEW_ABOVE {
            return None;
        }
        let end = output
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .nth(PREVIEW_LINES)
            .map(|(at, _)| at)?;
        let errors = if result.script_errors.len() <= PREVIEW_ABOVE {
            result.script_errors.as_str()
        } else {
            ""
        };
        let raw = RawView {
            lines: vec![Line {
                text: "The raw view comes with the rest of the document.".into(),
                class: LineClass::Meta,
            }],
            indented: None,
            kind: Kind::Transcript,
            payload_size,
        };
        let mut document = Self::build(result, &output[..=end], errors, raw, sha256, from_cache);
        document.complete = false;
        Some(document)
    }

    fn build(
        result: &ScriptResult,
        output_text: &str,
        errors_text: &str,
        raw: RawView,
        sha256: String,
        from_cache: bool,
    ) -> Self {
        let mut findings = Findings::default();
        let output: Arc<[Line]> = lines(output_text, false, &mut findings).into();
        let errors: Arc<[Line]> = lines(errors_text, true, &mut findings).into();
        let RawView {
            lines: raw,
            indented,
            kind: raw_kind,
            payload_size,
        } = raw;
        let raw: Arc<[Line]> = raw.into();
        let raw_indented: Option<Arc<[Line]>> = indented.map(Into::into);
        let highlighters = [
            SectionHighlighter::new(highlight::detect(&output), Arc::clone(&output)),
            SectionHighlighter::new(Kind::Transcript, Arc::clone(&errors)),
            SectionHighlighter::new(raw_kind, Arc::clone(&raw)),
            raw_indented
                .as_ref()
                .and_then(|lines| SectionHighlighter::new(Kind::Json, Arc::clone(lines))),
        ];
        Self {
            highlighters,
            content: Content::Script {
                script_name: result.script_name.as_deref().map(sanitize::line),
                exit_code: result.exit_code.clone(),
                output,
                errors,
                raw,
                raw_indented,
                problems: result.problems.iter().map(|p| sanitize::line(p)).collect(),
                nul_padding_trimmed: result.nul_padding_trimmed,
                invalid_utf8: result.invalid_utf8,
            },
            findings,
            payload_size,
            sha256,
            from_cache,
            complete: true,
        }
    }

    pub fn from_file(
        gzipped: &[u8],
        name: &str,
        sha256: String,
        from_cache: bool,
        limit: u64,
    ) -> Self {
        let head = decode::gunzip_head(gzipped, 4096);
        let (size, problem, hashes) = match decode::gunzip_bounded(gzipped, std::io::sink(), limit)
        {
            Ok(file) => (Some(file.size), file.note(), Some(file.hashes)),
            Err(error) => (None, Some(error.to_string()), None),
        };
        let hex_head = head
            .chunks(16)
            .enumerate()
            .map(|(row, chunk)| {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                let ascii: String = chunk
                    .iter()
                    .map(|b| {
                        if b.is_ascii_graphic() || *b == b' ' {
                            char::from(*b)
                        } else {
                            '.'
                        }
                    })
                    .collect();
                format!("{:08x}  {:<47}  {ascii}", row * 16, hex.join(" "))
            })
            .collect();
        Self {
            content: Content::File(FileSummary {
                name: sanitize::line(name),
                compressed_size: gzipped.len() as u64,
                size,
                file_type: decode::sniff_type(&head).into(),
                hex_head,
                problem,
                hashes,
            }),
            highlighters: [None, None, None, None],
            findings: Findings::default(),
            payload_size: gzipped.len() as u64,
            sha256,
            from_cache,
            complete: true,
        }
    }

    pub fn section(&self, section: Section) -> &[Line] {
        match (&self.content, section) {
            (Content::Script { output, .. }, Section::Output) => output,
            (Content::Script { errors, .. }, Section::Errors) => errors,
            (Content::Script { raw, .. }, Section::Raw) => raw,
            (Content::Script { raw_indented, .. }, Section::RawIndented) => {
                raw_indented.as_deref().unwrap_or_default()
            }
            (Content::File(_), _) => &[],
        }
    }

    /// The section's lines, shareable with background work (search).
    pub fn shared_section(&self, section: Section) -> Arc<[Line]> {
        match (&self.content, section) {
            (Content::Script { output, .. }, Section::Output) => Arc::clone(output),
            (Content::Script { errors, .. }, Section::Errors) => Arc::clone(errors),
            (Content::Script { raw, .. }, Section::Raw) => Arc::clone(raw),
            (Content::Script { raw_indented, .. }, Section::RawIndented) => raw_indented
                .as_ref()
                .map_or_else(|| Arc::from(Vec::new()), Arc::clone),
            (Content::File(_), _) => Arc::from(Vec::new()),
        }
    }

    pub fn highlighter(&self, section: Section) -> Option<&SectionHighlighter> {
        let index = match section {
            Section::Output => 0,
            Section::Errors => 1,
            Section::Raw => 2,
            Section::RawIndented => 3,
        };
        self.highlighters[index].as_ref()
    }

    /// Whether the Raw section can be shown indented (a JSON payload small enough).
    pub fn can_indent_raw(&self) -> bool {
        matches!(
            &self.content,
            Content::Script {
                raw_indented: Some(_),
                ..
            }
        )
    }

    pub fn exit_code(&self) -> Option<&ExitCode> {
        match &self.content {
            Content::Script { exit_code, .. } => Some(exit_code),
            Content::File(_) => None,
        }
    }

    /// Short labels for what the payload held: shown next to the header.
    pub fn badges(&self) -> Vec<String> {
        let mut badges = Vec::new();
        if !self.complete {
            badges.push("reading the rest…".into());
        }
        if self.findings.total() > 0 {
            badges.push(format!("{} control chars shown", self.findings.total()));
        }
        if let Content::Script {
            nul_padding_trimmed,
            invalid_utf8,
            errors,
            ..
        } = &self.content
        {
            if *nul_padding_trimmed > 0 {
                badges.push("NUL padding trimmed".into());
            }
            if *invalid_utf8 {
                badges.push("invalid UTF-8".into());
            }
            if !errors.is_empty() {
                badges.push(format!("{} error lines", errors.len()));
            }
        }
        badges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_section_is_the_payload_as_received() {
        let payload = br#"{"zeta":1,"script_output":"a\nb","script_name":"x.ps1","exit_code":0,"script_errors":""}"#;
        let document = Document::from_script(payload, String::new(), false);
        let raw: Vec<&str> = document
            .section(Section::Raw)
            .iter()
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(
            raw,
            [String::from_utf8_lossy(payload).as_ref()],
            "key order and escapes kept"
        );
    }

    #[test]
    fn huge_outputs_are_previewed_by_their_first_lines() {
        let output: String = (0..400_000).map(|i| format!("line {i}\r\n")).collect();
        let payload = serde_json::json!({"script_name": "a.ps1", "exit_code": 0, "script_output": output, "script_errors": "boom"}).to_string();
        let result = decode::script_result(payload.as_bytes());
        let preview =
            Document::preview(&result, payload.len() as u64, "ab".into(), false).expect("huge");
        assert!(!preview.complete);
        assert!(preview.badges().contains(&"reading the rest…".to_string()));
        let lines = preview.section(Section::Output);
        assert_eq!(lines.len(), PREVIEW_LINES + 1);
        assert_eq!(lines[PREVIEW_LINES].text, format!("line {PREVIEW_LINES}"));
        assert_eq!(preview.section(Section::Errors)[0].text, "boom");
        let whole = Document::from_result(&result, payload.as_bytes(), "ab".into(), false);
        assert!(whole.complete);
        assert_eq!(&whole.section(Section::Output)[..=PREVIEW_LINES], lines);
        let small = decode::script_result(br#"{"script_output":"a\nb"}"#);
        assert!(Document::preview(&small, 10, String::new(), false).is_none());
    }

    #[test]
    fn halves_done_in_parallel_join_up_exactly() {
        let texts = [
            "a\r\nb\r\nc\r\nd\r\n",
            "one\ttab\r\ntwo\u{1b}[31m\nthree\r\n\r\nfour",
            "ERROR: x\r\n----\r\nname\n\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\n",
            "no line break at all",
            "\n\n\n\n",
        ];
        for text in texts {
            let whole = classified(text, false);
            for parallel_above in [0, 1, 4] {
                assert_eq!(
                    classified_in_parallel(text, false, parallel_above),
                    whole,
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn classifies_transcript_lines() {
        let payload = br#"{"script_name":"a.ps1","exit_code":1,"script_output":"Transcript started, output file is C:\\x.txt\nName  Id\n----  --\nx     1\n\u0000","script_errors":"Get-X : Access denied.\n    + CategoryInfo : PermissionDenied"}"#;
        let document = Document::from_script(payload, "abc".into(), false);
        let output = document.section(Section::Output);
        assert_eq!(output[0].class, LineClass::Meta);
        assert_eq!(output[1].class, LineClass::Heading);
        assert_eq!(output[2].class, LineClass::Heading);
        assert_eq!(output[3].class, LineClass::Normal);
        assert!(
            document
                .section(Section::Errors)
                .iter()
                .all(|l| l.class == LineClass::Error)
        );
        assert!(
            document
                .badges()
                .contains(&"NUL padding trimmed".to_string())
        );
        assert_eq!(document.exit_code(), Some(&ExitCode::Code(1)));
    }
}
