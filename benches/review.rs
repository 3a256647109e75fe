//! Review benchmark (run: `cargo bench --bench review`): grouping and clustering 5,000
//! cached results with realistic 50 KB outputs — digesting each output once (masking,
//! normalising, hashing) and building the groups.

use std::time::Instant;

use chrono::Utc;
use lrx::api::models::MachineAction;
use lrx::review::{self, Digest, Normaliser};
use lrx::transcript::decode::{ExitCode, ScriptResult};

fn output(machine: usize, outlier: bool) -> String {
    let mut text = format!(
        "Transcript started, output file is C:\\ProgramData\\x\\PSScript_Transcript_{{{machine:08X}-0000-0000-0000-000000000000}}.txt\n"
    );
    let mut line = 0;
    while text.len() < 50 * 1024 {
        text.push_str(&format!("2026-11-{:02}T12:{:02}:{:02}.123Z  4624  An account was successfully logged on. Account Name: svc_backup{} Logon Type: 3\n", 1 + machine % 28, line % 60, machine % 60, line % 7));
        line += 1;
    }
    if outlier {
        text.push_str("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run  Updater  rundll32.exe C:\\Users\\Public\\msupd.dll\n");
    }
    text.push_str("\0\0\0");
    text
}

fn main() {
    let now = Utc::now();
    let actions: Vec<MachineAction> = (0..5000)
        .map(|i| {
            let script = format!("Collect-{}.ps1", i % 5);
            lrx::fixtures::action(
                i,
                &format!("wks-{i:05}.corp.contoso.com"),
                &[script.as_str()],
                now,
            )
        })
        .collect();
    let results: Vec<ScriptResult> = (0..5000)
        .map(|i| ScriptResult {
            script_name: Some("Collect.ps1".into()),
            exit_code: ExitCode::Code(i64::from(i % 97 == 0)),
            script_output: output(i, i % 250 == 0),
            script_errors: String::new(),
            problems: Vec::new(),
            nul_padding_trimmed: 3,
            invalid_utf8: false,
        })
        .collect();
    let megabytes = results.iter().map(|r| r.script_output.len()).sum::<usize>() / (1024 * 1024);
    let normaliser = Normaliser::new(&[]).expect("masks");
    let started = Instant::now();
    let digests: Vec<Digest> = results
        .iter()
        .map(|r| Digest::of_script(r, &normaliser))
        .collect();
    let digested = started.elapsed();
    let groups = review::build(&actions, |id, _| {
        let i = usize::from_str_radix(&id[..8], 16).ok()?;
        digests.get(i)
    });
    let total = started.elapsed();
    let clusters: usize = groups.iter().map(|g| g.clusters.len()).sum();
    println!(
        "review of 5,000 results ({megabytes} MB of output): digests {:.0} ms, grouping and clustering {:.1} ms, total {:.0} ms; {} groups, {clusters} clusters",
        digested.as_secs_f64() * 1000.0,
        total.saturating_sub(digested).as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0,
        groups.len()
    );
}
