//! The network work behind the run and cancel dialogs, off the UI: each effect becomes a
//! task whose outcome comes back through `sink` as messages. Shared by the event loop and
//! the tests, which carry the same effects out against the simulated tenant.

use std::sync::Arc;

use super::message::{Effect, Message};
use super::work::Sink;
use crate::act::{self, PrepareError};
use crate::api::MdeClient;
use crate::api::act::CancelOutcome;
use crate::custody::{CustodyLog, Event};
use crate::sanitize;

/// Starts the effect if it acts on the tenant; gives any other effect back.
pub fn start(
    effect: Effect,
    client: &Arc<MdeClient>,
    custody: Option<&Arc<CustodyLog>>,
    sink: &Sink,
) -> Option<Effect> {
    let client = Arc::clone(client);
    let custody = custody.cloned();
    let sink = Arc::clone(sink);
    match effect {
        Effect::LoadLibrary => {
            tokio::spawn(async move {
                let result = client.library_files().await.map_err(|e| e.to_string());
                sink(Message::Library(result));
            });
        }
        Effect::PrepareRun { plan, machine_ids } => {
            tokio::spawn(async move {
                let result = act::prepare(&client, plan, &machine_ids)
                    .await
                    .map(Box::new)
                    .map_err(|error| match error {
                        PrepareError::Refused(problems) => problems.join("; "),
                        PrepareError::Api(error) => error.to_string(),
                    });
                sink(Message::RunPrepared(result));
            });
        }
        Effect::LaunchRun(preview) => {
            tokio::spawn(async move {
                act::launch(&client, &preview, custody.as_deref(), |done| {
                    sink(Message::RunStarted {
                        line: done.describe(),
                        action: done.action().cloned().map(Box::new),
                    });
                })
                .await;
                sink(Message::RunDone);
            });
        }
        Effect::CancelAction { action_id, comment } => {
            tokio::spawn(async move {
                let result = match client.cancel_action(&action_id, &comment).await {
                    Ok(CancelOutcome::Cancelled(action)) => {
                        if let Some(custody) = &custody {
                            custody.note(Event::Cancel {
                                action_id: action.id.clone(),
                                comment: comment.clone(),
                            });
                        }
                        Ok(Box::new(action))
                    }
                    Ok(CancelOutcome::AlreadyFinal(action)) => Err(format!(
                        "{} ended ({}) before the cancel arrived: nothing was cancelled",
                        sanitize::line(&action.id),
                        action.status
                    )),
                    Ok(CancelOutcome::Unknown { reason }) => Err(format!(
                        "outcome unknown — look at {} again before cancelling twice: {}",
                        sanitize::line(&action_id),
                        sanitize::line(&reason)
                    )),
                    Err(error) => Err(error.to_string()),
                };
                sink(Message::CancelDone(result));
            });
        }
        other => return Some(other),
    }
    None
}
