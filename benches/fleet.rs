//! Fleet-scale review, measured from outside as an analyst would see it (run:
//! `cargo bench --bench fleet`; needs tmux for the terminal UI half).
//!
//! One cache of 5,000 results of ~50 KB (five scripts, a few outliers), reviewed offline
//! twice on the same machine, side by side:
//! 1. `lrx review --offline` (the CLI), wall time, peak memory and peak threads;
//! 2. the terminal UI (`lrx --offline` in tmux): `R`, until the screen says every result is
//!    in, with the same readings.
//!
//! 3. A cached 100 MB transcript opened in the terminal UI in a new process (the cache has
//!    not hashed it in this process yet): from Enter to its first text, beside the time
//!    decoding alone takes.
//!
//! Readings come from `/proc/PID/status` (`VmHWM`, `Threads`) polled every few ms; the
//! screen is read with `tmux capture-pane` every 5 ms, so times are ±10 ms.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/offline.rs"]
mod offline;

use offline::{Env, FIRST_TEXT, fill_with, huge_output, lrx, median};

const RESULTS: usize = 5_000;
const SESSION: &str = "lrx-fleet-bench";

struct Readings {
    seconds: f64,
    peak_mib: f64,
    peak_threads: u64,
}

fn status(pid: u32) -> Option<(f64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    Some((field("VmHWM:")? as f64 / 1024.0, field("Threads:")?))
}

/// The cache a tenant's sweep leaves behind: actions and payloads, under the scope lrx
/// itself picks for this connection (found by letting it create the directory).
fn fill(env: &Env) {
    fill_with(env, RESULTS, |i| {
        lrx::fixtures::sweep_output(i, i % 250 == 0)
    });
}

fn cli(env: &Env) -> Readings {
    let started = Instant::now();
    let mut child = env
        .command()
        .args(["review", "--since", "30d", "--limit", "10000", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("lrx review");
    let (mut peak_mib, mut peak_threads) = (0.0_f64, 0);
    loop {
        if let Some((mib, threads)) = status(child.id()) {
            peak_mib = peak_mib.max(mib);
            peak_threads = peak_threads.max(threads);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Readings {
        seconds: started.elapsed().as_secs_f64(),
        peak_mib,
        peak_threads,
    }
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screen() -> String {
    tmux(&["capture-pane", "-t", SESSION, "-p"])
}

fn wait_for(needle: &str, limit: Duration, mut each: impl FnMut()) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        each();
        if screen().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Starts the terminal UI in tmux on this cache; its process id once the list shows
/// `count` actions.
fn launch(env: &Env, count: usize) -> Option<u32> {
    let line: Vec<String> = std::iter::once(lrx())
        .chain(env.args())
        .map(|a| format!("'{a}'"))
        .collect();
    let _ = tmux(&["kill-session", "-t", SESSION]);
    let started = Command::new("tmux")
        .args(["new-session", "-d", "-s", SESSION, "-x", "200", "-y", "50"])
        .arg(format!(
            "env -i PATH=\"$PATH\" HOME='{home}' XDG_CONFIG_HOME='{home}/config' XDG_STATE_HOME='{home}/state' XDG_DATA_HOME='{home}/data' XDG_CACHE_HOME='{home}/cache' TERM=xterm-256color {}",
            line.join(" "),
            home = env.home.display()
        ))
        .status()
        .ok()?;
    if !started.success() {
        return None;
    }
    let pid: u32 = tmux(&["display", "-p", "-t", SESSION, "#{pane_pid}"])
        .trim()
        .parse()
        .ok()?;
    let listed = format!("{count}/{count} ");
    if !wait_for(&listed, Duration::from_secs(60), || {}) {
        eprintln!("the list never showed {listed}:\n{}", screen());
        let _ = tmux(&["kill-session", "-t", SESSION]);
        return None;
    }
    Some(pid)
}

fn quit() {
    let _ = tmux(&["send-keys", "-t", SESSION, "q"]);
    std::thread::sleep(Duration::from_millis(200));
    let _ = tmux(&["kill-session", "-t", SESSION]);
}

fn tui(env: &Env) -> Option<Readings> {
    let pid = launch(env, RESULTS)?;
    let (mut peak_mib, mut peak_threads) = (0.0_f64, 0);
    let started = Instant::now();
    tmux(&["send-keys", "-t", SESSION, "R"]);
    let done = wait_for(
        &format!("{RESULTS} results in"),
        Duration::from_secs(300),
        || {
            if let Some((mib, threads)) = status(pid) {
                peak_mib = peak_mib.max(mib);
                peak_threads = peak_threads.max(threads);
            }
        },
    );
    let seconds = started.elapsed().as_secs_f64();
    if let Some((mib, threads)) = status(pid) {
        peak_mib = peak_mib.max(mib);
        peak_threads = peak_threads.max(threads);
    }
    if !done {
        eprintln!("the review never completed:\n{}", screen());
    }
    quit();
    done.then_some(Readings {
        seconds,
        peak_mib,
        peak_threads,
    })
}

fn report(name: &str, runs: &[Readings]) {
    println!(
        "{name:<28} {:>7.2} s   peak {:>6.0} MiB   {:>3} threads   (median of {})",
        median(runs.iter().map(|r| r.seconds).collect()),
        median(runs.iter().map(|r| r.peak_mib).collect()),
        runs.iter().map(|r| r.peak_threads).max().unwrap_or(0),
        runs.len()
    );
}

fn main() {
    // `cargo bench --bench fleet -- open`: only the 100 MB transcript.
    if std::env::args().any(|a| a == "open") {
        open_huge();
        return;
    }
    let env = Env::new();
    let filling = Instant::now();
    fill(&env);
    println!(
        "cache of {RESULTS} results filled in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    let runs = 3;
    let cli_runs: Vec<Readings> = (0..runs).map(|_| cli(&env)).collect();
    report("lrx review --offline (CLI)", &cli_runs);
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("terminal UI: skipped (no tmux)");
        return;
    }
    let tui_runs: Vec<Readings> = (0..runs).filter_map(|_| tui(&env)).collect();
    if tui_runs.is_empty() {
        println!("terminal UI: no run completed");
        return;
    }
    report("terminal UI, R to all in", &tui_runs);
    let ratio = median(tui_runs.iter().map(|r| r.seconds).collect())
        / median(cli_runs.iter().map(|r| r.seconds).collect());
    println!(
        "TUI / CLI: {ratio:.2}× the time; cores here: {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    open_huge();
}

/// How long decoding alone takes for the payload, as the viewer does it: read, JSON decode,
/// the first screen's preview.
fn decode_alone(path: &std::path::Path) -> f64 {
    let started = Instant::now();
    let bytes = std::fs::read(path).expect("payload");
    let result = lrx::transcript::decode::script_result(&bytes);
    let preview = lrx::transcript::document::Document::preview(
        &result,
        bytes.len() as u64,
        String::new(),
        true,
    );
    std::hint::black_box(preview);
    started.elapsed().as_secs_f64()
}

fn open_huge() {
    let floor = open_cached(&|| {
        "Transcript started\n2026-11-20T12:00:00.000Z  4624  An account was successfully logged on.\n".to_string()
    });
    let (huge, decode) = {
        let text = huge_output();
        open_cached(&|| text.clone())
    };
    let (Some(floor), Some(huge)) = (floor.0, huge) else {
        println!("cached transcript: no run completed");
        return;
    };
    println!(
        "cached 100 MB transcript, Enter to first text: {:.0} ms (median of 3); decoding alone {:.0} ms; a 100-byte transcript the same way: {:.0} ms (the floor of measuring through tmux)",
        huge * 1000.0,
        decode * 1000.0,
        floor * 1000.0
    );
}

/// Opens a one-result cache's transcript three times, each in a new process (nothing is
/// verified yet): the median time from Enter to its first text, and that of decoding alone.
fn open_cached(text: &dyn Fn() -> String) -> (Option<f64>, f64) {
    let env = Env::new();
    fill_with(&env, 1, |_| text());
    let payload = std::fs::read_dir(&env.cache)
        .expect("cache")
        .flatten()
        .filter_map(|scope| std::fs::read_dir(scope.path()).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "payload"))
        .expect("the payload");
    let decode = median((0..3).map(|_| decode_alone(&payload)).collect());
    let mut opens = Vec::new();
    for _ in 0..3 {
        let Some(_) = launch(&env, 1) else { continue };
        // As an analyst would: after the syntaxes' warm-up at start (which takes a core for
        // a few hundred ms), not in the same instant the list appears.
        std::thread::sleep(Duration::from_millis(1500));
        let started = Instant::now();
        tmux(&["send-keys", "-t", SESSION, "Enter"]);
        if wait_for(FIRST_TEXT, Duration::from_secs(60), || {}) {
            opens.push(started.elapsed().as_secs_f64());
        } else {
            eprintln!("the transcript never showed:\n{}", screen());
        }
        quit();
    }
    ((!opens.is_empty()).then(|| median(opens)), decode)
}
