//! Transcript viewer benchmarks on a 100 MB `script_output` (run: `cargo bench --bench
//! transcript`): JSON decode, document build (sanitise, split, classify), the first frame,
//! a jump to the end, a search over everything, and peak memory. With `bat` (or Debian's
//! `batcat`) on the PATH, the same text through `bat --color=always --paging=never` for
//! comparison.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use lrx::fetch::ResultKey;
use lrx::transcript::decode;
use lrx::transcript::document::{Document, Section};
use lrx::transcript::search;
use lrx::tui::app::{App, Message, Settings};
use lrx::tui::theme::{Theme, Variant};
use lrx::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
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
    text
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn main() {
    let output = big_output(100 * 1024 * 1024);
    let payload = serde_json::json!({"script_name": "Get-SecurityEvents.ps1", "exit_code": 0, "script_output": output, "script_errors": ""}).to_string();
    let lines_in = output.lines().count();
    drop(output);
    let baseline = peak_rss_mib();

    let start = Instant::now();
    let result = decode::script_result(payload.as_bytes());
    let decode_ms = ms(start);
    let start = Instant::now();
    let document = Arc::new(Document::from_result(
        &result,
        payload.as_bytes(),
        "0".repeat(64),
        false,
    ));
    let build_ms = ms(start);
    drop(result);

    let now = Utc::now();
    let action = lrx::fixtures::action(1, "host", &["Get-SecurityEvents.ps1"], now);
    let mut app = App::new(
        "bench".into(),
        "c".into(),
        Settings {
            prefetch: false,
            ..Settings::default()
        },
        now,
    );
    let _ = app.update(Message::ActionsLoaded {
        result: Ok(vec![action.clone()]),
        append: false,
    });
    let _ = app.update(Message::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let _ = app.update(Message::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let theme = Theme {
        colored: true,
        variant: Variant::Dark,
    };
    let start = Instant::now();
    let _ = app.update(Message::Decoded(
        ResultKey::new(action.id.clone(), 0),
        Arc::clone(&document),
        None,
    ));
    terminal
        .draw(|f| view::render(f, &mut app, &theme))
        .expect("draw");
    let first_frame_ms = ms(start);
    let start = Instant::now();
    let _ = app.update(Message::Key(KeyEvent::new(
        KeyCode::Char('G'),
        KeyModifiers::SHIFT,
    )));
    terminal
        .draw(|f| view::render(f, &mut app, &theme))
        .expect("draw");
    let jump_ms = ms(start);
    let mut scroll = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let _ = app.update(Message::Key(KeyEvent::new(
            KeyCode::PageUp,
            KeyModifiers::NONE,
        )));
        terminal
            .draw(|f| view::render(f, &mut app, &theme))
            .expect("draw");
        scroll.push(start.elapsed());
    }
    scroll.sort();
    let start = Instant::now();
    let pattern = search::Pattern::new("10.20.7.49", false)
        .expect("pattern")
        .expect("query");
    let hits = search::find_all(document.section(Section::Output), &pattern);
    let search_ms = ms(start);
    println!(
        "100 MB transcript ({lines_in} lines): JSON decode {decode_ms:.0} ms, document build {build_ms:.0} ms, first frame {first_frame_ms:.1} ms, G jump + frame {jump_ms:.1} ms, PgUp + frame median {:.2} ms / max {:.2} ms",
        scroll[scroll.len() / 2].as_secs_f64() * 1000.0,
        scroll[scroll.len() - 1].as_secs_f64() * 1000.0
    );
    println!(
        "search over 100 MB: {} matches in {search_ms:.0} ms; peak RSS {} MiB for a {} MiB payload (baseline {} MiB)",
        hits.len(),
        peak_rss_mib(),
        payload.len() / (1024 * 1024),
        baseline
    );

    let bat = ["bat", "batcat"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if let Some(bat) = bat {
        let sample = big_output(10 * 1024 * 1024);
        let path = std::env::temp_dir().join("lrx-bench-transcript.log");
        std::fs::write(&path, &sample).expect("write");
        let start = Instant::now();
        let status = std::process::Command::new(bat)
            .args(["--color=always", "--paging=never", "--language=log"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status();
        let bat_ms = ms(start);
        let start = Instant::now();
        let payload = serde_json::json!({"script_name": "x", "exit_code": 0, "script_output": sample, "script_errors": ""}).to_string();
        let document = Document::from_script(payload.as_bytes(), String::new(), false);
        let mut app2 = App::new(
            "bench".into(),
            "c".into(),
            Settings {
                prefetch: false,
                ..Settings::default()
            },
            now,
        );
        let _ = app2.update(Message::ActionsLoaded {
            result: Ok(vec![action.clone()]),
            append: false,
        });
        let _ = app2.update(Message::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )));
        let _ = app2.update(Message::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )));
        let _ = app2.update(Message::Decoded(
            ResultKey::new(action.id.clone(), 0),
            Arc::new(document),
            None,
        ));
        let _ = app2.update(Message::Key(KeyEvent::new(
            KeyCode::Char('G'),
            KeyModifiers::SHIFT,
        )));
        terminal
            .draw(|f| view::render(f, &mut app2, &theme))
            .expect("draw");
        let lrx_ms = ms(start);
        let _ = std::fs::remove_file(&path);
        println!(
            "10 MB, last screen shown: lrx {lrx_ms:.0} ms (decode + build + G + frame) vs {bat} {bat_ms:.0} ms ({status:?}); ratio {:.1}×",
            bat_ms / lrx_ms.max(0.001)
        );
    } else {
        println!("bat not installed: comparison skipped (apt-get install bat)");
    }
}
