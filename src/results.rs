//! From a fetched payload to what lrx shows and reviews, without a widget in sight: the TUI,
//! the CLI review and the screenshots all go through here, so the file-vs-script rule and
//! the order of what comes out are decided once.

pub mod pool;

use std::sync::Arc;

use crate::api::models::{Command, CommandType};
use crate::fetch::Fetched;
use crate::review::{Digest, Normaliser};
use crate::transcript::decode::{self, MAX_FILE_BYTES};
use crate::transcript::document::{Document, RawView};

/// What a payload holds, which decides how it is decoded and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadKind {
    /// A script's JSON result (`script_name`, `exit_code`, `script_output`, `script_errors`).
    Script,
    /// A `GetFile`'s gzip of one file, shown and saved under `name`.
    File { name: String },
}

impl PayloadKind {
    /// The rule: a `GetFile` command's payload is a compressed file; anything else, including
    /// a command lrx no longer knows, is read as a script result (which is lenient).
    pub fn of(command: Option<&Command>, fetched: &Fetched) -> Self {
        match command {
            Some(command) if command.command.command_type == CommandType::GetFile => Self::File {
                name: file_name(Some(command), fetched),
            },
            _ => Self::Script,
        }
    }

    pub fn is_file(&self) -> bool {
        matches!(self, Self::File { .. })
    }
}

/// The name a `GetFile`'s file goes by: the one the service gave the download (less `.gz`),
/// else the last part of the path the command asked for. Never a path: callers that write
/// it to disk still pass it through `files::safe_name`.
pub fn file_name(command: Option<&Command>, fetched: &Fetched) -> String {
    fetched
        .file_name
        .as_deref()
        .map(|n| n.trim_end_matches(".gz").to_string())
        .or_else(|| {
            command.map(|c| {
                c.param("Path")
                    .unwrap_or_default()
                    .rsplit(['\\', '/'])
                    .next()
                    .filter(|leaf| !leaf.is_empty())
                    .unwrap_or("file")
                    .to_string()
            })
        })
        .unwrap_or_else(|| "file".into())
}

/// What decoding a payload yields, in the order it is worth showing.
#[derive(Debug)]
pub enum ResultEvent {
    /// The first lines of a huge output, to read while the rest is split into lines.
    Preview(Arc<Document>),
    /// The whole result, ready to view.
    Document(Arc<Document>),
    /// The review's fingerprint of the result.
    Digest(Digest),
}

/// Decodes a fetched payload into a document (a preview of a huge one first) and then the
/// review's digest, which the document does not wait for. Blocking: run it off the UI thread.
pub fn decode(
    fetched: &Fetched,
    kind: &PayloadKind,
    normaliser: &Normaliser,
    deliver: &mut dyn FnMut(ResultEvent),
) {
    // Whose download it was goes with the digest, whichever way the digest is made.
    let teammate = fetched.team_share.teammate();
    let deliver = &mut |event| {
        deliver(match event {
            ResultEvent::Digest(digest) => ResultEvent::Digest(digest.fetched_by(teammate)),
            other => other,
        });
    };
    let bytes = match std::fs::read(&fetched.path) {
        Ok(bytes) => bytes,
        Err(error) => {
            let text = format!("could not read the fetched result: {error}");
            deliver(ResultEvent::Document(Arc::new(Document::from_script(
                text.as_bytes(),
                fetched.sha256.clone(),
                fetched.from_cache,
            ))));
            deliver(ResultEvent::Digest(Digest::of_file(&fetched.sha256)));
            return;
        }
    };
    if let PayloadKind::File { name } = kind {
        let file = Document::from_file(
            &bytes,
            name,
            fetched.sha256.clone(),
            fetched.from_cache,
            MAX_FILE_BYTES,
        );
        // Files are compared by what they are, not by how they were compressed.
        let digest = Digest::of_file(file.evidence_sha256());
        deliver(ResultEvent::Document(Arc::new(file)));
        deliver(ResultEvent::Digest(digest));
        return;
    }
    let result = decode::script_result(&bytes);
    if let Some(preview) = Document::preview(
        &result,
        bytes.len() as u64,
        fetched.sha256.clone(),
        fetched.from_cache,
    ) {
        deliver(ResultEvent::Preview(Arc::new(preview)));
    }
    let raw = RawView::of(&bytes);
    // Let the payload go before its output is split into lines: at most two copies of a
    // huge output are alive at once.
    drop(bytes);
    deliver(ResultEvent::Document(Arc::new(Document::from_parts(
        &result,
        raw,
        fetched.sha256.clone(),
        fetched.from_cache,
    ))));
    deliver(ResultEvent::Digest(Digest::of_script(&result, normaliser)));
}

/// The output a run shows, as the transcript's output section reads (sanitised, one line
/// per line), for comparing two runs. Blocking: run it off the UI thread.
pub fn output_text(fetched: &Fetched, kind: &PayloadKind) -> String {
    let mut document = None;
    decode(fetched, kind, &Normaliser::builtin(), &mut |event| {
        if let ResultEvent::Document(whole) = event {
            document = Some(whole);
        }
    });
    document.map_or_else(String::new, |document| {
        document
            .section(crate::transcript::document::Section::Output)
            .iter()
            .map(|line| line.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Only the review's digest, for callers that never show the document (`lrx review`):
/// a file is hashed as it streams out of the gzip, a script result is decoded once.
pub fn digest(fetched: &Fetched, kind: &PayloadKind, normaliser: &Normaliser) -> Option<Digest> {
    let digest = match kind {
        PayloadKind::File { .. } => Some(Digest::of_file_payload(
            &fetched.path,
            &fetched.sha256,
            MAX_FILE_BYTES,
        )),
        PayloadKind::Script => std::fs::read(&fetched.path)
            .ok()
            .map(|bytes| Digest::of_script(&decode::script_result(&bytes), normaliser)),
    };
    digest.map(|d| d.fetched_by(fetched.team_share.teammate()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(dir: &std::path::Path, bytes: &[u8], file_name: Option<&str>) -> Fetched {
        let path = dir.join("payload");
        std::fs::write(&path, bytes).expect("write");
        Fetched {
            path,
            size: bytes.len() as u64,
            sha256: "ab".repeat(32),
            from_cache: false,
            team_share: crate::fetch::TeamShare::Unshared,
            link_expires_at: None,
            file_name: file_name.map(Into::into),
        }
    }

    fn command(json: &str) -> Command {
        serde_json::from_str(json).expect("command")
    }

    fn events(fetched: &Fetched, kind: &PayloadKind) -> Vec<ResultEvent> {
        let mut out = Vec::new();
        decode(fetched, kind, &Normaliser::builtin(), &mut |e| out.push(e));
        out
    }

    #[test]
    fn getfile_commands_are_files_named_by_the_download_or_the_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let getfile = command(
            r#"{"index":0,"commandStatus":"Completed","command":{"type":"GetFile","params":[{"key":"Path","value":"C:\\Windows\\Temp\\msupd.dll"}]}}"#,
        );
        let script = command(
            r#"{"index":1,"commandStatus":"Completed","command":{"type":"RunScript","params":[{"key":"ScriptName","value":"a.ps1"}]}}"#,
        );
        let named = fetched(dir.path(), b"", Some("evil.dll.gz"));
        let unnamed = fetched(dir.path(), b"", None);
        assert_eq!(
            PayloadKind::of(Some(&getfile), &named),
            PayloadKind::File {
                name: "evil.dll".into()
            }
        );
        assert_eq!(
            PayloadKind::of(Some(&getfile), &unnamed),
            PayloadKind::File {
                name: "msupd.dll".into()
            }
        );
        assert_eq!(PayloadKind::of(Some(&script), &named), PayloadKind::Script);
        assert_eq!(PayloadKind::of(None, &named), PayloadKind::Script);
    }

    #[test]
    fn a_script_result_gives_its_document_then_its_digest() {
        let dir = tempfile::tempdir().expect("tmp");
        let payload = br#"{"script_name":"a.ps1","exit_code":3,"script_output":"one\ntwo\n","script_errors":""}"#;
        let fetched = fetched(dir.path(), payload, None);
        let out = events(&fetched, &PayloadKind::Script);
        assert_eq!(out.len(), 2, "small outputs have no preview: {out:?}");
        let ResultEvent::Document(document) = &out[0] else {
            panic!("document first: {out:?}");
        };
        assert_eq!(
            document
                .exit_code()
                .and_then(super::super::transcript::decode::ExitCode::code),
            Some(3)
        );
        let ResultEvent::Digest(digest) = &out[1] else {
            panic!("digest last: {out:?}");
        };
        assert_eq!(
            Some(digest),
            digest_of(&fetched, &PayloadKind::Script).as_ref(),
            "the CLI's digest is the TUI's"
        );
    }

    fn digest_of(fetched: &Fetched, kind: &PayloadKind) -> Option<Digest> {
        digest(fetched, kind, &Normaliser::builtin())
    }

    #[test]
    fn a_file_is_digested_by_its_own_hash_not_the_gzip() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("tmp");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"MZ not really a dll").expect("gzip");
        let fetched = fetched(dir.path(), &gz.finish().expect("gzip"), Some("x.dll.gz"));
        let kind = PayloadKind::File {
            name: "x.dll".into(),
        };
        let out = events(&fetched, &kind);
        let Some(ResultEvent::Digest(digest)) = out.last() else {
            panic!("a digest: {out:?}");
        };
        assert_ne!(digest.hash, fetched.sha256);
        assert_eq!(Some(digest), digest_of(&fetched, &kind).as_ref());
    }

    #[test]
    fn an_unreadable_payload_still_says_what_happened() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut gone = fetched(dir.path(), b"", None);
        gone.path = dir.path().join("missing");
        let out = events(&gone, &PayloadKind::Script);
        let ResultEvent::Document(document) = &out[0] else {
            panic!("a document: {out:?}");
        };
        let text: Vec<_> = document
            .section(crate::transcript::document::Section::Output)
            .iter()
            .map(|l| l.text.clone())
            .collect();
        assert!(
            text.iter()
                .any(|t| t.contains("could not read the fetched result")),
            "{text:?}"
        );
    }
}
