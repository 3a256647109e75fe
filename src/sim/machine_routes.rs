//! The simulated machines API and live response library (contract §10a): what an analyst
//! needs to start sessions — machines by name, their health, and the scripts and files
//! that may be run or put.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::action_routes::parse_list_query;
use super::corpus::corpus;
use super::dataset::{Machine, MachineOs};
use super::entity::ticks_time;
use super::library::{HOSTILE_FILE, description};
use super::odata::{Filterable, Property};
use super::server::{Request, SimServer, api_error, internal_error, odata_json};

/// The library: every script the corpus runs and every file it puts, each once.
pub(super) fn library_files(anchor: DateTime<Utc>) -> Vec<serde_json::Value> {
    let c = corpus();
    let mut names: Vec<(&str, bool)> = Vec::new();
    for script in &c.scripts {
        if !names
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&script.name))
        {
            names.push((&script.name, script.args.is_some()));
        }
    }
    for file in &c.putfiles {
        if !names.iter().any(|(n, _)| n.eq_ignore_ascii_case(file)) {
            names.push((file, false));
        }
    }
    let mut files: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, (name, has_parameters))| {
            let days = i64::try_from(i).unwrap_or(0) * 9 + 30;
            json!({
                "fileName": name,
                "sha256": format!("{:064x}", fnv(name)),
                "description": description(name),
                "creationTime": ticks_time(anchor - Duration::days(days)),
                "lastUpdatedTime": ticks_time(anchor - Duration::days(days / 3)),
                "createdBy": "secops-admin@contoso.com",
                "hasParameters": has_parameters,
                "parametersDescription": has_parameters.then_some("See the script's help"),
            })
        })
        .collect();
    files.push(json!({
        "fileName": HOSTILE_FILE.0,
        "sha256": format!("{:064x}", fnv(HOSTILE_FILE.0)),
        "description": HOSTILE_FILE.1,
        "creationTime": ticks_time(anchor - Duration::days(3)),
        "lastUpdatedTime": ticks_time(anchor - Duration::days(3)),
        "createdBy": "it-helpdesk@contoso.com",
        "hasParameters": false,
        "parametersDescription": null,
    }));
    files
}

fn fnv(text: &str) -> u128 {
    text.bytes()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |hash, byte| {
            (hash ^ u128::from(byte)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        })
}

pub(super) fn library(server: &SimServer) -> Response {
    odata_json(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/api/$metadata#LibraryFiles", server.base_url),
            "value": library_files(server.anchor()),
        }),
    )
}

struct MachineRow<'a> {
    machine: &'a Machine,
    last_seen: DateTime<Utc>,
}

impl Filterable for MachineRow<'_> {
    fn text(&self, property: Property) -> Option<&str> {
        Some(match property {
            Property::Id => &self.machine.id,
            Property::ComputerDnsName => &self.machine.fqdn,
            Property::HealthStatus => health(self.machine),
            Property::OsPlatform => os_platform(self.machine.os),
            _ => return None,
        })
    }

    fn created(&self) -> DateTime<Utc> {
        self.last_seen
    }
}

fn health(machine: &Machine) -> &'static str {
    if machine.online { "Active" } else { "Inactive" }
}

fn os_platform(os: MachineOs) -> &'static str {
    match os {
        MachineOs::Windows => "Windows11",
        MachineOs::WindowsServer => "WindowsServer2022",
        MachineOs::Linux => "Linux",
        MachineOs::MacOs => "macOS",
    }
}

fn last_seen(machine: &Machine, now: DateTime<Utc>) -> DateTime<Utc> {
    if machine.online {
        now - Duration::minutes(3)
    } else {
        now - Duration::days(4)
    }
}

fn machine_json(machine: &Machine, now: DateTime<Utc>) -> serde_json::Value {
    json!({
        "id": machine.id,
        "computerDnsName": machine.fqdn,
        "firstSeen": ticks_time(now - Duration::days(400)),
        "lastSeen": ticks_time(last_seen(machine, now)),
        "osPlatform": os_platform(machine.os),
        "healthStatus": health(machine),
        "lastIpAddress": machine.ip,
        "riskScore": "Medium",
        "machineTags": [],
        "rbacGroupName": machine.device_group(),
    })
}

pub(super) fn machines(server: &SimServer, request: &Request) -> Response {
    let query = match parse_list_query(&request.query) {
        Ok(query) => query,
        Err(message) => return api_error(server, StatusCode::BAD_REQUEST, "ODataError", &message),
    };
    let now = server.now();
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    let value: Vec<_> = data
        .machines
        .iter()
        .filter(|machine| {
            query.matches(&MachineRow {
                machine,
                last_seen: last_seen(machine, now),
            })
        })
        .skip(query.skip())
        .take(query.top().unwrap_or(10_000))
        .map(|machine| machine_json(machine, now))
        .collect();
    odata_json(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}/api/$metadata#Machines", server.base_url),
            "value": value,
        }),
    )
}

pub(super) fn machine(server: &SimServer, id: &str) -> Response {
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    match data.machines.iter().find(|m| m.id.eq_ignore_ascii_case(id)) {
        Some(machine) => odata_json(StatusCode::OK, &machine_json(machine, server.now())),
        None => api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {id} was not found"),
        ),
    }
}
