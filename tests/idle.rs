//! Idle means idle: the real event loop, on a clock that tests advance (tokio's paused time),
//! neither redraws nor reads the budget while nothing on screen changes by itself — and
//! wakes exactly when something does.

#[path = "support/input.rs"]
mod input;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lrx::api::ListQuery;
use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;
use lrx::tui::app::{App, Settings};
use lrx::tui::event_loop::{Backends, Clock};
use lrx::tui::message::Message;
use lrx::tui::theme::{Theme, Variant};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// Wall time that moves with tokio's clock, so a paused test can jump a minute ahead.
fn tokio_clock() -> Clock {
    let wall = Utc::now();
    let start = tokio::time::Instant::now();
    Arc::new(move || wall + chrono::Duration::from_std(start.elapsed()).unwrap_or_default())
}

struct Counts {
    draws: u64,
    budget_reads: u64,
    at: DateTime<Utc>,
}

#[tokio::test]
async fn an_idle_ui_draws_nothing_and_reads_no_budget_until_something_is_due() {
    let dirs = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    // An anchor in the past: every action is final, so nothing is refreshed in the background.
    let mut session = Session::open(SessionOptions {
        demo: Some(SimConfig {
            anchor: Some(Utc::now() - chrono::Duration::days(2)),
            ..SimConfig::default()
        }),
        cache_dir: Some(dirs.0.path().to_path_buf()),
        state_dir: Some(dirs.1.path().to_path_buf()),
        ..SessionOptions::default()
    })
    .await
    .expect("session");
    // One real list call before time is paused: the meter then shows a used budget, whose
    // minute window empties a minute later.
    let actions = session
        .client
        .list_actions(&ListQuery::live_response(300), true)
        .await
        .expect("list")
        .actions;
    assert!(actions.iter().all(|a| a.status.is_final()));
    let clock = tokio_clock();
    let mut app = App::new(
        session.label.clone(),
        session.cloud.clone(),
        Settings {
            prefetch: false,
            ..Settings::default()
        },
        clock(),
    );
    app.actions = actions.into();
    app.absolute_time = true;
    app.refilter();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let theme = Theme {
        colored: false,
        variant: Variant::Dark,
    };
    let keys = input::LikeCrossterm::default();
    let inputs = keys.clone();
    let (external_tx, external) = tokio::sync::mpsc::unbounded_channel();
    let draws = Arc::new(AtomicU64::new(0));
    let limiter = Arc::clone(&session.budget);
    let backends = Backends {
        client: Arc::clone(&session.client),
        engine: session.engine.clone(),
        fetch_events: &mut session.events,
        clipboard: Box::new(|_: &str| {}),
        connection: None,
        custody: None,
        pager: None,
        clock: Arc::clone(&clock),
        draws: Arc::clone(&draws),
        watch: None,
    };
    let counts = || Counts {
        draws: draws.load(Ordering::Relaxed),
        budget_reads: limiter.store_reads(),
        at: clock(),
    };
    let driver = async {
        // Let the loop start, draw and read the meter, then stop real time. Waited for
        // rather than slept: on a loaded machine the start takes longer than any fixed pause,
        // and its draws would then be counted as the idle loop's.
        let mut last = (u64::MAX, u64::MAX);
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = (draws.load(Ordering::Relaxed), limiter.store_reads());
            if now.0 > 0 && now.1 > 0 && now == last {
                break;
            }
            last = now;
        }
        tokio::time::pause();
        let started = counts();
        // Past the minute window of the list call: the meter's count drops once.
        tokio::time::sleep(Duration::from_secs(61)).await;
        let settled = counts();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = counts();
        // Something that does change by itself: a notice, which goes after a few seconds.
        external_tx
            .send(Message::Notice("saved".into()))
            .expect("send");
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after_toast = counts();
        // Two keys while nothing else wakes the loop: the second is heard too (input is
        // read as crossterm gives it, keeping the first waker it is polled with).
        let key = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        keys.send(key('j'));
        tokio::time::sleep(Duration::from_secs(30)).await;
        keys.send(key('q'));
        (started, settled, idle, after_toast)
    };
    let running = tokio::time::timeout(
        Duration::from_secs(600),
        lrx::tui::event_loop::run(&mut terminal, &mut app, &theme, backends, inputs, external),
    );
    let (outcome, (started, settled, idle, after_toast)) = tokio::join!(running, driver);
    outcome
        .expect("q, sent while idle, ends the loop")
        .expect("no terminal error");
    assert_eq!(
        keys.polls_by_strangers(),
        0,
        "the input is always polled by the loop's own task"
    );
    assert!(
        idle.at - settled.at >= chrono::Duration::seconds(60),
        "the test's clock moved a minute"
    );
    assert!(
        settled.draws > started.draws,
        "the minute window emptying is drawn ({} → {})",
        started.draws,
        settled.draws
    );
    assert!(
        settled.draws - started.draws <= 2,
        "and only that: {} draws",
        settled.draws - started.draws
    );
    assert_eq!(idle.draws, settled.draws, "a minute of idle draws nothing");
    assert_eq!(
        idle.budget_reads, settled.budget_reads,
        "a minute of idle reads no budget"
    );
    assert!(
        after_toast.draws >= idle.draws + 2,
        "a notice is drawn, and so is its going away ({} → {})",
        idle.draws,
        after_toast.draws
    );
    assert!(
        after_toast.draws <= idle.draws + 4,
        "without a tick every second ({} → {})",
        idle.draws,
        after_toast.draws
    );
}

#[test]
fn ages_in_the_list_wake_the_ui_when_their_text_turns_over() {
    let now = Utc::now();
    let action = |age_seconds: i64| -> lrx::api::models::MachineAction {
        serde_json::from_value(serde_json::json!({
            "id": "0b7c5e6a-1f2d-4c3b-9a8e-7d6f5e4c3b2a",
            "type": "LiveResponse",
            "status": "Succeeded",
            "creationDateTimeUtc": (now - chrono::Duration::seconds(age_seconds)).to_rfc3339(),
        }))
        .expect("action")
    };
    let mut app = App::new("t".into(), "c".into(), Settings::default(), now);
    app.actions = vec![action(30)].into();
    app.refilter();
    assert_eq!(
        app.next_wake(),
        Some(now + chrono::Duration::seconds(1)),
        "30s ago → 31s ago"
    );
    app.actions = vec![action(5 * 60 + 10)].into();
    app.refilter();
    assert_eq!(
        app.next_wake(),
        Some(now + chrono::Duration::seconds(50)),
        "5m ago → 6m ago"
    );
    app.absolute_time = true;
    assert_eq!(app.next_wake(), None, "absolute times never change");
}
