//! What changed since the last sweep: for each run, the previous run of the same script
//! and arguments (`GetFile`: path) on the same machine is its baseline, and the run is the
//! same as it, changed (so many lines added and removed, masked as for clustering), or the
//! machine's first run.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::models::{CommandType, MachineAction};
use crate::fetch::ResultKey;

/// A run against its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsPrevious {
    FirstRun,
    Same {
        baseline: ResultKey,
    },
    Changed {
        baseline: ResultKey,
        added: usize,
        removed: usize,
    },
    /// There is a previous run, but one of the two outputs is not in (not fetched, failed).
    Unknown {
        baseline: ResultKey,
    },
}

impl VsPrevious {
    /// `same`, `changed (+12 −3 lines)`, `first run`.
    pub fn label(&self) -> String {
        match self {
            Self::FirstRun => "first run".into(),
            Self::Same { .. } => "same".into(),
            // Not counted (only the digests were compared): `b` shows the lines.
            Self::Changed {
                added: 0,
                removed: 0,
                ..
            } => "changed".into(),
            Self::Changed { added, removed, .. } => format!("changed (+{added} −{removed} lines)"),
            Self::Unknown { .. } => "not comparable".into(),
        }
    }

    pub fn baseline(&self) -> Option<&ResultKey> {
        match self {
            Self::FirstRun => None,
            Self::Same { baseline }
            | Self::Changed { baseline, .. }
            | Self::Unknown { baseline } => Some(baseline),
        }
    }
}

/// A run of a script on a machine: when, and which.
type Run = (DateTime<Utc>, ResultKey);

/// When a command ran, for ordering runs: its start, else its action's creation.
fn ran_at(action: &MachineAction, command: &crate::api::models::Command) -> Option<DateTime<Utc>> {
    command.start_time.or(action.creation_date_time_utc)
}

/// For each command of `runs`, the latest earlier command in `runs` or `earlier` with the
/// same group key on the same machine; `None` for a machine's first run.
pub fn previous_runs(
    runs: &[MachineAction],
    earlier: &[MachineAction],
) -> HashMap<ResultKey, Option<ResultKey>> {
    // (machine, group) → every run of it, oldest first.
    let mut history: HashMap<(String, String), Vec<Run>> = HashMap::new();
    for action in runs.iter().chain(earlier) {
        let machine = machine_of(action);
        for command in action.commands.iter().filter(|c| {
            c.command.command_type != CommandType::PutFile
                && c.command_status == crate::api::models::CommandStatus::Completed
        }) {
            let Some(at) = ran_at(action, command) else {
                continue;
            };
            history
                .entry((machine.clone(), super::group_key(command)))
                .or_default()
                .push((at, ResultKey::new(action.id.clone(), command.index)));
        }
    }
    for runs in history.values_mut() {
        runs.sort();
        runs.dedup_by(|a, b| a.1 == b.1);
    }
    let mut previous = HashMap::new();
    for action in runs {
        let machine = machine_of(action);
        // Only a run that completed has an output to hold against its baseline.
        for command in action
            .commands
            .iter()
            .filter(|c| c.command_status == crate::api::models::CommandStatus::Completed)
        {
            let key = ResultKey::new(action.id.clone(), command.index);
            let Some(at) = ran_at(action, command) else {
                continue;
            };
            let before = history
                .get(&(machine.clone(), super::group_key(command)))
                .and_then(|runs| {
                    runs.iter()
                        .rfind(|(t, k)| *t < at && *k != key)
                        .map(|(_, k)| k.clone())
                });
            previous.insert(key, before);
        }
    }
    previous
}

fn machine_of(action: &MachineAction) -> String {
    if action.machine_id.is_empty() {
        action.computer_dns_name.to_ascii_lowercase()
    } else {
        action.machine_id.to_ascii_lowercase()
    }
}

/// Compares a run's output with its baseline's (both masked as for clustering).
pub fn compare(
    baseline: ResultKey,
    old: &str,
    new: &str,
    normaliser: &super::Normaliser,
) -> VsPrevious {
    let lines = super::diff(old, new, normaliser, 0);
    let added = lines
        .iter()
        .filter(|l| matches!(l, super::DiffLine::Added(_)))
        .count();
    let removed = lines
        .iter()
        .filter(|l| matches!(l, super::DiffLine::Removed(_)))
        .count();
    if added + removed == 0 {
        VsPrevious::Same { baseline }
    } else {
        VsPrevious::Changed {
            baseline,
            added,
            removed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: &str, machine: &str, start: &str, script: &str) -> MachineAction {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": "LiveResponse", "status": "Succeeded", "machineId": machine,
            "creationDateTimeUtc": start,
            "commands": [{"index": 0, "startTime": start, "endTime": start, "commandStatus": "Completed",
                "command": {"type": "RunScript", "params": [{"key": "ScriptName", "value": script}]}}]
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_baseline_is_the_latest_earlier_run_of_the_same_script_on_the_same_machine() {
        let runs = [
            action("new", "m1", "2026-11-20T12:00:00Z", "a.ps1"),
            action("other-machine", "m2", "2026-11-20T12:00:00Z", "a.ps1"),
        ];
        let earlier = [
            action("old", "m1", "2026-11-19T12:00:00Z", "a.ps1"),
            action("older", "m1", "2026-11-18T12:00:00Z", "a.ps1"),
            action("other-script", "m1", "2026-11-19T18:00:00Z", "b.ps1"),
        ];
        let previous = previous_runs(&runs, &earlier);
        assert_eq!(
            previous[&ResultKey::new("new", 0)],
            Some(ResultKey::new("old", 0))
        );
        assert_eq!(previous[&ResultKey::new("other-machine", 0)], None);
    }

    #[test]
    fn outputs_compare_after_masking() {
        let normaliser = crate::review::Normaliser::builtin();
        let key = ResultKey::new("old", 0);
        let same = compare(
            key.clone(),
            "svc A running\nchecked at 2026-11-19T12:00:00Z",
            "svc A running\nchecked at 2026-11-20T12:00:00Z",
            &normaliser,
        );
        assert_eq!(same.label(), "same");
        let changed = compare(
            key,
            "svc A running",
            "svc A running\nsvc EVIL running",
            &normaliser,
        );
        assert_eq!(changed.label(), "changed (+1 −0 lines)");
    }
}
