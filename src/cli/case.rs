//! `lrx case export` and `lrx case verify`: evidence bundles that stand on their own.

use std::collections::{HashMap, HashSet};

use super::failure::Failure;
use super::review::{Selection, fetch_all, scope};
use super::{CaseAction, Cli};
use crate::api::models::MachineAction;
use crate::config::FileConfig;
use crate::custody::Event;
use crate::evidence::bundle::{self, Header, Item};
use crate::evidence::timeline::{self, Known};
use crate::fetch::{ResultKey, TeamShare};
use crate::review::{self, Normaliser};
use crate::sanitize;
use crate::session::Session;

pub(super) async fn run(
    cli: &Cli,
    action: &CaseAction,
    config: &FileConfig,
) -> Result<(), Failure> {
    match action {
        CaseAction::Verify { dir } => verify(dir),
        CaseAction::Export(args) => export(cli, args, config).await,
    }
}

fn verify(dir: &std::path::Path) -> Result<(), Failure> {
    let verdict = bundle::verify(dir).map_err(Failure::Runtime)?;
    match verdict.problem {
        None => {
            println!(
                "{}: {} files verify; manifest sha256 {}",
                dir.display(),
                verdict.checked,
                verdict.manifest_sha256
            );
            Ok(())
        }
        Some(problem) => Err(Failure::Runtime(format!(
            "{}: the bundle does not verify: {problem}",
            dir.display()
        ))),
    }
}

async fn export(
    cli: &Cli,
    args: &super::CaseExportArgs,
    config: &FileConfig,
) -> Result<(), Failure> {
    bundle::ensure_new(&args.dir).map_err(Failure::Usage)?;
    let zip = args.zip.then(|| zip_path(&args.dir)).transpose()?;
    let mut session = Session::open(cli.global.session_options(config)).await?;
    let selection = Selection {
        action_ids: &args.action_ids,
        since: args.since,
        script: args.script.as_deref(),
        machines: &args.machines,
        requestor: None,
        limit: args.limit,
    };
    let mut actions = scope(&session, &selection).await?;
    actions.retain(MachineAction::is_live_response);
    if actions.is_empty() {
        return Err(Failure::Usage(
            "nothing to export: no Live Response action matches".into(),
        ));
    }
    let case = args.case.clone().unwrap_or_else(|| "unnamed".to_string());
    session
        .budget
        .set_activity(&format!("exporting case {}", sanitize::line(&case)));
    let normaliser = Normaliser::builtin();
    let fetched = fetch_all(&mut session, &actions, false, &normaliser).await;
    if fetched.stopped {
        return Err(Failure::Interrupted(
            "stopped by Ctrl-C: nothing was exported (what was fetched stays in the cache)".into(),
        ));
    }
    let digests = &fetched.digests;
    let groups = review::build(&actions, |id, index| {
        digests.get(&ResultKey::new(id, index))
    });
    let rows: HashMap<ResultKey, &review::Row> = groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .map(|row| (ResultKey::new(row.action_id.clone(), row.index), row))
        .collect();
    let not_cached: HashSet<&ResultKey> = fetched.not_cached.iter().collect();
    let mut items = Vec::new();
    for action in &actions {
        for command in &action.commands {
            let key = ResultKey::new(action.id.clone(), command.index);
            let payload = fetched.payloads.get(&key);
            let row = rows.get(&key);
            let missing = payload.is_none().then(|| {
                if not_cached.contains(&key) {
                    "not in the cache, and lrx is offline: export again without --offline to fetch it".to_string()
                } else if command.has_result() {
                    "could not be fetched (see the messages above)".to_string()
                } else {
                    super::result::why_no_result(command)
                }
            });
            let source = payload.map_or_else(String::new, |p| match &p.team_share {
                TeamShare::From(member) => {
                    format!("teammate {}", crate::team::shown_member(member))
                }
                _ if p.from_cache => "cache".into(),
                _ => "live".into(),
            });
            items.push(Item {
                action,
                command,
                fetched: payload.map(AsRef::as_ref),
                missing,
                outcome: row.map(|r| r.outcome.label()).unwrap_or_default(),
                exit_code: row.map_or(serde_json::Value::Null, |r| {
                    super::review::exit_code(&r.outcome)
                }),
                cluster: row.and_then(|r| r.cluster.map(|c| c.to_string())),
                summary: row.map(|r| r.summary.clone()).unwrap_or_default(),
                source,
            });
        }
    }
    let events = timeline::events(&actions, |key| {
        Some(Known {
            exit_code: rows.get(key).map_or(serde_json::Value::Null, |r| {
                super::review::exit_code(&r.outcome)
            }),
            sha256: fetched.payloads.get(key).map(|p| p.sha256.clone()),
        })
    });
    let ids: HashSet<&str> = actions.iter().map(|a| a.id.as_str()).collect();
    let custody = session
        .custody
        .lines_about(&ids)
        .map_err(|e| Failure::Runtime(format!("could not read the custody log: {e}")))?;
    let header = Header {
        case: case.clone(),
        analyst: crate::team::shown_member(&crate::team::member_name(
            &crate::config::Paths::discover().state_dir,
        )),
        tenant_id: session.connection.tenant_id.clone(),
    };
    let written =
        bundle::write(&args.dir, &header, &items, &events, &custody).map_err(Failure::Runtime)?;
    session.custody.note(Event::Export {
        dir: args.dir.display().to_string(),
        case: case.clone(),
        results: written.results - written.missing,
        manifest_sha256: written.manifest_sha256.clone(),
    });
    for item in items.iter().filter(|i| i.fetched.is_none()) {
        if let Some(why) = &item.missing {
            eprintln!(
                "lrx: {} index {} ({}): not in the bundle: {}",
                sanitize::line(&item.action.id),
                item.command.index,
                sanitize::line(&item.action.computer_dns_name),
                sanitize::line(why)
            );
        }
    }
    println!(
        "exported case {}: {} of {} commands with their payloads, {} files, to {}\nmanifest sha256 {} (recorded in the custody log); lrx case verify {} checks it",
        sanitize::line(&case),
        written.results - written.missing,
        written.results,
        written.files.len(),
        args.dir.display(),
        written.manifest_sha256,
        args.dir.display()
    );
    if let Some(zip) = zip {
        let prefix = args
            .dir
            .file_name()
            .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
        crate::evidence::zip::write(&args.dir, &prefix, &written.files, &zip)
            .map_err(Failure::Runtime)?;
        let sha256 = crate::fetch::cache::sha256_file(&zip)
            .map_err(|e| Failure::Runtime(format!("could not read back {}: {e}", zip.display())))?;
        println!(
            "zip {} (stored, not compressed; sha256 {sha256}): unzip it and lrx case verify the directory",
            zip.display()
        );
    }
    Ok(())
}

/// `DIR.zip` beside the bundle's directory; never over a file already there.
fn zip_path(dir: &std::path::Path) -> Result<std::path::PathBuf, Failure> {
    let name = dir
        .file_name()
        .ok_or_else(|| Failure::Usage(format!("{} has no name to give its zip", dir.display())))?;
    let zip = dir.with_file_name(format!("{}.zip", name.to_string_lossy()));
    if zip.exists() {
        return Err(Failure::Usage(format!(
            "{} already exists: lrx does not write over it",
            zip.display()
        )));
    }
    Ok(zip)
}
