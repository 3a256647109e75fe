//! Keys on a cached 100 MB transcript, timed through a pseudo-terminal as an analyst would
//! feel them (run: `cargo bench --bench keys`; `LRX_BENCH_BIN` runs another build on the
//! same data, to compare with one from before a change).
//!
//! The release binary runs on a pty of this benchmark's own (`support/pty.rs`): each time
//! is from the key's write to the chunk of output that put the expected text on screen.
//! Three processes, each: Enter (to the first text), then `G` and `g` in turn, `PgUp` from
//! the bottom, and a search for the end of the last line, typed in one burst and pasted
//! (bracketed), to its full count.

#[path = "support/offline.rs"]
mod offline;
#[path = "support/pty.rs"]
mod pty;

use std::process::Command;
use std::time::{Duration, Instant};

use offline::{Env, FIRST_TEXT, fill_with, huge_output, lrx, median};
use pty::Pty;

const ROWS: u16 = 50;
const COLUMNS: u16 = 200;
const RUNS: usize = 3;

fn ms(from: Instant, to: Instant) -> f64 {
    (to - from).as_secs_f64() * 1000.0
}

/// The transcript's position, `12/801289` at the foot of its pane.
fn position(row: &str) -> Option<u64> {
    let foot = row.trim_end().strip_suffix('┛')?;
    let (at, _of) = foot.split_whitespace().last()?.split_once('/')?;
    at.parse().ok()
}

fn position_on(rows: &[String]) -> Option<u64> {
    rows.iter().find_map(|row| position(row))
}

/// The position has moved away from `from` (a key has scrolled).
fn moved_from(from: u64) -> impl Fn(&str) -> bool {
    move |row| position(row).is_some_and(|at| at != from)
}

fn at(wanted: u64) -> impl Fn(&str) -> bool {
    move |row| position(row) == Some(wanted)
}

#[derive(Default)]
struct Timings {
    open: Vec<f64>,
    bottom: Vec<f64>,
    top: Vec<f64>,
    page_up: Vec<f64>,
    search_typed: Vec<f64>,
    search_pasted: Vec<f64>,
}

fn one_process(env: &Env, last_line: &str, timings: &mut Timings) -> Option<()> {
    let limit = Duration::from_secs(60);
    let mut command = Command::new("setsid");
    command.arg(lrx()).args(env.args());
    env.apply(&mut command);
    let mut terminal = Pty::spawn(command, ROWS, COLUMNS).expect("pty");
    let listed = terminal.until_shown("1/1 ", limit);
    if listed.is_none() {
        eprintln!("the list never showed:\n{}", terminal.rows().join("\n"));
        terminal.quit();
        return None;
    }
    // After the syntaxes' warm-up at start, as an analyst would be.
    std::thread::sleep(Duration::from_millis(1500));
    let sent = terminal.send(b"\r");
    let Some(shown) = terminal.until_shown(FIRST_TEXT, limit) else {
        eprintln!(
            "the transcript never showed:\n{}",
            terminal.rows().join("\n")
        );
        terminal.quit();
        return None;
    };
    timings.open.push(ms(sent, shown));
    // Into the transcript pane (the first Enter shows it from the commands pane); then the
    // whole document arrives behind the first screen's preview.
    terminal.send(b"\r");
    std::thread::sleep(Duration::from_secs(3));
    let limit = Duration::from_secs(10);

    for _ in 0..5 {
        let sent = terminal.send(b"G");
        let Some(shown) = terminal.until(moved_from(1), limit) else {
            eprintln!("G never moved:\n{}", terminal.rows().join("\n"));
            terminal.quit();
            return None;
        };
        timings.bottom.push(ms(sent, shown));
        std::thread::sleep(Duration::from_millis(150));
        let sent = terminal.send(b"g");
        let shown = terminal.until(at(1), limit)?;
        timings.top.push(ms(sent, shown));
        std::thread::sleep(Duration::from_millis(150));
    }
    terminal.send(b"G");
    terminal.until(moved_from(1), limit)?;
    std::thread::sleep(Duration::from_millis(150));
    for _ in 0..5 {
        let from = position_on(&terminal.rows())?;
        let sent = terminal.send(b"\x1b[5~");
        let shown = terminal.until(moved_from(from), limit)?;
        timings.page_up.push(ms(sent, shown));
        std::thread::sleep(Duration::from_millis(150));
    }

    // The search is done when its count stops growing: `1/1 ·`, not `1/1… ·`.
    terminal.send(b"/");
    std::thread::sleep(Duration::from_millis(100));
    let sent = terminal.send(last_line.as_bytes());
    match terminal.until_shown("1/1 ·", Duration::from_secs(20)) {
        Some(done) => timings.search_typed.push(ms(sent, done)),
        None => eprintln!(
            "the typed search never completed:\n{}",
            terminal.rows().join("\n")
        ),
    }
    terminal.send(b"\x1b");
    std::thread::sleep(Duration::from_millis(300));
    terminal.send(b"/");
    std::thread::sleep(Duration::from_millis(100));
    let pasted = format!("\x1b[200~{last_line}\x1b[201~");
    let sent = terminal.send(pasted.as_bytes());
    match terminal.until_shown("1/1 ·", Duration::from_secs(20)) {
        Some(done) => timings.search_pasted.push(ms(sent, done)),
        None => eprintln!("the pasted search never completed (a build without bracketed paste)"),
    }
    terminal.send(b"\x1b");
    terminal.quit();
    Some(())
}

fn report(name: &str, samples: &[f64]) {
    if samples.is_empty() {
        println!("{name}: no sample");
        return;
    }
    let max = samples.iter().copied().fold(0.0, f64::max);
    println!(
        "{name}: median {:.1} ms, max {max:.1} ms ({} samples)",
        median(samples.to_vec()),
        samples.len()
    );
}

fn main() {
    if Command::new("setsid").arg("--version").output().is_err() {
        println!("keys: skipped (no setsid)");
        return;
    }
    let text = huge_output();
    // The end of the last line, as an analyst would paste it (all of it does not fit the
    // pane's foot beside the count): it matches that line only.
    let last_line = text.lines().last().expect("lines");
    let at = last_line.find("Process:").expect("a process");
    let last_line = last_line[at..].to_string();
    let env = Env::new();
    fill_with(&env, 1, |_| text.clone());
    drop(text);
    let mut timings = Timings::default();
    let runs = std::env::var("LRX_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS);
    for _ in 0..runs {
        if one_process(&env, &last_line, &mut timings).is_none() {
            eprintln!("a run did not complete");
        }
    }
    println!("cached 100 MB transcript, {}, through a pty:", lrx());
    report("  Enter to first text", &timings.open);
    report("  G (to the last line)", &timings.bottom);
    report("  g (to the first line)", &timings.top);
    report("  PgUp from the bottom", &timings.page_up);
    report(
        "  search for the last line, typed in one burst, to the full count",
        &timings.search_typed,
    );
    report(
        "  search for the last line, pasted, to the full count",
        &timings.search_pasted,
    );
}
