//! The simulated machines API and live response library (contract §10a): what an analyst
//! needs to start sessions — machines by name, their health, and the scripts and files
//! that may be run or put.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::action_routes::parse_list_query;
use super::corpus::{OsFamily, corpus};
use super::dataset::{Machine, MachineOs};
use super::entity::ticks_time;
use super::odata::{Filterable, Property};
use super::server::{Request, SimServer, api_error, internal_error, odata_json};

/// A library file whose description an admin wrote with escape sequences in it: untrusted
/// text that clients must show inert.
const HOSTILE_FILE: (&str, &str) = (
    "Invoke-Cleanup.ps1",
    "Cleans temp folders\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{202e}gnp.exe",
);

/// What each of the corpus's scripts and tools is for, as an admin would describe it.
fn description(name: &str) -> String {
    let known = [
        (
            "Get-ProcessList.ps1",
            "Running processes with command lines and parents",
        ),
        (
            "Get-NetConnections.ps1",
            "TCP connections and owning processes",
        ),
        (
            "Get-Autoruns.ps1",
            "Autostart entries (Run keys, services, tasks)",
        ),
        (
            "Get-ScheduledTasks.ps1",
            "Scheduled tasks with actions and triggers",
        ),
        (
            "Get-Services.ps1",
            "Services, start mode, binary path and signer",
        ),
        (
            "Get-SecurityEvents.ps1",
            "Security log logons and process creations",
        ),
        ("Get-LoggedOnUsers.ps1", "Interactive and RDP sessions"),
        ("Get-FileHashes.ps1", "SHA-256 of files under a path"),
        (
            "Get-DefenderStatus.ps1",
            "Defender engine, signatures and exclusions",
        ),
        ("Get-DnsCache.ps1", "The DNS client cache"),
        (
            "Get-RegistryRunKeys.ps1",
            "Run and RunOnce keys for every hive",
        ),
        (
            "Get-InstalledSoftware.ps1",
            "Installed programs from the uninstall keys",
        ),
        (
            "collect_triage.sh",
            "Linux/macOS triage: users, processes, sockets, cron",
        ),
        (
            "persistence_check.sh",
            "systemd units, cron, shell profiles, launch agents",
        ),
        ("handle64.exe", "Sysinternals Handle"),
        ("autorunsc64.exe", "Sysinternals Autoruns (command line)"),
        ("Sysmon64.exe", "Sysinternals Sysmon installer"),
        ("yara64.exe", "YARA scanner"),
    ];
    known
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map_or_else(
            || format!("Uploaded by the SOC: {name}"),
            |(_, d)| (*d).to_string(),
        )
}

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

/// The library's one script the corpus has no output for: it is not signed, so it fails
/// when run, as unsigned scripts do where signing is enforced.
pub(crate) fn is_unsigned_script(name: &str) -> bool {
    HOSTILE_FILE.0.eq_ignore_ascii_case(name)
}

/// Whether the library holds `name` (for runs that name a script or file).
pub(crate) fn in_library(name: &str, family: OsFamily) -> bool {
    let c = corpus();
    c.scripts
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(name) && s.os == family)
        || c.putfiles.iter().any(|f| f.eq_ignore_ascii_case(name))
        || HOSTILE_FILE.0.eq_ignore_ascii_case(name)
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

/// The device group without an automation level: live response is refused there
/// (`DisallowedOperation`), as for an executive's machine an admin keeps hands off.
const RESTRICTED_GROUP: (&str, &str) = ("mac-exec-02.", "Executives (no automation level)");

pub(crate) fn disallows_live_response(machine: &Machine) -> bool {
    machine.fqdn.starts_with(RESTRICTED_GROUP.0)
}

fn device_group(machine: &Machine) -> &'static str {
    if disallows_live_response(machine) {
        RESTRICTED_GROUP.1
    } else if machine.os == MachineOs::WindowsServer {
        "Servers"
    } else {
        "Workstations"
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
        "rbacGroupName": device_group(machine),
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
