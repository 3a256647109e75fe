//! `lrx result`: one command's result fetched through the budget and printed as text or
//! JSON, a `GetFile`'s file hashed (and saved on request) as it is decompressed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use chrono::Local;
use serde_json::json;

use super::failure::{Failure, io_failure, write_json_line};
use super::{Cli, ResultArgs};
use crate::api::models::{Command as ApiCommand, CommandType, MachineAction};
use crate::config::FileConfig;
use crate::custody::{CustodyLog, Event};
use crate::fetch::{FetchEvent, Fetched, Priority, ResultKey, ResultState, TeamShare};
use crate::sanitize;
use crate::session::Session;
use crate::transcript::decode::{self, ExitCode};

/// One fetched result, decoded for output.
struct Output {
    command: ApiCommand,
    fetched: Arc<Fetched>,
}

pub(super) async fn result(
    cli: &Cli,
    args: &ResultArgs,
    config: &FileConfig,
) -> Result<(), Failure> {
    if args.raw && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        // The exact bytes of an endpoint's output would drive this terminal.
        return Err(Failure::Usage(
            "--raw writes the exact bytes, escape sequences included, so it is not sent to a terminal: redirect it (lrx result … --raw > output.txt) or leave out --raw for the sanitised text".into(),
        ));
    }
    let mut session = Session::open(cli.global.session_options(config)).await?;
    let action = session.action(&args.action_id, true).await?;
    print_results(&mut session, &action, args).await
}

/// Fetches (through the budget) and prints the results `args` asks for of one action.
pub(super) async fn print_results(
    session: &mut Session,
    action: &MachineAction,
    args: &ResultArgs,
) -> Result<(), Failure> {
    session.budget.set_activity(&format!(
        "reading results of {}",
        crate::sanitize::line(&action.computer_dns_name)
    ));
    let wanted: Vec<&ApiCommand> = if let Some(index) = args.index {
        let Some(command) = action.commands.iter().find(|c| c.index == index) else {
            return Err(Failure::Usage(format!(
                "action {} has no command with index {index} (it has {})",
                sanitize::line(&action.id),
                action.commands.len()
            )));
        };
        if !command.has_result() {
            return Err(Failure::Runtime(no_result_reason(command)));
        }
        vec![command]
    } else {
        for command in action.commands.iter().filter(|c| !c.has_result()) {
            eprintln!("lrx: {}", no_result_reason(command));
        }
        // The client has already kept an index the service lists twice only once.
        action.commands.iter().filter(|c| c.has_result()).collect()
    };
    if let Some(dir) = &args.save {
        crate::files::ensure_dir(dir)
            .map_err(|e| Failure::Runtime(format!("could not create {}: {e}", dir.display())))?;
    }
    for command in &wanted {
        session.engine.fetch(
            ResultKey::new(action.id.clone(), command.index),
            Priority::Interactive,
        );
    }
    // Print in index order as results arrive.
    let mut done: BTreeMap<u32, Result<Arc<Fetched>, String>> = BTreeMap::new();
    let mut next = 0usize;
    let mut failures = 0;
    while next < wanted.len() {
        let Some(event) = session.events.recv().await else {
            return Err(Failure::Runtime(
                "the fetch engine stopped unexpectedly".into(),
            ));
        };
        if let FetchEvent::State(key, state) = event {
            match state {
                ResultState::Ready(fetched) => {
                    done.insert(key.index, Ok(fetched));
                }
                ResultState::Failed(reason) => {
                    done.insert(key.index, Err(reason));
                }
                ResultState::NotCached => {
                    done.insert(
                        key.index,
                        Err("not in the cache, and lrx is offline (--offline): run without --offline to fetch it".into()),
                    );
                }
                ResultState::WaitingForBudget { until } if !args.json => {
                    eprintln!(
                        "lrx: waiting for API budget until {}",
                        until.with_timezone(&Local).format("%H:%M:%S")
                    );
                }
                ResultState::WaitingForTeammate { by } if !args.json => {
                    eprintln!(
                        "lrx: {} is fetching result {}; taking it from the team store",
                        crate::team::shown_member(&by),
                        key.index
                    );
                }
                _ => {}
            }
        }
        while let Some(outcome) = wanted.get(next).and_then(|c| done.remove(&c.index)) {
            let command = wanted[next];
            next += 1;
            match outcome {
                Ok(fetched) => {
                    let printed = print_result(
                        action,
                        Output {
                            command: command.clone(),
                            fetched,
                        },
                        args,
                        &session.custody,
                    );
                    // One bad result is reported; the others still print and save.
                    match printed {
                        Ok(()) => {}
                        Err(Failure::ReaderGone) => return Err(Failure::ReaderGone),
                        Err(failure) => {
                            failures += 1;
                            eprintln!(
                                "lrx: index {}: {}",
                                command.index,
                                sanitize::line(failure.message())
                            );
                        }
                    }
                }
                Err(reason) => {
                    failures += 1;
                    eprintln!("lrx: index {}: {}", command.index, sanitize::line(&reason));
                }
            }
        }
    }
    if failures > 0 {
        return Err(Failure::Runtime(format!(
            "{failures} of {} results could not be fetched (see above)",
            wanted.len()
        )));
    }
    Ok(())
}

/// Why a command has no result to fetch: a PutFile, a failure (its first error), or not
/// finished.
pub(super) fn why_no_result(command: &ApiCommand) -> String {
    match (&command.command.command_type, &command.command_status) {
        (CommandType::PutFile, _) => "PutFile commands have no result".to_string(),
        (_, crate::api::models::CommandStatus::Failed) => format!(
            "the command failed: {}",
            command
                .errors
                .first()
                .map_or_else(|| "no error given".into(), |e| sanitize::line(e))
        ),
        (_, status) => format!("the command is {status}, not completed yet"),
    }
}

fn no_result_reason(command: &ApiCommand) -> String {
    let why = why_no_result(command);
    format!(
        "index {} ({} {}) has no result: {why}",
        command.index,
        command.command.command_type,
        sanitize::line(&command.target())
    )
}

/// Says where a file was saved, with its size and SHA-256 as written, and records it.
fn saved(
    custody: &CustodyLog,
    action: &MachineAction,
    index: u32,
    path: &std::path::Path,
    what: &str,
) -> Result<String, Failure> {
    let sha256 = crate::fetch::cache::sha256_file(path)
        .map_err(|e| Failure::Runtime(format!("could not read back {}: {e}", path.display())))?;
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    eprintln!(
        "lrx: saved {} ({size} bytes, private, sha256 {sha256})",
        path.display()
    );
    custody.note(Event::Save {
        action_id: action.id.clone(),
        index,
        path: path.display().to_string(),
        sha256: sha256.clone(),
        size,
        what: what.into(),
    });
    Ok(sha256)
}

fn print_result(
    action: &MachineAction,
    output: Output,
    args: &ResultArgs,
    custody: &CustodyLog,
) -> Result<(), Failure> {
    let Output { command, fetched } = output;
    let raw = std::fs::read(&fetched.path)
        .map_err(|e| Failure::Runtime(format!("could not read the fetched result: {e}")))?;
    let mut out = std::io::stdout().lock();
    let base_name = format!("{}-{}", crate::files::safe_name(&action.id), command.index);
    let mut record = json!({
        "action_id": action.id,
        "index": command.index,
        "machine": action.computer_dns_name,
        "command_type": command.command.command_type.as_str(),
        "link_expires_at": fetched.link_expires_at.map(|t| t.to_rfc3339()),
        "from_cache": fetched.from_cache,
        "from_teammate": fetched.team_share.teammate().map(crate::team::shown_member),
        "shared_with_team": match fetched.team_share {
            TeamShare::SharedByYou => Some(true),
            TeamShare::TooLarge { .. } => Some(false),
            TeamShare::Unshared | TeamShare::From(_) => None,
        },
        "sha256": fetched.sha256,
    });
    if let TeamShare::TooLarge { cap_bytes } = fetched.team_share {
        eprintln!(
            "lrx: index {}: not shared with the team: {} is over team_result_mb ({}); teammates fetch it themselves",
            command.index,
            crate::files::human_bytes(fetched.size),
            crate::files::human_bytes(cap_bytes),
        );
    }
    if command.command.command_type == CommandType::GetFile {
        let name = crate::results::file_name(Some(&command), &fetched);
        let safe_name = crate::files::safe_name(&format!("{base_name}-{name}"));
        let (file, saved) = match &args.save {
            Some(dir) => {
                let path = dir.join(&safe_name);
                let file = crate::files::write_atomic(&path, |writer| {
                    decode::gunzip_bounded(&raw[..], writer, args.max_file_size)
                        .map_err(|e| e.to_string())
                })
                .map_err(Failure::Runtime)?;
                (file, Some(path))
            }
            None => (
                decode::gunzip_bounded(&raw[..], std::io::sink(), args.max_file_size)
                    .map_err(|e| Failure::Runtime(e.to_string()))?,
                None,
            ),
        };
        if let Some(note) = file.note() {
            eprintln!("lrx: index {}: {note}", command.index);
        }
        let size = file.size;
        let head = decode::gunzip_head(&raw[..], 4096);
        // The file's hashes are the evidence; the gzip's only identify the download.
        record["sha256"] = json!(file.hashes.sha256);
        record["sha1"] = json!(file.hashes.sha1);
        record["md5"] = json!(file.hashes.md5);
        record["download_sha256"] = json!(fetched.sha256);
        record["script_name"] = json!(null);
        record["file_name"] = json!(name);
        record["size"] = json!(size);
        record["compressed_size"] = json!(fetched.size);
        record["file_type"] = json!(decode::sniff_type(&head));
        if let Some(path) = &saved {
            self::saved(
                custody,
                action,
                command.index,
                path,
                "collected file (decompressed)",
            )?;
            record["saved_to"] = json!(path.display().to_string());
        }
        if args.json {
            return write_json_line(&mut out, &record);
        }
        return writeln!(
            out,
            "== {} · index {} · GetFile {} ==\nfile {} · {} bytes ({} compressed) · {}\nsha256 {} · sha1 {} · md5 {}\ndownload sha256 {} (the gzip, as fetched){}",
            sanitize::line(&action.computer_dns_name),
            command.index,
            sanitize::line(&command.target()),
            sanitize::line(&name),
            size,
            fetched.size,
            decode::sniff_type(&head),
            file.hashes.sha256,
            file.hashes.sha1,
            file.hashes.md5,
            fetched.sha256,
            saved.map(|p| format!("\nsaved to {}", p.display())).unwrap_or_default()
        )
        .map_err(|e| io_failure(&e));
    }
    let decoded = decode::script_result(&raw);
    if let Some(dir) = &args.save {
        let path = dir.join(crate::files::safe_name(&format!(
            "{base_name}-{}.json",
            decoded.script_name.as_deref().unwrap_or("script")
        )));
        crate::files::write_atomic(&path, |writer| {
            std::io::Write::write_all(writer, &raw).map_err(|e| e.to_string())
        })
        .map_err(Failure::Runtime)?;
        saved(custody, action, command.index, &path, "raw payload")?;
        record["saved_to"] = json!(path.display().to_string());
    }
    record["script_name"] = json!(decoded.script_name);
    record["exit_code"] = match &decoded.exit_code {
        ExitCode::Code(code) => json!(code),
        ExitCode::Unusual(text) => json!(text),
        ExitCode::Missing => json!(null),
    };
    record["script_output"] = json!(decoded.script_output);
    record["script_errors"] = json!(decoded.script_errors);
    if !decoded.problems.is_empty() {
        record["problems"] = json!(decoded.problems);
    }
    if args.json {
        return write_json_line(&mut out, &record);
    }
    if args.raw {
        return out
            .write_all(decoded.script_output.as_bytes())
            .map_err(|e| io_failure(&e));
    }
    let exit = match &decoded.exit_code {
        ExitCode::Code(code) => format!("exit {code}"),
        ExitCode::Unusual(text) => format!("exit {}", sanitize::line(text)),
        ExitCode::Missing => "exit ?".into(),
    };
    writeln!(
        out,
        "== {} · index {} · {} · {exit} ==",
        sanitize::line(&action.computer_dns_name),
        command.index,
        sanitize::line(&command.target())
    )
    .map_err(|e| io_failure(&e))?;
    for problem in &decoded.problems {
        writeln!(out, "!! {}", sanitize::line(problem)).map_err(|e| io_failure(&e))?;
    }
    let (text, findings) = sanitize::document(decoded.visible_output());
    out.write_all(text.as_bytes()).map_err(|e| io_failure(&e))?;
    if !text.ends_with('\n') {
        writeln!(out).map_err(|e| io_failure(&e))?;
    }
    if !decoded.script_errors.is_empty() {
        writeln!(out, "-- script_errors --").map_err(|e| io_failure(&e))?;
        let (errors, _) = sanitize::document(&decoded.script_errors);
        out.write_all(errors.as_bytes())
            .map_err(|e| io_failure(&e))?;
        if !errors.ends_with('\n') {
            writeln!(out).map_err(|e| io_failure(&e))?;
        }
    }
    if findings.total() > 0 {
        eprintln!(
            "lrx: {} control or invisible characters were shown as placeholders (use --raw for the exact bytes)",
            findings.total()
        );
    }
    Ok(())
}
