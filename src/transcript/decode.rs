//! Turns a raw result payload into something to show, without ever discarding what a
//! malformed payload still holds: every problem found is reported next to the content.

use std::io::{Read, Write};

use serde_json::Value;

/// `exit_code` as the payload gave it: documented as an integer, but a string, float or null
/// must not cost the rest of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitCode {
    Code(i64),
    /// Present but not an integer; the raw JSON text is kept for display.
    Unusual(String),
    Missing,
}

impl ExitCode {
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Code(code) => Some(*code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptResult {
    pub script_name: Option<String>,
    pub exit_code: ExitCode,
    /// Exactly as received (not sanitised, padding kept): sanitise at the point of display.
    pub script_output: String,
    pub script_errors: String,
    /// What was wrong with the payload, in words for a banner.
    pub problems: Vec<String>,
    pub nul_padding_trimmed: usize,
    pub invalid_utf8: bool,
}

fn nul_padding(text: &str) -> usize {
    text.len() - text.trim_end_matches('\0').len()
}

impl ScriptResult {
    /// `script_output` without the trailing NUL padding Windows transcripts carry.
    pub fn visible_output(&self) -> &str {
        &self.script_output[..self.script_output.len() - self.nul_padding_trimmed]
    }
}

/// Escapes raw control characters inside JSON strings, which real payloads have been seen
/// to contain (contract §9.1) and which strict parsers reject.
fn repair_raw_controls(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if u32::from(c) < 0x20 {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
                changed = true;
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    changed.then_some(out)
}

fn string_field(
    object: &serde_json::Map<String, Value>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    match object.get(name) {
        None => {
            problems.push(format!("the payload has no '{name}'"));
            None
        }
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            problems.push(format!(
                "'{name}' is {} instead of a string; shown as JSON",
                kind(other)
            ));
            Some(other.to_string())
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn exit_code(value: Option<&Value>, problems: &mut Vec<String>) -> ExitCode {
    match value {
        None => {
            problems.push("the payload has no 'exit_code'".into());
            ExitCode::Missing
        }
        Some(Value::Null) => {
            problems.push("'exit_code' is null".into());
            ExitCode::Missing
        }
        Some(Value::Number(number)) => {
            if let Some(code) = number.as_i64() {
                return ExitCode::Code(code);
            }
            problems.push(format!("'exit_code' is {number}, not an integer"));
            ExitCode::Unusual(number.to_string())
        }
        Some(Value::String(text)) => {
            problems.push(format!(
                "'exit_code' is the string \"{}\"",
                crate::sanitize::line(text)
            ));
            text.trim()
                .parse()
                .map_or_else(|_| ExitCode::Unusual(text.clone()), ExitCode::Code)
        }
        Some(other) => {
            problems.push(format!("'exit_code' is {}", kind(other)));
            ExitCode::Unusual(other.to_string())
        }
    }
}

/// Decodes a `RunScript` payload (`script_name`, `exit_code`, `script_output`, `script_errors`).
pub fn script_result(bytes: &[u8]) -> ScriptResult {
    let (text, invalid_utf8) = match std::str::from_utf8(bytes) {
        Ok(text) => (std::borrow::Cow::Borrowed(text), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    };
    let mut problems = Vec::new();
    if invalid_utf8 {
        problems.push("the payload is not valid UTF-8; invalid bytes are shown as \u{fffd}".into());
    }
    let parsed = serde_json::from_str::<Value>(&text).or_else(|first_error| {
        match repair_raw_controls(&text) {
            Some(repaired) => serde_json::from_str::<Value>(&repaired).inspect(|_| {
                problems.push(
                    "the payload had raw control characters inside JSON strings (read anyway)"
                        .into(),
                );
            }),
            None => Err(first_error),
        }
    });
    let mut result = match parsed {
        Ok(Value::Object(object)) => ScriptResult {
            script_name: string_field(&object, "script_name", &mut problems),
            exit_code: exit_code(object.get("exit_code"), &mut problems),
            script_output: string_field(&object, "script_output", &mut problems)
                .unwrap_or_default(),
            script_errors: string_field(&object, "script_errors", &mut problems)
                .unwrap_or_default(),
            problems: Vec::new(),
            nul_padding_trimmed: 0,
            invalid_utf8,
        },
        Ok(other) => {
            problems.push(format!(
                "the payload is {} instead of a JSON object; shown as is",
                kind(&other)
            ));
            fallback(&text, invalid_utf8)
        }
        Err(error) => {
            problems.push(format!(
                "the payload is not valid JSON ({error}); shown as is"
            ));
            fallback(&text, invalid_utf8)
        }
    };
    result.nul_padding_trimmed = nul_padding(&result.script_output);
    result.problems = problems;
    result
}

fn fallback(text: &str, invalid_utf8: bool) -> ScriptResult {
    ScriptResult {
        script_name: None,
        exit_code: ExitCode::Missing,
        script_output: text.to_string(),
        script_errors: String::new(),
        problems: Vec::new(),
        nul_padding_trimmed: 0,
        invalid_utf8,
    }
}

/// The `Transcript started, output file is …` line PowerShell puts first.
pub fn is_transcript_header(line: &str) -> bool {
    line.starts_with("Transcript started, output file is ")
}

#[derive(Debug, thiserror::Error)]
pub enum GunzipError {
    #[error(
        "the file is larger than the {limit}-byte limit once decompressed (a gzip bomb?); raise the limit to save it"
    )]
    TooLarge { limit: u64 },
    #[error("the file is not valid gzip: {0}")]
    Corrupt(std::io::Error),
    #[error("could not write the file: {0}")]
    Write(std::io::Error),
}

/// The documented getfile limit (contract §11): a larger "file" is a gzip bomb, not evidence.
pub const MAX_FILE_BYTES: u64 = 3 * 1024 * 1024 * 1024;

/// The hashes of a collected file (not of its gzip): what Defender, `VirusTotal` and an IOC
/// list search by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileHashes {
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
}

/// Passes writes through while hashing them three ways.
struct Hashing<W> {
    inner: W,
    sha256: sha2::Sha256,
    sha1: sha1::Sha1,
    md5: md5::Md5,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let written = self.inner.write(buf)?;
        self.sha256.update(&buf[..written]);
        self.sha1.update(&buf[..written]);
        self.md5.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What decompressing a `GetFile` payload gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gunzipped {
    /// Bytes of the file, all members together.
    pub size: u64,
    /// gzip members read (more than one when the payload is several gzips end to end).
    pub members: u32,
    /// Bytes after the last member that are not gzip: ignored, as `gzip -d` does, and said.
    pub trailing_bytes: u64,
    /// Of the decompressed file.
    pub hashes: FileHashes,
}

impl Gunzipped {
    /// What deserves a word to the analyst, as `gzip -d` would warn.
    pub fn note(&self) -> Option<String> {
        (self.trailing_bytes > 0).then(|| {
            format!(
                "{} bytes after the gzip data were ignored (as gzip -d does: \"trailing garbage ignored\")",
                self.trailing_bytes
            )
        })
    }
}

/// Decompresses a `GetFile` payload into `out` as `gzip -d` does: every member of a
/// multi-member gzip, trailing non-gzip bytes counted and ignored; stops at `limit` bytes.
pub fn gunzip_bounded(
    input: impl Read,
    out: impl Write,
    limit: u64,
) -> Result<Gunzipped, GunzipError> {
    use sha2::Digest as _;
    use std::io::BufRead as _;
    let mut out = Hashing {
        inner: out,
        sha256: sha2::Sha256::new(),
        sha1: sha1::Sha1::new(),
        md5: md5::Md5::new(),
    };
    let mut input = std::io::BufReader::with_capacity(64 * 1024, input);
    let mut outcome = Gunzipped::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let rest = input.fill_buf().map_err(GunzipError::Corrupt)?;
        if rest.is_empty() {
            break;
        }
        if outcome.members > 0 && !rest.starts_with(&[0x1f, 0x8b]) {
            outcome.trailing_bytes =
                std::io::copy(&mut input, &mut std::io::sink()).map_err(GunzipError::Corrupt)?;
            break;
        }
        let mut member = flate2::bufread::GzDecoder::new(&mut input);
        loop {
            let read = member.read(&mut buffer).map_err(GunzipError::Corrupt)?;
            if read == 0 {
                break;
            }
            outcome.size += read as u64;
            if outcome.size > limit {
                return Err(GunzipError::TooLarge { limit });
            }
            out.write_all(&buffer[..read]).map_err(GunzipError::Write)?;
        }
        outcome.members += 1;
    }
    if outcome.members == 0 {
        return Err(GunzipError::Corrupt(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the payload is empty",
        )));
    }
    outcome.hashes = FileHashes {
        sha256: hex::encode(out.sha256.finalize()),
        sha1: hex::encode(out.sha1.finalize()),
        md5: hex::encode(out.md5.finalize()),
    };
    Ok(outcome)
}

/// The first `count` decompressed bytes (less if the file is shorter or corrupt).
pub fn gunzip_head(input: impl Read, count: u64) -> Vec<u8> {
    let mut head = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(input)
        .take(count)
        .read_to_end(&mut head);
    head
}

/// A file type from its first bytes, for the `GetFile` summary.
pub fn sniff_type(head: &[u8]) -> &'static str {
    match head {
        [b'M', b'Z', ..] => "Windows executable (PE)",
        [b'P', b'K', 3, 4, ..] => "ZIP archive",
        [b'M', b'A', b'M', 4, ..] => "Windows prefetch (compressed)",
        [b'E', b'l', b'f', b'F', b'i', b'l', b'e', 0, ..] => "Windows event log (EVTX)",
        [0x7f, b'E', b'L', b'F', ..] => "ELF executable",
        [0x1f, 0x8b, ..] => "gzip data",
        [b'%', b'P', b'D', b'F', ..] => "PDF document",
        [b'r', b'e', b'g', b'f', ..] => "Windows registry hive",
        [] => "empty",
        _ if head
            .iter()
            .take(512)
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            "text"
        }
        _ => "binary data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_shape_and_trims_nul_padding() {
        let result = script_result(br#"{"script_name":"a.ps1","exit_code":0,"script_output":"hi\n\u0000\u0000","script_errors":""}"#);
        assert_eq!(result.exit_code, ExitCode::Code(0));
        assert_eq!(result.visible_output(), "hi\n");
        assert_eq!(result.script_output, "hi\n\0\0");
        assert_eq!(result.nul_padding_trimmed, 2);
        assert!(result.problems.is_empty());
    }

    #[test]
    fn odd_exit_codes_keep_the_rest() {
        for (raw, expected) in [
            (r#""3""#, ExitCode::Code(3)),
            ("null", ExitCode::Missing),
            ("1.5", ExitCode::Unusual("1.5".into())),
            (r#""boom""#, ExitCode::Unusual("boom".into())),
        ] {
            let payload = format!(
                r#"{{"script_name":"a","exit_code":{raw},"script_output":"out","script_errors":"err"}}"#
            );
            let result = script_result(payload.as_bytes());
            assert_eq!(result.exit_code, expected, "{raw}");
            assert_eq!(result.script_output, "out");
            assert_eq!(result.script_errors, "err");
            assert!(!result.problems.is_empty() || raw == "0");
        }
    }

    #[test]
    fn malformed_payloads_show_everything_with_a_reason() {
        let raw_newline = script_result(b"{\"script_name\":\"a\",\"exit_code\":0,\"script_output\":\"line1\nline2\",\"script_errors\":\"\"}");
        assert_eq!(raw_newline.script_output, "line1\nline2");
        assert_eq!(raw_newline.problems.len(), 1);
        let truncated = script_result(br#"{"script_name":"a","exit_code":0,"script_output":"half"#);
        assert!(truncated.script_output.contains("half"));
        assert!(truncated.problems[0].contains("not valid JSON"));
        let invalid = script_result(b"{\"script_name\":\"a\",\"exit_code\":0,\"script_output\":\"\xff\xfe\",\"script_errors\":\"\"}");
        assert!(invalid.invalid_utf8);
        assert!(invalid.script_output.contains('\u{fffd}'));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).expect("write");
        gz.finish().expect("gzip")
    }

    #[test]
    fn gunzip_reads_every_member_and_reports_trailing_bytes_as_gzip_does() {
        let mut two = gzip(b"first member, ");
        two.extend(gzip(b"second member"));
        let mut out = Vec::new();
        let file = gunzip_bounded(&two[..], &mut out, 1000).expect("two members");
        assert_eq!(out, b"first member, second member");
        // As `sha256sum`, `sha1sum` and `md5sum` of the decompressed file give them.
        assert_eq!(
            file.hashes,
            FileHashes {
                sha256: "867b61f07aec8cde7b2da6d319cc52308812d77a2e5dd8beced7366ecc35f236".into(),
                sha1: "6c275c8d2bef787863cde7674d03b894b0881c72".into(),
                md5: "fe8409e2b2a0c08d0cd68433c79cab29".into(),
            }
        );
        assert_eq!((file.members, file.trailing_bytes), (2, 0));
        assert!(file.note().is_none());

        let mut trailing = gzip(b"data");
        trailing.extend(b"\0\0\0junk");
        let mut out = Vec::new();
        let file = gunzip_bounded(&trailing[..], &mut out, 1000).expect("trailing");
        assert_eq!(out, b"data");
        assert_eq!(file.trailing_bytes, 7);
        assert!(file.note().is_some_and(|n| n.contains("7 bytes")));

        assert!(gunzip_bounded(&b""[..], std::io::sink(), 10).is_err());
        let mut cut = gzip(&[7u8; 5000]);
        cut.truncate(cut.len() - 6);
        assert!(
            gunzip_bounded(&cut[..], std::io::sink(), 10_000).is_err(),
            "a truncated member is an error"
        );
    }

    #[test]
    fn gunzip_stops_at_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![0u8; 100_000]).expect("write");
        let compressed = gz.finish().expect("gzip");
        let mut out = Vec::new();
        assert_eq!(
            gunzip_bounded(&compressed[..], &mut out, 200_000)
                .expect("fits")
                .size,
            100_000
        );
        assert!(matches!(
            gunzip_bounded(&compressed[..], std::io::sink(), 1000),
            Err(GunzipError::TooLarge { .. })
        ));
        assert!(matches!(
            gunzip_bounded(&b"not gzip"[..], std::io::sink(), 1000),
            Err(GunzipError::Corrupt(_))
        ));
    }
}
