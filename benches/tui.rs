//! Terminal UI benchmarks, printed as plain numbers (run: `cargo bench --bench tui`).
//!
//! 1. 10,000 actions × 5 commands loaded: one key press handled and a full 200×60 frame
//!    rendered on `TestBackend`; median and 99th percentile over 2,000 presses.
//! 2. `--demo` start to the first frame with data: simulated tenant up, signed in, actions
//!    listed, one frame drawn.
//! 3. 50,000 actions: a `/` filter typed a key at a time, each key handled and its frame
//!    drawn; and a fresh re-filter of the whole list, for comparison.

use std::time::{Duration, Instant};

use chrono::Utc;
use lrx::api::ListQuery;
use lrx::api::models::{ActionStatus, MachineAction};
use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;
use lrx::tui::app::{App, Settings};
use lrx::tui::harness::Harness;
use lrx::tui::message::Message;
use lrx::tui::theme::{Theme, Variant};
use ratatui::crossterm::event::KeyCode;

fn synthetic(count: usize) -> Vec<MachineAction> {
    let now = Utc::now();
    let scripts = [
        "Script0.ps1",
        "Script1.ps1",
        "Script2.ps1",
        "Script3.ps1",
        "Script4.ps1",
    ];
    (0..count)
        .map(|i| {
            let created = now - chrono::Duration::seconds(i64::try_from(i).unwrap_or(0) * 37);
            let mut action = lrx::fixtures::action(
                i,
                &format!("wks-{i:05}.corp.contoso.com"),
                &scripts,
                created,
            );
            if i % 13 == 0 {
                action.status = ActionStatus::Failed;
            }
            action
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// A 200×60 screen over `count` synthetic actions.
fn listed(count: usize) -> Harness {
    let mut app = App::new(
        "bench".into(),
        "commercial".into(),
        Settings::default(),
        Utc::now(),
    );
    let _ = app.update(Message::listed(synthetic(count)));
    let theme = Theme {
        colored: true,
        variant: Variant::Dark,
    };
    Harness::new(app, 200, 60, theme)
}

fn key_and_frame() {
    let mut harness = listed(10_000);
    let mut samples = Vec::with_capacity(2000);
    for i in 0..2000 {
        let code = if (i / 500) % 2 == 0 {
            KeyCode::Char('j')
        } else {
            KeyCode::Char('k')
        };
        let started = Instant::now();
        harness.press(code);
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "key + full frame (10,000 actions × 5 commands, 200×60): median {:.3} ms, p99 {:.3} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0
    );
    // One re-filter is a couple of milliseconds: the median of many, so one cold cache or
    // one scheduling hiccup does not make the number.
    let mut refilters = Vec::with_capacity(51);
    for i in 0..51 {
        harness.app.filter = if i % 2 == 0 { "wks-0" } else { "wks-1" }.into();
        let started = Instant::now();
        harness.app.refilter();
        refilters.push(started.elapsed());
    }
    refilters.sort();
    println!(
        "re-filtering 10,000 actions: median {:.2} ms, max {:.2} ms (51 runs)",
        percentile(&refilters, 0.5).as_secs_f64() * 1000.0,
        percentile(&refilters, 1.0).as_secs_f64() * 1000.0
    );
}

async fn first_frame() {
    let started = Instant::now();
    let cache = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    let session = Session::open(SessionOptions {
        demo: Some(SimConfig::default()),
        cache_dir: Some(cache.path().to_path_buf()),
        state_dir: Some(state.path().to_path_buf()),
        ..SessionOptions::default()
    })
    .await
    .expect("session");
    let opened = started.elapsed();
    let actions = session
        .client
        .list_actions(&ListQuery::live_response(300), true)
        .await
        .expect("list")
        .actions;
    let mut app = App::new(
        session.label.clone(),
        session.cloud.clone(),
        Settings::default(),
        Utc::now(),
    );
    let _ = app.update(Message::listed(actions));
    let theme = Theme {
        colored: true,
        variant: Variant::Dark,
    };
    // Building the harness draws the first frame.
    let _harness = Harness::new(app, 120, 40, theme);
    println!(
        "--demo start to first frame with data: {:.0} ms (simulated tenant up and signed-in session ready after {:.0} ms)",
        started.elapsed().as_secs_f64() * 1000.0,
        opened.as_secs_f64() * 1000.0
    );
}

/// The filter as typed: each key narrows the last one's rows (sorted once per list).
fn typed_filter() {
    let mut harness = listed(50_000);
    let mut keys = Vec::new();
    let mut fresh = Vec::new();
    for _ in 0..5 {
        harness.press(KeyCode::Char('/'));
        for c in "wks-00019".chars() {
            let started = Instant::now();
            harness.press(KeyCode::Char(c));
            keys.push(started.elapsed());
        }
        assert_eq!(harness.app.visible.len(), 1, "wks-00019 alone");
        harness.app.filter = "wks-0".into();
        harness.app.filter_memo = lrx::tui::state::browse::FilterMemo::default();
        let started = Instant::now();
        harness.app.refilter();
        fresh.push(started.elapsed());
        harness.press(KeyCode::Esc);
    }
    keys.sort();
    fresh.sort();
    println!(
        "a / filter typed over 50,000 actions (key + frame): median {:.2} ms, max {:.2} ms ({} keys); a re-filter from scratch (sorting included): median {:.2} ms",
        percentile(&keys, 0.5).as_secs_f64() * 1000.0,
        percentile(&keys, 1.0).as_secs_f64() * 1000.0,
        keys.len(),
        percentile(&fresh, 0.5).as_secs_f64() * 1000.0,
    );
}

fn main() {
    key_and_frame();
    typed_filter();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(first_frame());
}
