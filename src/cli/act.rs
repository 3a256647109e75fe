//! `lrx run`, `lrx cancel` and `lrx library`: acting on the tenant from a shell. Nothing is
//! posted without a confirmation typed at a terminal or `--yes`, nor from a read-only
//! profile.

use std::collections::HashSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::failure::{Failure, io_failure, write_json_line};
use super::{CancelArgs, Cli, LibraryArgs, ResultArgs, RunArgs};
use crate::act::{self, Launched, PrepareError};
use crate::api::ListQuery;
use crate::api::act::{CancelOutcome, RunCommand, RunOutcome, RunPlan};
use crate::api::models::MachineAction;
use crate::config::{FileConfig, Paths};
use crate::custody::Event;
use crate::sanitize;
use crate::session::Session;

/// How often `--wait` lists the run's actions (one call for all of them).
const WAIT_POLL: Duration = Duration::from_secs(5);

fn refuse_if_read_only(cli: &Cli, config: &FileConfig, what: &str) -> Result<(), Failure> {
    if cli.global.read_only {
        return Err(Failure::Usage(format!("--read-only: lrx does not {what}")));
    }
    if config.connection.read_only == Some(true) {
        return Err(Failure::Usage(format!(
            "this profile is read-only (read_only = true in {}): lrx does not {what} with it",
            Paths::discover().config_file().display()
        )));
    }
    Ok(())
}

/// Asks on the terminal for `expected`; without a terminal (a script, a pipe) it refuses,
/// so nothing is posted by accident.
fn confirm(question: &str, expected: &str, refusal: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "{refusal}: stdin is not a terminal, so lrx cannot ask; add --yes to do it from a script"
        )));
    }
    eprint!("{question} ");
    std::io::stderr().flush().map_err(|e| io_failure(&e))?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| io_failure(&e))?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Failure::Usage(format!("{refusal}: not confirmed")))
    }
}

fn analyst() -> String {
    crate::team::shown_member(&crate::team::member_name(&Paths::discover().state_dir))
}

fn plan(args: &RunArgs) -> Result<RunPlan, Failure> {
    let mut commands: Vec<RunCommand> = args
        .put_files
        .iter()
        .map(|name| RunCommand::PutFile {
            file_name: name.clone(),
        })
        .collect();
    if let Some(script) = &args.script {
        commands.push(RunCommand::RunScript {
            script: script.clone(),
            args: args.args.clone(),
        });
    }
    commands.extend(
        args.get_files
            .iter()
            .map(|path| RunCommand::GetFile { path: path.clone() }),
    );
    let comment = format!(
        "{} · {}",
        act::default_comment(&analyst(), args.case.as_deref()),
        args.comment.trim()
    );
    RunPlan::new(commands, act::stamped(&comment, &act::new_run_id())).map_err(Failure::Usage)
}

pub(super) async fn run(cli: &Cli, args: &RunArgs, config: &FileConfig) -> Result<(), Failure> {
    refuse_if_read_only(cli, config, "start live response sessions")?;
    let plan = plan(args)?;
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(format!(
            "refusing to start sessions on {} machine(s) without --yes: stdin is not a terminal, so lrx cannot ask",
            args.machines.len()
        )));
    }
    let mut session = Session::open(cli.global.session_options(config)).await?;
    session.budget.set_activity("preparing a live response run");
    let preview = act::prepare(&session.client, plan, &args.machines)
        .await
        .map_err(|error| match error {
            PrepareError::Refused(_) => Failure::Usage(error.to_string()),
            PrepareError::Api(error) => error.into(),
        })?;
    if let Some(reason) = &preview.library_unchecked {
        eprintln!("lrx: the library could not be read, so names were not checked: {reason}");
    }
    eprintln!("lrx: {}", preview.commands().join(" → "));
    eprintln!("lrx: comment: {}", sanitize::line(&preview.plan.comment));
    for target in &preview.targets {
        eprintln!(
            "lrx:   {}{}",
            target.name(),
            if target.active.is_some() {
                " (has an active session: skipped)"
            } else if target.machine.is_offline() {
                " (inactive: the session waits in the queue)"
            } else {
                ""
            }
        );
    }
    eprintln!("lrx: {}", preview.summary());
    let ready = preview.ready().count();
    if !args.yes && ready > 0 {
        confirm(
            &format!("Type {ready} to start {ready} session(s), anything else to stop:"),
            &ready.to_string(),
            "nothing was started",
        )?;
    }
    session
        .budget
        .set_activity(&format!("starting live response on {ready} machine(s)"));
    let mut out = std::io::stdout().lock();
    let mut written = Ok(());
    let launched = act::launch(&session.client, &preview, Some(&session.custody), |done| {
        let line = if args.json {
            write_json_line(&mut out, &started_record(done))
        } else {
            writeln!(out, "{}", done.describe()).map_err(|e| io_failure(&e))
        };
        if written.is_ok() {
            written = line;
        }
    })
    .await;
    drop(out);
    written?;
    let started: Vec<&MachineAction> = launched.iter().filter_map(Launched::action).collect();
    let not_started = launched.len() - started.len();
    // A session queued for an inactive machine may wait two hours: --wait does not.
    let (queued, followed): (Vec<&Launched>, Vec<&Launched>) = launched
        .iter()
        .filter(|l| l.action().is_some())
        .partition(|l| l.target.machine.is_offline());
    if args.wait {
        for waiting in &queued {
            if let Some(action) = waiting.action() {
                eprintln!(
                    "lrx: {}: inactive, so not waited for; the session waits in the service's queue (up to 2 h): lrx show {}",
                    waiting.target.name(),
                    sanitize::line(&action.id)
                );
            }
        }
        let followed: Vec<&MachineAction> = followed.iter().filter_map(|l| l.action()).collect();
        if !followed.is_empty() {
            wait_and_print(&mut session, &followed, args.json).await?;
        }
    }
    if not_started > 0 {
        return Err(Failure::Runtime(format!(
            "{not_started} of {} machine(s) did not start a session (see above)",
            launched.len()
        )));
    }
    Ok(())
}

fn started_record(done: &Launched) -> serde_json::Value {
    let (outcome, action) = match &done.outcome {
        Ok(RunOutcome::Created(action)) => ("created", Some(action)),
        Ok(RunOutcome::Recovered { action, .. }) => ("created_after_unclear_answer", Some(action)),
        Ok(RunOutcome::Busy { active, .. }) => ("busy", active.as_ref()),
        Ok(RunOutcome::Unknown { .. }) => ("unknown", None),
        Err(_) => ("failed", None),
    };
    json!({
        "event": "started",
        "machine": done.target.machine.computer_dns_name,
        "machine_id": done.target.machine.id,
        "outcome": outcome,
        "action_id": action.map(|a| a.id.clone()),
        "status": action.map(|a| a.status.as_str().to_string()),
        "message": done.describe(),
    })
}

/// Follows the run's actions with one listing per poll until each has ended, printing
/// each one's results as it ends.
async fn wait_and_print(
    session: &mut Session,
    started: &[&MachineAction],
    json: bool,
) -> Result<(), Failure> {
    let mut waiting: HashSet<String> = started.iter().map(|a| a.id.clone()).collect();
    let since = started
        .iter()
        .filter_map(|a| a.creation_date_time_utc)
        .min()
        .unwrap_or_else(Utc::now)
        - chrono::Duration::minutes(10);
    let query = ListQuery {
        since: Some(since),
        ..ListQuery::live_response(10_000)
    };
    let mut failed = 0;
    while !waiting.is_empty() {
        tokio::time::sleep(WAIT_POLL).await;
        session.budget.set_activity(&format!(
            "waiting for {} live response session(s)",
            waiting.len()
        ));
        let list = session.client.list_actions(&query, true).await?;
        for action in list.actions {
            if !action.status.is_final() || !waiting.remove(&action.id) {
                continue;
            }
            if !json {
                println!(
                    "== {} · {} · {} ==",
                    sanitize::line(&action.computer_dns_name),
                    sanitize::line(&action.id),
                    action.status
                );
            }
            for command in action.commands.iter().filter(|c| !c.has_result()) {
                if let Some(error) = command.errors.first() {
                    eprintln!(
                        "lrx: {} index {}: {}",
                        sanitize::line(&action.computer_dns_name),
                        command.index,
                        sanitize::line(error)
                    );
                }
            }
            if json {
                write_json_line(
                    &mut std::io::stdout().lock(),
                    &json!({
                        "event": "ended",
                        "machine": action.computer_dns_name,
                        "action_id": action.id,
                        "status": action.status.as_str(),
                    }),
                )?;
            }
            if action.status != crate::api::models::ActionStatus::Succeeded {
                failed += 1;
            }
            if action
                .commands
                .iter()
                .any(crate::api::models::Command::has_result)
            {
                let args = ResultArgs {
                    action_id: action.id.clone(),
                    index: None,
                    json,
                    save: None,
                    raw: false,
                    max_file_size: crate::transcript::decode::MAX_FILE_BYTES,
                };
                super::result::print_results(session, &action, &args).await?;
            }
        }
        if !waiting.is_empty() && !json {
            eprintln!("lrx: {} session(s) still running", waiting.len());
        }
    }
    if failed > 0 {
        return Err(Failure::Runtime(format!(
            "{failed} of {} session(s) did not succeed (see above)",
            started.len()
        )));
    }
    Ok(())
}

pub(super) async fn cancel(
    cli: &Cli,
    args: &CancelArgs,
    config: &FileConfig,
) -> Result<(), Failure> {
    refuse_if_read_only(cli, config, "cancel machine actions")?;
    if args.comment.trim().is_empty() {
        return Err(Failure::Usage(
            "a comment is required (--comment): it is kept on the action".into(),
        ));
    }
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "refusing to cancel without --yes: stdin is not a terminal, so lrx cannot ask".into(),
        ));
    }
    let session = Session::open(cli.global.session_options(config)).await?;
    let action = session.client.get_action(&args.action_id, true).await?;
    let what = format!(
        "{} on {} ({}, by {}: {})",
        sanitize::line(&action.id),
        sanitize::line(&action.computer_dns_name),
        action.status,
        sanitize::line(&action.requestor),
        sanitize::line(&action.requestor_comment)
    );
    if action.status.is_final() {
        return Err(Failure::Runtime(format!(
            "action {what} has already ended: there is nothing to cancel"
        )));
    }
    if !args.yes {
        confirm(
            &format!("Cancel action {what}? Type yes to cancel:"),
            "yes",
            "nothing was cancelled",
        )?;
    }
    let comment = format!(
        "{} · {}",
        act::default_comment(&analyst(), std::env::var("LRX_CASE").ok().as_deref()),
        args.comment.trim()
    );
    let outcome = session.client.cancel_action(&action.id, &comment).await?;
    if let CancelOutcome::Cancelled(cancelled) = &outcome {
        session.custody.note(Event::Cancel {
            action_id: cancelled.id.clone(),
            comment: comment.clone(),
        });
    }
    let (word, action) = match outcome {
        CancelOutcome::Cancelled(action) => ("cancelled", action),
        CancelOutcome::AlreadyFinal(action) => {
            return Err(Failure::Runtime(format!(
                "action {} ended ({}) before the cancel arrived: nothing was cancelled",
                sanitize::line(&action.id),
                action.status
            )));
        }
        CancelOutcome::Unknown { reason } => {
            return Err(Failure::Runtime(format!(
                "outcome unknown — check `lrx show {}`: {}",
                sanitize::line(&args.action_id),
                sanitize::line(&reason)
            )));
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        return write_json_line(&mut out, &action);
    }
    writeln!(
        out,
        "{word} {} on {} (now {})",
        sanitize::line(&action.id),
        sanitize::line(&action.computer_dns_name),
        action.status
    )
    .map_err(|e| io_failure(&e))
}

pub(super) async fn library(
    cli: &Cli,
    args: &LibraryArgs,
    config: &FileConfig,
) -> Result<(), Failure> {
    let session = Session::open(cli.global.session_options(config)).await?;
    let mut files = session.client.library_files().await?;
    files.sort_by_key(|f| f.file_name.to_ascii_lowercase());
    let mut out = std::io::stdout().lock();
    if args.json {
        for file in &files {
            write_json_line(&mut out, file)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<28} {:<6} {:<28} {:<10} DESCRIPTION",
        "NAME", "PARAMS", "CREATED BY", "UPDATED"
    )
    .map_err(|e| io_failure(&e))?;
    for file in &files {
        writeln!(
            out,
            "{} {:<6} {} {:<10} {}",
            super::failure::cell(&file.file_name, 28),
            if file.has_parameters { "yes" } else { "no" },
            super::failure::cell(&file.created_by, 28),
            file.last_updated_time
                .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d").to_string()),
            sanitize::line(&file.description)
        )
        .map_err(|e| io_failure(&e))?;
    }
    Ok(())
}
