//! The custody log: an append-only, hash-chained JSON-lines file per tenant and app, one
//! entry for everything lrx did with a result (fetched, saved, copied, exported) and every
//! session it started or cancelled. Each entry carries the hash of the line before it, so an
//! edited, inserted or deleted line breaks the chain at that point and `lrx log verify` names
//! it. Never a token, a link or a secret: only ids, names, hashes and sizes.
//!
//! Several lrx processes may share one log: an append holds an exclusive lock on the file
//! while it reads the last line and writes the next.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, with what it happened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A result's payload reached this machine: downloaded, read from the cache, or taken
    /// from a teammate through the team's store.
    Fetch {
        action_id: String,
        index: u32,
        machine: String,
        sha256: String,
        size: u64,
        source: String,
    },
    /// A payload, a file or an output written to disk.
    Save {
        action_id: String,
        index: u32,
        path: String,
        sha256: String,
        size: u64,
        what: String,
    },
    /// Text put on the clipboard.
    Copy {
        action_id: String,
        index: u32,
        sha256: String,
        size: u64,
    },
    /// Results written into a case bundle.
    Export {
        dir: String,
        case: String,
        results: usize,
        manifest_sha256: String,
    },
    /// A live response session started.
    Run {
        action_id: String,
        machine: String,
        commands: String,
        comment: String,
    },
    /// A machine action cancelled.
    Cancel { action_id: String, comment: String },
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub analyst: String,
    pub lrx_version: String,
    #[serde(flatten)]
    pub event: Event,
    /// The SHA-256 of the previous line as written.
    pub prev: String,
}

impl Entry {
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("could not write the custody log {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("could not record in the custody log: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// 1-based line number in the file.
    pub line: usize,
    pub reason: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: usize,
    /// The hash of the last line: write it down (or into a case bundle) to detect a later
    /// rewrite of the whole chain.
    pub head: String,
    pub broken: Option<Break>,
}

pub struct CustodyLog {
    path: PathBuf,
    analyst: String,
}

fn hash_line(line: &str) -> String {
    hex::encode(sha2::Sha256::digest(line.as_bytes()))
}

impl CustodyLog {
    /// The log of one tenant and app (`scope`) under `dir`.
    pub fn new(dir: &Path, scope: &str, analyst: String) -> Self {
        Self {
            path: dir.join(format!("{}.jsonl", crate::files::safe_name(scope))),
            analyst,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry, chained to the last line under an exclusive lock.
    pub fn record(&self, event: Event) -> Result<Entry, CustodyError> {
        let io = |error| CustodyError::Io {
            path: self.path.clone(),
            error,
        };
        if let Some(dir) = self.path.parent() {
            crate::files::ensure_dir(dir).map_err(io)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let last = last_line(&mut file).map_err(io)?;
        let (seq, prev) = match last {
            Some(line) => {
                let seq = serde_json::from_str::<Entry>(&line).map_or(0, |e| e.seq);
                (seq + 1, hash_line(&line))
            }
            None => (1, GENESIS.to_string()),
        };
        let entry = Entry {
            seq,
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            analyst: self.analyst.clone(),
            lrx_version: env!("CARGO_PKG_VERSION").to_string(),
            event,
            prev,
        };
        let line = serde_json::to_string(&entry)?;
        file.write_all(format!("{line}\n").as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        let _ = file.unlock();
        Ok(entry)
    }

    /// Records, and logs instead of failing: the work itself must not stop because the
    /// log could not be written (the log file says so).
    pub fn note(&self, event: Event) {
        if let Err(error) = self.record(event) {
            tracing::error!("{error}");
        }
    }

    /// The log's lines as stored; none when nothing was recorded yet.
    fn lines(&self) -> std::io::Result<Vec<String>> {
        match File::open(&self.path) {
            Ok(file) => Ok(BufReader::new(file).lines().map_while(Result::ok).collect()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(error),
        }
    }

    /// Every entry, oldest first; lines that cannot be read are left out (verify names them).
    pub fn entries(&self) -> std::io::Result<Vec<Entry>> {
        Ok(self
            .lines()?
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// The lines, as stored, about any of these actions (for a case bundle).
    pub fn lines_about(
        &self,
        action_ids: &std::collections::HashSet<&str>,
    ) -> std::io::Result<Vec<String>> {
        Ok(self
            .lines()?
            .into_iter()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line).is_ok_and(|entry| {
                    entry["action_id"]
                        .as_str()
                        .is_some_and(|id| action_ids.contains(id))
                })
            })
            .collect())
    }

    /// Re-computes the chain and names the first line that breaks it.
    pub fn verify(&self) -> std::io::Result<Verified> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        Ok(verify_text(&text))
    }
}

/// The chain of `text` checked line by line.
pub fn verify_text(text: &[u8]) -> Verified {
    let mut prev = GENESIS.to_string();
    let mut entries = 0;
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for (number, raw) in lines.iter().enumerate() {
        let line_no = number + 1;
        let broken = |reason: String| Verified {
            entries,
            head: prev.clone(),
            broken: Some(Break {
                line: line_no,
                reason,
            }),
        };
        let Ok(line) = std::str::from_utf8(raw) else {
            return broken("not UTF-8 text".into());
        };
        let entry: Entry = match serde_json::from_str(line) {
            Ok(entry) => entry,
            Err(error) => return broken(format!("not an entry lrx wrote: {error}")),
        };
        if entry.prev != prev {
            return broken(format!(
                "its prev ({}…) is not the hash of the line before ({}…): a line before it was edited, inserted or deleted, or this one was",
                entry.prev.chars().take(12).collect::<String>(),
                prev.chars().take(12).collect::<String>()
            ));
        }
        let expected_seq = u64::try_from(entries).unwrap_or(u64::MAX) + 1;
        if entry.seq != expected_seq {
            return broken(format!(
                "it is entry {} where entry {expected_seq} was expected",
                entry.seq
            ));
        }
        entries += 1;
        prev = hash_line(line);
    }
    Verified {
        entries,
        head: prev,
        broken: None,
    }
}

/// The file's last line (without its newline), read from the end.
fn last_line(file: &mut File) -> std::io::Result<Option<String>> {
    let length = file.seek(SeekFrom::End(0))?;
    if length == 0 {
        return Ok(None);
    }
    // Lines are short (ids, names, hashes): read back in growing chunks until a newline
    // before the last one is found.
    let mut chunk = 4096u64;
    loop {
        let start = length.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        std::io::Read::by_ref(file)
            .take(length - start)
            .read_to_end(&mut tail)?;
        let trimmed = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if let Some(at) = trimmed.iter().rposition(|b| *b == b'\n') {
            return Ok(Some(
                String::from_utf8_lossy(&trimmed[at + 1..]).into_owned(),
            ));
        }
        if start == 0 {
            return Ok(Some(String::from_utf8_lossy(trimmed).into_owned()));
        }
        chunk *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(n: u32) -> Event {
        Event::Fetch {
            action_id: "a1".into(),
            index: n,
            machine: "wks-1".into(),
            sha256: "ab".repeat(32),
            size: 10,
            source: "live".into(),
        }
    }

    #[test]
    fn the_chain_verifies_and_each_kind_of_tampering_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = CustodyLog::new(dir.path(), "tenant/app", "ana@jump01".into());
        for n in 0..5 {
            log.record(fetch(n)).unwrap_or_else(|e| panic!("{e}"));
        }
        let good = log.verify().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(good.entries, 5);
        assert!(good.broken.is_none());
        assert_eq!(log.entries().unwrap_or_default().len(), 5);
        let text = std::fs::read_to_string(log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();

        let edited = text.replacen("\"index\":2", "\"index\":7", 1);
        let found = verify_text(edited.as_bytes()).broken.map(|b| b.line);
        assert_eq!(found, Some(4), "the line after the edited one breaks");

        let deleted: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert_eq!(
            verify_text(deleted.as_bytes()).broken.map(|b| b.line),
            Some(2)
        );

        let truncated_first: String = lines.iter().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            verify_text(truncated_first.as_bytes())
                .broken
                .map(|b| b.line),
            Some(1)
        );
        assert!(verify_text(b"garbage\n").broken.is_some());
    }

    #[test]
    fn entries_carry_no_secret_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = CustodyLog::new(dir.path(), "t", "ana".into());
        let entry = log
            .record(Event::Cancel {
                action_id: "a".into(),
                comment: "stuck".into(),
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entry.prev, GENESIS);
        assert_eq!(entry.seq, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(log.path())
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default();
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn processes_appending_at_once_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().to_path_buf();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let log = CustodyLog::new(&path, "t", format!("w{w}"));
                    for n in 0..25 {
                        log.record(fetch(n)).unwrap_or_else(|e| panic!("{e}"));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap_or_else(|_| panic!("writer"));
        }
        let verified = CustodyLog::new(&path, "t", "x".into())
            .verify()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verified.entries, 100);
        assert!(verified.broken.is_none(), "{:?}", verified.broken);
    }
}
