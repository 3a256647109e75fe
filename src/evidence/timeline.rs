//! A sweep as a timeline Timesketch imports directly: JSON lines with `message`, `datetime`
//! (ISO 8601) and `timestamp_desc`, one event when each command started and one when it
//! ended, with the machine, script, exit code, action, index and payload SHA-256 as columns,
//! so the sweep lines up with the rest of the case.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::api::models::{Command, MachineAction};
use crate::fetch::ResultKey;

/// What is known of a command's result, when it was fetched.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The exit code as the review read it (a number, unusual text, or null).
    pub exit_code: Value,
    /// The payload's SHA-256, as downloaded.
    pub sha256: Option<String>,
}

pub const STARTED: &str = "Live response command started";
pub const ENDED: &str = "Live response command ended";

/// The timeline's events, oldest first; `known` gives what was fetched of a command.
pub fn events(
    actions: &[MachineAction],
    known: impl Fn(&ResultKey) -> Option<Known>,
) -> Vec<Value> {
    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    for action in actions {
        for command in &action.commands {
            let key = ResultKey::new(action.id.clone(), command.index);
            let result = known(&key).unwrap_or_default();
            if let Some(start) = command.start_time {
                events.push((start, event(action, command, start, false, &result)));
            }
            if let Some(end) = command.end_time {
                events.push((end, event(action, command, end, true, &result)));
            }
        }
    }
    events.sort_by_key(|event| event.0);
    events.into_iter().map(|(_, event)| event).collect()
}

fn event(
    action: &MachineAction,
    command: &Command,
    at: DateTime<Utc>,
    ended: bool,
    known: &Known,
) -> Value {
    let what = format!("{} {}", command.command.command_type, command.target());
    let message = if ended {
        let exit = match &known.exit_code {
            Value::Null => String::new(),
            code => format!(
                ", exit {}",
                code.as_str()
                    .map_or_else(|| code.to_string(), str::to_string)
            ),
        };
        format!(
            "{what} ended on {} ({}{exit})",
            action.computer_dns_name, command.command_status
        )
    } else {
        format!("{what} started on {}", action.computer_dns_name)
    };
    json!({
        "message": message,
        "datetime": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "timestamp_desc": if ended { ENDED } else { STARTED },
        "machine": action.computer_dns_name,
        "machine_id": action.machine_id,
        "command_type": command.command.command_type.as_str(),
        "script": command.target(),
        "command_status": command.command_status.as_str(),
        "exit_code": if ended { known.exit_code.clone() } else { Value::Null },
        "action_id": action.id,
        "index": command.index,
        "sha256": if ended { known.sha256.clone() } else { None },
        "requestor": action.requestor,
        "requestor_comment": action.requestor_comment,
        "data_type": "lrx:live_response:command",
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn each_command_gives_a_start_and_an_end_in_time_order() {
        let action: MachineAction = serde_json::from_value(json!({
            "id": "a1", "type": "LiveResponse", "status": "Succeeded",
            "computerDnsName": "wks-1.corp", "machineId": "m1",
            "commands": [
                {"index": 0, "startTime": "2026-11-20T10:00:05Z", "endTime": "2026-11-20T10:00:09.5Z",
                 "commandStatus": "Completed", "command": {"type": "RunScript", "params": [{"key": "ScriptName", "value": "a.ps1"}]}},
                {"index": 1, "startTime": null, "endTime": null,
                 "commandStatus": "Created", "command": {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x"}]}}
            ]
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let known = HashMap::from([(
            ResultKey::new("a1", 0),
            Known {
                exit_code: json!(0),
                sha256: Some("ab".repeat(32)),
            },
        )]);
        let events = events(&[action], |key| known.get(key).cloned());
        assert_eq!(events.len(), 2, "a command that never ran has no event");
        assert_eq!(events[0]["timestamp_desc"], STARTED);
        assert_eq!(events[0]["datetime"], "2026-11-20T10:00:05.000Z");
        assert_eq!(events[1]["timestamp_desc"], ENDED);
        assert_eq!(events[1]["exit_code"], 0);
        assert_eq!(
            events[1]["message"],
            "RunScript a.ps1 ended on wks-1.corp (Completed, exit 0)"
        );
        assert!(events.iter().all(|e| e["message"].is_string()
            && e["datetime"].is_string()
            && e["timestamp_desc"].is_string()));
    }
}
