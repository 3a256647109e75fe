//! Review benchmark (run: `cargo bench --bench review`): grouping and clustering 5,000
//! cached results with realistic 50 KB outputs — digesting each output once (masking,
//! normalising, hashing) and building the groups.

use std::time::Instant;

use chrono::Utc;
use lrx::api::models::MachineAction;
use lrx::review::{self, Digest, Normaliser};
use lrx::transcript::decode::{ExitCode, ScriptResult};

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
            script_output: lrx::fixtures::sweep_output(i, i % 250 == 0) + "\0\0\0",
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
