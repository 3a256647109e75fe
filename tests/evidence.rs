//! Evidence handling through the real binary against a simulated tenant: the custody log
//! records fetches, saves, runs and cancels, verifies, and names an edited or deleted line;
//! saved files are private and their hashes printed; no secret reaches the log.

use std::process::Output;

use lrx::sim::{SimConfig, SimHandle};
use serde_json::Value;

struct Tenant {
    sim: SimHandle,
    home: tempfile::TempDir,
}

impl Tenant {
    async fn start() -> Self {
        lrx::install_crypto_provider();
        Self {
            sim: lrx::sim::start(SimConfig::default()).await.expect("sim"),
            home: tempfile::tempdir().expect("tmp"),
        }
    }

    fn lrx(&self, args: &[&str]) -> Output {
        let e = &self.sim.endpoints;
        tokio::task::block_in_place(|| {
            lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), self.home.path())
                .args(args)
                .args(e.cli_args())
                .env("LRX_CLIENT_SECRET", &e.client_secret)
                .output()
                .expect("lrx runs")
        })
    }

    fn log_file(&self) -> std::path::PathBuf {
        let dir = self.home.path().join("data/lrx/custody");
        std::fs::read_dir(&dir)
            .expect("a custody directory")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .expect("a custody log")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custody_log_records_what_was_done_verifies_and_finds_tampering() {
    let tenant = Tenant::start().await;
    let listed = tenant.lrx(&["actions", "--status", "Succeeded", "--json", "--limit", "1"]);
    let id = json_lines(&listed)[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let save_dir = tenant.home.path().join("evidence");
    let saved = tenant.lrx(&["result", &id, "--save", save_dir.to_str().expect("utf-8")]);
    assert!(saved.status.success(), "{}", stderr(&saved));
    // Every file saved is private, and said with its SHA-256.
    for entry in std::fs::read_dir(&save_dir).expect("saved") {
        let path = entry.expect("entry").path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let sha = lrx::fetch::cache::sha256_file(&path).expect("hash");
        assert!(
            stderr(&saved).contains(&format!("{} (", path.display()))
                && stderr(&saved).contains(&sha),
            "{}",
            stderr(&saved)
        );
    }

    // A run and a cancel are recorded too.
    let machines = tenant.lrx(&["actions", "--status", "Pending", "--json", "--limit", "1"]);
    let pending = json_lines(&machines)[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let cancelled = tenant.lrx(&["cancel", &pending, "--comment", "evidence test", "--yes"]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let run = tenant.lrx(&[
        "run",
        "--machine",
        "srv-dc01",
        "--script",
        "Get-Services.ps1",
        "--comment",
        "custody",
        "--yes",
        "--json",
    ]);
    let run_line = json_lines(&run);
    let run_id = run_line[0]["action_id"].as_str().map(str::to_string);

    let log = tenant.lrx(&["log", "--json"]);
    assert!(log.status.success(), "{}", stderr(&log));
    let entries = json_lines(&log);
    let fetches = entries.iter().filter(|e| e["event"] == "fetch").count();
    let saves = entries.iter().filter(|e| e["event"] == "save").count();
    assert!(fetches >= 1 && saves == fetches, "{entries:?}");
    assert!(entries.iter().all(|e| {
        e["analyst"].is_string() && e["lrx_version"].is_string() && e["time"].is_string()
    }));
    let fetch = entries
        .iter()
        .find(|e| e["event"] == "fetch")
        .expect("fetch");
    assert_eq!(fetch["action_id"], id.as_str());
    assert_eq!(fetch["source"], "live");
    assert!(
        fetch["machine"]
            .as_str()
            .is_some_and(|m| m.contains(".corp.contoso.com")),
        "the machine is named: {fetch}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["event"] == "cancel" && e["action_id"] == pending.as_str())
    );
    if let Some(run_id) = run_id {
        assert!(
            entries
                .iter()
                .any(|e| e["event"] == "run" && e["action_id"] == run_id.as_str())
        );
    }
    let table = tenant.lrx(&["log"]);
    assert!(
        stdout(&table)
            .lines()
            .next()
            .is_some_and(|l| l.contains("EVENT"))
    );

    let verify = tenant.lrx(&["log", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stdout(&verify).contains("the chain holds; head "));

    // Nothing secret in the log: not the client secret, no bearer token, no SAS signature.
    let path = tenant.log_file();
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(!text.contains(&tenant.sim.endpoints.client_secret));
    assert!(!text.contains("eyJ") && !text.contains("sig=") && !text.contains("se="));

    // An edited line breaks the chain at the line after it; a deleted one where it was.
    let lines: Vec<&str> = text.lines().collect();
    let edited = text.replacen(&id, &"0".repeat(id.len()), 1);
    std::fs::write(&path, &edited).expect("edit");
    let broken = tenant.lrx(&["log", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stderr(&broken).contains("the chain breaks at line 2"),
        "{}",
        stderr(&broken)
    );
    let deleted: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&path, deleted).expect("delete");
    let broken = tenant.lrx(&["log", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(
        stderr(&broken).contains("the chain breaks at line 3"),
        "{}",
        stderr(&broken)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_has_timesketchs_columns_on_every_row() {
    let tenant = Tenant::start().await;
    let output = tenant.lrx(&[
        "review",
        "--since",
        "7d",
        "--script",
        "Get-Autoruns.ps1",
        "--timeline",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = json_lines(&output);
    assert!(events.len() > 50, "{} events", events.len());
    for event in &events {
        assert!(
            event["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{event}"
        );
        let datetime = event["datetime"].as_str().expect("datetime");
        assert!(
            chrono::DateTime::parse_from_rfc3339(datetime).is_ok(),
            "ISO 8601: {datetime}"
        );
        assert!(event["timestamp_desc"].is_string());
        for column in ["machine", "script", "action_id", "index", "command_type"] {
            assert!(!event[column].is_null(), "{column} in {event}");
        }
    }
    let times: Vec<&str> = events
        .iter()
        .filter_map(|e| e["datetime"].as_str())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let ended: Vec<&Value> = events
        .iter()
        .filter(|e| e["timestamp_desc"] == lrx::evidence::timeline::ENDED)
        .collect();
    assert!(
        ended
            .iter()
            .filter(|e| e["command_status"] == "Completed")
            .all(|e| e["sha256"].as_str().is_some_and(|s| s.len() == 64)),
        "every completed run carries its payload's SHA-256"
    );
    assert!(ended.iter().any(|e| e["exit_code"] == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_bundle_verifies_and_any_change_is_named() {
    let tenant = Tenant::start().await;
    let dir = tenant.home.path().join("case-4711");
    let dir_text = dir.to_str().expect("utf-8").to_string();
    let export = tenant.lrx(&[
        "case",
        "export",
        &dir_text,
        "--case",
        "4711",
        "--since",
        "7d",
        "--script",
        "Get-Autoruns.ps1",
    ]);
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(
        stdout(&export).contains("exported case 4711"),
        "{}",
        stdout(&export)
    );
    let verify = |tenant: &Tenant| tenant.lrx(&["case", "verify", &dir_text]);
    let ok = verify(&tenant);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["case"], "4711");
    assert_eq!(manifest["format"], "lrx-case-bundle/1");
    assert!(manifest["tenant_id"].is_string() && manifest["lrx_version"].is_string());
    let results = manifest["results"].as_array().expect("results");
    let with_payload: Vec<&Value> = results.iter().filter(|r| !r["payload"].is_null()).collect();
    assert!(with_payload.len() > 20);
    for result in &with_payload {
        for field in [
            "action_id",
            "index",
            "machine",
            "target",
            "command_status",
            "started",
            "ended",
            "source",
        ] {
            assert!(!result[field].is_null(), "{field} in {result}");
        }
        let payload = &result["payload"];
        let path = dir.join(payload["path"].as_str().expect("path"));
        assert_eq!(
            lrx::fetch::cache::sha256_file(&path).expect("hash"),
            payload["sha256"].as_str().expect("sha")
        );
    }
    assert!(
        results
            .iter()
            .filter(|r| r["payload"].is_null())
            .all(|r| r["missing"].is_string()),
        "every result without a payload says why"
    );
    for name in [
        "review.csv",
        "review.jsonl",
        "timeline.jsonl",
        "custody.jsonl",
        "SHA256SUMS",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    assert!(
        std::fs::read_to_string(dir.join("custody.jsonl"))
            .expect("custody")
            .contains("\"event\":\"fetch\""),
        "the custody log's fetches of these results are in the bundle"
    );
    // No secret anywhere in the bundle.
    for file in walk(&dir) {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&tenant.sim.endpoints.client_secret)
                && !text.contains("sig=")
                && !text.contains("Bearer "),
            "{}",
            file.display()
        );
    }
    // The export is in the custody log with the manifest's hash.
    let log = json_lines(&tenant.lrx(&["log", "--json"]));
    let manifest_sha = lrx::fetch::cache::sha256_file(&dir.join("manifest.json")).expect("hash");
    assert!(
        log.iter()
            .any(|e| e["event"] == "export" && e["manifest_sha256"] == manifest_sha.as_str())
    );

    // One byte of a payload flipped: named.
    let payload = dir.join(with_payload[0]["payload"]["path"].as_str().expect("path"));
    let original = std::fs::read(&payload).expect("payload");
    let mut flipped = original.clone();
    flipped[10] ^= 0x01;
    std::fs::write(&payload, &flipped).expect("flip");
    let bad = verify(&tenant);
    assert_eq!(bad.status.code(), Some(1));
    let name = with_payload[0]["payload"]["path"].as_str().expect("path");
    assert!(stderr(&bad).contains(name), "{}", stderr(&bad));
    std::fs::write(&payload, &original).expect("restore");
    assert!(verify(&tenant).status.success());

    // The manifest edited: named.
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    std::fs::write(&manifest_path, text.replacen("\"4711\"", "\"4712\"", 1)).expect("edit");
    let bad = verify(&tenant);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("manifest.json"), "{}", stderr(&bad));
    std::fs::write(&manifest_path, text).expect("restore");

    // A file slipped in: named.
    std::fs::write(dir.join("payloads/extra.txt"), "planted").expect("plant");
    let bad = verify(&tenant);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("payloads/extra.txt"),
        "{}",
        stderr(&bad)
    );

    // A bundle never goes into a directory that has something in it.
    let calls = tenant.sim.api_calls();
    let again = tenant.lrx(&["case", "export", &dir_text, "--since", "7d"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        tenant.sim.api_calls(),
        calls,
        "refused before anything is fetched"
    );
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_finds_the_machines_that_changed_between_two_sweeps() {
    let tenant = Tenant::start().await;
    let listed = json_lines(&tenant.lrx(&["actions", "--json", "--limit", "0"]));
    let resweep: Vec<&str> = listed
        .iter()
        .filter(|a| a["requestorComment"] == lrx::sim::dataset::RESWEEP_COMMENT)
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert!(resweep.len() > 20, "the simulator sweeps twice");
    let output = tenant.lrx(&[
        "review",
        "--since",
        "7d",
        "--script",
        "Get-Services.ps1",
        "--baseline",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<Value> = json_lines(&output)
        .into_iter()
        .filter(|l| {
            l["type"] == "row" && resweep.contains(&l["action_id"].as_str().unwrap_or_default())
        })
        .filter(|l| l["status"] == "Completed")
        .collect();
    let changed: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["vs_previous"]
                .as_str()
                .is_some_and(|v| v.starts_with("changed"))
        })
        .collect();
    assert_eq!(
        changed.len(),
        lrx::sim::dataset::RESWEEP_CHANGED,
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .all(|r| r["vs_previous"] == "changed (+1 −0 lines)")
    );
    assert!(changed.iter().all(|r| r["baseline_action_id"].is_string()));
    assert!(
        rows.iter().filter(|r| r["vs_previous"] == "same").count()
            >= rows.len() - changed.len() - 2,
        "the other machines are as before: {rows:?}"
    );
    let table = tenant.lrx(&[
        "review",
        "--since",
        "7d",
        "--script",
        "Get-Services.ps1",
        "--baseline",
    ]);
    assert!(stdout(&table).contains("VS PREVIOUS RUN") && stdout(&table).contains("first run"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_a_bundle_holds_what_the_cache_kept_and_lists_the_rest() {
    let tenant = Tenant::start().await;
    let listed =
        json_lines(&tenant.lrx(&["actions", "--status", "Succeeded", "--json", "--limit", "2"]));
    let ids: Vec<&str> = listed.iter().filter_map(|a| a["id"].as_str()).collect();
    // One action's results fetched (and cached) while online; the other never.
    let fetched = tenant.lrx(&["result", ids[0]]);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let calls = tenant.sim.api_calls();
    let dir = tenant.home.path().join("offline-case");
    let offline = tokio::task::block_in_place(|| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), tenant.home.path())
            .args([
                "case",
                "export",
                dir.to_str().expect("utf-8"),
                ids[0],
                ids[1],
                "--offline",
            ])
            .args(tenant.sim.endpoints.cli_args())
            .output()
            .expect("lrx runs")
    });
    assert!(offline.status.success(), "{}", stderr(&offline));
    assert_eq!(tenant.sim.api_calls(), calls, "offline: no call at all");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let results = manifest["results"].as_array().expect("results");
    let of = |id: &str| {
        results
            .iter()
            .filter(|r| r["action_id"] == id)
            .collect::<Vec<_>>()
    };
    assert!(
        of(ids[0])
            .iter()
            .any(|r| !r["payload"].is_null() && r["source"] == "cache")
    );
    assert!(
        of(ids[1])
            .iter()
            .filter(|r| r["payload"].is_null())
            .any(|r| r["missing"]
                .as_str()
                .is_some_and(|m| m.contains("not in the cache"))),
        "{results:?}"
    );
    assert!(
        stderr(&offline).contains("not in the bundle"),
        "{}",
        stderr(&offline)
    );
    assert!(
        tenant
            .lrx(&["case", "verify", dir.to_str().expect("utf-8")])
            .status
            .success()
    );
}
