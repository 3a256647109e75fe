//! `lrx review` against the simulated tenant's fleet sweeps: the seeded outliers and
//! exit-code counts come out exactly; JSON, CSV and the exit status behave.

use std::process::Output;

use serde_json::Value;

struct Home(tempfile::TempDir);

impl Home {
    fn lrx(&self, args: &[&str]) -> Output {
        let home = self.0.path();
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home)
            .args(args)
            .output()
            .expect("lrx runs")
    }
}

fn lines(output: &Output) -> Vec<Value> {
    assert!(
        output.status.code() == Some(0) || output.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The action ids of one seeded fleet sweep, found by its comment.
fn sweep(home: &Home, comment: &str) -> Vec<String> {
    let actions = lines(&home.lrx(&["actions", "--demo", "--json", "--limit", "1000"]));
    actions
        .iter()
        .filter(|a| a["requestorComment"] == comment)
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect()
}

fn review(home: &Home, ids: &[String], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["review", "--demo"];
    args.extend(ids.iter().map(String::as_str));
    args.extend_from_slice(extra);
    home.lrx(&args)
}

#[test]
fn fleet_sweeps_show_exactly_the_seeded_outliers_and_outcomes() {
    let home = Home(tempfile::tempdir().expect("tmp"));
    for (comment, group, machines, majority, outliers, failed, nonzero) in [
        (
            "INC-20467 fleet sweep: autoruns on Finance OU after the msupd.dll hit",
            "Get-Autoruns.ps1 -Csv",
            40,
            35,
            3,
            1,
            1,
        ),
        (
            "INC-20467 fleet sweep: established connections, looking for 185.220.101.47",
            "Get-NetConnections.ps1 -State Established",
            34,
            31,
            2,
            1,
            0,
        ),
        (
            "INC-20471 sweep: services after WinSysHelper alert",
            "Get-Services.ps1",
            31,
            30,
            1,
            0,
            0,
        ),
    ] {
        let ids = sweep(&home, comment);
        assert_eq!(ids.len(), machines, "{comment}");
        let output = lines(&review(&home, &ids, &["--json"]));
        let summary = output
            .iter()
            .find(|l| l["type"] == "summary")
            .expect("summary");
        assert_eq!(summary["group"], group);
        assert_eq!(summary["machines"], machines);
        let clusters = summary["clusters"].as_array().expect("clusters");
        let sizes: Vec<u64> = clusters
            .iter()
            .map(|c| c["size"].as_u64().expect("size"))
            .collect();
        // A run that exited non-zero with errors ("Access denied") is not like the clean
        // ones even when its output is: it is a cluster of its own.
        let mut expected = vec![majority, outliers];
        expected.extend(std::iter::repeat_n(
            1,
            usize::try_from(nonzero).unwrap_or(0),
        ));
        assert_eq!(sizes, expected, "{group}: {summary}");
        assert_eq!(
            summary["outcomes"]["command failed"].as_u64().unwrap_or(0),
            failed,
            "{summary}"
        );
        assert_eq!(
            summary["outcomes"]["exit 1"].as_u64().unwrap_or(0),
            nonzero,
            "{summary}"
        );
        let rows: Vec<&Value> = output.iter().filter(|l| l["type"] == "row").collect();
        assert_eq!(rows.len(), machines);
        let outlier_rows = rows.iter().filter(|r| r["cluster"] == "B").count();
        assert_eq!(outlier_rows as u64, outliers);
    }
}

#[test]
fn the_outlier_differs_in_the_telling_line() {
    let home = Home(tempfile::tempdir().expect("tmp"));
    let ids = sweep(
        &home,
        "INC-20467 fleet sweep: autoruns on Finance OU after the msupd.dll hit",
    );
    let output = lines(&review(&home, &ids, &["--json"]));
    let summary = output
        .iter()
        .find(|l| l["type"] == "summary")
        .expect("summary");
    let outlier = &summary["clusters"][1]["representative"];
    let result = lines(&home.lrx(&[
        "result",
        "--demo",
        outlier["action_id"].as_str().expect("id"),
        "--json",
    ]));
    assert!(
        result[0]["script_output"]
            .as_str()
            .expect("output")
            .contains("onedriveupdater.exe")
    );
    let majority = &summary["clusters"][0]["representative"];
    let result = lines(&home.lrx(&[
        "result",
        "--demo",
        majority["action_id"].as_str().expect("id"),
        "--json",
    ]));
    assert!(
        !result[0]["script_output"]
            .as_str()
            .expect("output")
            .contains("onedriveupdater.exe")
    );
}

#[test]
fn failed_only_csv_and_the_exit_status() {
    let home = Home(tempfile::tempdir().expect("tmp"));
    let ids = sweep(
        &home,
        "INC-20467 fleet sweep: autoruns on Finance OU after the msupd.dll hit",
    );
    let plain = review(&home, &ids, &[]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "0 whatever the scripts returned"
    );
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("40 machines · 3 distinct outputs: 35 × A · 3 × B · 1 × C"),
        "{text}"
    );
    let strict = review(&home, &ids, &["--fail-on-nonzero"]);
    assert_eq!(strict.status.code(), Some(3));
    let failed = lines(&review(&home, &ids, &["--json", "--failed-only"]));
    let rows: Vec<&Value> = failed.iter().filter(|l| l["type"] == "row").collect();
    assert_eq!(rows.len(), 2);
    let csv = review(&home, &ids, &["--csv"]);
    let text = String::from_utf8_lossy(&csv.stdout);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "group,machine,action_id,index,status,outcome,exit_code,duration_seconds,cluster,summary"
        )
    );
    assert_eq!(lines.count(), 40);
    for cell in text.split(',') {
        let cell = cell.trim_start_matches('"');
        assert!(!cell.starts_with(['=', '+', '@']), "unguarded cell {cell}");
    }
}

#[test]
fn files_have_no_invented_exit_code_and_hostile_output_is_marked() {
    let home = Home(tempfile::tempdir().expect("home"));
    // Two narrow reviews (a whole week of the demo would take minutes at 100 calls/min).
    let mut rows: Vec<Value> = Vec::new();
    for script in ["msupd.dll", "Get-LoggedOnUsers.ps1 -All"] {
        rows.extend(
            lines(&home.lrx(&["review", "--demo", "--script", script, "--json"]))
                .into_iter()
                .filter(|v| v["type"] == "row"),
        );
    }
    let files: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["group"]
                .as_str()
                .is_some_and(|g| g.starts_with("GetFile"))
                && r["status"] == "Completed"
        })
        .collect();
    assert!(!files.is_empty(), "the demo collects files");
    for file in &files {
        assert_eq!(file["outcome"], "collected", "{file}");
        assert!(file["exit_code"].is_null(), "{file}");
    }
    let marked: Vec<&Value> = rows
        .iter()
        .filter(|r| r["control_characters"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert!(
        !marked.is_empty(),
        "the demo's hostile runs carry escape sequences, and the review says so"
    );
    let table = home.lrx(&["review", "--demo", "--script", "Get-LoggedOnUsers.ps1 -All"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("carry control or invisible characters"),
        "{text}"
    );
}
