//! Synthetic machine actions for tests and benchmarks that need many of them without a
//! simulated tenant (the simulator itself generates realistic ones).

use chrono::{DateTime, Utc};

use crate::api::models::{
    ActionStatus, Command, CommandDetail, CommandStatus, CommandType, MachineAction, Param,
};

/// A completed Live Response action on `machine` whose commands run `scripts` in order.
pub fn action(
    number: usize,
    machine: &str,
    scripts: &[&str],
    created: DateTime<Utc>,
) -> MachineAction {
    MachineAction {
        id: format!("{number:08x}-0000-4000-8000-000000000000"),
        action_type: "LiveResponse".into(),
        title: None,
        requestor: format!("analyst{}@contoso.com", number % 17),
        requestor_comment: format!("INC-{}: triage of {machine}", 20_000 + number % 300),
        status: ActionStatus::Succeeded,
        machine_id: format!("{number:040x}"),
        computer_dns_name: machine.to_string(),
        creation_date_time_utc: Some(created),
        last_update_date_time_utc: Some(created),
        cancellation_requestor: None,
        cancellation_comment: None,
        cancellation_date_time_utc: None,
        commands: scripts
            .iter()
            .enumerate()
            .map(|(index, script)| Command {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                start_time: Some(created),
                end_time: Some(created + chrono::Duration::seconds(12)),
                command_status: CommandStatus::Completed,
                errors: Vec::new(),
                command: CommandDetail {
                    command_type: CommandType::RunScript,
                    params: vec![Param {
                        key: "ScriptName".into(),
                        value: (*script).to_string(),
                    }],
                },
            })
            .collect(),
    }
}

/// A command that runs with `home` as its whole world: HOME and the XDG directories point
/// there, and no sign-in from the caller's environment leaks in.
pub fn isolated(program: &str, home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"));
    for name in [
        "LRX_TENANT_ID",
        "LRX_CLIENT_ID",
        "LRX_CLIENT_SECRET",
        "LRX_TOKEN",
        "LRX_API_URL",
        "LRX_TOKEN_URL",
        "LRX_AUTH",
        "LRX_PROFILE",
        "LRX_KEY_PASSPHRASE",
        "LRX_CONFIG",
        "LRX_STORAGE_URL",
        "LRX_CACHE_DIR",
        "LRX_CASE",
        "DBUS_SESSION_BUS_ADDRESS",
    ] {
        command.env_remove(name);
    }
    // Never the developer's own desktop keyring: a test that wants Secret Service starts a
    // D-Bus session of its own and says so.
    command.env("LRX_SECRET_STORE", "keyutils");
    command
}

/// A fleet sweep's ~50 KB output on one machine: a transcript header naming the machine,
/// logon events whose timestamps differ per machine (masked when compared), and for an
/// outlier one telling line more. The benchmarks' stand-in for a real collection script.
pub fn sweep_output(machine: usize, outlier: bool) -> String {
    use std::fmt::Write as _;
    let mut text = format!(
        "Transcript started, output file is C:\\ProgramData\\x\\PSScript_Transcript_{{{machine:08X}-0000-0000-0000-000000000000}}.txt\n"
    );
    let mut line = 0;
    while text.len() < 50 * 1024 {
        let _ = writeln!(
            text,
            "2026-11-{:02}T12:{:02}:{:02}.123Z  4624  An account was successfully logged on. Account Name: svc_backup{} Logon Type: 3",
            1 + machine % 28,
            line % 60,
            machine % 60,
            line % 7
        );
        line += 1;
    }
    if outlier {
        text.push_str("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run  Updater  rundll32.exe C:\\Users\\Public\\msupd.dll\n");
    }
    text
}

/// Machine `machine`'s session of a fleet sweep created at about `now` (one of five
/// collection scripts in turn), and its result's payload around `output`.
pub fn sweep_result(
    machine: usize,
    now: chrono::DateTime<chrono::Utc>,
    output: &str,
) -> (MachineAction, String) {
    let script = format!("Collect-{}.ps1", machine % 5);
    let action = action(
        machine,
        &format!("wks-{machine:05}.corp.contoso.com"),
        &[script.as_str()],
        now - chrono::Duration::seconds(i64::try_from(machine).unwrap_or(0)),
    );
    let payload = serde_json::json!({
        "script_name": script,
        "exit_code": i64::from(machine.is_multiple_of(97)),
        "script_output": output,
        "script_errors": "",
    })
    .to_string();
    (action, payload)
}
