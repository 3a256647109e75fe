//! The simulated machine actions API: list with `OData`, get, cancel, result links and
//! runliveresponse.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::dataset::{self, CommandSpec, Dataset, SimAction};
use super::entity::action_json;
use super::oauth::Claims;
use super::odata::{self, Filterable, Property};
use super::rng::SimRng;
use super::sas;
use super::server::{
    Request, SimServer, api_error, find_action, internal_error, odata_json, too_many_requests,
};

/// Live response sessions the tenant runs at once; one more is answered 429 (contract §8.2).
const MAX_CONCURRENT_SESSIONS: usize = 50;
use super::timeline::{self, ActionView, CommandStatus};

pub(super) struct Row<'a> {
    action: &'a SimAction,
    machine_id: &'a str,
    status: &'static str,
}

impl Filterable for Row<'_> {
    fn text(&self, property: Property) -> Option<&str> {
        Some(match property {
            Property::Id => &self.action.id,
            Property::Status => self.status,
            Property::MachineId => self.machine_id,
            Property::Type => &self.action.action_type,
            Property::Requestor => &self.action.requestor,
            Property::CreationDateTimeUtc
            | Property::ComputerDnsName
            | Property::HealthStatus
            | Property::OsPlatform => return None,
        })
    }

    fn created(&self) -> DateTime<Utc> {
        self.action.created
    }
}

pub(super) struct ListQuery {
    filter: Option<odata::Filter>,
    top: Option<usize>,
    skip: usize,
    ascending: bool,
    count: bool,
}

impl ListQuery {
    pub(super) fn matches(&self, row: &impl Filterable) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.matches(row))
    }

    pub(super) fn top(&self) -> Option<usize> {
        self.top
    }

    pub(super) fn skip(&self) -> usize {
        self.skip
    }
}

pub(super) fn parse_list_query(query: &str) -> Result<ListQuery, String> {
    let mut parsed = ListQuery {
        filter: None,
        top: None,
        skip: 0,
        ascending: false,
        count: false,
    };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.to_ascii_lowercase().as_str() {
            "$filter" => parsed.filter = Some(odata::parse_filter(&value)?),
            "$top" => {
                let top: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("Invalid value '{value}' for $top query option found. The $top query option requires a non-negative integer value."))?;
                if top > 10_000 {
                    return Err(format!(
                        "The limit of '10000' for Top query has been exceeded. The value from the incoming request is '{top}'."
                    ));
                }
                parsed.top = Some(top);
            }
            "$skip" => {
                parsed.skip = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("Invalid value '{value}' for $skip query option found. The $skip query option requires a non-negative integer value."))?;
            }
            "$orderby" => {
                let mut words = value.split_whitespace();
                let property = words.next().unwrap_or_default();
                if !property.eq_ignore_ascii_case("creationDateTimeUtc") {
                    return Err(format!(
                        "The $orderby property '{property}' is not supported; order by creationDateTimeUtc."
                    ));
                }
                parsed.ascending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("desc") => false,
                    Some("asc") => true,
                    Some(other) => {
                        return Err(format!(
                            "Unknown $orderby direction '{other}'; use asc or desc."
                        ));
                    }
                };
            }
            "$count" => {
                parsed.count = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "'{value}' is not a valid value for $count; use true or false."
                        ));
                    }
                };
            }
            other if other.starts_with('$') => {
                return Err(format!("The query parameter '{name}' is not supported."));
            }
            _ => {}
        }
    }
    Ok(parsed)
}

pub(super) fn list(server: &SimServer, request: &Request) -> Response {
    let query = match parse_list_query(&request.query) {
        Ok(query) => query,
        Err(message) => return api_error(server, StatusCode::BAD_REQUEST, "ODataError", &message),
    };
    let now = server.now();
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    let mut matching: Vec<(&SimAction, ActionView)> = data
        .actions
        .iter()
        .filter_map(|action| {
            let view = timeline::evaluate(action, now);
            let row = Row {
                action,
                machine_id: &data.machines[action.machine].id,
                status: view.status.as_str(),
            };
            query
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(&row))
                .then_some((action, view))
        })
        .collect();
    if query.ascending {
        matching.reverse();
    }
    let total = matching.len();
    let take = query.top.unwrap_or(server.config.page_size);
    let page: Vec<_> = matching.iter().skip(query.skip).take(take).collect();
    let has_more = query.skip + page.len() < total;
    let value: Vec<_> = page
        .iter()
        .map(|(action, view)| action_json(action, &data.machines[action.machine], view, None))
        .collect();
    let next_link = (query.top.is_none() && page.len() == take && has_more)
        .then(|| next_link(server, request, query.skip + take));
    let body = ListBody {
        context: format!("{}/api/$metadata#MachineActions", server.base_url),
        count: query.count.then_some(total),
        value,
        next_link,
    };
    odata_json(StatusCode::OK, &body)
}

/// Serialised from a struct, not a map, so properties keep the service's order.
#[derive(serde::Serialize)]
pub(super) struct ListBody<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    value: Vec<crate::sim::entity::ActionJson<'a>>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

pub(super) fn next_link(server: &SimServer, request: &Request, skip: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(request.query.as_bytes()) {
        if !name.eq_ignore_ascii_case("$skip") {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair("$skip", &skip.to_string());
    format!("{}{}?{}", server.base_url, request.path, query.finish())
}

pub(super) fn entity_response(
    server: &SimServer,
    status: StatusCode,
    data: &Dataset,
    action: &SimAction,
) -> Response {
    let view = timeline::evaluate(action, server.now());
    let context = Some(format!(
        "{}/api/$metadata#MachineActions/$entity",
        server.base_url
    ));
    odata_json(
        status,
        &action_json(action, &data.machines[action.machine], &view, context),
    )
}

pub(super) fn not_found_action(server: &SimServer, id: &str) -> Response {
    api_error(
        server,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("Machine action {id} was not found"),
    )
}

pub(super) fn get(server: &SimServer, id: &str) -> Response {
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    match find_action(&data, id) {
        Some(action) => entity_response(server, StatusCode::OK, &data, action),
        None => not_found_action(server, id),
    }
}

pub(super) fn cancel(server: &SimServer, id: &str, request: &Request) -> Response {
    let comment = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| {
            body.get("Comment")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Cancelled through the API".into());
    let now = server.now();
    let Ok(mut data) = server.data.write() else {
        return internal_error(server);
    };
    let Some(position) = data
        .actions
        .iter()
        .position(|a| a.id.eq_ignore_ascii_case(id))
    else {
        return not_found_action(server, id);
    };
    let status = timeline::evaluate(&data.actions[position], now).status;
    if !status.is_active() {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Machine action {id} is already in a final state ({}) and cannot be cancelled",
                status.as_str()
            ),
        );
    }
    data.actions[position].cancellation = Some(dataset::Cancellation {
        at: now,
        requestor: "lrx demo app".into(),
        comment,
    });
    let action = data.actions[position].clone();
    entity_response(server, StatusCode::OK, &data, &action)
}

pub(super) fn link(server: &SimServer, id: &str, segment: &str) -> Response {
    let index = segment
        .split_once("index=")
        .map(|(_, rest)| rest.trim_end_matches(')').trim())
        .and_then(|n| n.parse::<usize>().ok());
    let Some(index) = index else {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            &format!(
                "Invalid input {segment}: expected GetLiveResponseResultDownloadLink(index=N)"
            ),
        );
    };
    let now = server.now();
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    let Some(action) = find_action(&data, id) else {
        return not_found_action(server, id);
    };
    let Some(command) = action.commands.get(index) else {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Command index {index} was not found in machine action {id}"),
        );
    };
    if matches!(command.spec, CommandSpec::PutFile { .. }) {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Command index {index} is a PutFile command, which has no result"),
        );
    }
    let view = timeline::evaluate(action, now);
    if view.commands[index].status != CommandStatus::Completed {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!(
                "The result of command index {index} is not available: the command has not completed"
            ),
        );
    }
    let path = sas::blob_path(&server.key, &action.id, index);
    if let Ok(mut blobs) = server.blobs.lock() {
        blobs.insert(path.clone(), (action.id.clone(), index));
    }
    let expiry = now + chrono::Duration::from_std(server.config.link_ttl).unwrap_or_default();
    let url = sas::sign_url(&server.base_url, &server.key, &path, expiry);
    odata_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/api/$metadata#Edm.String", server.base_url), "value": url}),
    )
}

pub(super) fn run_live_response(
    server: &SimServer,
    machine_id: &str,
    request: &Request,
    claims: &Claims,
) -> Response {
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(_) => {
            return api_error(
                server,
                StatusCode::BAD_REQUEST,
                "InvalidRequestBody",
                "Request body is incorrect",
            );
        }
    };
    // Body keys are case-sensitive (contract §3).
    let Some(commands) = body.get("Commands").and_then(Value::as_array) else {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter Commands is missing",
        );
    };
    if commands.is_empty() {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Commands must contain at least one command",
        );
    }
    let comment = body
        .get("Comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut specs = Vec::new();
    for command in commands {
        match parse_command(command) {
            Ok(spec) => specs.push(spec),
            Err(message) => {
                return api_error(
                    server,
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestBody",
                    &message,
                );
            }
        }
    }
    let rank = |spec: &CommandSpec| match spec {
        CommandSpec::PutFile { .. } => 0,
        CommandSpec::RunScript { .. } => 1,
        CommandSpec::GetFile { .. } => 2,
    };
    if specs.windows(2).any(|pair| rank(&pair[0]) > rank(&pair[1])) {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Commands must be ordered PutFile, then RunScript, then GetFile",
        );
    }
    let now = server.now();
    let Ok(mut data) = server.data.write() else {
        return internal_error(server);
    };
    let Some(machine) = data
        .machines
        .iter()
        .position(|m| m.id.eq_ignore_ascii_case(machine_id))
    else {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {machine_id} was not found"),
        );
    };
    if data.machines[machine].disallows_live_response() {
        return api_error(
            server,
            StatusCode::FORBIDDEN,
            "DisallowedOperation",
            &format!(
                "Live response is not allowed on machine {machine_id}: its device group has no automation remediation level"
            ),
        );
    }
    let busy = data.actions.iter().any(|a| {
        a.machine == machine
            && a.action_type == "LiveResponse"
            && timeline::evaluate(a, now).status.is_active()
    });
    if busy {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        );
    }
    let sessions = data
        .actions
        .iter()
        .filter(|a| {
            a.action_type == "LiveResponse" && timeline::evaluate(a, now).status.is_active()
        })
        .count();
    if sessions >= MAX_CONCURRENT_SESSIONS {
        drop(data);
        return too_many_requests(server, std::time::Duration::from_secs(60));
    }
    let mut rng = server
        .rng
        .lock()
        .map_or_else(|_| SimRng::new(1), |mut rng| SimRng::new(rng.next_u64()));
    let action = dataset::planned_from_request(
        &mut rng,
        machine,
        &data.machines[machine],
        specs,
        now,
        claims.app_displayname.clone(),
        comment,
    );
    data.actions.insert(0, action.clone());
    let run = server.runs.fetch_add(1, Ordering::Relaxed) + 1;
    if server.config.faults.fail_after_create.map(u64::from) == Some(run) {
        return api_error(
            server,
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable",
        );
    }
    entity_response(server, StatusCode::CREATED, &data, &action)
}

pub(super) fn parse_command(command: &Value) -> Result<CommandSpec, String> {
    let kind = command
        .get("type")
        .and_then(Value::as_str)
        .ok_or("Each command needs a 'type'")?;
    let params = command
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let param = |key: &str| {
        params.iter().find_map(|p| {
            (p.get("key").and_then(Value::as_str) == Some(key))
                .then(|| p.get("value").and_then(Value::as_str).map(str::to_string))
                .flatten()
        })
    };
    match kind {
        "PutFile" => Ok(CommandSpec::PutFile {
            file_name: param("FileName").ok_or("PutFile needs the param FileName")?,
        }),
        "RunScript" => Ok(CommandSpec::RunScript {
            script_name: param("ScriptName").ok_or("RunScript needs the param ScriptName")?,
            args: param("Args"),
        }),
        "GetFile" => Ok(CommandSpec::GetFile {
            path: param("Path").ok_or("GetFile needs the param Path")?,
        }),
        other => Err(format!(
            "Unknown command type '{other}'; use PutFile, RunScript or GetFile"
        )),
    }
}
