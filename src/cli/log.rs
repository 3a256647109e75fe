//! `lrx log` and `lrx log verify`: the custody log shown, and its chain checked.

use std::io::Write as _;

use super::failure::{Failure, io_failure, write_json_line};
use super::{Cli, LogAction, LogArgs};
use crate::config::FileConfig;
use crate::custody::{Entry, Event};
use crate::sanitize;

pub(super) fn run(cli: &Cli, args: &LogArgs, config: &FileConfig) -> Result<(), Failure> {
    let options = cli.global.session_options(config);
    let log = crate::session::custody_log_of(&options)?;
    if let Some(LogAction::Verify) = args.action {
        let verified = log.verify().map_err(|e| {
            Failure::Runtime(format!("could not read {}: {e}", log.path().display()))
        })?;
        return match verified.broken {
            None => {
                println!(
                    "{}: {} entries, the chain holds; head {}",
                    log.path().display(),
                    verified.entries,
                    verified.head
                );
                Ok(())
            }
            Some(broken) => Err(Failure::Runtime(format!(
                "{}: the chain breaks at line {} ({} entries before it hold): {}",
                log.path().display(),
                broken.line,
                verified.entries,
                sanitize::line(&broken.reason)
            ))),
        };
    }
    let since = args.since.map(|d| {
        chrono::Utc::now() - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
    });
    let entries: Vec<Entry> = log
        .entries()
        .map_err(|e| Failure::Runtime(format!("could not read {}: {e}", log.path().display())))?
        .into_iter()
        .filter(|e| since.is_none_or(|since| e.time().is_some_and(|t| t >= since)))
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        for entry in &entries {
            write_json_line(&mut out, entry)?;
        }
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!("lrx: nothing recorded yet in {}", log.path().display());
        return Ok(());
    }
    writeln!(
        out,
        "{:>5}  {:<27}  {:<20}  {:<7}  WHAT",
        "SEQ", "TIME (UTC)", "ANALYST", "EVENT"
    )
    .map_err(|e| io_failure(&e))?;
    for entry in &entries {
        let (kind, what) = describe(&entry.event);
        writeln!(
            out,
            "{:>5}  {:<27}  {}  {kind:<7}  {}",
            entry.seq,
            sanitize::line(&entry.time),
            super::failure::cell(&entry.analyst, 20),
            sanitize::line(&what)
        )
        .map_err(|e| io_failure(&e))?;
    }
    Ok(())
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn describe(event: &Event) -> (&'static str, String) {
    match event {
        Event::Fetch {
            action_id,
            index,
            machine,
            sha256,
            size,
            source,
        } => (
            "fetch",
            format!(
                "{action_id} #{index} {machine} · {size} bytes · sha256 {}… · {source}",
                short(sha256)
            ),
        ),
        Event::Save {
            action_id,
            index,
            path,
            sha256,
            size,
            what,
        } => (
            "save",
            format!(
                "{action_id} #{index} {what} → {path} · {size} bytes · sha256 {}…",
                short(sha256)
            ),
        ),
        Event::Copy {
            action_id,
            index,
            sha256,
            size,
        } => (
            "copy",
            format!(
                "{action_id} #{index} · {size} bytes · sha256 {}…",
                short(sha256)
            ),
        ),
        Event::Export {
            dir,
            case,
            results,
            manifest_sha256,
        } => (
            "export",
            format!(
                "case {case}: {results} results → {dir} · manifest sha256 {}…",
                short(manifest_sha256)
            ),
        ),
        Event::Run {
            action_id,
            machine,
            commands,
            comment,
        } => (
            "run",
            format!("{action_id} {machine} · {commands} · {comment}"),
        ),
        Event::Cancel { action_id, comment } => ("cancel", format!("{action_id} · {comment}")),
    }
}
