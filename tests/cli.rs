//! The real `lrx` binary end to end against `--demo` (the simulated tenant in-process).

use std::process::Output;

use serde_json::Value;

struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }

    fn lrx(&self, args: &[&str]) -> Output {
        let home = self.0.path();
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home)
            .args(args)
            .output()
            .expect("lrx runs")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn actions_lists_live_response_sessions_as_json_lines() {
    let home = Home::new();
    let actions = json_lines(&home.lrx(&["actions", "--demo", "--json", "--limit", "25"]));
    assert_eq!(actions.len(), 25);
    assert!(actions.iter().all(|a| a["type"] == "LiveResponse"));
    assert!(
        actions
            .iter()
            .all(|a| a["id"].is_string() && a["computerDnsName"].is_string())
    );
    let failed = json_lines(&home.lrx(&[
        "actions", "--demo", "--json", "--status", "Failed", "--since", "7d",
    ]));
    assert!(!failed.is_empty() && failed.iter().all(|a| a["status"] == "Failed"));
    let by_name = json_lines(&home.lrx(&["actions", "--demo", "--json", "--machine", "srv-dc01"]));
    assert!(by_name.iter().all(|a| {
        a["computerDnsName"]
            .as_str()
            .is_some_and(|n| n.contains("srv-dc01"))
    }));
}

#[test]
fn actions_table_has_a_header_and_one_row_per_action() {
    let home = Home::new();
    let output = home.lrx(&["actions", "--demo", "--limit", "5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("STATUS") && lines[0].contains("MACHINE"));
    assert_eq!(lines.len(), 6);
    assert!(
        stderr(&output).contains("5 shown · more match"),
        "a cut list says so: {}",
        stderr(&output)
    );
    let all = home.lrx(&["actions", "--demo", "--limit", "0", "--json"]);
    assert!(!stderr(&all).contains("more match"), "{}", stderr(&all));
    let lower = home.lrx(&["actions", "--demo", "--status", "failed", "--json"]);
    assert!(
        lower.status.success(),
        "statuses in any case: {}",
        stderr(&lower)
    );
}

fn find_action(home: &Home, predicate: impl Fn(&Value) -> bool) -> Value {
    json_lines(&home.lrx(&["actions", "--demo", "--json", "--limit", "1000"]))
        .into_iter()
        .find(|a| predicate(a))
        .expect("a matching action in the demo tenant")
}

fn has_completed(action: &Value, command_type: &str) -> bool {
    action["commands"].as_array().is_some_and(|commands| {
        commands
            .iter()
            .any(|c| c["command"]["type"] == command_type && c["commandStatus"] == "Completed")
    })
}

#[test]
fn result_json_carries_the_documented_fields() {
    let home = Home::new();
    let action = find_action(&home, |a| {
        a["status"] == "Succeeded" && has_completed(a, "RunScript")
    });
    let id = action["id"].as_str().expect("id");
    let results = json_lines(&home.lrx(&["result", "--demo", id, "--json"]));
    assert!(!results.is_empty());
    for result in &results {
        for field in [
            "action_id",
            "index",
            "machine",
            "command_type",
            "link_expires_at",
            "from_cache",
            "sha256",
        ] {
            assert!(result.get(field).is_some(), "{field} missing in {result}");
        }
        assert_eq!(result["action_id"], id);
        assert_eq!(result["from_cache"], false);
        if result["command_type"] == "RunScript" {
            assert!(result["script_name"].is_string());
            assert!(result["exit_code"].is_i64());
            assert!(result["script_output"].is_string() && result["script_errors"].is_string());
        } else {
            assert!(result["file_name"].is_string() && result["size"].is_u64());
        }
        assert_eq!(result["sha256"].as_str().map(str::len), Some(64));
    }
}

#[test]
fn hostile_output_is_shown_visibly_and_raw_gives_the_exact_bytes() {
    let home = Home::new();
    let action = find_action(&home, |a| {
        a["commands"][0]["command"]["params"]
            .as_array()
            .is_some_and(|p| p.iter().any(|kv| kv["value"] == "-All"))
            && a["status"] == "Succeeded"
    });
    let id = action["id"].as_str().expect("id");
    let text = home.lrx(&["result", "--demo", id, "--index", "0"]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        !text.stdout.contains(&0x1b),
        "no raw ESC reaches the terminal"
    );
    assert!(
        !text.stdout.iter().any(|b| *b < 0x20 && *b != b'\n'),
        "no C0 control besides newline"
    );
    let shown = stdout(&text);
    assert!(
        shown.contains("\u{241b}[2J"),
        "ESC shown as a control picture"
    );
    assert!(shown.contains("<U+202E>"), "bidi override named");
    assert!(stderr(&text).contains("placeholders"));
    let raw = home.lrx(&["result", "--demo", id, "--index", "0", "--raw"]);
    assert!(raw.stdout.contains(&0x1b), "--raw keeps the exact bytes");
}

#[test]
fn save_writes_payloads_and_decompressed_files() {
    let home = Home::new();
    let action = find_action(&home, |a| {
        a["status"] == "Succeeded" && has_completed(a, "GetFile") && has_completed(a, "RunScript")
    });
    let id = action["id"].as_str().expect("id");
    let dir = home.0.path().join("evidence");
    let results = json_lines(&home.lrx(&[
        "result",
        "--demo",
        id,
        "--json",
        "--save",
        dir.to_str().expect("utf8"),
    ]));
    for result in results {
        let saved = result["saved_to"].as_str().expect("saved_to");
        let bytes = std::fs::read(saved).expect("saved file");
        if result["command_type"] == "GetFile" {
            assert_eq!(bytes.len() as u64, result["size"].as_u64().expect("size"));
            // The hash an analyst pastes is the file's, as sha256sum of the saved file gives.
            use sha2::Digest as _;
            assert_eq!(
                result["sha256"].as_str(),
                Some(hex::encode(sha2::Sha256::digest(&bytes)).as_str())
            );
            assert_eq!(result["md5"].as_str().map(str::len), Some(32), "{result}");
            assert_eq!(result["sha1"].as_str().map(str::len), Some(40));
            assert_ne!(
                result["download_sha256"], result["sha256"],
                "the gzip's hash is the download's, labelled so"
            );
        } else {
            let payload: Value = serde_json::from_slice(&bytes).expect("the raw payload");
            assert_eq!(payload["script_output"], result["script_output"]);
        }
    }
}

#[test]
fn failures_say_what_happened_and_exit_with_meaningful_codes() {
    let home = Home::new();
    let missing = home.lrx(&["actions"]);
    assert_eq!(missing.status.code(), Some(2));
    let message = stderr(&missing);
    assert!(
        message.contains("LRX_CLIENT_SECRET") && message.contains("--demo"),
        "{message}"
    );

    let unknown = home.lrx(&["show", "--demo", "00000000-0000-0000-0000-000000000000"]);
    assert_eq!(unknown.status.code(), Some(1));
    let message = stderr(&unknown);
    assert!(
        message.contains("404")
            && message.contains("ResourceNotFound")
            && message.contains("correlation id"),
        "{message}"
    );

    let usage = home.lrx(&["actions", "--max-calls-per-minute", "0"]);
    assert_eq!(usage.status.code(), Some(2));

    let putfile = find_action(&home, |a| {
        a["commands"][0]["command"]["type"] == "PutFile"
            && a["commands"][0]["commandStatus"] == "Completed"
    });
    let no_result = home.lrx(&[
        "result",
        "--demo",
        putfile["id"].as_str().expect("id"),
        "--index",
        "0",
    ]);
    assert_eq!(no_result.status.code(), Some(1));
    assert!(stderr(&no_result).contains("PutFile commands have no result"));
}

#[test]
fn help_has_examples_and_exit_codes() {
    let home = Home::new();
    for command in [
        vec!["--help"],
        vec!["actions", "--help"],
        vec!["show", "--help"],
        vec!["result", "--help"],
        vec!["demo-server", "--help"],
    ] {
        let output = home.lrx(&command);
        assert!(output.status.success());
        assert!(stdout(&output).contains("Examples:"), "{command:?}");
    }
    let help = stdout(&home.lrx(&["--help"]));
    assert!(help.contains("Exit status:") && help.contains("3  lrx review --fail-on-nonzero"));
    assert_eq!(
        help.matches("LRX_PROFILE").count(),
        1,
        "the environment variable is named once: {help}"
    );
    assert!(
        !help.contains("LRX_PROFILE="),
        "no empty value shown: {help}"
    );
    let regional = home.lrx(&["actions", "--cloud", "gcc", "--region", "eu"]);
    assert_eq!(
        regional.status.code(),
        Some(2),
        "a region is never dropped silently"
    );
    assert!(
        stderr(&regional).contains("commercial cloud only"),
        "{}",
        stderr(&regional)
    );
}

#[test]
fn readme_lists_every_key_binding() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for binding in lrx::tui::input::BINDINGS {
        let row = format!("| `{}` |", binding.keys);
        let name = format!("`{}` |", binding.action.name());
        assert!(
            readme.contains(&row) && readme.contains(binding.description) && readme.contains(&name),
            "README lacks the binding {} ({})",
            binding.keys,
            binding.description
        );
    }
}

#[test]
fn config_file_is_found_checked_and_shown() {
    let home = Home::new();
    let path = stdout(&home.lrx(&["config", "path"]));
    assert!(path.trim().ends_with("lrx/config.toml"), "{path}");
    let config = std::path::PathBuf::from(path.trim());
    let checked = home.lrx(&["config", "check"]);
    assert!(checked.status.success() && stdout(&checked).contains("no file"));
    std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
    std::fs::write(&config, "[connection]\ntenant = \"contoso-tenant\"\n\n[ui]\nmouse = true\n\n[keys]\nfetch_all = [\"A\"]\n").expect("write");
    let checked = home.lrx(&["config", "check"]);
    assert!(checked.status.success(), "{}", stderr(&checked));
    let shown = stdout(&home.lrx(&["config", "show"]));
    assert!(
        shown.contains("contoso-tenant") && shown.contains("fetch_all = A"),
        "{shown}"
    );
    assert!(
        shown.contains("api url        https://api.security.microsoft.com (from the cloud)")
            && shown.contains("token url      https://login.microsoftonline.com/contoso-tenant/"),
        "the hosts in effect, not (not set): {shown}"
    );
    std::fs::write(&config, "[ui]\nmouse = true\nclient_secret = \"hunter2\"\n").expect("write");
    let invalid = home.lrx(&["config", "check"]);
    assert_eq!(invalid.status.code(), Some(2));
    let message = stderr(&invalid);
    assert!(
        message.contains("config.toml")
            && message.contains("line 3")
            && message.contains("LRX_CLIENT_SECRET"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the secret is not echoed: {message}"
    );
    std::fs::write(&config, "default_profile = \"contoso\"\n[profiles.contoso]\ntenant = \"contoso-tenant\"\n[profiles.fabrikam]\ntenant = \"fabrikam-tenant\"\n").expect("write");
    assert!(stdout(&home.lrx(&["config", "show"])).contains("contoso-tenant"));
    let shown = stdout(&home.lrx(&["config", "show", "--profile", "fabrikam"]));
    assert!(
        shown.contains("fabrikam-tenant") && shown.contains("profile        fabrikam"),
        "{shown}"
    );
    let unknown = home.lrx(&["config", "show", "--profile", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("known: contoso, fabrikam"));
    std::fs::write(&config, "[ui]\nmouse = true\nclient_secret = \"hunter2\"\n").expect("write");
    // Every command refuses to run on a broken config, with the same message.
    assert_eq!(home.lrx(&["actions", "--demo"]).status.code(), Some(2));
    std::fs::write(&config, "[keys]\nteleport = [\"t\"]\n").expect("write");
    let unknown = home.lrx(&["config", "check"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown action 'teleport'"));
    // Every mistake at once, and a key that would take `j` from `down` (then `q` would no
    // longer quit) is one.
    std::fs::write(
        &config,
        "[keys]\nquit = [\"j\"]\nteleport = [\"t\"]\nfetch = [\"ctrl-\"]\n",
    )
    .expect("write");
    let mistakes = stderr(&home.lrx(&["config", "check"]));
    assert!(
        mistakes.contains("quit = \"j\" takes a key down already uses")
            && mistakes.contains("unknown action 'teleport'")
            && mistakes.contains("ctrl-"),
        "{mistakes}"
    );
    std::fs::write(
        &config,
        "[keys]\nquit = [\"q\", \"ctrl-q\"]\nfetch_all = [\"A\"]\n",
    )
    .expect("write");
    assert!(
        home.lrx(&["config", "check"]).status.success(),
        "the README's example is valid"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let output = home.lrx(&["completions", shell]);
        assert!(output.status.success());
        let script = stdout(&output);
        assert!(
            script.contains("review") && script.contains("demo"),
            "{shell}"
        );
    }
    let man = home.lrx(&["man"]);
    assert!(man.status.success());
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie") || page.contains(".TH lrx"),
        "roff output"
    );
    assert!(page.contains("demo"));
    let man = stdout(&home.lrx(&["man"]));
    for section in [".SH COMMANDS", ".SH KEYS", ".SH FILES", ".SH EXIT STATUS"] {
        assert!(man.contains(section), "{section} missing");
    }
    assert!(
        !man.contains("lrx\\-actions(1)"),
        "no pages that do not exist"
    );
    assert!(
        man.contains("diff this run against the majority output"),
        "keys from the key map"
    );
}

#[test]
fn other_action_types_say_what_they_are() {
    let home = Home::new();
    let table = home.lrx(&["actions", "--demo", "--all-types", "--limit", "0"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.lines().next().is_some_and(|h| h.contains("TYPE")),
        "{text}"
    );
    let isolate = text
        .lines()
        .find(|l| l.contains("Isolate"))
        .unwrap_or_else(|| panic!("the demo has an Isolate: {text}"));
    assert!(
        !isolate.contains(" 0/0 "),
        "no commands to count: {isolate}"
    );
    let all =
        json_lines(&home.lrx(&["actions", "--demo", "--all-types", "--json", "--limit", "0"]));
    let id = all
        .iter()
        .find(|a| a["type"] != "LiveResponse")
        .and_then(|a| a["id"].as_str())
        .expect("a non-LR action");
    let review = home.lrx(&["review", "--demo", id]);
    assert_eq!(review.status.code(), Some(2));
    assert!(
        stderr(&review).contains("not a Live Response session"),
        "{}",
        stderr(&review)
    );
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly_and_the_demo_leaves_no_scratch_behind() {
    use std::io::Read as _;
    let home = Home::new();
    let mut child = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.0.path())
        .args(["actions", "--demo", "--json", "--limit", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read a little, then hang up, as `| head -1` does.
    let mut first = [0u8; 64];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).trim().is_empty(), "{}", stderr(&output));
    let state = home.0.path().join("state/lrx");
    let left: Vec<String> = std::fs::read_dir(&state)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("scratch-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_result_of_a_finished_action_costs_no_request_at_all() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(lrx::sim::SimConfig::default())
        .await
        .expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("home");
    let run = |args: &[&str]| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args(args)
            .args(e.cli_args())
            .env("LRX_CLIENT_SECRET", &e.client_secret)
            .output()
            .expect("lrx")
    };
    let listed = tokio::task::block_in_place(|| {
        run(&["actions", "--json", "--status", "Succeeded", "--limit", "1"])
    });
    let id = json_lines(&listed)[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let first = tokio::task::block_in_place(|| run(&["result", &id, "--index", "0", "--json"]));
    let fetched = json_lines(&first);
    let before = sim.requests();
    let again = tokio::task::block_in_place(|| run(&["result", &id, "--index", "0", "--json"]));
    assert_eq!(
        sim.requests(),
        before,
        "no sign-in, no get, no link, no download: {}",
        stderr(&again)
    );
    let revisited = json_lines(&again);
    assert_eq!(revisited[0]["sha256"], fetched[0]["sha256"]);
    assert_eq!(revisited[0]["from_cache"], true, "{}", revisited[0]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_review_that_prints_what_it_has() {
    use std::io::BufRead as _;
    let home = Home::new();
    // One call a minute: the review cannot finish on its own before the test stops it.
    let mut child = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.0.path())
        .args([
            "review",
            "--demo",
            "--script",
            "Get-Autoruns",
            "--max-calls-per-minute",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lrx starts");
    // Stopped once it says it is fetching (its first progress line), not after a guess.
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read") > 0 && !line.contains("fetching") {
        line.clear();
    }
    assert!(line.contains("fetching"), "{line}");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read");
    let output = child.wait_with_output().expect("lrx ends");
    assert_eq!(output.status.code(), Some(130), "{rest}");
    assert!(rest.contains("lrx: stopped: "), "{rest}");
    assert!(rest.contains("stopped by Ctrl-C: "), "{rest}");
    assert!(
        stdout(&output).contains("Get-Autoruns"),
        "the review of what was fetched is printed: {}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_shows_what_the_cache_kept_with_the_tenant_gone() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(lrx::sim::SimConfig::default())
        .await
        .expect("sim");
    let endpoints = sim.endpoints.clone();
    let home = tempfile::tempdir().expect("home");
    let run = |args: &[&str], secret: bool| {
        let mut command = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path());
        command.args(args).args(endpoints.cli_args());
        if secret {
            command.env("LRX_CLIENT_SECRET", &endpoints.client_secret);
        }
        command.output().expect("lrx")
    };
    let listed = tokio::task::block_in_place(|| {
        run(
            &["actions", "--json", "--status", "Succeeded", "--limit", "2"],
            true,
        )
    });
    let ids: Vec<String> = json_lines(&listed)
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    let fetched =
        tokio::task::block_in_place(|| run(&["result", &ids[0], "--index", "0", "--json"], true));
    let fetched = json_lines(&fetched);
    // The tenant is gone, and so is the secret: offline needs neither.
    drop(sim);
    let again = tokio::task::block_in_place(|| {
        run(
            &["result", &ids[0], "--index", "0", "--json", "--offline"],
            false,
        )
    });
    assert!(again.status.success(), "{}", stderr(&again));
    let again = json_lines(&again);
    assert_eq!(again[0]["sha256"], fetched[0]["sha256"]);
    let offline_list = tokio::task::block_in_place(|| {
        run(
            &["actions", "--json", "--status", "Succeeded", "--offline"],
            false,
        )
    });
    assert!(offline_list.status.success(), "{}", stderr(&offline_list));
    let kept: Vec<String> = json_lines(&offline_list)
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        kept[..2],
        ids[..],
        "the listed actions were kept, newest first (and the one more asked for)"
    );
    // Listed but never fetched: said, not attempted.
    let with_result = json_lines(&listed)[1]["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .find(|c| c["command"]["type"] != "PutFile")
        .map(|c| c["index"].to_string())
        .expect("a command with a result");
    let missing = tokio::task::block_in_place(|| {
        run(
            &["result", &ids[1], "--index", &with_result, "--offline"],
            false,
        )
    });
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("offline") && stderr(&missing).contains("without --offline"),
        "{}",
        stderr(&missing)
    );
    let review = tokio::task::block_in_place(|| {
        run(&["review", &ids[0], &ids[1], "--offline", "--json"], false)
    });
    assert!(review.status.success(), "{}", stderr(&review));
    assert!(
        stderr(&review).contains("are not in the cache") && !json_lines(&review).is_empty(),
        "{}",
        stderr(&review)
    );
    let with_demo = tokio::task::block_in_place(|| run(&["actions", "--offline", "--demo"], false));
    assert_eq!(with_demo.status.code(), Some(2), "{}", stderr(&with_demo));
}
