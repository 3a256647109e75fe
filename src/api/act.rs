//! Acting on a tenant: the live response library, machines by name, starting a live response
//! session and cancelling one (contract §7, §8, §10a).
//!
//! A POST that creates an action is never repeated blindly: after an answer that may hide a
//! created action (a timeout, a 5xx), lrx looks for it by machine, comment and time first, and
//! only asks again when it is sure nothing was created.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{ListQuery, MdeClient, encode_segment};
use super::error::{ApiError, Operation};
use super::models::{ActionStatus, MachineAction, null_as_default};

/// The service answers `ActiveRequestAlreadyExists` while a machine has a session (§8.5).
pub const ACTIVE_REQUEST: &str = "ActiveRequestAlreadyExists";

/// A file in the live response library. Every text field is written by some admin:
/// untrusted, shown sanitised.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LibraryFile {
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sha256: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub created_by: String,
    #[serde(default, deserialize_with = "super::models::lenient_time")]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::models::lenient_time")]
    pub last_updated_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub has_parameters: bool,
    #[serde(default)]
    pub parameters_description: Option<String>,
}

/// A device as `GET /api/machines` describes it: only what running needs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub computer_dns_name: String,
    #[serde(default)]
    pub os_platform: Option<String>,
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default, deserialize_with = "super::models::lenient_time")]
    pub last_seen: Option<DateTime<Utc>>,
}

impl Machine {
    /// An inactive machine's session waits in the queue (up to 2 h) instead of running.
    pub fn is_offline(&self) -> bool {
        self.health_status
            .as_deref()
            .is_some_and(|health| !health.eq_ignore_ascii_case("Active"))
    }
}

#[derive(Debug, Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

/// One command of a session, as the analyst asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    PutFile {
        file_name: String,
    },
    RunScript {
        script: String,
        args: Option<String>,
    },
    GetFile {
        path: String,
    },
}

impl RunCommand {
    /// The documented order: `PutFile`, then `RunScript`, then `GetFile` (§8).
    fn rank(&self) -> u8 {
        match self {
            Self::PutFile { .. } => 0,
            Self::RunScript { .. } => 1,
            Self::GetFile { .. } => 2,
        }
    }

    fn body(&self) -> Value {
        let param = |key: &str, value: &str| json!({"key": key, "value": value});
        match self {
            Self::PutFile { file_name } => {
                json!({"type": "PutFile", "params": [param("FileName", file_name)]})
            }
            Self::RunScript { script, args } => {
                let mut params = vec![param("ScriptName", script)];
                if let Some(args) = args.as_deref().filter(|a| !a.is_empty()) {
                    params.push(param("Args", args));
                }
                json!({"type": "RunScript", "params": params})
            }
            Self::GetFile { path } => json!({"type": "GetFile", "params": [param("Path", path)]}),
        }
    }

    /// `RunScript Get-Autoruns.ps1 -Csv`, for previews and messages.
    pub fn describe(&self) -> String {
        match self {
            Self::PutFile { file_name } => format!("PutFile {file_name}"),
            Self::RunScript { script, args: None } => format!("RunScript {script}"),
            Self::RunScript {
                script,
                args: Some(args),
            } => format!("RunScript {script} {args}"),
            Self::GetFile { path } => format!("GetFile {path}"),
        }
    }

    /// The library file this command needs, if any.
    pub fn library_file(&self) -> Option<&str> {
        match self {
            Self::PutFile { file_name } => Some(file_name),
            Self::RunScript { script, .. } => Some(script),
            Self::GetFile { .. } => None,
        }
    }
}

/// What to post to each machine: commands in the documented order, and the comment that
/// also finds the action again after an unclear answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    pub commands: Vec<RunCommand>,
    pub comment: String,
}

impl RunPlan {
    /// Sorts the commands into the documented order (keeping the order within each type);
    /// a plan with no command, or no comment, is refused.
    pub fn new(mut commands: Vec<RunCommand>, comment: String) -> Result<Self, String> {
        if commands.is_empty() {
            return Err("nothing to run: give --script, --getfile or --putfile".into());
        }
        if comment.trim().is_empty() {
            return Err(
                "a comment is required (--comment): it is the audit trail of why this ran".into(),
            );
        }
        commands.sort_by_key(RunCommand::rank);
        Ok(Self { commands, comment })
    }

    pub fn body(&self) -> Value {
        json!({
            "Commands": self.commands.iter().map(RunCommand::body).collect::<Vec<_>>(),
            "Comment": self.comment,
        })
    }

    /// Library files the plan names that `library` does not hold (names compare ignoring
    /// case, as the service compares them).
    pub fn missing_from<'a>(&'a self, library: &[LibraryFile]) -> Vec<&'a str> {
        self.commands
            .iter()
            .filter_map(RunCommand::library_file)
            .filter(|name| {
                !library
                    .iter()
                    .any(|file| file.file_name.eq_ignore_ascii_case(name))
            })
            .collect()
    }
}

/// How posting one session ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    Created(MachineAction),
    /// The answer was unclear (a timeout, a 5xx), and the action was found afterwards.
    Recovered {
        action: MachineAction,
        answer: String,
    },
    /// The machine already has a session: the one the service is running, when found.
    Busy {
        active: Option<MachineAction>,
        message: String,
    },
    /// The answer was unclear and looking for the action failed too.
    Unknown {
        reason: String,
    },
}

/// How asking to cancel ended.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    Cancelled(MachineAction),
    /// It had already ended; nothing was changed.
    AlreadyFinal(MachineAction),
    Unknown {
        reason: String,
    },
}

/// An answer after which the request may or may not have been carried out.
fn is_unclear(error: &ApiError) -> bool {
    match error {
        ApiError::Status { status, .. } => *status >= 500,
        ApiError::Deadline { .. } | ApiError::Network { .. } | ApiError::Decode { .. } => true,
        _ => false,
    }
}

/// How long a new action may take to show in listings (contract §6: "0–5 seconds").
const VISIBLE_WITHIN: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(5)];
/// Clocks differ: an action is looked for from this long before lrx sent the request.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::minutes(10);

impl MdeClient {
    /// The live response library (`GET /api/libraryfiles`).
    pub async fn library_files(&self) -> Result<Vec<LibraryFile>, ApiError> {
        let url = self.url("libraryfiles");
        let response = self
            .call(Operation::LibraryFiles, Method::GET, &url, None, true)
            .await?;
        let files: Collection<LibraryFile> = Self::decode(Operation::LibraryFiles, &response.body)?;
        Ok(files.value)
    }

    /// One machine by id; `None` when the service does not know it.
    pub async fn machine(&self, id: &str) -> Result<Option<Machine>, ApiError> {
        let url = self.url(&format!("machines/{}", encode_segment(id)));
        match self
            .call(Operation::Machines, Method::GET, &url, None, true)
            .await
        {
            Ok(response) => Self::decode(Operation::Machines, &response.body).map(Some),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Machines whose DNS name is `name`, or starts with `name.` (a host name without its
    /// domain); the service compares names ignoring case.
    pub async fn machines_named(&self, name: &str) -> Result<Vec<Machine>, ApiError> {
        let quoted = name.to_ascii_lowercase().replace('\'', "''");
        self.machines_where(&format!(
            "computerDnsName eq '{quoted}' or startswith(computerDnsName,'{quoted}.')"
        ))
        .await
    }

    /// Machines whose DNS name starts with `prefix`: suggestions for a name not found.
    pub async fn machines_starting(&self, prefix: &str) -> Result<Vec<Machine>, ApiError> {
        let quoted = prefix.to_ascii_lowercase().replace('\'', "''");
        self.machines_where(&format!("startswith(computerDnsName,'{quoted}')"))
            .await
    }

    async fn machines_where(&self, filter: &str) -> Result<Vec<Machine>, ApiError> {
        let mut url = url::Url::parse(&self.url("machines"))
            .map_err(|e| ApiError::Other(format!("invalid API URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("$filter", filter)
            .append_pair("$top", "50");
        let response = self
            .call(Operation::Machines, Method::GET, url.as_str(), None, true)
            .await?;
        let machines: Collection<Machine> = Self::decode(Operation::Machines, &response.body)?;
        Ok(machines.value)
    }

    /// The machine's session that is pending or in progress, if the service lists one.
    pub async fn active_session(
        &self,
        machine_id: &str,
    ) -> Result<Option<MachineAction>, ApiError> {
        let query = ListQuery {
            statuses: vec![
                ActionStatus::Pending.as_str().to_string(),
                ActionStatus::InProgress.as_str().to_string(),
            ],
            machine_id: Some(machine_id.to_string()),
            ..ListQuery::live_response(5)
        };
        Ok(self
            .list_actions(&query, true)
            .await?
            .actions
            .into_iter()
            .next())
    }

    /// Starts a live response session on one machine. Never creates two: see the module.
    pub async fn run_live_response(
        &self,
        machine_id: &str,
        plan: &RunPlan,
    ) -> Result<RunOutcome, ApiError> {
        let url = self.url(&format!(
            "machines/{}/runliveresponse",
            encode_segment(machine_id)
        ));
        let body = plan.body();
        let mut asked = 0;
        loop {
            asked += 1;
            let sent = Utc::now();
            let answer = self
                .call(
                    Operation::RunLiveResponse,
                    Method::POST,
                    &url,
                    Some(&body),
                    true,
                )
                .await
                .and_then(|response| {
                    Self::decode::<MachineAction>(Operation::RunLiveResponse, &response.body)
                });
            let error = match answer {
                Ok(action) => return Ok(RunOutcome::Created(action)),
                Err(error) => error,
            };
            if let ApiError::Status {
                status: 400,
                detail,
                ..
            } = &error
                && detail.code.as_deref() == Some(ACTIVE_REQUEST)
            {
                let active = self.active_session(machine_id).await.ok().flatten();
                return Ok(RunOutcome::Busy {
                    active,
                    message: error.to_string(),
                });
            }
            if !is_unclear(&error) {
                return Err(error);
            }
            tracing::warn!(
                "runliveresponse answered unclearly ({error}); looking for the action before asking again"
            );
            match self.find_created(machine_id, &plan.comment, sent).await {
                Ok(Some(action)) => {
                    return Ok(RunOutcome::Recovered {
                        action,
                        answer: error.to_string(),
                    });
                }
                Ok(None) if asked < 2 => {}
                Ok(None) => return Err(error),
                Err(lookup) => {
                    return Ok(RunOutcome::Unknown {
                        reason: format!("{error}; looking for the action failed too: {lookup}"),
                    });
                }
            }
        }
    }

    /// The session this machine got for `comment` since `sent`, once the service lists it.
    async fn find_created(
        &self,
        machine_id: &str,
        comment: &str,
        sent: DateTime<Utc>,
    ) -> Result<Option<MachineAction>, ApiError> {
        let query = ListQuery {
            machine_id: Some(machine_id.to_string()),
            since: Some(sent - CLOCK_SLACK),
            ..ListQuery::live_response(50)
        };
        for wait in VISIBLE_WITHIN {
            tokio::time::sleep(wait).await;
            let found = self
                .list_actions(&query, true)
                .await?
                .actions
                .into_iter()
                .find(|action| action.requestor_comment == comment);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Asks the service to cancel an action that has not ended (§7).
    pub async fn cancel_action(&self, id: &str, comment: &str) -> Result<CancelOutcome, ApiError> {
        let url = self.url(&format!("machineactions/{}/cancel", encode_segment(id)));
        let body = json!({ "Comment": comment });
        let mut asked = 0;
        loop {
            asked += 1;
            let answer = self
                .call(Operation::Cancel, Method::POST, &url, Some(&body), true)
                .await
                .and_then(|response| {
                    Self::decode::<MachineAction>(Operation::Cancel, &response.body)
                });
            let error = match answer {
                Ok(action) => return Ok(CancelOutcome::Cancelled(action)),
                Err(error) => error,
            };
            let unclear = is_unclear(&error);
            let refused = matches!(error, ApiError::Status { status: 400, .. });
            if !unclear && !refused {
                return Err(error);
            }
            // Undocumented answer for a final action (§13.8): read the action to know.
            match self.get_action(id, true).await {
                Ok(action) if action.status == ActionStatus::Cancelled => {
                    return Ok(if refused {
                        CancelOutcome::AlreadyFinal(action)
                    } else {
                        CancelOutcome::Cancelled(action)
                    });
                }
                Ok(action) if action.status.is_final() => {
                    return Ok(CancelOutcome::AlreadyFinal(action));
                }
                Ok(_) if unclear && asked < 2 => {}
                Ok(_) => return Err(error),
                Err(lookup) if unclear => {
                    return Ok(CancelOutcome::Unknown {
                        reason: format!("{error}; reading the action failed too: {lookup}"),
                    });
                }
                Err(_) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_posted_in_the_documented_order_with_exact_keys() {
        let plan = RunPlan::new(
            vec![
                RunCommand::GetFile {
                    path: r"C:\temp\out.zip".into(),
                },
                RunCommand::RunScript {
                    script: "Get-Autoruns.ps1".into(),
                    args: Some("-Csv".into()),
                },
                RunCommand::PutFile {
                    file_name: "autorunsc64.exe".into(),
                },
            ],
            "lrx: case 4711".into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.body(),
            json!({
                "Commands": [
                    {"type": "PutFile", "params": [{"key": "FileName", "value": "autorunsc64.exe"}]},
                    {"type": "RunScript", "params": [
                        {"key": "ScriptName", "value": "Get-Autoruns.ps1"},
                        {"key": "Args", "value": "-Csv"}]},
                    {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\temp\\out.zip"}]},
                ],
                "Comment": "lrx: case 4711",
            })
        );
    }

    #[test]
    fn a_plan_needs_a_command_and_a_comment() {
        assert!(RunPlan::new(Vec::new(), "why".into()).is_err());
        let script = RunCommand::RunScript {
            script: "a.ps1".into(),
            args: None,
        };
        assert!(RunPlan::new(vec![script.clone()], "  ".into()).is_err());
        let plan = RunPlan::new(vec![script], "why".into()).unwrap_or_else(|e| panic!("{e}"));
        let library = [LibraryFile {
            file_name: "A.PS1".into(),
            ..LibraryFile::default()
        }];
        assert!(plan.missing_from(&library).is_empty());
        assert_eq!(plan.missing_from(&[]), vec!["a.ps1"]);
    }

    #[test]
    fn machines_and_library_files_read_leniently() {
        let machine: Machine = serde_json::from_str(
            r#"{"id":"ab","computerDnsName":null,"healthStatus":"Inactive","lastSeen":"2026-12-01T10:00:00.1234567Z","riskScore":"High"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(machine.is_offline());
        assert!(machine.last_seen.is_some());
        let file: LibraryFile = serde_json::from_str(
            r#"{"fileName":"x.ps1","description":null,"hasParameters":true,"creationTime":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(file.has_parameters);
        assert!(file.description.is_empty());
    }
}
