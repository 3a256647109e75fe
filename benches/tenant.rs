//! The release binary against a mock tenant of this benchmark's own: axum on loopback,
//! serving the documented routes only (not the simulator, and none of its habits). Run:
//! `cargo bench --bench tenant` (both parts), `-- sweep` or `-- actions`;
//! `LRX_BENCH_BIN=path` measures another build on the same tenant.
//!
//! 1. `sweep`: `lrx review` of 1,000 and then 5,000 uncached results (~50 KB each) at limits
//!    compressed a hundredfold (100 calls per 0.6 s, 1,500 per 9 s), so what is left is
//!    lrx's own work: its CPU time (user + system, as the shell's `times` reads it after the
//!    process ends), the wall time, the 429s it drew (must be 0), and, in a second run
//!    under `strace -c -f`, its system calls and the most frequent ones.
//! 2. `actions`: 50,000 actions in the terminal UI, on a pty of the benchmark's own: the
//!    time to the first screen of actions and to all 50,000 listed, beside the time the
//!    mock takes to serve every page to a plain HTTP client; then a `/` filter typed a key
//!    at a time, each key timed to the frame that shows the new count.

#[path = "support/pty.rs"]
mod pty;

use std::collections::{HashMap, VecDeque};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

const TENANT: &str = "8b1a3c52-0d4e-4f6a-9b7c-2e5d1f0a9c31";
/// The documented limits, a hundred times faster.
const LIMITS: &str = "100/600ms,1500/9s";
const WINDOWS: [(usize, Duration); 2] = [
    (100, Duration::from_millis(600)),
    (1500, Duration::from_secs(9)),
];

fn lrx() -> String {
    std::env::var("LRX_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lrx").to_string())
}

/// What the mock serves, and what it saw.
struct Tenant {
    base: String,
    /// Each action as the API writes it, newest first.
    actions: Vec<String>,
    ids: HashMap<String, usize>,
    /// Result payloads by action position (only for the sweep).
    payloads: Vec<String>,
    calls: Mutex<HashMap<&'static str, VecDeque<Instant>>>,
    too_many: AtomicUsize,
    served: AtomicUsize,
}

impl Tenant {
    /// Counts a call to `api` against the service's windows: false (a 429) past either.
    fn admit(&self, api: &'static str) -> bool {
        let now = Instant::now();
        let mut calls = self.calls.lock().expect("calls");
        let seen = calls.entry(api).or_default();
        let longest = WINDOWS[1].1;
        while seen.front().is_some_and(|at| now - *at > longest) {
            seen.pop_front();
        }
        let over = WINDOWS.iter().any(|(allowed, window)| {
            seen.iter().filter(|at| now - **at <= *window).count() >= *allowed
        });
        if over {
            self.too_many.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        seen.push_back(now);
        true
    }
}

fn json(body: String) -> Response {
    ([("content-type", "application/json")], body).into_response()
}

fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", "1")],
        r#"{"error":{"code":"TooManyRequests","message":"throttled"}}"#,
    )
        .into_response()
}

fn serve(tenant: &Tenant, uri: &Uri) -> Response {
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if path == "/api/machineactions" {
        if !tenant.admit("list") {
            return throttled();
        }
        let number = |key: &str, default: usize| {
            query
                .get(key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let top = number("$top", 10_000).min(10_000);
        let skip = number("$skip", 0);
        let page: Vec<&str> = tenant
            .actions
            .iter()
            .skip(skip)
            .take(top)
            .map(String::as_str)
            .collect();
        tenant.served.fetch_add(page.len(), Ordering::Relaxed);
        return json(format!(
            r#"{{"@odata.context":"{}/api/$metadata#MachineActions","value":[{}]}}"#,
            tenant.base,
            page.join(",")
        ));
    }
    if let Some(rest) = path.strip_prefix("/api/machineactions/") {
        if let Some(id) = rest.strip_suffix("/getliveresponseresultdownloadlink(index=0)") {
            if !tenant.admit("link") {
                return throttled();
            }
            let Some(position) = tenant.ids.get(id) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let expiry = (chrono::Utc::now() + chrono::Duration::minutes(30))
                .format("%Y-%m-%dT%H%%3A%M%%3A%SZ");
            return json(format!(
                r#"{{"@odata.context":"{base}/api/$metadata#Edm.String","value":"{base}/blob/{position}?se={expiry}&sp=r&sv=2019-07-07&sr=b&sig=c2lnbmF0dXJl%3D"}}"#,
                base = tenant.base
            ));
        }
        if !tenant.admit("action") {
            return throttled();
        }
        return match tenant.ids.get(rest) {
            Some(position) => json(tenant.actions[*position].clone()),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if let Some(payload) = path
        .strip_prefix("/blob/")
        .and_then(|position| position.parse::<usize>().ok())
        .and_then(|position| tenant.payloads.get(position))
    {
        return json(payload.clone());
    }
    StatusCode::NOT_FOUND.into_response()
}

/// Starts the mock on its own runtime thread, with `count` actions (and payloads when
/// `with_results`).
fn start(count: usize, with_results: bool) -> Arc<Tenant> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let now = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut actions = Vec::with_capacity(count);
    let mut ids = HashMap::with_capacity(count);
    let mut payloads = Vec::new();
    for i in 0..count {
        let output = if with_results {
            lrx::fixtures::sweep_output(i, i % 250 == 0)
        } else {
            String::new()
        };
        let (action, payload) = lrx::fixtures::sweep_result(i, now, &output);
        ids.insert(action.id.clone(), i);
        actions.push(serde_json::to_string(&action).expect("action"));
        if with_results {
            payloads.push(payload);
        }
    }
    let tenant = Arc::new(Tenant {
        base,
        actions,
        ids,
        payloads,
        calls: Mutex::default(),
        too_many: AtomicUsize::new(0),
        served: AtomicUsize::new(0),
    });
    let serving = Arc::clone(&tenant);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().fallback(move |uri: Uri| {
                let tenant = Arc::clone(&serving);
                async move { serve(&tenant, &uri) }
            });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    tenant
}

/// `program` (lrx, or what runs it) with a home of its own, then `lrx`'s arguments: signed
/// in with a fixed token, aimed at the mock.
fn lrx_command(
    program: &str,
    leading: &[String],
    tenant: &Tenant,
    home: &std::path::Path,
) -> Command {
    let mut command = lrx::fixtures::isolated(program, home);
    command
        .args(leading)
        .env("LRX_TOKEN", "tenant-token")
        .env("LRX_RATE_LIMIT", LIMITS)
        .env("TERM", "xterm-256color")
        .args(["--api-url", &tenant.base, "--token-url"])
        .arg(format!("{}/{TENANT}/oauth2/v2.0/token", tenant.base))
        .args(["--tenant", TENANT, "--auth", "token"]);
    command
}

/// The review of every action, as a shell line that prints the children's CPU times after.
fn review_line(tenant: &Tenant, home: &std::path::Path, count: usize, wrapper: &str) -> Command {
    let inner = lrx_command(&lrx(), &[], tenant, home);
    let mut line = String::new();
    for (key, value) in inner.get_envs() {
        if let (Some(value), Ok(key)) = (value, key.to_os_string().into_string()) {
            line.push_str(&format!("{key}='{}' ", value.to_string_lossy()));
        }
    }
    line.push_str(wrapper);
    line.push_str(&format!("'{}'", lrx()));
    for arg in inner.get_args() {
        line.push_str(&format!(" '{}'", arg.to_string_lossy()));
    }
    line.push_str(&format!(
        " review --since 30d --limit {count} --json > /dev/null; echo \"exit $?\" >&2; times >&2"
    ));
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(line)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    shell
}

/// Seconds from a `times` line such as `0m1.234s 0m0.567s`.
fn seconds(field: &str) -> f64 {
    let (minutes, rest) = field.split_once('m').unwrap_or(("0", field));
    minutes.parse::<f64>().unwrap_or(0.0) * 60.0
        + rest.trim_end_matches('s').parse::<f64>().unwrap_or(0.0)
}

fn sweep(count: usize) {
    let tenant = start(count, true);
    let home = tempfile::tempdir().expect("home");
    let started = Instant::now();
    let output = review_line(&tenant, home.path(), count, "")
        .output()
        .expect("sh");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let children = stderr.lines().last().unwrap_or("");
    let mut fields = children.split_whitespace();
    let (user, system) = (
        seconds(fields.next().unwrap_or("")),
        seconds(fields.next().unwrap_or("")),
    );
    let exit = stderr
        .lines()
        .find_map(|l| l.strip_prefix("exit "))
        .unwrap_or("?");
    println!(
        "{count} uncached results: wall {wall:.1} s, lrx's CPU {:.2} s (user {user:.2}, system {system:.2}), exit {exit}, 429s drawn {}",
        user + system,
        tenant.too_many.load(Ordering::Relaxed)
    );
    if Command::new("strace").arg("-V").output().is_err() {
        println!("  system calls: skipped (no strace)");
        return;
    }
    // Again, on a fresh home (nothing cached), counted by strace.
    let tenant = start(count, true);
    let home = tempfile::tempdir().expect("home");
    let output = review_line(&tenant, home.path(), count, "strace -f -c -o /dev/stderr ")
        .output()
        .expect("sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut rows: Vec<(u64, String)> = stderr
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors], syscall
            let calls = fields.get(3)?.parse().ok()?;
            Some((calls, (*fields.last()?).to_string()))
        })
        .collect();
    let total = rows
        .iter()
        .find(|(_, name)| name == "total")
        .map_or(0, |(calls, _)| *calls);
    rows.retain(|(_, name)| name != "total");
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    let top: Vec<String> = rows
        .iter()
        .take(6)
        .map(|(calls, name)| format!("{name} {calls}"))
        .collect();
    println!(
        "  system calls: {total} ({:.0} per result); most: {}",
        total as f64 / count as f64,
        top.join(", ")
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The time a plain client takes to read every page of the list from the mock.
fn serve_time(tenant: &Tenant, count: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    lrx::install_crypto_provider();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut skip = 0;
        while skip < count {
            let url = format!("{}/api/machineactions?$top=10000&$skip={skip}", tenant.base);
            let body = client
                .get(url)
                .bearer_auth("tenant-token")
                .send()
                .await
                .expect("page")
                .bytes()
                .await
                .expect("body");
            std::hint::black_box(body);
            skip += 10_000;
        }
        started.elapsed().as_secs_f64()
    })
}

/// The count in the actions pane's title, `Machine actions 123/50000`.
fn listed(rows: &[String]) -> Option<(usize, usize)> {
    rows.iter().find_map(|row| {
        let (_, tail) = row.split_once("Machine actions ")?;
        let (shown, of) = tail.split_whitespace().next()?.split_once('/')?;
        Some((shown.parse().ok()?, of.trim_end_matches('+').parse().ok()?))
    })
}

/// The time serde takes to read every action of the list into lrx's own type: the floor
/// under any client that does more than count bytes.
fn parse_time(tenant: &Tenant) -> f64 {
    let bodies: Vec<String> = tenant
        .actions
        .chunks(10_000)
        .map(|page| format!(r#"{{"value":[{}]}}"#, page.join(",")))
        .collect();
    #[derive(serde::Deserialize)]
    struct Page {
        value: Vec<lrx::api::models::MachineAction>,
    }
    let started = Instant::now();
    for body in &bodies {
        let page: Page = serde_json::from_str(body).expect("page");
        std::hint::black_box(page.value);
    }
    started.elapsed().as_secs_f64()
}

fn actions(count: usize) {
    let tenant = start(count, false);
    let parsed = median((0..3).map(|_| parse_time(&tenant)).collect());
    println!(
        "{count} actions: reading them from JSON alone takes {:.0} ms (median of 3)",
        parsed * 1000.0
    );
    // The list is read at one page per call: space it out so the compressed window of 100
    // calls per 0.6 s is never what is measured.
    let served = median((0..3).map(|_| serve_time(&tenant, count)).collect());
    println!(
        "{count} actions: the mock serves every page to a plain client in {:.0} ms (median of 3)",
        served * 1000.0
    );
    let mut firsts = Vec::new();
    let mut alls = Vec::new();
    let mut keys = Vec::new();
    for _ in 0..3 {
        let home = tempfile::tempdir().expect("home");
        let command = lrx_command("setsid", &[lrx()], &tenant, home.path());
        let started = Instant::now();
        let mut terminal = pty::Pty::spawn(command, 50, 200).expect("pty");
        let Some(first) = terminal.until_shown("wks-00000", Duration::from_secs(120)) else {
            eprintln!("the list never showed:\n{}", terminal.rows().join("\n"));
            terminal.quit();
            continue;
        };
        firsts.push((first - started).as_secs_f64());
        // A build that loads more only as the analyst scrolls never gets there.
        let Some(all) = terminal.until(
            |row| listed(&[row.to_string()]) == Some((count, count)),
            Duration::from_secs(60),
        ) else {
            println!(
                "  the list did not get to {count} by itself within 60 s: {:?} listed",
                listed(&terminal.rows())
            );
            terminal.quit();
            continue;
        };
        alls.push((all - started).as_secs_f64());
        std::thread::sleep(Duration::from_millis(500));
        terminal.send(b"/");
        std::thread::sleep(Duration::from_millis(200));
        // Each key narrows the list: `w`, `wk`, … `wks-0001`, then `9`: machines 00019, 00190…
        for key in "wks-00019".bytes() {
            let before = listed(&terminal.rows());
            let sent = terminal.send(&[key]);
            let shown = terminal.until(
                |row| {
                    let now = listed(&[row.to_string()]);
                    now.is_some() && now != before
                },
                Duration::from_secs(5),
            );
            if let Some(shown) = shown {
                keys.push((shown - sent).as_secs_f64() * 1000.0);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        terminal.send(b"\x1b");
        terminal.quit();
    }
    if firsts.is_empty() {
        println!("  terminal UI: no run completed");
        return;
    }
    println!(
        "  terminal UI ({}): first screen {:.0} ms (median of {})",
        lrx(),
        median(firsts.clone()) * 1000.0,
        firsts.len()
    );
    if alls.is_empty() {
        return;
    }
    println!(
        "  all {count} listed {:.0} ms ({:.1}× the mock's own time), median of {}",
        median(alls.clone()) * 1000.0,
        median(alls.clone()) / served,
        alls.len()
    );
    let max = keys.iter().copied().fold(0.0, f64::max);
    println!(
        "  a / filter keystroke over {count} actions, to the frame with the new count: median {:.1} ms, max {max:.1} ms ({} keys)",
        median(keys.clone()),
        keys.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let only = |part: &str| {
        !args.iter().any(|a| a == "sweep" || a == "actions") || args.iter().any(|a| a == part)
    };
    // `-- serve N`: the mock alone, with N actions and their results, for a look from
    // outside (strace, perf) at what lrx does with it.
    if let Some(count) = args
        .iter()
        .position(|a| a == "serve")
        .and_then(|at| args.get(at + 1)?.parse().ok())
    {
        let tenant = start(count, true);
        println!("{}", tenant.base);
        loop {
            std::thread::park();
        }
    }
    if only("sweep") {
        sweep(1_000);
        sweep(5_000);
    }
    if only("actions") {
        if Command::new("setsid").arg("--version").output().is_err() {
            println!("actions: skipped (no setsid)");
            return;
        }
        actions(50_000);
    }
}
