//! The machineAction entity as the API returns it: documented property names, in the order
//! real responses use (contract §4), with the precision real timestamps have.

use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;

use super::dataset::{Machine, SimAction};
use super::timeline::ActionView;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActionJson<'a> {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    pub odata_context: Option<String>,
    pub id: &'a str,
    #[serde(rename = "type")]
    pub action_type: &'a str,
    pub title: Option<&'a str>,
    pub requestor: &'a str,
    pub requestor_comment: &'a str,
    pub status: &'static str,
    pub machine_id: &'a str,
    pub computer_dns_name: &'a str,
    pub creation_date_time_utc: String,
    pub last_update_date_time_utc: String,
    pub cancellation_requestor: Option<&'a str>,
    pub cancellation_comment: Option<&'a str>,
    pub cancellation_date_time_utc: Option<String>,
    pub error_h_result: i64,
    pub scope: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub request_source: &'static str,
    pub related_file_info: Option<()>,
    pub commands: Vec<CommandJson<'a>>,
    pub troubleshoot_info: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommandJson<'a> {
    pub index: usize,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub command_status: &'static str,
    pub errors: &'a [String],
    pub command: CommandBody<'a>,
}

#[derive(Serialize)]
pub(super) struct CommandBody<'a> {
    #[serde(rename = "type")]
    pub command_type: &'static str,
    pub params: Vec<Param<'a>>,
}

#[derive(Serialize)]
pub(super) struct Param<'a> {
    pub key: &'static str,
    pub value: &'a str,
}

/// Creation and update times carry 7 fractional digits (.NET ticks).
pub(super) fn ticks_time(time: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        time.format("%Y-%m-%dT%H:%M:%S"),
        time.nanosecond() / 100
    )
}

/// Command times are seen with 2–3 fractional digits, trailing zeros dropped.
pub(super) fn short_time(time: DateTime<Utc>) -> String {
    let millis = time.nanosecond() / 1_000_000;
    let mut fraction = format!("{millis:03}");
    while fraction.ends_with('0') && fraction.len() > 1 {
        fraction.pop();
    }
    format!("{}.{fraction}Z", time.format("%Y-%m-%dT%H:%M:%S"))
}

pub(super) fn action_json<'a>(
    action: &'a SimAction,
    machine: &'a Machine,
    view: &'a ActionView,
    odata_context: Option<String>,
) -> ActionJson<'a> {
    let cancellation = action
        .cancellation
        .as_ref()
        .filter(|_| view.status == super::timeline::ActionStatus::Cancelled);
    ActionJson {
        odata_context,
        id: &action.id,
        action_type: &action.action_type,
        title: None,
        requestor: &action.requestor,
        requestor_comment: &action.comment,
        status: view.status.as_str(),
        machine_id: &machine.id,
        computer_dns_name: &machine.fqdn,
        creation_date_time_utc: ticks_time(action.created),
        last_update_date_time_utc: ticks_time(view.last_update),
        cancellation_requestor: cancellation.map(|c| c.requestor.as_str()),
        cancellation_comment: cancellation.map(|c| c.comment.as_str()),
        cancellation_date_time_utc: cancellation.map(|c| ticks_time(c.at)),
        error_h_result: 0,
        scope: action.scope.as_deref(),
        external_id: None,
        request_source: "PublicApi",
        related_file_info: None,
        commands: action
            .commands
            .iter()
            .zip(&view.commands)
            .enumerate()
            .map(|(index, (planned, state))| CommandJson {
                index,
                start_time: state.start.map(short_time),
                end_time: state.end.map(short_time),
                command_status: state.status.as_str(),
                errors: &state.errors,
                command: CommandBody {
                    command_type: planned.spec.type_name(),
                    params: planned
                        .spec
                        .params()
                        .into_iter()
                        .map(|(key, value)| Param { key, value })
                        .collect(),
                },
            })
            .collect(),
        troubleshoot_info: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_real_precision() {
        let time = DateTime::parse_from_rfc3339("2023-03-18T21:02:00.3538594Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(ticks_time(time), "2023-03-18T21:02:00.3538594Z");
        assert_eq!(short_time(time), "2023-03-18T21:02:00.353Z");
        let round = DateTime::parse_from_rfc3339("2023-03-18T21:04:01.920Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(short_time(round), "2023-03-18T21:04:01.92Z");
    }
}
