//! What an action looks like at a given moment, computed from its plan.

use chrono::{DateTime, Duration, Utc};

use super::dataset::{Outcome, PENDING_WINDOW_HOURS, SimAction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::TimeOut => "TimeOut",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    Created,
    Completed,
    Failed,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CommandView {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub status: CommandStatus,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ActionView {
    pub status: ActionStatus,
    pub last_update: DateTime<Utc>,
    pub commands: Vec<CommandView>,
}

fn untouched(count: usize) -> Vec<CommandView> {
    (0..count)
        .map(|_| CommandView {
            start: None,
            end: None,
            status: CommandStatus::Created,
            errors: Vec::new(),
        })
        .collect()
}

pub fn evaluate(action: &SimAction, now: DateTime<Utc>) -> ActionView {
    let cancelled_at = action
        .cancellation
        .as_ref()
        .map(|c| c.at)
        .filter(|at| *at <= now);
    // Everything after a cancellation is frozen at the moment of cancellation.
    let horizon = cancelled_at.unwrap_or(now);
    let mut commands = untouched(action.commands.len());
    let started = action.pickup.filter(|pickup| *pickup <= horizon);
    let Some(pickup) = started else {
        let timeout_at = action.created + Duration::hours(PENDING_WINDOW_HOURS);
        let (status, last_update) = match cancelled_at {
            Some(at) if at < timeout_at => (ActionStatus::Cancelled, at),
            _ if now >= timeout_at => (ActionStatus::TimeOut, timeout_at),
            _ => (ActionStatus::Pending, action.created),
        };
        return ActionView {
            status,
            last_update,
            commands,
        };
    };
    let mut clock = pickup;
    let mut last_update = pickup;
    for (planned, view) in action.commands.iter().zip(commands.iter_mut()) {
        let start = clock;
        let end = start + planned.duration;
        view.start = Some(start);
        last_update = start;
        if horizon < end {
            let status = if cancelled_at.is_some() {
                ActionStatus::Cancelled
            } else {
                ActionStatus::InProgress
            };
            return ActionView {
                status,
                last_update: cancelled_at.unwrap_or(last_update),
                commands,
            };
        }
        view.end = Some(end);
        last_update = end;
        clock = end;
        match &planned.outcome {
            Outcome::Completed(_) => view.status = CommandStatus::Completed,
            Outcome::Failed(errors) => {
                view.status = CommandStatus::Failed;
                view.errors.clone_from(errors);
                return ActionView {
                    status: ActionStatus::Failed,
                    last_update,
                    commands,
                };
            }
            Outcome::TimedOut => {
                view.status = CommandStatus::Failed;
                view.errors =
                    vec!["Script execution timed out after 600 seconds and was terminated".into()];
                return ActionView {
                    status: ActionStatus::TimeOut,
                    last_update,
                    commands,
                };
            }
        }
    }
    ActionView {
        status: ActionStatus::Succeeded,
        last_update,
        commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::dataset::{Cancellation, CommandSpec, PlannedCommand, ResultSpec};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_800_000_000 + seconds)
    }

    fn action(outcomes: Vec<Outcome>) -> SimAction {
        SimAction {
            id: "a".into(),
            action_type: "LiveResponse".into(),
            machine: 0,
            requestor: "r".into(),
            comment: "c".into(),
            created: at(0),
            pickup: Some(at(10)),
            commands: outcomes
                .into_iter()
                .map(|outcome| PlannedCommand {
                    spec: CommandSpec::RunScript {
                        script_name: "x.ps1".into(),
                        args: None,
                    },
                    duration: Duration::seconds(10),
                    outcome,
                })
                .collect(),
            cancellation: None,
            scope: None,
        }
    }

    fn ok() -> Outcome {
        Outcome::Completed(ResultSpec::None)
    }

    #[test]
    fn progresses_through_the_documented_states() {
        let plan = action(vec![ok(), ok()]);
        assert_eq!(evaluate(&plan, at(5)).status, ActionStatus::Pending);
        let running = evaluate(&plan, at(25));
        assert_eq!(running.status, ActionStatus::InProgress);
        assert_eq!(running.commands[0].status, CommandStatus::Completed);
        assert!(running.commands[1].start.is_some() && running.commands[1].end.is_none());
        let done = evaluate(&plan, at(31));
        assert_eq!(done.status, ActionStatus::Succeeded);
        assert_eq!(done.last_update, at(30));
    }

    #[test]
    fn a_failure_leaves_later_commands_created() {
        let plan = action(vec![Outcome::Failed(vec!["boom".into()]), ok()]);
        let view = evaluate(&plan, at(100));
        assert_eq!(view.status, ActionStatus::Failed);
        assert_eq!(view.commands[0].errors, vec!["boom".to_string()]);
        assert_eq!(view.commands[1].status, CommandStatus::Created);
        assert!(view.commands[1].start.is_none());
    }

    #[test]
    fn offline_devices_time_out_and_cancellation_freezes() {
        let mut offline = action(vec![ok()]);
        offline.pickup = None;
        assert_eq!(evaluate(&offline, at(60)).status, ActionStatus::Pending);
        assert_eq!(
            evaluate(&offline, at(3 * 3600)).status,
            ActionStatus::TimeOut
        );
        let mut cancelled = action(vec![ok()]);
        cancelled.cancellation = Some(Cancellation {
            at: at(15),
            requestor: "r".into(),
            comment: "stop".into(),
        });
        let view = evaluate(&cancelled, at(100));
        assert_eq!(view.status, ActionStatus::Cancelled);
        assert_eq!(view.commands[0].status, CommandStatus::Created);
    }
}
