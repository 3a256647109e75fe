//! `lrx review`: one script's runs across machines, from the command line.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::json;

use super::failure::{Failure, io_failure, write_json_line};
use crate::api::ListQuery;
use crate::api::models::MachineAction;
use crate::cli::{Cli, ReviewArgs};
use crate::config::FileConfig;
use crate::fetch::{FetchEvent, Priority, ResultKey, ResultState};
use crate::results::PayloadKind;
use crate::review::{self, Digest, Group, Normaliser, csv_cell};
use crate::sanitize;
use crate::session::Session;

/// Which actions and commands a review (or a case export) covers.
pub(super) struct Selection<'a> {
    pub action_ids: &'a [String],
    pub since: std::time::Duration,
    pub script: Option<&'a str>,
    pub machines: &'a [String],
    pub requestor: Option<&'a str>,
    pub limit: usize,
}

impl<'a> From<&'a ReviewArgs> for Selection<'a> {
    fn from(args: &'a ReviewArgs) -> Self {
        Self {
            action_ids: &args.action_ids,
            since: args.since,
            script: args.script.as_deref(),
            machines: &args.machines,
            requestor: args.requestor.as_deref(),
            limit: args.limit,
        }
    }
}

pub(super) async fn scope(
    session: &Session,
    args: &Selection<'_>,
) -> Result<Vec<MachineAction>, Failure> {
    let mut actions = if args.action_ids.is_empty() {
        let since = chrono::Duration::from_std(args.since)
            .ok()
            .map(|d| Utc::now() - d);
        session
            .list_actions(
                &ListQuery {
                    requestor: args.requestor.map(str::to_string),
                    since,
                    ..ListQuery::live_response(args.limit)
                },
                true,
            )
            .await
            .map(|listed| {
                for problem in &listed.problems {
                    eprintln!("lrx: {}", crate::sanitize::line(problem));
                }
                listed.actions
            })?
    } else {
        let mut actions = Vec::new();
        for id in args.action_ids {
            actions.push(session.action(id, true).await?);
        }
        actions
    };
    let machines: Vec<String> = args
        .machines
        .iter()
        .map(|m| m.to_ascii_lowercase())
        .collect();
    if !machines.is_empty() {
        actions.retain(|a| {
            machines
                .iter()
                .any(|m| a.computer_dns_name.to_ascii_lowercase().contains(m))
        });
    }
    if let Some(script) = args.script {
        let needle = script.to_ascii_lowercase();
        for action in &mut actions {
            action
                .commands
                .retain(|c| c.target().to_ascii_lowercase().contains(&needle));
        }
        actions.retain(|a| !a.commands.is_empty());
    }
    Ok(actions)
}

fn eta(remaining: usize, meter: &crate::fetch::MeterSnapshot) -> String {
    meter
        .plan_text(
            remaining,
            chrono::Utc::now(),
            *chrono::Local::now().offset(),
        )
        .map(|eta| format!(" · {eta}"))
        .unwrap_or_default()
}

/// What a review fetched, and whether Ctrl-C stopped it before the end.
pub(super) struct Fetched {
    pub digests: HashMap<ResultKey, Digest>,
    /// Each fetched payload, as downloaded (or read from the cache).
    pub payloads: HashMap<ResultKey, std::sync::Arc<crate::fetch::Fetched>>,
    /// Results the cache does not hold, offline.
    pub not_cached: Vec<ResultKey>,
    pub wanted: usize,
    pub stopped: bool,
}

pub(super) async fn fetch_all(
    session: &mut Session,
    actions: &[MachineAction],
    quiet: bool,
    normaliser: &Normaliser,
) -> Fetched {
    // A result listed twice (an action or an index the service repeats) is waited for once.
    let mut listed = std::collections::HashSet::new();
    let keys: Vec<(ResultKey, &crate::api::models::Command)> = actions
        .iter()
        .flat_map(|a| {
            a.commands
                .iter()
                .filter(|c| c.has_result())
                .map(|c| (ResultKey::new(a.id.clone(), c.index), c))
        })
        .filter(|(key, _)| listed.insert(key.clone()))
        .collect();
    for (key, _) in &keys {
        session.engine.fetch(key.clone(), Priority::Normal);
    }
    let commands: HashMap<ResultKey, &crate::api::models::Command> = keys.iter().cloned().collect();
    let mut known = HashMap::new();
    let mut payloads = HashMap::new();
    let mut finished = std::collections::HashSet::new();
    let mut done = 0;
    let mut last_report = std::time::Instant::now();
    let mut stopped = false;
    let mut missing = Vec::new();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    // Polled once now: that installs the handler, before anything says the review is under
    // way (a Ctrl-C from then on stops it cleanly instead of killing it).
    tokio::select! {
        biased;
        _ = &mut interrupt => stopped = true,
        () = std::future::ready(()) => {}
    }
    if !quiet && !keys.is_empty() {
        // At once, so the plan and its ETA are known before the first result arrives.
        eprintln!(
            "lrx: fetching {} results · 0 done{}",
            keys.len(),
            eta(keys.len(), &session.budget.snapshot().await)
        );
    }
    while done < keys.len() && !stopped {
        let event = tokio::select! {
            event = session.events.recv() => event,
            // What was fetched is kept (in the cache) and reviewed; the rest is let go.
            _ = &mut interrupt => {
                stopped = true;
                eprintln!(
                    "lrx: stopped: {done} of {} results fetched (kept in the cache); the review below covers those",
                    keys.len()
                );
                break;
            }
        };
        let Some(event) = event else {
            break;
        };
        let FetchEvent::State(key, state) = event else {
            continue;
        };
        if matches!(
            state,
            ResultState::Ready(_) | ResultState::Failed(_) | ResultState::NotCached
        ) && !finished.insert(key.clone())
        {
            continue;
        }
        match state {
            ResultState::Ready(fetched) => {
                done += 1;
                payloads.insert(key.clone(), std::sync::Arc::clone(&fetched));
                let kind = PayloadKind::of(commands.get(&key).copied(), &fetched);
                if let Some(digest) = crate::results::digest(&fetched, &kind, normaliser) {
                    known.insert(key, digest);
                }
            }
            // Offline, a result never fetched is not an error of its own: counted, said once.
            ResultState::NotCached => {
                done += 1;
                missing.push(key);
            }
            ResultState::Failed(reason) => {
                done += 1;
                eprintln!(
                    "lrx: {} index {}: {}",
                    sanitize::line(&key.action_id),
                    key.index,
                    sanitize::line(&reason)
                );
            }
            _ => {}
        }
        if !quiet && (last_report.elapsed().as_secs() >= 5 || done == keys.len()) {
            last_report = std::time::Instant::now();
            eprintln!(
                "lrx: fetching {} results · {done} done{}",
                keys.len(),
                eta(keys.len() - done, &session.budget.snapshot().await)
            );
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "lrx: offline: {} of {} results are not in the cache; what follows covers the others (run without --offline to fetch them)",
            missing.len(),
            keys.len()
        );
    }
    Fetched {
        digests: known,
        payloads,
        not_cached: missing,
        wanted: keys.len(),
        stopped,
    }
}

pub(super) async fn run(cli: &Cli, args: &ReviewArgs, config: &FileConfig) -> Result<(), Failure> {
    let normaliser = Normaliser::new(&args.masks).map_err(Failure::Usage)?;
    let mut session = Session::open(cli.global.session_options(config)).await?;
    let mut actions = scope(&session, &Selection::from(args)).await?;
    // An Isolate, a scan or a quarantine has no commands and no results: say so, rather
    // than print nothing and succeed.
    let other: Vec<&MachineAction> = actions.iter().filter(|a| !a.is_live_response()).collect();
    for action in &other {
        eprintln!(
            "lrx: action {} is a {} action, not a Live Response session: it has no commands or results to review",
            sanitize::line(&action.id),
            sanitize::line(&action.action_type)
        );
    }
    if !other.is_empty() && other.len() == actions.len() {
        return Err(Failure::Usage(
            "nothing to review: none of these actions is a Live Response session".into(),
        ));
    }
    actions.retain(MachineAction::is_live_response);
    if actions.is_empty() {
        eprintln!(
            "lrx: no Live Response actions match (sessions started from the portal's device page are not visible through the API)"
        );
        return Ok(());
    }
    session
        .budget
        .set_activity(&crate::review::activity(&actions));
    let quiet = args.json || args.csv || args.timeline;
    let fetched = fetch_all(&mut session, &actions, quiet, &normaliser).await;
    let known = &fetched.digests;
    let mut groups = review::build(&actions, |id, index| known.get(&ResultKey::new(id, index)));
    if args.baseline {
        let compared = baselines(&mut session, args, &actions, &fetched, &normaliser).await?;
        for row in groups.iter_mut().flat_map(|g| g.rows.iter_mut()) {
            row.vs_previous = compared
                .get(&ResultKey::new(row.action_id.clone(), row.index))
                .cloned();
        }
    }
    let mut out = std::io::stdout().lock();
    if args.timeline {
        print_timeline(
            &mut out,
            &actions,
            &groups,
            &fetched.payloads,
            args.failed_only,
        )?;
    } else if args.json {
        print_json(&mut out, &groups, args.failed_only)?;
    } else if args.csv {
        // A file keeps the exact text (with its formula guard); a terminal gets it inert.
        let to_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        print_csv(&mut out, &groups, args.failed_only, to_terminal)?;
    } else {
        print_table(&mut out, &groups, args.failed_only)?;
    }
    if fetched.stopped {
        return Err(Failure::Interrupted(format!(
            "stopped by Ctrl-C: {} of {} results reviewed; lrx review again fetches the rest (the others come from the cache)",
            known.len(),
            fetched.wanted
        )));
    }
    let failures: usize = groups.iter().map(Group::failures).sum();
    if args.fail_on_nonzero && failures > 0 {
        return Err(Failure::Findings(format!(
            "{failures} runs failed or exited non-zero"
        )));
    }
    Ok(())
}

fn rows(group: &Group, failed_only: bool) -> Vec<&review::Row> {
    let mut rows: Vec<&review::Row> = group
        .rows
        .iter()
        .filter(|r| !failed_only || r.outcome.is_failure())
        .collect();
    // Outliers and failures first: that is what the analyst came for.
    rows.sort_by_key(|r| {
        (
            !r.outcome.is_failure(),
            std::cmp::Reverse(r.cluster.map(|c| c.0)),
            r.machine.clone(),
        )
    });
    rows
}

pub(super) fn exit_code(outcome: &review::Outcome) -> serde_json::Value {
    match outcome {
        review::Outcome::Exit(code) => json!(code),
        review::Outcome::ExitUnusual(text) => json!(text),
        _ => serde_json::Value::Null,
    }
}

/// How far before the review's window a baseline is looked for.
const BASELINE_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// Each run against the previous run of its script on its machine: the earlier runs are
/// listed (up to `BASELINE_LOOKBACK` before the window) and their results fetched too.
async fn baselines(
    session: &mut Session,
    args: &ReviewArgs,
    actions: &[MachineAction],
    fetched: &Fetched,
    normaliser: &Normaliser,
) -> Result<HashMap<ResultKey, review::baseline::VsPrevious>, Failure> {
    use review::baseline::{VsPrevious, compare, previous_runs};
    let in_scope: std::collections::HashSet<&str> = actions.iter().map(|a| a.id.as_str()).collect();
    let earlier: Vec<MachineAction> = if args.action_ids.is_empty() {
        let wider = Selection {
            since: args.since + BASELINE_LOOKBACK,
            ..Selection::from(args)
        };
        scope(session, &wider)
            .await?
            .into_iter()
            .filter(|a| a.is_live_response() && !in_scope.contains(a.id.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let previous = previous_runs(actions, &earlier);
    // Only the earlier results that are some run's baseline are fetched.
    let wanted: std::collections::HashSet<&ResultKey> = previous.values().flatten().collect();
    let baseline_actions: Vec<MachineAction> = earlier
        .iter()
        .filter_map(|action| {
            let commands: Vec<_> = action
                .commands
                .iter()
                .filter(|c| wanted.contains(&ResultKey::new(action.id.clone(), c.index)))
                .cloned()
                .collect();
            (!commands.is_empty()).then(|| MachineAction {
                commands,
                ..action.clone()
            })
        })
        .collect();
    let older = fetch_all(
        session,
        &baseline_actions,
        args.json || args.csv,
        normaliser,
    )
    .await;
    let commands: HashMap<ResultKey, &crate::api::models::Command> = actions
        .iter()
        .chain(&baseline_actions)
        .flat_map(|a| {
            a.commands
                .iter()
                .map(|c| (ResultKey::new(a.id.clone(), c.index), c))
        })
        .collect();
    let payload = |key: &ResultKey| {
        fetched
            .payloads
            .get(key)
            .or_else(|| older.payloads.get(key))
    };
    let digest = |key: &ResultKey| fetched.digests.get(key).or_else(|| older.digests.get(key));
    let text = |key: &ResultKey| {
        payload(key).map(|p| {
            let kind = PayloadKind::of(commands.get(key).copied(), p);
            crate::results::output_text(p, &kind)
        })
    };
    let mut compared = HashMap::new();
    for (key, before) in previous {
        let verdict = match before {
            None => VsPrevious::FirstRun,
            Some(baseline) => match (digest(&key), digest(&baseline)) {
                (Some(new), Some(old)) if new.hash == old.hash => VsPrevious::Same { baseline },
                (Some(_), Some(_)) => match (text(&baseline), text(&key)) {
                    (Some(old), Some(new)) => compare(baseline, &old, &new, normaliser),
                    _ => VsPrevious::Unknown { baseline },
                },
                _ => VsPrevious::Unknown { baseline },
            },
        };
        compared.insert(key, verdict);
    }
    Ok(compared)
}

fn print_timeline(
    out: &mut impl std::io::Write,
    actions: &[MachineAction],
    groups: &[Group],
    payloads: &HashMap<ResultKey, std::sync::Arc<crate::fetch::Fetched>>,
    failed_only: bool,
) -> Result<(), Failure> {
    use crate::evidence::timeline::{Known, events};
    let mut known: HashMap<ResultKey, Known> = HashMap::new();
    let mut shown = std::collections::HashSet::new();
    for group in groups {
        for row in rows(group, failed_only) {
            let key = ResultKey::new(row.action_id.clone(), row.index);
            shown.insert(key.clone());
            known.insert(
                key.clone(),
                Known {
                    exit_code: exit_code(&row.outcome),
                    sha256: payloads.get(&key).map(|fetched| fetched.sha256.clone()),
                },
            );
        }
    }
    // --failed-only narrows the timeline as it narrows the rows.
    let actions: Vec<MachineAction> = actions
        .iter()
        .map(|action| MachineAction {
            commands: action
                .commands
                .iter()
                .filter(|c| shown.contains(&ResultKey::new(action.id.clone(), c.index)))
                .cloned()
                .collect(),
            ..action.clone()
        })
        .collect();
    for event in events(&actions, |key| known.get(key).cloned()) {
        write_json_line(out, &event)?;
    }
    Ok(())
}

fn print_json(
    out: &mut impl std::io::Write,
    groups: &[Group],
    failed_only: bool,
) -> Result<(), Failure> {
    for group in groups {
        let clusters: Vec<serde_json::Value> = group
            .clusters
            .iter()
            .map(|c| {
                let representative = &group.rows[c.representative];
                json!({"label": c.label.to_string(), "size": c.size, "hash": c.hash, "representative": {"action_id": representative.action_id, "index": representative.index, "machine": representative.machine}})
            })
            .collect();
        let outcomes: serde_json::Map<String, serde_json::Value> = group
            .outcomes
            .iter()
            .map(|(o, n)| (o.label(), json!(n)))
            .collect();
        let summary = json!({"type": "summary", "group": group.key, "machines": group.machines(), "runs": group.rows.len(), "failures": group.failures(), "outcomes": outcomes, "clusters": clusters, "text": group.summary()});
        write_json_line(out, &summary)?;
        for row in rows(group, failed_only) {
            let line = json!({
                "type": "row", "group": group.key, "machine": row.machine, "action_id": row.action_id, "index": row.index,
                "status": row.status, "outcome": row.outcome.label(), "exit_code": exit_code(&row.outcome),
                "duration_seconds": row.duration_seconds, "cluster": row.cluster.map(|c| c.to_string()), "summary": row.summary,
                "control_characters": row.control_characters,
                "from_teammate": row.teammate.as_deref().map(crate::team::shown_member),
            });
            let mut line = line;
            if let Some(vs) = &row.vs_previous {
                line["vs_previous"] = json!(vs.label());
                line["baseline_action_id"] = json!(vs.baseline().map(|k| k.action_id.clone()));
                line["baseline_index"] = json!(vs.baseline().map(|k| k.index));
            }
            write_json_line(out, &line)?;
        }
    }
    Ok(())
}

fn print_csv(
    out: &mut impl std::io::Write,
    groups: &[Group],
    failed_only: bool,
    to_terminal: bool,
) -> Result<(), Failure> {
    let baseline = groups
        .iter()
        .any(|g| g.rows.iter().any(|r| r.vs_previous.is_some()));
    writeln!(
        out,
        "group,machine,action_id,index,status,outcome,exit_code,duration_seconds,cluster,summary{}",
        if baseline { ",vs_previous" } else { "" }
    )
    .map_err(|e| io_failure(&e))?;
    for group in groups {
        for row in rows(group, failed_only) {
            let exit = match &row.outcome {
                review::Outcome::Exit(code) => code.to_string(),
                review::Outcome::ExitUnusual(text) => text.clone(),
                _ => String::new(),
            };
            let cells = [
                group.key.clone(),
                row.machine.clone(),
                row.action_id.clone(),
                row.index.to_string(),
                row.status.clone(),
                row.outcome.label(),
                exit,
                row.duration_seconds
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                row.cluster.map(|c| c.to_string()).unwrap_or_default(),
                row.summary.clone(),
            ];
            let vs = baseline.then(|| {
                row.vs_previous
                    .as_ref()
                    .map(review::baseline::VsPrevious::label)
                    .unwrap_or_default()
            });
            let line: Vec<String> = cells
                .iter()
                .chain(vs.as_ref())
                .map(|c| {
                    if to_terminal {
                        csv_cell(&sanitize::line(c))
                    } else {
                        csv_cell(c)
                    }
                })
                .collect();
            writeln!(out, "{}", line.join(",")).map_err(|e| io_failure(&e))?;
        }
    }
    Ok(())
}

fn print_table(
    out: &mut impl std::io::Write,
    groups: &[Group],
    failed_only: bool,
) -> Result<(), Failure> {
    for group in groups {
        writeln!(out, "== {} ==", sanitize::line(&group.key)).map_err(|e| io_failure(&e))?;
        writeln!(out, "{}", group.summary()).map_err(|e| io_failure(&e))?;
        writeln!(out, "outcomes: {}", group.outcome_summary()).map_err(|e| io_failure(&e))?;
        if group.marked() > 0 {
            writeln!(
                out,
                "⚠ {} runs carry control or invisible characters (shown as placeholders; lrx result shows them)",
                group.marked()
            )
            .map_err(|e| io_failure(&e))?;
        }
        let baseline = group.rows.iter().any(|r| r.vs_previous.is_some());
        writeln!(
            out,
            "{:<32} {:<36} {:>3} {:<10} {:<16} {:>5} {:<2} {}FIRST LINE",
            "MACHINE",
            "ACTION",
            "IDX",
            "STATUS",
            "OUTCOME",
            "TIME",
            "CL",
            if baseline {
                format!("{:<28} ", "VS PREVIOUS RUN")
            } else {
                String::new()
            }
        )
        .map_err(|e| io_failure(&e))?;
        for row in rows(group, failed_only) {
            let vs = if baseline {
                format!(
                    "{:<28} ",
                    row.vs_previous
                        .as_ref()
                        .map(review::baseline::VsPrevious::label)
                        .unwrap_or_default()
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "{:<32} {:<36} {:>3} {:<10} {:<16} {:>5} {:<2} {vs}{}",
                sanitize::line(&row.machine),
                sanitize::line(&row.action_id),
                row.index,
                sanitize::line(&row.status),
                if row.control_characters > 0 {
                    format!("{} ⚠", row.outcome.label())
                } else {
                    row.outcome.label()
                },
                row.duration_seconds
                    .map(|d| format!("{d}s"))
                    .unwrap_or_default(),
                row.cluster.map_or_else(|| "-".into(), |c| c.to_string()),
                row.summary
            )
            .map_err(|e| io_failure(&e))?;
        }
        writeln!(out).map_err(|e| io_failure(&e))?;
    }
    Ok(())
}
