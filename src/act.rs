//! Starting and cancelling live response sessions, apart from any screen: what a run will do
//! (machines resolved, the library checked, sessions already active, the budget it takes),
//! and doing it machine by machine. The CLI and the TUI both drive it.

use std::collections::HashMap;

use crate::api::act::{Machine, RunOutcome, RunPlan};
use crate::api::limits::Api;
use crate::api::models::{ActionStatus, MachineAction};
use crate::api::{ApiError, ListQuery, MdeClient};
use crate::custody::{CustodyLog, Event};
use crate::sanitize;

/// The comment a run starts from: who runs it, and for which case.
pub fn default_comment(analyst: &str, case: Option<&str>) -> String {
    match case.map(str::trim).filter(|c| !c.is_empty()) {
        Some(case) => format!("lrx: {analyst} · case {case}"),
        None => format!("lrx: {analyst}"),
    }
}

/// The analyst's comment with a mark of this run, so each action the run created can be
/// found again by its comment (after an unclear answer, or by a teammate).
pub fn stamped(comment: &str, run_id: &str) -> String {
    format!("{} · run {run_id}", comment.trim())
}

/// A short id for one run, unique enough to tell runs apart in comments.
pub fn new_run_id() -> String {
    use rand_core::RngCore as _;
    format!("{:08x}", rand_core::OsRng.next_u32())
}

/// One machine a run is for, and the session it already has, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub machine: Machine,
    pub active: Option<MachineAction>,
}

impl Target {
    pub fn name(&self) -> String {
        let name = if self.machine.computer_dns_name.is_empty() {
            &self.machine.id
        } else {
            &self.machine.computer_dns_name
        };
        sanitize::line(name)
    }
}

/// What a run will do, before it does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub plan: RunPlan,
    pub targets: Vec<Target>,
    /// The library could not be read (no `Library.Manage`): the names were not checked.
    pub library_unchecked: Option<String>,
    /// Sessions pending or running in the whole tenant now.
    pub tenant_active: usize,
}

/// Live response sessions a tenant runs at once (contract §8.2); more are answered 429.
pub const TENANT_SESSIONS: usize = 50;

impl Preview {
    /// Machines that will get a session now (the others already have one).
    pub fn ready(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.active.is_none())
    }

    pub fn busy(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.active.is_some())
    }

    /// "3 machines · runliveresponse 3 of 10/min · 1 machine already has an active session".
    pub fn summary(&self) -> String {
        let ready = self.ready().count();
        let per_minute = Api::RunLiveResponse
            .documented_limits()
            .first()
            .map_or(10, |limit| limit.calls);
        let mut parts = vec![
            plural(ready, "machine"),
            format!("runliveresponse {ready} of {per_minute}/min"),
        ];
        let minutes = ready.saturating_sub(1) / usize::try_from(per_minute).unwrap_or(10);
        if minutes > 0 {
            parts.push(format!("about {} min to start all", minutes + 1));
        }
        let busy = self.busy().count();
        if busy > 0 {
            parts.push(format!(
                "{} already {} an active session",
                plural(busy, "machine"),
                if busy == 1 { "has" } else { "have" }
            ));
        }
        let over = (self.tenant_active + ready).saturating_sub(TENANT_SESSIONS);
        if over > 0 {
            parts.push(format!(
                "the tenant runs {} of {TENANT_SESSIONS} sessions: {over} will wait for a free one",
                self.tenant_active
            ));
        }
        let offline = self.ready().filter(|t| t.machine.is_offline()).count();
        if offline > 0 {
            parts.push(format!(
                "{} inactive: queued up to 2 h",
                plural(offline, "machine")
            ));
        }
        parts.join(" · ")
    }

    /// One line per command, as it will be posted.
    pub fn commands(&self) -> Vec<String> {
        self.plan
            .commands
            .iter()
            .map(|c| sanitize::line(&c.describe()))
            .collect()
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Why a run cannot start: each problem found, all said at once, nothing posted.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("nothing was started: {}", .0.join("; "))]
    Refused(Vec<String>),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// What the analyst named a machine by: its id (40 hex) or its DNS name.
fn is_machine_id(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Resolves machines, checks the library and looks up active sessions: everything a run
/// needs to know before it posts anything.
pub async fn prepare(
    client: &MdeClient,
    plan: RunPlan,
    machines: &[String],
) -> Result<Preview, PrepareError> {
    let mut problems = Vec::new();
    let library_unchecked = if plan.commands.iter().any(|c| c.library_file().is_some()) {
        match client.library_files().await {
            Ok(library) => {
                for missing in plan.missing_from(&library) {
                    problems.push(format!(
                        "'{}' is not in the live response library (lrx library lists it)",
                        sanitize::line(missing)
                    ));
                }
                None
            }
            Err(error @ ApiError::Status { status: 403, .. }) => Some(error.to_string()),
            Err(error) => return Err(error.into()),
        }
    } else {
        None
    };
    let mut resolved: Vec<Machine> = Vec::new();
    for wanted in machines {
        let wanted = wanted.trim();
        let found = if is_machine_id(wanted) {
            client.machine(wanted).await?.into_iter().collect()
        } else {
            client.machines_named(wanted).await?
        };
        match found.as_slice() {
            [] => {
                let like = if is_machine_id(wanted) {
                    Vec::new()
                } else {
                    client.machines_starting(wanted).await?
                };
                let hint = if like.is_empty() {
                    "give its DNS name or its 40-character id".to_string()
                } else {
                    format!(
                        "names that start so: {}{}",
                        like.iter()
                            .take(5)
                            .map(|m| sanitize::line(&m.computer_dns_name))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if like.len() > 5 { ", …" } else { "" }
                    )
                };
                problems.push(format!(
                    "no machine is named '{}' ({hint})",
                    sanitize::line(wanted)
                ));
            }
            [machine] => {
                if !resolved
                    .iter()
                    .any(|m| m.id.eq_ignore_ascii_case(&machine.id))
                {
                    resolved.push(machine.clone());
                }
            }
            many => problems.push(format!(
                "'{}' names {} machines ({}): give the id instead",
                sanitize::line(wanted),
                many.len(),
                many.iter()
                    .take(5)
                    .map(|m| format!(
                        "{} {} last seen {}",
                        sanitize::line(&m.computer_dns_name),
                        sanitize::line(&m.id),
                        m.last_seen
                            .map_or_else(|| "never".into(), |t| t.format("%Y-%m-%d").to_string())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    if !problems.is_empty() {
        return Err(PrepareError::Refused(problems));
    }
    let active = active_sessions(client).await?;
    let tenant_active = active.values().map(Vec::len).sum();
    let targets = resolved
        .into_iter()
        .map(|machine| Target {
            active: active
                .get(&machine.id.to_ascii_lowercase())
                .and_then(|sessions| sessions.first())
                .cloned(),
            machine,
        })
        .collect();
    Ok(Preview {
        plan,
        targets,
        library_unchecked,
        tenant_active,
    })
}

/// Every machine's pending or running sessions, in one listing.
async fn active_sessions(
    client: &MdeClient,
) -> Result<HashMap<String, Vec<MachineAction>>, ApiError> {
    let query = ListQuery {
        statuses: vec![
            ActionStatus::Pending.as_str().to_string(),
            ActionStatus::InProgress.as_str().to_string(),
        ],
        ..ListQuery::live_response(10_000)
    };
    let mut active = HashMap::new();
    for action in client.list_actions(&query, true).await?.actions {
        active
            .entry(action.machine_id.to_ascii_lowercase())
            .or_insert_with(Vec::new)
            .push(action);
    }
    Ok(active)
}

/// What became of one machine's session.
#[derive(Debug)]
pub struct Launched {
    pub target: Target,
    pub outcome: Result<RunOutcome, ApiError>,
}

impl Launched {
    /// The action the run created on this machine, if it did.
    pub fn action(&self) -> Option<&MachineAction> {
        match &self.outcome {
            Ok(RunOutcome::Created(action) | RunOutcome::Recovered { action, .. }) => Some(action),
            _ => None,
        }
    }

    /// One line for the analyst: what happened and what to do next.
    pub fn describe(&self) -> String {
        let name = self.target.name();
        match &self.outcome {
            Ok(RunOutcome::Created(action)) => format!(
                "{name}: created {} ({})",
                sanitize::line(&action.id),
                action.status
            ),
            Ok(RunOutcome::Recovered { action, answer }) => format!(
                "{name}: created {} ({}); the service's answer was unclear ({}), and lrx found the action instead of asking twice",
                sanitize::line(&action.id),
                action.status,
                sanitize::line(answer)
            ),
            Ok(RunOutcome::Busy { active, message }) => busy_line(&name, active.as_ref(), message),
            Ok(RunOutcome::Unknown { reason }) => format!(
                "{name}: outcome unknown — check `lrx actions --machine {}` before running again: {}",
                sanitize::line(&self.target.machine.id),
                sanitize::line(reason)
            ),
            Err(error) => format!(
                "{name}: not started: {}",
                sanitize::line(&error.to_string())
            ),
        }
    }
}

/// A machine that already has a session: which one, and the two ways on.
pub fn busy_line(name: &str, active: Option<&MachineAction>, message: &str) -> String {
    match active {
        Some(action) => format!(
            "{name}: not started: it already has an active session, action {} ({}, by {}); wait for it (lrx show {}) or cancel it (lrx cancel {} --comment …)",
            sanitize::line(&action.id),
            action.status,
            sanitize::line(&action.requestor),
            sanitize::line(&action.id),
            sanitize::line(&action.id),
        ),
        None => format!("{name}: not started: {}", sanitize::line(message)),
    }
}

/// Posts the plan to every machine without an active session, one after another through
/// the budget (10 a minute), telling `each` as each one ends. Machines with a session are
/// reported, never posted to: a retry would only be refused again.
pub async fn launch(
    client: &MdeClient,
    preview: &Preview,
    custody: Option<&CustodyLog>,
    mut each: impl FnMut(&Launched),
) -> Vec<Launched> {
    let mut launched = Vec::new();
    for target in &preview.targets {
        let outcome = match &target.active {
            Some(active) => Ok(RunOutcome::Busy {
                active: Some(active.clone()),
                message: String::new(),
            }),
            None => {
                client
                    .run_live_response(&target.machine.id, &preview.plan)
                    .await
            }
        };
        let done = Launched {
            target: target.clone(),
            outcome,
        };
        if let (Some(custody), Some(action)) = (custody, done.action()) {
            custody.note(Event::Run {
                action_id: action.id.clone(),
                machine: target.machine.computer_dns_name.clone(),
                commands: preview.commands().join(" → "),
                comment: preview.plan.comment.clone(),
            });
        }
        each(&done);
        launched.push(done);
    }
    launched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::act::RunCommand;

    fn target(name: &str, active: bool, online: bool) -> Target {
        let action: MachineAction = serde_json::from_value(serde_json::json!({
            "id": "a", "type": "LiveResponse", "status": "InProgress", "commands": []
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        Target {
            machine: Machine {
                id: format!("{name:0>40}"),
                computer_dns_name: name.into(),
                health_status: Some(if online { "Active" } else { "Inactive" }.into()),
                ..Machine::default()
            },
            active: active.then_some(action),
        }
    }

    #[test]
    fn the_preview_says_what_will_happen() {
        let plan = RunPlan::new(
            vec![RunCommand::RunScript {
                script: "Get-Services.ps1".into(),
                args: None,
            }],
            "why".into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut preview = Preview {
            plan,
            targets: vec![
                target("a", false, true),
                target("b", true, true),
                target("c", false, false),
                target("d", false, true),
            ],
            library_unchecked: None,
            tenant_active: 0,
        };
        assert_eq!(
            preview.summary(),
            "3 machines · runliveresponse 3 of 10/min · 1 machine already has an active session · 1 machine inactive: queued up to 2 h"
        );
        preview.targets = (0..15)
            .map(|i| target(&i.to_string(), false, true))
            .collect();
        assert_eq!(
            preview.summary(),
            "15 machines · runliveresponse 15 of 10/min · about 2 min to start all"
        );
        preview.tenant_active = 45;
        assert!(
            preview
                .summary()
                .ends_with("the tenant runs 45 of 50 sessions: 10 will wait for a free one"),
            "{}",
            preview.summary()
        );
    }

    #[test]
    fn comments_carry_the_analyst_the_case_and_the_run() {
        assert_eq!(
            default_comment("ana@jump01", Some("4711")),
            "lrx: ana@jump01 · case 4711"
        );
        assert_eq!(default_comment("ana@jump01", Some(" ")), "lrx: ana@jump01");
        assert_eq!(
            stamped("look at it ", "0badf00d"),
            "look at it · run 0badf00d"
        );
        assert_ne!(new_run_id(), new_run_id());
    }
}
