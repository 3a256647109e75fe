//! The service's entities, deserialised tolerantly: unknown fields are ignored, unknown enum
//! values are kept, timestamps of any precision (or none at all) do not sink the record.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// The action type lrx lists unless asked for every type.
pub const LIVE_RESPONSE: &str = "LiveResponse";

/// An enum the service may extend: known values by name, anything else kept verbatim.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            /// The documented values, as the service spells them.
            pub const DOCUMENTED: &'static [&'static str] = &[$(stringify!($variant)),+];

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $(if value.eq_ignore_ascii_case(stringify!($variant)) {
                    return Self::$variant;
                })+
                Self::Other(value)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default().into())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// `machineAction.status` (contract §4).
    ActionStatus { Pending, InProgress, Succeeded, Failed, TimeOut, Cancelled }
);
open_enum!(
    /// `commands[].commandStatus`: documented as Created, Completed, Failed.
    CommandStatus { Created, InProgress, Completed, Failed }
);
open_enum!(
    /// `commands[].command.type`.
    CommandType { RunScript, GetFile, PutFile }
);

impl ActionStatus {
    /// Whether the action is done and will never change again. Whatever is not pending or
    /// in progress is final, undocumented outcomes too (`PartiallySucceeded`): following
    /// those as unfinished spent the shared budget on re-reading them every few seconds.
    /// An undocumented status that still sounds under way, or none at all, is not final.
    pub fn is_final(&self) -> bool {
        match self {
            Self::Pending | Self::InProgress => false,
            Self::Succeeded | Self::Failed | Self::TimeOut | Self::Cancelled => true,
            Self::Other(other) => {
                let other = other.to_ascii_lowercase();
                !other.trim().is_empty()
                    && ![
                        "pend", "progress", "queue", "running", "creat", "start", "wait",
                    ]
                    .iter()
                    .any(|sign| other.contains(sign))
            }
        }
    }
}

impl CommandType {
    /// `PutFile` has no result to download (contract §9).
    pub fn has_result(&self) -> bool {
        !matches!(self, Self::PutFile)
    }
}

/// Parses RFC 3339 with any fractional precision; a missing offset is taken as UTC, and
/// anything unparseable becomes `None` rather than an error for the whole record.
pub(super) fn lenient_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.as_deref().and_then(parse_time))
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Param {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct CommandDetail {
    #[serde(rename = "type")]
    pub command_type: CommandType,
    #[serde(default, deserialize_with = "null_as_default")]
    pub params: Vec<Param>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub index: u32,
    #[serde(default, deserialize_with = "lenient_time")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub end_time: Option<DateTime<Utc>>,
    pub command_status: CommandStatus,
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
    pub command: CommandDetail,
}

impl Command {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.command
            .params
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(key))
            .map(|p| p.value.as_str())
    }

    /// What the command acts on: the script and its args, or the file path.
    pub fn target(&self) -> String {
        match self.command.command_type {
            CommandType::RunScript => match self.param("Args") {
                Some(args) if !args.is_empty() => {
                    format!("{} {args}", self.param("ScriptName").unwrap_or_default())
                }
                _ => self.param("ScriptName").unwrap_or_default().to_string(),
            },
            CommandType::GetFile => self.param("Path").unwrap_or_default().to_string(),
            CommandType::PutFile => self.param("FileName").unwrap_or_default().to_string(),
            CommandType::Other(_) => self
                .command
                .params
                .iter()
                .map(|p| format!("{}={}", p.key, p.value))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(
            self.command_status,
            CommandStatus::Completed | CommandStatus::Failed
        )
    }

    /// Completed and of a kind that has a downloadable result.
    pub fn has_result(&self) -> bool {
        self.command_status == CommandStatus::Completed && self.command.command_type.has_result()
    }

    pub fn duration(&self) -> Option<chrono::Duration> {
        Some(self.end_time? - self.start_time?)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    pub id: String,
    #[serde(rename = "type")]
    pub action_type: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub requestor: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub requestor_comment: String,
    pub status: ActionStatus,
    #[serde(default, deserialize_with = "null_as_default")]
    pub machine_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub computer_dns_name: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub creation_date_time_utc: Option<DateTime<Utc>>,
    /// The list endpoint's documentation spells it `lastUpdateTimeUtc` (contract §4).
    #[serde(
        default,
        alias = "lastUpdateTimeUtc",
        deserialize_with = "lenient_time"
    )]
    pub last_update_date_time_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancellation_requestor: Option<String>,
    #[serde(default)]
    pub cancellation_comment: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub cancellation_date_time_utc: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub commands: Vec<Command>,
}

impl MachineAction {
    /// A command index the service lists more than once is kept once (the first), so
    /// nothing waits for a second result that can never come. Says what it dropped.
    pub fn drop_repeated_commands(&mut self) -> Option<String> {
        let before = self.commands.len();
        let mut seen = std::collections::HashSet::new();
        self.commands.retain(|c| seen.insert(c.index));
        let dropped = before - self.commands.len();
        (dropped > 0).then(|| {
            format!(
                "action {} lists {dropped} command index(es) twice; each is shown once",
                crate::sanitize::line(&self.id)
            )
        })
    }

    pub fn is_live_response(&self) -> bool {
        self.action_type.eq_ignore_ascii_case(LIVE_RESPONSE)
    }

    pub fn done_count(&self) -> usize {
        self.commands.iter().filter(|c| c.is_done()).count()
    }

    pub fn failed_count(&self) -> usize {
        self.commands
            .iter()
            .filter(|c| c.command_status == CommandStatus::Failed)
            .count()
    }
}

/// `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ActionPage {
    /// Kept raw, so one action lrx cannot read (or nested too deep to read) is reported on
    /// its own instead of failing the page.
    #[serde(default)]
    pub value: Vec<Box<serde_json::value::RawValue>>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// `{"value": "<string>"}` from `#Edm.String` responses.
#[derive(Debug, Deserialize)]
pub struct StringValue {
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_under_way_is_final_undocumented_outcomes_too() {
        for (status, is_final) in [
            ("Pending", false),
            ("InProgress", false),
            ("Succeeded", true),
            ("Cancelled", true),
            ("PartiallySucceeded", true),
            ("Aborted", true),
            ("Queued", false),
            ("Running", false),
            ("", false),
        ] {
            assert_eq!(
                ActionStatus::from(status.to_string()).is_final(),
                is_final,
                "{status:?}"
            );
        }
    }

    #[test]
    fn tolerates_unknowns_variants_and_precision() {
        let json = r#"{
            "id": "c141bb71", "type": "LiveResponse", "title": null, "requestor": null,
            "status": "Quarantining", "machineId": "a9e1", "computerDnsName": "dc1",
            "creationDateTimeUtc": "2023-03-18T21:02:00.3538594Z",
            "lastUpdateTimeUtc": "2023-03-18T21:04:41.93163",
            "somethingNew": {"nested": true},
            "commands": [{"index": 0, "startTime": "2023-03-18T21:04:01.92Z", "endTime": "garbage",
                "commandStatus": "Running", "errors": null,
                "command": {"type": "RunScript", "params": [{"key": "ScriptName", "value": "a.ps1"}, {"key": "Args", "value": "-x"}]}}]
        }"#;
        let action: MachineAction = serde_json::from_str(json).expect("tolerant parse");
        assert_eq!(action.status, ActionStatus::Other("Quarantining".into()));
        assert!(action.last_update_date_time_utc.is_some());
        assert!(action.creation_date_time_utc.is_some());
        let command = &action.commands[0];
        assert_eq!(
            command.command_status,
            CommandStatus::Other("Running".into())
        );
        assert!(command.start_time.is_some() && command.end_time.is_none());
        assert_eq!(command.target(), "a.ps1 -x");
        assert!(command.errors.is_empty());
    }
}
