//! Transcript viewer benchmarks on a 100 MB `script_output` (run: `cargo bench --bench
//! transcript`): JSON decode, document build, the first highlighted frame, a jump to the end
//! and how long until that screen is highlighted (provisionally, then exactly), scrolling,
//! random jumps, searches (first match and full count), and peak memory. With `bat` (or
//! Debian's `batcat`) on the PATH, the same text through `bat --color=always --paging=never`
//! for comparison, in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use lrx::api::models::MachineAction;
use lrx::fetch::ResultKey;
use lrx::transcript::decode;
use lrx::transcript::document::{Document, RawView, Section};
use lrx::transcript::search::{self, Pattern};
use lrx::tui::app::{App, Settings};
use lrx::tui::harness::Harness;
use lrx::tui::message::Message;
use lrx::tui::theme::{Theme, Variant};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

fn status_mib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// Resident memory now, in MiB.
fn rss_mib() -> u64 {
    status_mib("VmRSS:")
}

/// The most resident memory since the last `reset_peak`, in MiB.
fn peak_rss_mib() -> u64 {
    status_mib("VmHWM:")
}

fn reset_peak() {
    // Linux: writing 5 to clear_refs resets the peak resident set size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn big_output(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 256);
    text.push_str(
        "Transcript started, output file is C:\\ProgramData\\x\\PSScript_Transcript_{0}.txt\n",
    );
    let mut i = 0u64;
    while text.len() < bytes {
        text.push_str(&format!(
            "2026-11-20T12:{:02}:{:02}.{:03}Z  4624  An account was successfully logged on. Account: svc_backup Source: 10.20.{}.{} Logon Type: 3 Process: C:\\Windows\\System32\\lsass.exe\n",
            i % 60, (i / 60) % 60, i % 1000, i % 250, (i * 7) % 250
        ));
        i += 1;
    }
    text.push_str("WARNING: the last line, C:\\Temp\\needle-at-the-end.ps1\n");
    text
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn key(code: KeyCode) -> Message {
    Message::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

struct Viewer(Harness);

impl Viewer {
    /// An app with the transcript pane focused on `document`, drawn once.
    fn open(action: &MachineAction, document: Arc<Document>) -> Self {
        let mut app = App::new(
            "bench".into(),
            "c".into(),
            Settings {
                prefetch: false,
                ..Settings::default()
            },
            Utc::now(),
        );
        let _ = app.update(Message::listed(vec![action.clone()]));
        let _ = app.update(key(KeyCode::Enter));
        let _ = app.update(key(KeyCode::Enter));
        let _ = app.update(Message::Decoded(
            ResultKey::new(action.id.clone(), 0),
            document,
        ));
        let theme = Theme {
            colored: true,
            variant: Variant::Dark,
        };
        Self(Harness::new(app, WIDTH, HEIGHT, theme))
    }

    fn draw(&mut self) {
        self.0.draw();
    }

    fn press(&mut self, code: KeyCode) {
        self.0.press(code);
    }

    /// The document lines on screen now.
    fn on_screen(&self) -> Vec<usize> {
        let app = &self.0.app;
        app.shown_window(app.transcript.scroll, app.page_rows)
    }

    /// Whether the app holds tokens for these lines (`exact`: final ones).
    fn covers(app: &App, lines: &[usize], exact: bool) -> bool {
        let Some(key) = app.selected_key() else {
            return false;
        };
        app.documents.get(&key).is_some_and(|document| {
            app.highlights
                .get(&key, app.transcript.section, document)
                .is_some_and(|tokens| tokens.covers(lines, exact))
        })
    }

    /// Takes in the highlighting news until these lines have tokens; milliseconds until
    /// the app held them (the frame that then shows them is drawn after).
    fn until_highlighted(&mut self, lines: &[usize], exact: bool) -> f64 {
        let start = Instant::now();
        let held = std::cell::Cell::new(None);
        self.0.settle(
            |app| {
                let covered = Self::covers(app, lines, exact);
                if covered && held.get().is_none() {
                    held.set(Some(Instant::now()));
                }
                covered
            },
            Duration::from_secs(600),
        );
        held.get().map_or_else(
            || ms(start),
            |at| ms(start) - at.elapsed().as_secs_f64() * 1000.0,
        )
    }
}

fn median_and_max(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    (
        samples[samples.len() / 2].as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0,
    )
}

fn searches(document: &Document) {
    let lines = document.shared_section(Section::Output);
    for (query, regex) in [
        ("needle-at-the-end", false),
        ("10.20.7.49", false),
        (r"Source: 10\.20\.7\.\d+ ", true),
    ] {
        let pattern = Pattern::new(query, regex).expect("pattern").expect("query");
        let start = Instant::now();
        let begun = search::begin(Arc::clone(&lines), pattern, search::Scope::default());
        let returned_ms = ms(start);
        let mut hits = begun.hits.len();
        let mut first_ms = (hits > 0).then_some(returned_ms);
        if let Some((rest, _stop)) = begun.rest {
            let (sender, news) = std::sync::mpsc::channel();
            std::thread::spawn(move || rest.run(&|found| sender.send(found).expect("send")));
            for found in news {
                hits += found.hits.len();
                if hits > 0 {
                    first_ms.get_or_insert_with(|| ms(start));
                }
                if found.done {
                    break;
                }
            }
        }
        let total_ms = ms(start);
        let first_ms = first_ms.unwrap_or(total_ms);
        println!(
            "search {}{query:?}: UI thread {returned_ms:.1} ms, first match {first_ms:.1} ms, all {hits} counted in {total_ms:.0} ms",
            if regex { "regex " } else { "" }
        );
    }
    // The whole-document scan without threads, for reference.
    let pattern = Pattern::new("10.20.7.49", false)
        .expect("pattern")
        .expect("query");
    let start = Instant::now();
    let hits = search::find_all(&lines, &pattern);
    println!(
        "reference: one-thread scan for \"10.20.7.49\": {} matches in {:.0} ms",
        hits.len(),
        ms(start)
    );
}

/// JSON carries state from line to line, so a far jump is first highlighted provisionally
/// and then exactly once the checkpoint sweep gets there.
fn json_jump(action: &MachineAction) {
    let mut output = String::from("[\n");
    let mut i = 0u64;
    while output.len() < 20 * 1024 * 1024 {
        output.push_str(&format!(
            "  {{\n    \"Name\": \"svc{i}\",\n    \"Pid\": {i},\n    \"Path\": \"C:\\\\Windows\\\\System32\\\\svchost.exe\",\n    \"Remote\": \"10.1.{}.{}\"\n  }},\n",
            i % 250,
            (i * 7) % 250
        ));
        i += 1;
    }
    output.push_str("  {}\n]\n");
    let payload = serde_json::json!({"script_name": "Get-Services.ps1", "exit_code": 0, "script_output": output, "script_errors": ""}).to_string();
    let document = Arc::new(Document::from_script(
        payload.as_bytes(),
        String::new(),
        false,
    ));
    let lines = document.section(Section::Output).len();
    let mut viewer = Viewer::open(action, Arc::clone(&document));
    let start = Instant::now();
    viewer.press(KeyCode::Char('G'));
    let jump_ms = ms(start);
    let last = viewer.on_screen();
    let provisional_ms = viewer.until_highlighted(&last, false);
    let exact_ms = viewer.until_highlighted(&last, true);
    println!(
        "20 MB of JSON output ({lines} lines): G + frame {jump_ms:.1} ms; that screen highlighted after {provisional_ms:.1} ms (provisional), exactly after {exact_ms:.0} ms (checkpoint sweep)"
    );
}

fn compare_with_bat(action: &MachineAction) {
    let Some(bat) = ["bat", "batcat"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        println!("bat not installed: comparison skipped (apt-get install bat)");
        return;
    };
    for megabytes in [10, 100] {
        let sample = big_output(megabytes * 1024 * 1024);
        let path = std::env::temp_dir().join("lrx-bench-transcript.log");
        std::fs::write(&path, &sample).expect("write");
        let start = Instant::now();
        let status = std::process::Command::new(bat)
            .args(["--color=always", "--paging=never", "--language=log"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status();
        let bat_ms = ms(start);
        let _ = std::fs::remove_file(&path);
        let payload = serde_json::json!({"script_name": "x", "exit_code": 0, "script_output": sample, "script_errors": ""}).to_string();
        drop(sample);
        let start = Instant::now();
        let document = Arc::new(Document::from_script(
            payload.as_bytes(),
            String::new(),
            false,
        ));
        let mut viewer = Viewer::open(action, Arc::clone(&document));
        viewer.press(KeyCode::Char('G'));
        let last = viewer.on_screen();
        viewer.until_highlighted(&last, false);
        let provisional_ms = ms(start);
        viewer.until_highlighted(&last, true);
        let exact_ms = ms(start);
        println!(
            "{megabytes} MB, last screen highlighted: lrx {provisional_ms:.0} ms (exact {exact_ms:.0} ms) vs {bat} {bat_ms:.0} ms ({status:?}); ratio {:.1}× ({:.1}× exact)",
            bat_ms / provisional_ms.max(0.001),
            bat_ms / exact_ms.max(0.001)
        );
    }
}

fn main() {
    // As the TUI does at start-up, while the first actions load.
    lrx::transcript::highlight::warm_up();
    let base = rss_mib();
    let output = big_output(100 * 1024 * 1024);
    let payload = serde_json::json!({"script_name": "Get-SecurityEvents.ps1", "exit_code": 0, "script_output": output, "script_errors": ""}).to_string();
    let lines_in = output.lines().count();
    drop(output);
    let payload_mib = payload.len() as f64 / (1024.0 * 1024.0);
    reset_peak();

    // As in the viewer: decode, show a preview of the first lines, keep the raw view, let
    // the payload go, build the whole document and show it instead.
    let action = lrx::fixtures::action(1, "host", &["Get-SecurityEvents.ps1"], Utc::now());
    let start = Instant::now();
    let result = decode::script_result(payload.as_bytes());
    let decode_ms = ms(start);
    let start = Instant::now();
    let preview = Arc::new(
        Document::preview(&result, payload.len() as u64, "0".repeat(64), false).expect("huge"),
    );
    let mut viewer = Viewer::open(&action, Arc::clone(&preview));
    let first_frame_ms = ms(start);
    let first_screen = viewer.on_screen();
    let first_highlighted = Viewer::covers(&viewer.0.app, &first_screen, true);
    let start = Instant::now();
    let raw = RawView::of(payload.as_bytes());
    drop(payload);
    let document = Arc::new(Document::from_parts(&result, raw, "0".repeat(64), false));
    let build_ms = ms(start);
    drop(result);
    let peak_building = peak_rss_mib().saturating_sub(base);
    let document_mib = rss_mib().saturating_sub(base);
    let _ = viewer.0.app.update(Message::Decoded(
        ResultKey::new(action.id.clone(), 0),
        Arc::clone(&document),
    ));
    viewer.draw();

    let start = Instant::now();
    viewer.press(KeyCode::Char('G'));
    let jump_ms = ms(start);
    let last_screen = viewer.on_screen();
    let provisional_ms = viewer.until_highlighted(&last_screen, false);
    let mut scroll = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        viewer.press(KeyCode::PageUp);
        scroll.push(start.elapsed());
    }
    let (scroll_median, scroll_max) = median_and_max(scroll);
    let exact_ms = viewer.until_highlighted(&last_screen, true);

    // Random jumps with `:N`: the frame right after each, then the wait for its colours.
    let mut jumps = Vec::new();
    let mut colour = Vec::new();
    let mut seed = 0x9e37_79b9_u64;
    for _ in 0..30 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let target = (seed >> 33) as usize % lines_in;
        let _ = viewer.0.app.update(key(KeyCode::Char(':')));
        for digit in target.to_string().chars() {
            let _ = viewer.0.app.update(key(KeyCode::Char(digit)));
        }
        let start = Instant::now();
        viewer.press(KeyCode::Enter);
        jumps.push(start.elapsed());
        let screen = viewer.on_screen();
        colour.push(Duration::from_secs_f64(
            viewer.until_highlighted(&screen, true) / 1000.0,
        ));
    }
    let (jump_median, jump_max) = median_and_max(jumps);
    let (colour_median, colour_max) = median_and_max(colour);

    println!(
        "100 MB transcript ({lines_in} lines): JSON decode {decode_ms:.0} ms, then preview + first frame {first_frame_ms:.1} ms (highlighted: {first_highlighted}); the whole document built in {build_ms:.0} ms meanwhile"
    );
    println!(
        "G + frame {jump_ms:.1} ms; that screen highlighted after {provisional_ms:.1} ms (provisional), exactly after {exact_ms:.1} ms; PgUp + frame median {scroll_median:.2} ms / max {scroll_max:.2} ms"
    );
    println!(
        "30 random :N jumps: jump + frame median {jump_median:.2} ms / max {jump_max:.2} ms; exact colours after median {colour_median:.1} ms / max {colour_max:.1} ms"
    );
    searches(&document);
    println!(
        "memory for a {payload_mib:.0} MiB payload: the open document {document_mib} MiB ({:.1}×); peak while decoding and building, payload included, {peak_building} MiB ({:.1}×); after highlighting and searching {} MiB",
        document_mib as f64 / payload_mib,
        peak_building as f64 / payload_mib,
        rss_mib().saturating_sub(base),
    );
    drop(viewer);
    drop(document);
    json_jump(&action);
    compare_with_bat(&action);
}
