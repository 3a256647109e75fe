//! Case bundles: a directory that stands on its own as evidence. `manifest.json` says what
//! each result is and where it came from, `payloads/` holds the payloads byte for byte (a
//! `GetFile`'s collected file decompressed, with both hashes), `text/` the outputs sanitised
//! for reading, beside the review, the timeline and the custody log's entries for these
//! results. `SHA256SUMS` lists every file's SHA-256 (the manifest's included), so a bundle
//! verifies with `lrx case verify` or with `sha256sum -c SHA256SUMS` alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::api::models::{Command, CommandType, MachineAction};
use crate::fetch::Fetched;
use crate::sanitize;
use crate::transcript::decode;

pub const FORMAT: &str = "lrx-case-bundle/1";
pub const SUMS: &str = "SHA256SUMS";
pub const MANIFEST: &str = "manifest.json";

/// Who exported what, for the manifest's head.
#[derive(Debug, Clone)]
pub struct Header {
    pub case: String,
    pub analyst: String,
    pub tenant_id: String,
}

/// One command of the selection: its action, and what the review made of it.
pub struct Item<'a> {
    pub action: &'a MachineAction,
    pub command: &'a Command,
    /// The payload, when it was fetched (or cached).
    pub fetched: Option<&'a Fetched>,
    /// Why there is no payload, when there is none.
    pub missing: Option<String>,
    pub outcome: String,
    pub exit_code: Value,
    pub cluster: Option<String>,
    pub summary: String,
    /// Where it came from: `live`, `cache` or `teammate NAME`.
    pub source: String,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub results: usize,
    pub missing: usize,
    /// Every file written, as paths inside the bundle (`SHA256SUMS` included).
    pub files: Vec<String>,
    pub manifest_sha256: String,
}

struct Writer {
    root: PathBuf,
    /// Relative path → (SHA-256, size) of every file written.
    files: BTreeMap<String, (String, u64)>,
}

impl Writer {
    fn write(&mut self, relative: &str, bytes: &[u8]) -> Result<(String, u64), String> {
        self.write_with(relative, |out| {
            std::io::Write::write_all(out, bytes).map_err(|e| e.to_string())
        })
    }

    fn write_with(
        &mut self,
        relative: &str,
        fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), String>,
    ) -> Result<(String, u64), String> {
        let path = self.root.join(relative);
        if let Some(dir) = path.parent() {
            crate::files::ensure_dir(dir)
                .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        }
        crate::files::write_atomic(&path, fill)?;
        // Hashed as it lies on the disk: what verify will read.
        let sha256 = crate::fetch::cache::sha256_file(&path)
            .map_err(|e| format!("could not read back {}: {e}", path.display()))?;
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.files
            .insert(relative.to_string(), (sha256.clone(), size));
        Ok((sha256, size))
    }
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

/// A bundle goes into a new (or empty) directory, so nothing else is mixed in: checked
/// before anything is fetched, and again before anything is written.
pub fn ensure_new(dir: &Path) -> Result<(), String> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!(
            "{} is not empty: a bundle goes into a new directory, so nothing else is mixed in",
            dir.display()
        ));
    }
    Ok(())
}

/// Writes the bundle into `dir`, which must be new or empty. `custody` are the custody
/// log's lines for these results, as stored.
pub fn write(
    dir: &Path,
    header: &Header,
    items: &[Item],
    timeline: &[Value],
    custody: &[String],
) -> Result<Written, String> {
    ensure_new(dir)?;
    crate::files::ensure_dir(dir)
        .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let mut writer = Writer {
        root: dir.to_path_buf(),
        files: BTreeMap::new(),
    };
    let mut results = Vec::new();
    let mut review_rows = Vec::new();
    let mut missing = 0;
    for item in items {
        let (entry, row) = write_item(&mut writer, item)?;
        if item.fetched.is_none() {
            missing += 1;
        }
        results.push(entry);
        review_rows.push(row);
    }
    write_review(&mut writer, &review_rows)?;
    let timeline_text: String = timeline.iter().map(|e| format!("{e}\n")).collect();
    writer.write("timeline.jsonl", timeline_text.as_bytes())?;
    let custody_text: String = custody.iter().map(|l| format!("{l}\n")).collect();
    writer.write("custody.jsonl", custody_text.as_bytes())?;
    let files: Vec<Value> = writer
        .files
        .iter()
        .map(|(path, (sha256, size))| json!({"path": path, "sha256": sha256, "size": size}))
        .collect();
    let manifest = json!({
        "format": FORMAT,
        "case": header.case,
        "analyst": header.analyst,
        "lrx_version": env!("CARGO_PKG_VERSION"),
        "tenant_id": header.tenant_id,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "results": results,
        "files": files,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    let (manifest_sha256, _) = writer.write(MANIFEST, format!("{text}\n").as_bytes())?;
    let sums: String = writer
        .files
        .iter()
        .map(|(path, (sha256, _))| format!("{sha256}  {path}\n"))
        .collect();
    writer.write(SUMS, sums.as_bytes())?;
    Ok(Written {
        results: items.len(),
        missing,
        files: writer.files.keys().cloned().collect(),
        manifest_sha256,
    })
}

fn write_item(writer: &mut Writer, item: &Item) -> Result<(Value, Value), String> {
    let action = item.action;
    let command = item.command;
    let base = crate::files::safe_name(&format!("{}-{}", action.id, command.index));
    let mut entry = json!({
        "action_id": action.id,
        "index": command.index,
        "machine": action.computer_dns_name,
        "machine_id": action.machine_id,
        "command_type": command.command.command_type.as_str(),
        "script": command.param("ScriptName"),
        "args": command.param("Args"),
        "path": command.param("Path"),
        "target": command.target(),
        "action_status": action.status.as_str(),
        "command_status": command.command_status.as_str(),
        "errors": command.errors,
        "exit_code": item.exit_code,
        "requestor": action.requestor,
        "requestor_comment": action.requestor_comment,
        "created": time(action.creation_date_time_utc),
        "started": time(command.start_time),
        "ended": time(command.end_time),
        "source": item.source,
        "payload": Value::Null,
        "missing": item.missing,
    });
    let mut row_sha256 = Value::Null;
    if let Some(fetched) = item.fetched {
        let raw = std::fs::read(&fetched.path)
            .map_err(|e| format!("could not read the result of {base}: {e}"))?;
        if command.command.command_type == CommandType::GetFile {
            let name = crate::results::file_name(Some(command), fetched);
            let relative = format!(
                "payloads/{}",
                crate::files::safe_name(&format!("{base}-{name}"))
            );
            let mut hashes = None;
            writer.write_with(&relative, |out| {
                let file = decode::gunzip_bounded(&raw[..], out, decode::MAX_FILE_BYTES)
                    .map_err(|e| e.to_string())?;
                hashes = Some(file.hashes);
                Ok(())
            })?;
            let (sha256, size) = writer.files[&relative].clone();
            let hashes = hashes.ok_or("the file was not hashed")?;
            entry["payload"] = json!({
                "path": relative, "sha256": sha256, "size": size,
                "sha1": hashes.sha1, "md5": hashes.md5,
                "download_sha256": fetched.sha256, "download_size": fetched.size,
                "note": "the collected file, decompressed; download_sha256 is the gzip's as fetched",
            });
            row_sha256 = json!(sha256);
        } else {
            let script = command.param("ScriptName").unwrap_or("result");
            let relative = format!(
                "payloads/{}",
                crate::files::safe_name(&format!("{base}-{script}.json"))
            );
            let (sha256, size) = writer.write(&relative, &raw)?;
            if sha256 != fetched.sha256 {
                return Err(format!(
                    "{relative} changed while it was copied (its SHA-256 is not the download's)"
                ));
            }
            entry["payload"] = json!({"path": relative, "sha256": sha256, "size": size});
            let decoded = decode::script_result(&raw);
            let (mut text, _) = sanitize::document(decoded.visible_output());
            if !decoded.script_errors.is_empty() {
                let (errors, _) = sanitize::document(&decoded.script_errors);
                text = format!("{text}\n-- script_errors --\n{errors}");
            }
            let text_path = format!("text/{base}.txt");
            let (text_sha256, text_size) = writer.write(&text_path, text.as_bytes())?;
            entry["text"] = json!({"path": text_path, "sha256": text_sha256, "size": text_size});
            row_sha256 = json!(sha256);
        }
    }
    let row = json!({
        "machine": action.computer_dns_name,
        "action_id": action.id,
        "index": command.index,
        "target": command.target(),
        "status": command.command_status.as_str(),
        "outcome": item.outcome,
        "exit_code": item.exit_code,
        "cluster": item.cluster,
        "summary": item.summary,
        "started": time(command.start_time),
        "ended": time(command.end_time),
        "sha256": row_sha256,
    });
    Ok((entry, row))
}

const REVIEW_COLUMNS: [&str; 12] = [
    "machine",
    "action_id",
    "index",
    "target",
    "status",
    "outcome",
    "exit_code",
    "cluster",
    "summary",
    "started",
    "ended",
    "sha256",
];

fn write_review(writer: &mut Writer, rows: &[Value]) -> Result<(), String> {
    let lines: String = rows.iter().map(|r| format!("{r}\n")).collect();
    writer.write("review.jsonl", lines.as_bytes())?;
    let mut csv = REVIEW_COLUMNS.join(",") + "\n";
    for row in rows {
        let cells: Vec<String> = REVIEW_COLUMNS
            .iter()
            .map(|column| match &row[*column] {
                Value::Null => String::new(),
                Value::String(text) => crate::review::csv_cell(text),
                other => crate::review::csv_cell(&other.to_string()),
            })
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    writer.write("review.csv", csv.as_bytes())?;
    Ok(())
}

/// What `verify` found: the files checked, and the first problem, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub checked: usize,
    pub manifest_sha256: String,
    pub problem: Option<String>,
}

/// Re-hashes every file against `SHA256SUMS`, checks the manifest's own list against it,
/// and finds files that are in neither.
pub fn verify(dir: &Path) -> Result<Verdict, String> {
    let sums_text = std::fs::read_to_string(dir.join(SUMS))
        .map_err(|e| format!("{}: no {SUMS} ({e}): not an lrx case bundle", dir.display()))?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in sums_text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((sha256, path)) = line.split_once("  ") else {
            return Ok(verdict(
                0,
                "",
                format!(
                    "{SUMS}: a line is not `SHA256  PATH`: {}",
                    sanitize::line(line)
                ),
            ));
        };
        if path.contains("..") || path.starts_with('/') {
            return Ok(verdict(
                0,
                "",
                format!(
                    "{SUMS} names a path outside the bundle: {}",
                    sanitize::line(path)
                ),
            ));
        }
        listed.insert(path.to_string(), sha256.to_string());
    }
    let mut checked = 0;
    for (path, expected) in &listed {
        let actual = match crate::fetch::cache::sha256_file(&dir.join(path)) {
            Ok(actual) => actual,
            Err(error) => {
                return Ok(verdict(
                    checked,
                    "",
                    format!("{}: cannot be read: {error}", sanitize::line(path)),
                ));
            }
        };
        if &actual != expected {
            return Ok(verdict(
                checked,
                "",
                format!(
                    "{}: its SHA-256 is {actual}, the bundle says {}",
                    sanitize::line(path),
                    sanitize::line(expected)
                ),
            ));
        }
        checked += 1;
    }
    let manifest_sha256 = listed.get(MANIFEST).cloned().unwrap_or_default();
    if manifest_sha256.is_empty() {
        return Ok(verdict(
            checked,
            "",
            format!("{SUMS} does not list {MANIFEST}"),
        ));
    }
    let manifest: Value = std::fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| format!("{MANIFEST} cannot be read"))?;
    for file in manifest["files"].as_array().into_iter().flatten() {
        let path = file["path"].as_str().unwrap_or_default();
        if listed.get(path).map(String::as_str) != file["sha256"].as_str() {
            return Ok(verdict(
                checked,
                &manifest_sha256,
                format!(
                    "{MANIFEST} and {SUMS} disagree about {}",
                    sanitize::line(path)
                ),
            ));
        }
    }
    for extra in files_under(dir)? {
        if extra != SUMS && !listed.contains_key(&extra) {
            return Ok(verdict(
                checked,
                &manifest_sha256,
                format!(
                    "{}: in the bundle's directory but not in {SUMS}",
                    sanitize::line(&extra)
                ),
            ));
        }
    }
    Ok(verdict(checked, &manifest_sha256, String::new()))
}

fn verdict(checked: usize, manifest_sha256: &str, problem: String) -> Verdict {
    Verdict {
        checked,
        manifest_sha256: manifest_sha256.to_string(),
        problem: (!problem.is_empty()).then_some(problem),
    }
}

/// Every file under `dir`, as a path relative to it with `/` between parts.
fn files_under(dir: &Path) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let entries = std::fs::read_dir(&next).map_err(|e| format!("{}: {e}", next.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.push(
                    relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
    }
    Ok(found)
}
