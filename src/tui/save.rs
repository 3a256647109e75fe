//! Saving a result to disk, for `s`, `S` and a `GetFile`'s file: run off the UI thread by the
//! event loop, reporting back in words.

use crate::sanitize;
use crate::tui::message::SaveKind;

/// Runs a save off the UI thread; the message says where the file went or what failed.
/// The file is written privately beside the target and renamed into place, so a planted
/// symlink is replaced rather than followed, and a refused save leaves nothing behind.
pub fn save(source: &std::path::Path, target: &std::path::Path, kind: SaveKind) -> String {
    save_hashed(source, target, kind).0
}

/// As `save`, also giving the SHA-256 and size of the file as written (read back from the
/// disk, so the hash is of what is there).
pub fn save_hashed(
    source: &std::path::Path,
    target: &std::path::Path,
    kind: SaveKind,
) -> (String, Option<(String, u64)>) {
    let outcome = std::fs::read(source)
        .map_err(|e| format!("could not read the result: {e}"))
        .and_then(|bytes| {
            crate::files::write_atomic(target, |writer| match kind {
                SaveKind::Payload => {
                    std::io::Write::write_all(writer, &bytes).map_err(|e| e.to_string())?;
                    Ok((bytes.len() as u64, None))
                }
                SaveKind::OutputText => {
                    // Text to read (`cat`, an editor): controls made visible, as on screen.
                    // The exact bytes stay one key away (`s`).
                    let result = crate::transcript::decode::script_result(&bytes);
                    let (text, findings) = sanitize::document(result.visible_output());
                    std::io::Write::write_all(writer, text.as_bytes())
                        .map_err(|e| e.to_string())?;
                    let note = (findings.total() > 0).then(|| {
                        format!(
                            "{} control or invisible characters written as placeholders (s saves the exact bytes)",
                            findings.total()
                        )
                    });
                    Ok((text.len() as u64, note))
                }
                SaveKind::File { limit } => {
                    crate::transcript::decode::gunzip_bounded(&bytes[..], writer, limit)
                        .map(|file| (file.size, file.note()))
                        .map_err(|e| e.to_string())
                }
            })
        });
    match outcome {
        Ok((size, note)) => {
            let sha256 = crate::fetch::cache::sha256_file(target).unwrap_or_default();
            (
                format!(
                    "saved {} ({size} bytes, private, sha256 {sha256}){}",
                    target.display(),
                    note.map(|n| format!("; {n}")).unwrap_or_default()
                ),
                Some((sha256, size)),
            )
        }
        Err(error) => (format!("save failed: {error}"), None),
    }
}

impl SaveKind {
    /// What was saved, in words for the custody log.
    pub fn label(self) -> &'static str {
        match self {
            Self::Payload => "raw payload",
            Self::OutputText => "output text (sanitised)",
            Self::File { .. } => "collected file (decompressed)",
        }
    }
}
