//! `lrx run`, `lrx cancel` and `lrx library`: the real binary against a simulated tenant that
//! outlives each process, so what a run created can be counted over the API afterwards.

use std::process::Output;
use std::time::{Duration, Instant};

use lrx::api::limits::Api;
use lrx::sim::{Faults, SimConfig, SimHandle};
use serde_json::Value;

struct Tenant {
    sim: SimHandle,
    home: tempfile::TempDir,
    token: String,
}

impl Tenant {
    async fn start(config: SimConfig) -> Self {
        lrx::install_crypto_provider();
        let sim = lrx::sim::start(config).await.expect("sim");
        let token = sim.endpoints.client_token().await.expect("token");
        Self {
            sim,
            home: tempfile::tempdir().expect("tmp"),
            token,
        }
    }

    /// Runs lrx against this tenant; the simulator serves on the runtime's other worker.
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

    /// `lrx run` of one script on one machine, with `extra` flags.
    fn run_on(&self, machine: &str, script: &str, comment: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "run",
            "--machine",
            machine,
            "--script",
            script,
            "--comment",
            comment,
        ];
        args.extend(extra);
        self.lrx(&args)
    }

    /// A GET of the API itself, to see what the tenant holds.
    async fn api(&self, path_and_query: &str) -> Value {
        let url = format!("{}/api/{path_and_query}", self.sim.endpoints.base_url);
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API answers");
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.expect("JSON")
    }

    /// Machines that are online and have no session now, by DNS name.
    async fn idle_machines(&self, windows_only: bool) -> Vec<String> {
        let machines = self.api("machines?$filter=healthStatus+eq+'Active'").await;
        let active = self
            .api("machineactions?$filter=status+in+('Pending','InProgress')+and+type+eq+'LiveResponse'")
            .await;
        let busy: Vec<&str> = active["value"]
            .as_array()
            .expect("value")
            .iter()
            .filter_map(|a| a["machineId"].as_str())
            .collect();
        machines["value"]
            .as_array()
            .expect("value")
            .iter()
            .filter(|m| !busy.contains(&m["id"].as_str().unwrap_or_default()))
            .filter(|m| {
                !windows_only
                    || m["osPlatform"]
                        .as_str()
                        .is_some_and(|os| os.starts_with("Windows"))
            })
            .filter_map(|m| m["computerDnsName"].as_str().map(str::to_string))
            .collect()
    }

    /// The actions of `machine` whose comment contains `text`.
    async fn actions_on(&self, machine: &str, text: &str) -> Vec<Value> {
        let all = self
            .api("machineactions?$filter=type+eq+'LiveResponse'")
            .await;
        all["value"]
            .as_array()
            .expect("value")
            .iter()
            .filter(|a| a["computerDnsName"] == machine)
            .filter(|a| {
                a["requestorComment"]
                    .as_str()
                    .is_some_and(|c| c.contains(text))
            })
            .cloned()
            .collect()
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

fn run_args<'a>(machines: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    for machine in machines {
        args.extend(["--machine", machine.as_str()]);
    }
    args.extend(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_and_three_machines_run_and_wait_prints_each_exit_code_and_output() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let idle = tenant.idle_machines(true).await;
    let one = &idle[..1];
    let output = tenant.lrx(&run_args(
        one,
        &[
            "--script",
            "Get-Services.ps1",
            "--comment",
            "IR-1 one",
            "--yes",
            "--wait",
            "--json",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    let started = lines
        .iter()
        .find(|l| l["event"] == "started")
        .expect("started");
    assert_eq!(started["outcome"], "created");
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "ended" && l["status"] == "Succeeded")
    );
    let result = lines.iter().find(|l| l["index"] == 0).expect("a result");
    assert_eq!(result["exit_code"], 0);
    assert!(
        result["script_output"]
            .as_str()
            .is_some_and(|o| o.contains("Running"))
    );
    let comment = tenant.actions_on(&one[0], "IR-1 one").await;
    assert_eq!(comment.len(), 1);
    let text = comment[0]["requestorComment"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("lrx: ") && text.contains(" · run "),
        "{text}"
    );

    let three = &idle[1..4];
    let output = tenant.lrx(&run_args(
        three,
        &[
            "--script",
            "Get-Services.ps1",
            "--comment",
            "IR-1 three",
            "--yes",
            "--wait",
        ],
    ));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for machine in three {
        assert!(text.contains(&format!("{machine}: created")), "{text}");
        assert!(
            text.contains(&format!(
                "== {machine} · index 0 · Get-Services.ps1 · exit 0 =="
            )),
            "{text}"
        );
    }
    assert!(stderr(&output).contains("3 machines · runliveresponse 3 of 10/min"));
    assert_eq!(tenant.sim.throttled_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_machines_start_within_the_limit_of_ten_a_minute_without_a_429() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let idle = tenant.idle_machines(true).await;
    let fifteen = &idle[..15];
    let began = Instant::now();
    let output = tenant.lrx(&run_args(
        fifteen,
        &[
            "--script",
            "Get-DnsCache.ps1",
            "--comment",
            "IR-15",
            "--yes",
            "--json",
        ],
    ));
    let took = began.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(
        lines.iter().filter(|l| l["outcome"] == "created").count(),
        15
    );
    assert_eq!(tenant.sim.calls_to(Api::RunLiveResponse), 15);
    assert_eq!(tenant.sim.throttled_calls(), 0, "no 429 at all");
    assert!(
        took >= Duration::from_secs(55),
        "the eleventh waited for the window: {took:?}"
    );
    assert!(stderr(&output).contains("about 2 min to start all"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_after_the_action_was_created_leaves_exactly_one_action() {
    let tenant = Tenant::start(SimConfig {
        faults: Faults {
            fail_after_create: Some(1),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let machine = tenant.idle_machines(true).await.remove(0);
    let output = tenant.run_on(&machine, "Get-Services.ps1", "IR-503", &["--yes", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(
        lines[0]["outcome"], "created_after_unclear_answer",
        "{lines:?}"
    );
    assert_eq!(tenant.sim.calls_to(Api::RunLiveResponse), 1, "asked once");
    let actions = tenant.actions_on(&machine, "IR-503").await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(lines[0]["action_id"], actions[0]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_with_a_session_is_named_with_that_session_and_not_posted_to() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let active = tenant
        .api("machineactions?$filter=status+eq+'InProgress'+and+type+eq+'LiveResponse'")
        .await;
    let busy = &active["value"][0];
    let machine = busy["computerDnsName"].as_str().expect("name");
    let output = tenant.run_on(machine, "Get-Services.ps1", "IR-busy", &["--yes"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    let id = busy["id"].as_str().expect("id");
    assert!(
        text.contains("already has an active session")
            && text.contains(id)
            && text.contains(&format!("lrx cancel {id}")),
        "{text}"
    );
    assert_eq!(tenant.sim.calls_to(Api::RunLiveResponse), 0);

    // Between lrx's look and its POST, another analyst may start one: the service's 400.
    let client = lrx::api::MdeClient::new(
        lrx::api::OutboundPolicy::for_api(&tenant.sim.endpoints.base_url).expect("policy"),
        lrx::api::auth::Authenticator::new(Box::new(lrx::api::auth::StaticToken(
            lrx::api::auth::Secret::new(&tenant.token),
        ))),
        std::sync::Arc::new(lrx::api::client::Unlimited),
    )
    .expect("client");
    let plan = lrx::api::act::RunPlan::new(
        vec![lrx::api::act::RunCommand::RunScript {
            script: "Get-Services.ps1".into(),
            args: None,
        }],
        "IR-race".into(),
    )
    .expect("plan");
    let outcome = client
        .run_live_response(busy["machineId"].as_str().expect("id"), &plan)
        .await
        .expect("an answer");
    let lrx::api::act::RunOutcome::Busy { active, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(active.map(|a| a.id), Some(id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_pending_session_and_refuses_a_final_one() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let offline = tenant
        .api("machines?$filter=healthStatus+eq+'Inactive'")
        .await;
    let machine = offline["value"][0]["computerDnsName"]
        .as_str()
        .expect("an inactive machine")
        .to_string();
    let output = tenant.run_on(
        &machine,
        "Get-Services.ps1",
        "IR-queued",
        &["--yes", "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("1 machine inactive: queued up to 2 h"));
    let started = &json_lines(&output)[0];
    assert_eq!(started["status"], "Pending");
    let id = started["action_id"].as_str().expect("id");

    let refused = tenant.lrx(&["cancel", id, "--comment", "wrong machine"]);
    assert_eq!(refused.status.code(), Some(2), "no --yes, no terminal");
    let cancelled = tenant.lrx(&[
        "cancel",
        id,
        "--comment",
        "wrong machine",
        "--yes",
        "--json",
    ]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let action = &json_lines(&cancelled)[0];
    assert_eq!(action["status"], "Cancelled");
    assert!(
        action["cancellationComment"]
            .as_str()
            .is_some_and(|c| c.ends_with("wrong machine")),
        "{action}"
    );
    let again = tenant.lrx(&["cancel", id, "--comment", "again", "--yes"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already ended"),
        "{}",
        stderr(&again)
    );
    assert_eq!(tenant.sim.calls_to(Api::CancelAction), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_posted_for_an_unknown_script_or_machine_without_yes_or_read_only() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let machine = tenant.idle_machines(true).await.remove(0);
    let unknown_script = tenant.run_on(&machine, "Get-Nothing.ps1", "x", &["--yes"]);
    assert_eq!(unknown_script.status.code(), Some(2));
    assert!(
        stderr(&unknown_script).contains("'Get-Nothing.ps1' is not in the live response library")
    );
    let unknown_machine = tenant.run_on("wks-fin", "Get-Services.ps1", "x", &["--yes"]);
    assert_eq!(unknown_machine.status.code(), Some(2));
    assert!(
        stderr(&unknown_machine)
            .contains("no machine is named 'wks-fin' (names that start so: wks-fin-"),
        "{}",
        stderr(&unknown_machine)
    );
    let calls_before = tenant.sim.api_calls();
    let no_terminal = tenant.run_on(&machine, "Get-Services.ps1", "x", &[]);
    assert_eq!(no_terminal.status.code(), Some(2));
    assert!(stderr(&no_terminal).contains("without --yes: stdin is not a terminal"));
    let flag = tenant.lrx(&[
        "run",
        "--read-only",
        "--machine",
        &machine,
        "--script",
        "Get-Services.ps1",
        "--comment",
        "x",
        "--yes",
    ]);
    assert_eq!(flag.status.code(), Some(2));
    let config = tenant.home.path().join("config/lrx/config.toml");
    std::fs::create_dir_all(config.parent().expect("dir")).expect("dir");
    std::fs::write(&config, "[profiles.readonly]\nread_only = true\n").expect("config");
    let profile = tenant.lrx(&[
        "run",
        "--profile",
        "readonly",
        "--machine",
        &machine,
        "--script",
        "Get-Services.ps1",
        "--comment",
        "x",
        "--yes",
    ]);
    assert_eq!(profile.status.code(), Some(2), "{}", stderr(&profile));
    assert!(
        stderr(&profile).contains("this profile is read-only"),
        "{}",
        stderr(&profile)
    );
    let cancel = tenant.lrx(&[
        "cancel",
        "--profile",
        "readonly",
        "00000000-0000-0000-0000-000000000000",
        "--comment",
        "x",
        "--yes",
    ]);
    assert_eq!(cancel.status.code(), Some(2));
    assert_eq!(
        tenant.sim.api_calls(),
        calls_before,
        "refusals make no call"
    );
    assert_eq!(tenant.sim.calls_to(Api::RunLiveResponse), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_named() {
    let tenant = Tenant::start(SimConfig {
        roles: vec!["Machine.Read.All".into(), "Machine.ReadWrite.All".into()],
        ..SimConfig::default()
    })
    .await;
    let machine = tenant.idle_machines(true).await.remove(0);
    let output = tenant.run_on(&machine, "Get-Services.ps1", "x", &["--yes"]);
    assert_eq!(output.status.code(), Some(1));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(said.contains("the library could not be read"), "{said}");
    assert!(
        said.contains("HTTP 403") && said.contains("Machine.LiveResponse"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_group_without_automation_is_named_not_a_permission() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let output = tenant.run_on("mac-exec-02", "collect_triage.sh", "x", &["--yes"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("DisallowedOperation")
            && text.contains("device group needs an automation remediation level")
            && !text.contains("needs Machine.LiveResponse"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_lists_files_and_shows_hostile_descriptions_inert() {
    let tenant = Tenant::start(SimConfig::default()).await;
    let table = tenant.lrx(&["library"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.lines().next().is_some_and(|l| l.starts_with("NAME")));
    assert!(text.contains("Get-Autoruns.ps1") && text.contains("Invoke-Cleanup.ps1"));
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    let json = tenant.lrx(&["library", "--json"]);
    let files = json_lines(&json);
    assert!(files.len() > 10);
    assert!(files.iter().all(|f| f["fileName"].is_string()));
    assert!(!stdout(&json).contains('\u{1b}'));
}
