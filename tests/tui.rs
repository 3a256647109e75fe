//! The terminal UI on ratatui's `TestBackend`: pane behaviour driven by keys, the link and
//! meter texts, hostile transcripts, whole-screen snapshots at 80×24 and 120×40, and the
//! real event loop against the simulated tenant.

#[path = "support/input.rs"]
mod input;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lrx::api::ListQuery;
use lrx::api::models::MachineAction;
use lrx::fetch::{
    FetchEvent, Fetched, MeterSnapshot, QueueStats, ResultKey, ResultState, meter::WindowUsage,
};
use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;
use lrx::transcript::document::{Document, Section};
use lrx::tui::app::{App, Settings};
use lrx::tui::message::{Effect, Message};
use lrx::tui::state::browse::Pane;
use lrx::tui::theme::{Theme, Variant};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use rstest::rstest;

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .expect("time")
}

struct Dirs(tempfile::TempDir, tempfile::TempDir);

async fn demo_session(dirs: &Dirs) -> Session {
    Session::open(SessionOptions {
        // An anchor well in the past: every action has reached its final state.
        demo: Some(SimConfig {
            anchor: Some(anchor()),
            ..SimConfig::default()
        }),
        cache_dir: Some(dirs.0.path().to_path_buf()),
        state_dir: Some(dirs.1.path().to_path_buf()),
        ..SessionOptions::default()
    })
    .await
    .expect("session")
}

async fn demo_actions() -> Vec<MachineAction> {
    let dirs = Dirs(
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let session = demo_session(&dirs).await;
    session
        .client
        .list_actions(&ListQuery::live_response(300), true)
        .await
        .expect("list")
        .actions
}

/// The library's harness on the demo tenant's actions, with this file's shortcuts.
struct Harness(lrx::tui::harness::Harness);

impl std::ops::Deref for Harness {
    type Target = lrx::tui::harness::Harness;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Harness {
    async fn new(width: u16, height: u16) -> Self {
        let mut app = App::new(
            "demo tenant (simulated)".into(),
            "commercial".into(),
            Settings::default(),
            anchor() + chrono::Duration::hours(1),
        );
        app.local_offset = chrono::FixedOffset::east_opt(0).expect("utc");
        let _ = app.start();
        let _ = app.update(Message::listed(demo_actions().await));
        let theme = Theme {
            colored: true,
            variant: Variant::Dark,
        };
        Self(lrx::tui::harness::Harness::new(app, width, height, theme))
    }

    fn select_action_with(&mut self, predicate: impl Fn(&MachineAction) -> bool) -> MachineAction {
        let position = self
            .app
            .visible
            .iter()
            .position(|&i| predicate(&self.app.actions[i]))
            .expect("a matching action");
        self.app.selected_action = position;
        self.draw();
        self.app.selected().expect("selected").clone()
    }

    /// Opens the transcript pane on a script result with this output.
    fn open_output(&mut self, output: &str) {
        self.select_action_with(|a| {
            a.commands
                .first()
                .is_some_and(lrx::api::models::Command::has_result)
        });
        self.press(KeyCode::Enter);
        self.press(KeyCode::Enter);
        let key = self.app.selected_key().expect("key");
        let payload = serde_json::json!({"script_name": "a.ps1", "exit_code": 0, "script_output": output, "script_errors": ""});
        self.send(Message::Decoded(
            key,
            Arc::new(Document::from_script(
                payload.to_string().as_bytes(),
                "00".repeat(32),
                false,
            )),
        ));
    }
}

fn fetched(expires_in: Option<i64>, now: DateTime<Utc>) -> Arc<Fetched> {
    Arc::new(Fetched {
        path: std::path::PathBuf::from("/nonexistent"),
        size: 10,
        sha256: "ab".repeat(32),
        from_cache: expires_in.is_none(),
        team_share: lrx::fetch::TeamShare::Unshared,
        link_expires_at: expires_in.map(|s| now + chrono::Duration::seconds(s)),
        file_name: None,
    })
}

#[rstest]
#[case::a_laptop_terminal(80, 24)]
#[case::a_roomy_one(120, 40)]
#[tokio::test]
async fn whole_screen_snapshots(#[case] width: u16, #[case] height: u16) {
    let mut harness = Harness::new(width, height).await;
    harness.press(KeyCode::Enter);
    insta::assert_snapshot!(format!("main_{width}x{height}"), harness.terminal.backend());
}

#[tokio::test]
async fn moving_filtering_and_toggling() {
    let mut h = Harness::new(120, 40).await;
    let first = h.app.selected().expect("first").id.clone();
    h.key('j');
    assert_ne!(h.app.selected().expect("second").id, first);
    h.key('k');
    assert_eq!(h.app.selected().expect("first again").id, first);
    h.key('G');
    assert_eq!(h.app.selected_action, h.app.visible.len() - 1);
    h.key('g');
    assert_eq!(h.app.selected_action, 0);

    h.key('/').type_text("srv-dc01").assert_shows("/srv-dc01▏");
    assert!(!h.app.visible.is_empty());
    assert!(
        h.app
            .visible
            .iter()
            .all(|&i| h.app.actions[i].computer_dns_name.contains("srv-dc01"))
    );
    h.press(KeyCode::Enter);
    h.assert_shows("filter \"srv-dc01\"");
    h.press(KeyCode::Esc);
    assert!(h.app.filter.is_empty(), "Esc clears the filter first");
    assert_eq!(h.app.visible.len(), h.app.actions.len());

    h.key('x');
    assert!(h.app.visible.len() < h.app.actions.len());
    assert!(h.app.visible.iter().all(|&i| {
        let a = &h.app.actions[i];
        matches!(a.status.as_str(), "Failed" | "TimeOut") || a.failed_count() > 0
    }));
    h.assert_shows("failed · ");
    h.assert_shows("not fetched yet — F fetches");
    h.key('x');
    h.key('s');
    h.assert_shows("sort: machine");

    h.key('?');
    h.assert_shows("? or Esc closes");
    h.assert_shows("fetch every result of the action");
    h.press(KeyCode::Esc);
    h.assert_hides("? or Esc closes");

    h.key('q');
    assert!(h.app.quit);
}

/// The rows as a filter from scratch finds them, in order.
fn filtered_afresh(h: &mut Harness) -> Vec<usize> {
    let refined = h.app.visible.clone();
    h.app.filter_memo = lrx::tui::state::browse::FilterMemo::default();
    h.app.refilter();
    assert_eq!(h.app.visible, refined, "refined as a fresh filter finds");
    refined
}

#[tokio::test]
async fn a_filter_typed_on_looks_again_at_a_list_that_changed() {
    let mut h = Harness::new(120, 40).await;
    h.key('/').type_text("srv-dc0");
    let before = filtered_afresh(&mut h);
    assert!(!before.is_empty());
    // A refresh brings an action started since: one the narrowed rows cannot hold.
    let mut started = h.app.actions[before[0]].clone();
    started.id = "0d7c2f6e-5b1a-4c3d-9e8f-a1b2c3d4e5f6".into();
    started.computer_dns_name = "srv-dc01-new.contoso.com".into();
    h.app.actions.push(started);
    let new = h.app.actions.len() - 1;
    h.type_text("1");
    let after = filtered_afresh(&mut h);
    assert!(after.contains(&new), "the new action is looked at");
    assert!(
        after
            .windows(2)
            .all(|w| h.app.actions[w[0]].creation_date_time_utc
                >= h.app.actions[w[1]].creation_date_time_utc),
        "newest first, as sorted"
    );
    h.press(KeyCode::Backspace);
    assert_eq!(filtered_afresh(&mut h).len(), before.len() + 1);
}

#[tokio::test]
async fn opening_a_command_fetches_it_first_and_prefetches_the_rest() {
    let mut h = Harness::new(120, 40).await;
    let action =
        h.select_action_with(|a| a.commands.iter().filter(|c| c.has_result()).count() >= 2);
    let effects = h.press(KeyCode::Enter).take_effects();
    assert_eq!(h.app.focus, Pane::Commands);
    let first = action
        .commands
        .iter()
        .find(|c| c.has_result())
        .expect("result")
        .index;
    assert!(
        matches!(&effects[0], Effect::Fetch(key, lrx::fetch::Priority::Interactive) if key.index == first),
        "{effects:?}"
    );
    let prefetched: Vec<ResultKey> = effects
        .iter()
        .skip(1)
        .filter_map(|e| match e {
            Effect::Fetch(key, lrx::fetch::Priority::Prefetch) => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !prefetched.is_empty() && prefetched.len() == effects.len() - 1,
        "the other results are prefetched behind it: {effects:?}"
    );
    for key in &prefetched {
        h.send(Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::Queued,
        )));
    }
    h.press(KeyCode::Enter);
    assert_eq!(h.app.focus, Pane::Transcript);
    h.press(KeyCode::Esc);
    assert_eq!(h.app.focus, Pane::Commands);
    h.press(KeyCode::Esc);
    assert_eq!(h.app.focus, Pane::Actions);
    // Moving on to another action takes back what is still queued for this one.
    let effects = h.key('j').take_effects();
    assert!(
        effects.contains(&Effect::Withdraw {
            keys: prefetched.clone(),
            at_most: lrx::fetch::Priority::Prefetch,
        }),
        "{effects:?}"
    );
    // A withdrawn result is as if never asked: coming back asks again.
    for key in &prefetched {
        h.send(Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::Cancelled,
        )));
    }
    h.key('k');
    let effects = h.press(KeyCode::Enter).take_effects();
    assert!(
        prefetched.iter().all(
            |key| effects.contains(&Effect::Fetch(key.clone(), lrx::fetch::Priority::Prefetch))
        ),
        "{effects:?}"
    );
    // A filter that hides the action moves the selection off it: the same is taken back.
    for key in &prefetched {
        h.send(Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::Queued,
        )));
    }
    h.press(KeyCode::Esc).press(KeyCode::Esc);
    h.key('/');
    let mut withdrawn = Vec::new();
    for c in "no-such-machine".chars() {
        withdrawn.extend(h.key(c).take_effects());
    }
    assert!(
        withdrawn.contains(&Effect::Withdraw {
            keys: prefetched.clone(),
            at_most: lrx::fetch::Priority::Prefetch,
        }),
        "{withdrawn:?}"
    );
}

#[tokio::test]
async fn link_states_countdowns_and_the_meter_read_as_specified() {
    let mut h = Harness::new(120, 40).await;
    let action =
        h.select_action_with(|a| a.commands.iter().filter(|c| c.has_result()).count() >= 2);
    let results: Vec<u32> = action
        .commands
        .iter()
        .filter(|c| c.has_result())
        .map(|c| c.index)
        .collect();
    let now = h.app.now;
    let key = |i: usize| ResultKey::new(action.id.clone(), results[i]);
    h.send(Message::Fetch(FetchEvent::State(
        key(0),
        ResultState::Ready(fetched(Some(29 * 60 + 41), now)),
    )));
    h.assert_shows("link 29:41");
    h.send(Message::Fetch(FetchEvent::State(
        key(1),
        ResultState::WaitingForBudget {
            until: now + chrono::Duration::seconds(12),
        },
    )));
    h.assert_shows("waiting for budget 0:12");
    h.send(Message::Fetch(FetchEvent::State(
        key(1),
        ResultState::Downloading {
            received: 45,
            total: Some(100),
        },
    )));
    h.assert_shows("downloading 45%");
    h.send(Message::Fetch(FetchEvent::State(
        key(1),
        ResultState::Ready(fetched(None, now)),
    )));
    h.assert_shows("cached");
    // Time passes: the countdown ticks and finally expires.
    h.app.now = now + chrono::Duration::seconds(41);
    h.draw();
    h.assert_shows("link 29:00");
    assert!(
        h.app.next_wake() == Some(h.app.now + chrono::Duration::seconds(1)),
        "countdowns on screen keep the clock ticking"
    );
    h.app.now = now + chrono::Duration::minutes(31);
    h.draw();
    h.assert_shows("link expired");

    let meter = MeterSnapshot {
        windows: vec![
            WindowUsage {
                used: 37,
                limit: 100,
                period: Duration::from_secs(60),
                frees_at: None,
            },
            WindowUsage {
                used: 212,
                limit: 1500,
                period: Duration::from_secs(3600),
                frees_at: None,
            },
        ],
        next_call_at: Some(h.app.now + chrono::Duration::seconds(12)),
        throttled_until: None,
        throttle_asked_until: None,
        session_calls: 249,
        others: vec![
            lrx::fetch::meter::ApiUse {
                api: lrx::api::limits::Api::GetAction,
                window: WindowUsage {
                    used: 12,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                throttled_until: None,
                throttle_asked_until: None,
            },
            lrx::fetch::meter::ApiUse {
                api: lrx::api::limits::Api::ListActions,
                window: WindowUsage {
                    used: 100,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                throttled_until: Some(h.app.now + chrono::Duration::seconds(30)),
                throttle_asked_until: None,
            },
        ],
        scope: lrx::fetch::meter::Scope::Machine,
        reserve_percent: 20,
        team: Vec::new(),
    };
    h.send(Message::Fetch(FetchEvent::Meter(
        meter,
        QueueStats {
            queued: 3,
            running: 1,
            ready: 12,
        },
    )));
    // Wide enough for the whole meter line; narrower screens cut its end (queue, calls).
    h.resize(200, 40);
    h.assert_shows("links 37/100 per min ▰▰▱▱▱ · 212/1500 per h · reviews ≤80/min (20 kept for you) │ waiting for budget: next call in 0:12 │ get 12/100 · list held until 13:");
    h.assert_shows("waiting for budget: next call in 0:12");
    h.assert_shows("queue 3 · downloading 1 · ready 12");
}

#[tokio::test]
async fn hostile_transcripts_never_put_control_bytes_on_screen() {
    let mut h = Harness::new(120, 40).await;
    h.select_action_with(|a| {
        a.commands
            .first()
            .is_some_and(lrx::api::models::Command::has_result)
    });
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    let payload = serde_json::json!({
        "script_name": "evil\u{1b}]0;title\u{7}.ps1",
        "exit_code": "7",
        "script_output": "ok\n\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{9b}31mred\tTAB\r\nbidi \u{202e}txt.exe\u{202c}\nZ\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\u{301}\n\u{0}",
        "script_errors": "boom"
    });
    let document = Document::from_script(payload.to_string().as_bytes(), "00".repeat(32), false);
    h.send(Message::Decoded(key, Arc::new(document)));
    let buffer = h.terminal.backend().buffer().clone();
    for cell in buffer.content() {
        assert!(
            !cell.symbol().chars().any(char::is_control),
            "control char in cell {:?}",
            cell.symbol()
        );
        assert!(!cell.symbol().contains('\u{202e}'));
    }
    h.assert_shows("␛[2J");
    h.assert_shows("<9B>31mred");
    h.assert_shows("<U+202E>");
    h.assert_shows("exit 7");
    h.assert_shows("control chars shown");
    h.assert_shows("'exit_code' is the string");
    h.key('2');
    h.assert_shows("boom");
}

#[tokio::test]
async fn transcript_search_counts_and_jumps() {
    let mut h = Harness::new(120, 40).await;
    let output: String = (0..200)
        .map(|i| {
            if i % 50 == 7 {
                format!("line {i} needle\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect();
    h.open_output(&output);
    h.key('/');
    h.type_text("needle");
    h.press(KeyCode::Enter);
    h.assert_shows("/needle 1/4");
    h.key('n');
    h.assert_shows("/needle 2/4");
    h.assert_shows("line 57 needle");
    h.key('N');
    h.key('N');
    h.assert_shows("/needle 4/4");
    h.key('w');
    assert!(h.app.transcript.wrap);
}

#[tokio::test]
async fn regex_search_with_ctrl_r_and_its_mistakes_on_screen() {
    let mut h = Harness::new(120, 40).await;
    h.open_output("conn 10.0.0.1:445\nconn 192.168.7.20:3389\nnone here\n");
    h.key('/');
    h.assert_shows("Ctrl-R regex");
    h.app.update(Message::Key(KeyEvent::new(
        KeyCode::Char('r'),
        KeyModifiers::CONTROL,
    )));
    h.type_text(r":\d{3,4}$");
    h.assert_shows(r"regex /:\d{3,4}$▏ 1/2");
    h.press(KeyCode::Enter);
    let hits: Vec<(usize, usize, usize)> = h
        .app
        .transcript
        .search
        .hits
        .iter()
        .map(|hit| (hit.line, hit.start, hit.end))
        .collect();
    assert_eq!(hits, vec![(0, 13, 17), (1, 17, 22)]);
    // The matched text is marked exactly, not the length of the query.
    let buffer = h.terminal.backend().buffer().clone();
    let text = h.text();
    let row = text
        .lines()
        .position(|l| l.contains("conn 10.0.0.1"))
        .expect("row");
    let column = text
        .lines()
        .nth(row)
        .expect("row")
        .find(":445")
        .expect("col");
    let column = text.lines().nth(row).expect("row")[..column]
        .chars()
        .count();
    let marked: String = (0..6)
        .map(|dx| {
            let cell = &buffer[(
                u16::try_from(column + dx).expect("x"),
                u16::try_from(row).expect("y"),
            )];
            if cell.bg == ratatui::style::Color::Reset {
                '.'
            } else {
                '#'
            }
        })
        .collect();
    assert_eq!(marked, "####..");
    h.key('/');
    h.type_text("(unclosed");
    h.assert_shows("regex /(unclosed▏ ✘");
    assert!(h.app.transcript.search.hits.is_empty());
}

#[tokio::test]
async fn searching_a_huge_output_shows_the_first_match_then_completes_the_count() {
    let mut h = Harness::new(120, 40).await;
    let output: String = (0..120_000)
        .map(|i| {
            if i >= 20_000 && i % 20_000 == 19_999 {
                format!("line {i} needle\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect();
    h.open_output(&output);
    h.key('/');
    h.type_text("needle");
    h.press(KeyCode::Enter);
    // Nothing in the first lines searched in the foreground: the rest runs in the background.
    assert!(h.settle(
        |app| !app.transcript.search.counting,
        Duration::from_secs(30)
    ));
    h.assert_shows("/needle 1/5 ·");
    h.assert_shows("line 39999 needle");
    h.key('N');
    h.assert_shows("/needle 5/5");
    h.assert_shows("line 119999 needle");
    // & keeps the matching lines only, all five of them.
    h.key('&');
    h.assert_shows("& 5 matching lines");
    // Walking the matches keeps all five in view: they fit on one screen.
    h.key('N');
    h.assert_shows("/needle 4/5");
    h.assert_shows("line 39999 needle");
    h.assert_shows("line 119999 needle");
}

/// Each character typed refines the search under way, from wherever it has got (here the
/// background news is taken in between some keys and not others); pasted text refines once.
/// Either way the matches are exactly those of a fresh search.
#[tokio::test]
async fn typing_or_pasting_onto_a_search_refines_it_and_finds_every_match() {
    let mut h = Harness::new(120, 40).await;
    let output: String = (0..120_000)
        .map(|i| match i % 10 {
            0 => format!("event {i} error\n"),
            1 => format!("event {i} error 4{}\n", i % 3),
            _ => format!("event {i}\n"),
        })
        .collect();
    h.open_output(&output);
    let wanted = (0..120_000).filter(|i| i % 30 == 11).count();
    let complete = |h: &mut Harness| {
        assert!(h.settle(
            |app| !app.transcript.search.counting,
            Duration::from_secs(30)
        ));
        let hits = &h.app.transcript.search.hits;
        assert_eq!(hits.len(), wanted, "{:?}", h.app.transcript.search.query);
        assert!(hits.windows(2).all(|w| w[0].line < w[1].line));
        assert!(
            hits.iter().all(|hit| hit.line % 30 == 11),
            "{:?}",
            &hits[..3]
        );
    };
    h.key('/');
    for (typed, c) in "error 42".chars().enumerate() {
        h.key(c);
        if typed % 2 == 0 {
            h.take_news();
        }
    }
    complete(&mut h);
    // Backspace widens the search: it starts over and finds the broader matches.
    h.press(KeyCode::Backspace);
    assert!(h.settle(
        |app| !app.transcript.search.counting,
        Duration::from_secs(30)
    ));
    assert_eq!(h.app.transcript.search.hits.len(), 120_000 / 10);
    h.press(KeyCode::Esc);

    h.key('/');
    h.send(Message::Paste("error\u{1b}[2J 42\n".into()));
    assert_eq!(h.app.transcript.search.query, "error[2J 42");
    h.press(KeyCode::Esc);
    h.key('/');
    h.send(Message::Paste("error 42\n".into()));
    assert_eq!(h.app.transcript.search.query, "error 42");
    complete(&mut h);
    h.press(KeyCode::Enter);

    // Outside a prompt, pasted text is not read as keys.
    h.send(Message::Paste("q".into()));
    assert!(!h.app.quit);
}

/// What the real loop has shown so far, as its watch reports it.
#[derive(Default)]
struct Seen {
    listed: bool,
    focus: Option<Pane>,
    shown: bool,
}

/// Waits (bounded) until the loop has shown what `done` asks for.
async fn until(
    seen: &mut tokio::sync::watch::Receiver<Seen>,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(20), seen.wait_for(|s| done(s)))
        .await
        .unwrap_or_else(|_| panic!("the loop never showed {what}"))
        .expect("the loop is running");
}

#[tokio::test]
async fn the_real_event_loop_against_the_simulated_tenant() {
    let dirs = Dirs(
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut session = demo_session(&dirs).await;
    let mut app = App::new(
        session.label.clone(),
        session.cloud.clone(),
        Settings {
            prefetch: false,
            ..Settings::default()
        },
        Utc::now(),
    );
    app.local_offset = chrono::FixedOffset::east_opt(0).expect("utc");
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let theme = Theme {
        colored: false,
        variant: Variant::Dark,
    };
    let keys = input::LikeCrossterm::default();
    let inputs = keys.clone();
    let (_external_tx, external) = tokio::sync::mpsc::unbounded_channel();
    let copied = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen_tx, mut seen) = tokio::sync::watch::channel(Seen::default());
    let (copied_tx, mut copied_rx) = tokio::sync::mpsc::unbounded_channel();
    let clipboard = Arc::clone(&copied);
    let backends = lrx::tui::event_loop::Backends {
        client: Arc::clone(&session.client),
        engine: session.engine.clone(),
        fetch_events: &mut session.events,
        clipboard: Box::new(move |text: &str| {
            clipboard.lock().expect("lock").push(text.to_string());
            let _ = copied_tx.send(());
        }),
        connection: Some(session.connection.clone()),
        custody: None,
        pager: None,
        clock: lrx::tui::event_loop::wall_clock(),
        draws: Arc::default(),
        watch: Some(Box::new(move |app: &App| {
            seen_tx.send_replace(Seen {
                listed: !app.actions.is_empty(),
                focus: Some(app.focus),
                shown: app.selected_key().is_some_and(|key| {
                    app.documents.contains_key(&key)
                        && matches!(app.results.get(&key), Some(ResultState::Ready(_)))
                }),
            });
        })),
    };
    // Each key goes in once the loop shows what it needs, never after a guessed sleep.
    let typing = keys.clone();
    let driver = tokio::spawn(async move {
        let key = |c| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
        // The newest action with a RunScript result; Enter opens its commands, Enter again the transcript.
        until(&mut seen, "the actions", |s| s.listed).await;
        typing.send(key(KeyCode::Enter));
        until(&mut seen, "the commands", |s| {
            s.focus == Some(Pane::Commands)
        })
        .await;
        typing.send(key(KeyCode::Enter));
        until(&mut seen, "the transcript", |s| {
            s.focus == Some(Pane::Transcript) && s.shown
        })
        .await;
        typing.send(key(KeyCode::Char('y')));
        // The copy reads the payload in the background: the clipboard says when it is done.
        tokio::time::timeout(Duration::from_secs(20), copied_rx.recv())
            .await
            .expect("y copies");
        typing.send(key(KeyCode::Char('q')));
    });
    tokio::time::timeout(
        Duration::from_secs(30),
        lrx::tui::event_loop::run(&mut terminal, &mut app, &theme, backends, inputs, external),
    )
    .await
    .expect("the loop ends when q is pressed")
    .expect("no terminal error");
    driver.await.expect("driver");
    assert_eq!(
        keys.polls_by_strangers(),
        0,
        "the input is always polled by the loop's own task"
    );
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    assert!(!app.actions.is_empty(), "actions loaded over HTTP");
    let selected = app.selected().expect("selected").clone();
    let command = app.selected_command().expect("command").clone();
    assert!(
        command.has_result(),
        "the newest action's first command has a result: {command:?}"
    );
    assert!(text.contains("exit "), "exit code shown:\n{text}");
    assert!(
        text.contains("link 29:") || text.contains("link 30:"),
        "countdown shown:\n{text}"
    );
    assert!(
        text.contains("API ") && text.contains("/100 per min"),
        "meter shown:\n{text}"
    );
    assert!(app.meter.session_calls >= 1, "the meter counted the calls");
    assert_eq!(app.focus, Pane::Transcript, "{selected:?}");
    let copied = copied.lock().expect("lock");
    assert_eq!(copied.len(), 1, "y put the visible text on the clipboard");
    assert!(!copied[0].is_empty(), "the copied text is the output");
    assert!(!copied[0].chars().any(|c| c.is_control() && c != '\n'));
}

#[tokio::test]
async fn mouse_clicks_select_and_the_wheel_scrolls() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut h = Harness::new(120, 40).await;
    let mouse = |kind, column, row| {
        Message::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let actions = h.app.areas[Pane::Actions];
    // Third data row: border, header, then rows.
    h.send(mouse(
        MouseEventKind::Down(MouseButton::Left),
        actions.x + 5,
        actions.y + 4,
    ));
    assert_eq!(h.app.selected_action, 2);
    h.send(mouse(
        MouseEventKind::ScrollDown,
        actions.x + 5,
        actions.y + 4,
    ));
    assert_eq!(h.app.selected_action, 5);
    let commands = h.app.areas[Pane::Commands];
    let effects = h
        .send(mouse(
            MouseEventKind::Down(MouseButton::Left),
            commands.x + 5,
            commands.y + 3,
        ))
        .take_effects();
    assert_eq!(h.app.focus, Pane::Commands);
    assert_eq!(h.app.selected_command, 1);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Fetch(..)))
            || !h
                .app
                .selected_command()
                .is_some_and(lrx::api::models::Command::has_result)
    );
}

/// Fetches what the app asked for through a real engine and hands the results to the app
/// as the event loop would; the harness digests them off the UI thread, as the loop does.
async fn fulfil(h: &mut Harness, session: &mut Session, effects: Vec<Effect>) {
    let keys: Vec<ResultKey> = effects
        .into_iter()
        .filter_map(|e| {
            if let Effect::Fetch(key, _) = e {
                Some(key)
            } else {
                None
            }
        })
        .collect();
    for key in &keys {
        session
            .engine
            .fetch(key.clone(), lrx::fetch::Priority::Normal);
    }
    let mut done = 0;
    while done < keys.len() {
        let event = tokio::time::timeout(Duration::from_secs(60), session.events.recv())
            .await
            .expect("progress")
            .expect("engine");
        if let FetchEvent::State(_, ResultState::Ready(_)) = &event {
            done += 1;
        } else if let FetchEvent::State(_, ResultState::Failed(reason)) = &event {
            panic!("{reason}");
        }
        h.send(Message::Fetch(event));
    }
    assert!(
        h.settle(
            |app| keys.iter().all(|key| app.digests.contains_key(key)),
            Duration::from_secs(30)
        ),
        "every result digested"
    );
}

#[tokio::test]
async fn the_review_groups_a_sweep_toggles_failures_and_diffs_an_outlier() {
    let dirs = Dirs(
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut session = demo_session(&dirs).await;
    let mut h = Harness::new(140, 45).await;
    h.key('/');
    h.type_text("Finance OU");
    h.press(KeyCode::Enter);
    assert_eq!(h.app.visible.len(), 40);
    let effects = h.key('R').take_effects();
    assert!(h.app.in_review());
    h.assert_shows("fetching 39 results · 0 done");
    fulfil(&mut h, &mut session, effects).await;
    h.assert_shows("40 machines · 3 distinct outputs: 35 × A · 3 × B · 1 × C");
    // Reviewed by their digests: only what the browse panes show was decoded for reading.
    assert!(
        h.app.documents.len() <= 1,
        "{} documents kept for a review of 39 results",
        h.app.documents.len()
    );
    h.assert_shows("38 × exit 0 · 1 × exit 1 · 1 × command failed");

    h.key('x');
    assert_eq!(h.app.review.as_ref().expect("review").rows().len(), 2);
    h.assert_shows("failed/non-zero only");
    h.key('x');

    // Outliers come right after the failures; diff the first one against the majority.
    let rows = h
        .app
        .review
        .as_ref()
        .expect("review")
        .rows()
        .iter()
        .map(|r| r.cluster)
        .collect::<Vec<_>>();
    let outlier = rows
        .iter()
        .position(|c| *c == Some(lrx::review::ClusterLabel(1)))
        .expect("an outlier row");
    for _ in 0..outlier {
        h.key('j');
    }
    h.key('d');
    // Both outputs are read from their payloads in the background: the review keeps digests.
    assert!(h.settle(
        |app| app.review.as_ref().is_some_and(|r| r.diff.is_some()),
        Duration::from_secs(30)
    ));
    h.assert_shows("against the majority A");
    h.assert_shows("+ \"HKCU\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\",\"OneDriveStandaloneUpdater\"");
    // While the diff is open, j/k scroll it (not the rows) and w wraps a long image path.
    let row = h.app.review.as_ref().expect("review").selected_row;
    h.key('j');
    let review = h.app.review.as_ref().expect("review");
    assert_eq!(review.diff.as_ref().expect("diff").scroll, 1);
    assert_eq!(review.selected_row, row, "the rows stay put");
    h.key('g');
    let long = format!(
        "\"HKLM\\Run\",\"{}\\update-helper-evil.exe\"",
        "C:\\Users\\Public\\AppData\\Local".repeat(6)
    );
    if let Some(diff) = h.app.review.as_mut().and_then(|r| r.diff.as_mut()) {
        diff.lines.insert(0, lrx::review::DiffLine::Added(long));
    }
    h.draw();
    h.assert_hides("update-helper-evil.exe");
    h.key('w');
    h.assert_shows("update-helper-evil.exe");
    h.press(KeyCode::Esc);
    h.assert_hides("against the majority A");

    // Enter opens the outlier's transcript; Esc comes back to the same place.
    let before = h.app.review.as_ref().expect("review").selected_row;
    h.press(KeyCode::Enter);
    assert!(h.settle(
        |app| {
            app.selected_key()
                .is_some_and(|key| app.documents.contains_key(&key))
        },
        Duration::from_secs(30)
    ));
    assert!(!h.app.in_review());
    assert_eq!(h.app.focus, Pane::Transcript);
    assert!(
        h.app
            .current_lines()
            .iter()
            .any(|l| l.text.contains("onedriveupdater.exe")),
        "the outlier's transcript is open"
    );
    h.assert_shows("Transcript started");
    h.press(KeyCode::Esc);
    assert!(h.app.in_review());
    assert_eq!(h.app.review.as_ref().expect("review").selected_row, before);
}

#[tokio::test]
async fn the_review_marks_the_results_that_came_from_teammates() {
    let mut h = Harness::new(140, 45).await;
    h.key('/');
    h.type_text("Finance OU");
    h.press(KeyCode::Enter);
    let keys: Vec<ResultKey> = h
        .key('R')
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Fetch(key, _) => Some(key),
            _ => None,
        })
        .collect();
    h.assert_hides("FROM");
    for (i, key) in keys.iter().enumerate() {
        let digest = lrx::review::Digest::of_file(&"cd".repeat(32))
            .fetched_by((i < 3).then_some("ana@jump02"));
        h.send(Message::Digested(key.clone(), digest));
    }
    h.assert_shows("3 from teammates");
    h.assert_shows("FROM");
    let review = h.app.review.as_ref().expect("review");
    let marked: Vec<_> = review
        .rows()
        .into_iter()
        .filter(|r| r.teammate.is_some())
        .collect();
    assert_eq!(marked.len(), 3);
    assert!(
        h.text().contains(" ana "),
        "the teammate is named on their rows"
    );
}

#[tokio::test]
async fn a_cached_copy_being_checked_is_decoded_meanwhile_and_shown_only_if_it_passes() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut h = Harness::new(120, 40).await;
    let payload = |output: &str, name: &str| {
        let path = dir.path().join(name);
        let body = serde_json::json!({"script_name": "a.ps1", "exit_code": 0, "script_output": output, "script_errors": ""});
        std::fs::write(&path, body.to_string()).expect("payload");
        Arc::new(Fetched {
            path,
            from_cache: true,
            ..Fetched::clone(&fetched(None, anchor()))
        })
    };
    let decoded = |app: &App| {
        app.selected_key()
            .is_some_and(|key| !app.documents.is_decoding(&key))
    };
    let with_result = |a: &MachineAction| {
        a.commands
            .first()
            .is_some_and(lrx::api::models::Command::has_result)
    };

    // Decoded while it is checked, but not shown until the check passes; not decoded twice.
    let first = h.select_action_with(with_result).id;
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    let state = |key: &ResultKey, state| Message::Fetch(FetchEvent::State(key.clone(), state));
    h.send(state(
        &key,
        ResultState::Verifying(payload("checked and fine", "good")),
    ));
    assert!(h.settle(decoded, Duration::from_secs(30)));
    h.assert_hides("checked and fine");
    h.assert_shows("checking the cached copy");
    let effects = h
        .send(state(
            &key,
            ResultState::Ready(payload("checked and fine", "good")),
        ))
        .take_effects();
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Decode { .. })),
        "not decoded twice: {effects:?}"
    );
    h.assert_shows("checked and fine");

    // A copy that fails its check is fetched again: what was decoded from it never shows.
    h.press(KeyCode::Esc);
    h.select_action_with(|a| a.id != first && with_result(a));
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    h.send(state(
        &key,
        ResultState::Verifying(payload("planted text", "bad")),
    ));
    assert!(h.settle(decoded, Duration::from_secs(30)));
    h.send(state(&key, ResultState::RequestingLink));
    h.assert_hides("planted text");
    h.send(state(
        &key,
        ResultState::Ready(payload("the service's text", "refetched")),
    ));
    assert!(h.settle(
        |app| {
            app.selected_key()
                .is_some_and(|k| app.documents.contains_key(&k))
        },
        Duration::from_secs(30)
    ));
    h.assert_shows("the service's text");
    h.assert_hides("planted text");
}

#[tokio::test]
async fn the_transcript_says_whose_download_it_was_and_what_the_team_could_not_take() {
    let mut h = Harness::new(140, 40).await;
    h.open_output("hello");
    let key = h.app.selected_key().expect("key");
    let ready = |share| {
        Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::Ready(Arc::new(Fetched {
                team_share: share,
                ..Fetched::clone(&fetched(None, anchor()))
            })),
        ))
    };
    h.send(ready(lrx::fetch::TeamShare::From("ana@jump02".into())));
    h.assert_shows("from ana@jump02");
    h.assert_shows("· team");
    h.send(ready(lrx::fetch::TeamShare::TooLarge {
        cap_bytes: 16 * 1024 * 1024,
    }));
    h.assert_shows("not shared with the team: over team_result_mb, 16.0 MB");
    h.send(ready(lrx::fetch::TeamShare::SharedByYou));
    h.assert_hides("not shared with the team");
}

#[tokio::test]
async fn three_again_indents_the_raw_payload_in_the_order_it_came() {
    let mut h = Harness::new(120, 40).await;
    h.open_output("hello");
    h.key('3');
    assert_eq!(h.app.transcript.section, Section::Raw);
    h.assert_shows("\"script_name\":\"a.ps1\"");
    h.key('3');
    assert_eq!(h.app.transcript.section, Section::RawIndented);
    h.assert_shows("3 Raw, indented");
    h.assert_shows("  \"script_name\": \"a.ps1\",");
    h.assert_hides("\"script_name\":\"a.ps1\"");
    h.key('3');
    assert_eq!(h.app.transcript.section, Section::Raw);
    // A payload that is not JSON has nothing to indent, and says so.
    let key = h.app.selected_key().expect("key");
    h.send(Message::Decoded(
        key,
        Arc::new(Document::from_script(
            b"Transcript started\nnot json",
            "00".repeat(32),
            false,
        )),
    ));
    h.key('3');
    assert_eq!(h.app.transcript.section, Section::Raw);
    h.assert_shows("the payload is not JSON");
}

#[test]
fn the_rest_of_the_list_loads_in_the_background_in_the_largest_pages() {
    let now = anchor();
    let mut app = App::new(
        "demo".into(),
        "global".into(),
        Settings {
            page_size: 5,
            ..Settings::default()
        },
        now,
    );
    let page = |from: usize, count: usize| -> Vec<MachineAction> {
        (from..from + count)
            .map(|i| lrx::fixtures::action(i, &format!("wks-{i:04}"), &["Get-Autoruns.ps1"], now))
            .collect()
    };
    let loaded = |actions, append| {
        Message::Fetch(FetchEvent::List(lrx::fetch::ListEvent::Loaded {
            result: Ok(actions),
            append,
            problems: Vec::new(),
        }))
    };
    let next = |effects: Vec<Effect>| {
        effects.into_iter().find_map(|e| match e {
            Effect::List(lrx::fetch::ListRequest::Load {
                query,
                append: true,
            }) => Some(query),
            _ => None,
        })
    };
    // A full first page: the next one is asked for at once, as large as the service allows.
    let query = next(app.update(loaded(page(0, 5), false))).expect("the next page, unasked");
    assert_eq!((query.skip, query.limit), (5, 10_000));
    assert!(app.loading && app.more_available);
    let query = next(app.update(loaded(page(5, 10_000), true))).expect("and the next");
    assert_eq!((query.skip, query.limit), (10_005, 10_000));
    // A short page is the end.
    assert!(next(app.update(loaded(page(10_005, 7), true))).is_none());
    assert!(!app.loading && !app.more_available);
    assert_eq!(app.actions.len(), 10_012);
}

#[tokio::test]
async fn space_marks_actions_for_the_review() {
    let mut h = Harness::new(120, 40).await;
    h.key(' ');
    h.key(' ');
    assert_eq!(h.app.marked.len(), 2);
    h.assert_shows("2 marked");
    h.key('R');
    let review = h.app.review.as_ref().expect("review");
    assert_eq!(review.scope.len(), 2);
}

#[tokio::test]
async fn goto_only_matching_save_and_copy() {
    let mut h = Harness::new(120, 40).await;
    h.select_action_with(|a| {
        a.commands
            .first()
            .is_some_and(lrx::api::models::Command::has_result)
    });
    h.press(KeyCode::Enter);
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    let output: String = (1..=300)
        .map(|i| {
            if i % 100 == 0 {
                format!("row {i} \u{1b}[31mhit\n")
            } else {
                format!("row {i}\n")
            }
        })
        .collect();
    let payload = serde_json::json!({"script_name": "a.ps1", "exit_code": 0, "script_output": output, "script_errors": ""}).to_string();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("payload");
    std::fs::write(&path, payload.as_bytes()).expect("write");
    let fetched = Arc::new(Fetched {
        path: path.clone(),
        size: payload.len() as u64,
        sha256: "ab".repeat(32),
        from_cache: false,
        team_share: lrx::fetch::TeamShare::Unshared,
        link_expires_at: None,
        file_name: None,
    });
    h.app.update(Message::Fetch(FetchEvent::State(
        key.clone(),
        ResultState::Ready(fetched),
    )));
    h.send(Message::Decoded(
        key,
        Arc::new(Document::from_script(
            payload.as_bytes(),
            "ab".repeat(32),
            false,
        )),
    ));

    h.key(':');
    h.type_text("250");
    h.assert_shows(":250▏");
    h.press(KeyCode::Enter);
    assert_eq!(h.app.transcript.scroll, 249);
    h.assert_shows("row 250");

    h.key('/');
    h.type_text("hit");
    h.press(KeyCode::Enter);
    h.key('&');
    h.assert_shows("& 3 matching lines");
    h.assert_shows("row 200 ␛[31mhit");
    h.assert_hides("row 201");

    h.app.save_dir = dir.path().to_path_buf();
    let effects = h.key('s').take_effects();
    let Some(Effect::Save {
        source,
        target,
        kind,
        ..
    }) = effects.first().cloned()
    else {
        panic!("{effects:?}")
    };
    assert!(target.starts_with(dir.path()) && target.extension().is_some_and(|e| e == "json"));
    let notice = lrx::tui::save::save(&source, &target, kind);
    assert!(notice.starts_with("saved "), "{notice}");
    assert_eq!(
        std::fs::read(&target).expect("saved"),
        payload.as_bytes(),
        "the raw bytes saved equal the input"
    );
    let effects = h.key('S').take_effects();
    let Some(Effect::Save {
        source,
        target,
        kind,
        ..
    }) = effects.first().cloned()
    else {
        panic!("{effects:?}")
    };
    let notice = lrx::tui::save::save(&source, &target, kind);
    let saved = std::fs::read_to_string(&target).expect("saved");
    assert!(
        saved.contains("row 200 ␛[31mhit") && !saved.contains('\u{1b}'),
        "S saves the text as it is shown, so `cat` of it cannot drive a terminal"
    );
    assert!(notice.contains("3 control or invisible"), "{notice}");

    let effects = h.key('y').take_effects();
    let Some(Effect::Copy(text)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(
        text.contains("␛[31mhit") && !text.contains('\u{1b}'),
        "y copies sanitised text"
    );
    assert_eq!(lrx::tui::terminal::osc52("hi"), "\u{1b}]52;c;aGk=\u{7}");
    let effects = h.key('o').take_effects();
    let Some(Effect::Pager(text)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert!(
        text.contains("␛[31mhit") && !text.contains('\u{1b}'),
        "the pager gets sanitised text"
    );
    let effects = h.key('Y').take_effects();
    assert!(matches!(effects.first(), Some(Effect::CopyRaw(p)) if *p == path));
    // The raw text comes back from the background read: copied, with a warning.
    let effects = h.send(Message::Clipboard(output.clone())).take_effects();
    assert!(matches!(effects.first(), Some(Effect::Copy(t)) if *t == output));
    h.assert_shows("with 3 control or invisible characters: paste with care");
    // Too much for OSC 52: refused with the way out, instead of a silent no-op.
    let effects = h
        .send(Message::Clipboard("x".repeat(200 * 1024)))
        .take_effects();
    assert!(effects.is_empty(), "{effects:?}");
    h.assert_shows("too large for the terminal clipboard");
}

#[tokio::test]
async fn the_command_line_switches_profiles_reviews_and_signs_in_with_a_device_code() {
    let mut h = Harness::new(120, 40).await;
    h.key(':');
    h.type_text("profile fabrikam");
    h.assert_shows(":profile fabrikam▏");
    h.press(KeyCode::Enter);
    assert!(h.app.quit);
    assert_eq!(
        h.app.exit,
        lrx::tui::message::Exit::SwitchProfile("fabrikam".into())
    );

    let mut h = Harness::new(120, 40).await;
    h.key(':');
    h.type_text("login");
    let effects = h.press(KeyCode::Enter).take_effects();
    assert_eq!(effects, vec![Effect::DeviceLogin]);
    h.send(Message::DevicePrompt {
        uri: "https://microsoft.com/devicelogin".into(),
        code: "F3K9QW2LM".into(),
    });
    h.assert_shows("Device code sign-in");
    h.assert_shows("https://microsoft.com/devicelogin");
    h.assert_shows("F3K9QW2LM");
    let effects = h.send(Message::DeviceDone(Ok(()))).take_effects();
    h.assert_hides("Device code sign-in");
    assert!(
        matches!(
            effects.first(),
            Some(Effect::List(lrx::fetch::ListRequest::Load { .. }))
        ),
        "signed in: the list reloads"
    );

    h.key(':');
    h.type_text("review");
    h.press(KeyCode::Enter);
    assert!(h.app.in_review());
    h.press(KeyCode::Esc);
    h.key(':');
    h.type_text("teleport");
    h.press(KeyCode::Enter);
    h.assert_shows("unknown command :teleport");
}

#[tokio::test]
async fn far_lines_of_a_long_json_output_are_highlighted_in_the_background() {
    let mut h = Harness::new(120, 40).await;
    let mut output = String::from("[\n");
    for i in 0..6_000 {
        output.push_str(&format!("  {{\"Name\": \"svc{i}\", \"Pid\": {i}}},\n"));
    }
    output.push_str("  {}\n]\n");
    h.open_output(&output);
    h.key('G');
    h.assert_shows("svc5999");
    let key_colour = ratatui::style::Color::Rgb(0x82, 0xaa, 0xff);
    let key_cell_coloured = |h: &Harness| {
        let text = h.text();
        let buffer = h.terminal.backend().buffer();
        text.lines().enumerate().any(|(y, line)| {
            line.find("\"svc5999\"").is_some_and(|_| {
                let x = line[..line.find("\"Name\"").expect("key")].chars().count() + 1;
                buffer[(u16::try_from(x).expect("x"), u16::try_from(y).expect("y"))].fg
                    == key_colour
            })
        })
    };
    assert!(
        h.settle(
            |app| app.highlighted_on_screen(true),
            Duration::from_secs(60)
        ),
        "{}",
        h.text()
    );
    assert!(key_cell_coloured(&h), "{}", h.text());
}

#[tokio::test]
async fn tab_walks_the_sections_of_a_fullscreen_transcript() {
    let mut h = Harness::new(120, 40).await;
    h.open_output("out\n");
    h.key('z');
    assert!(h.app.transcript.fullscreen);
    h.press(KeyCode::Tab);
    assert_eq!(h.app.transcript.section, Section::Errors);
    h.press(KeyCode::Tab);
    assert_eq!(h.app.transcript.section, Section::Raw);
    h.press(KeyCode::BackTab);
    assert_eq!(h.app.transcript.section, Section::Errors);
    assert_eq!(h.app.focus, Pane::Transcript);
    // Not fullscreen, Tab goes to the next pane as everywhere else.
    h.key('z');
    h.press(KeyCode::Tab);
    assert_eq!(h.app.focus, Pane::Actions);
}

#[tokio::test]
async fn a_getfile_shows_the_files_own_hashes_and_labels_the_gzips() {
    use sha2::Digest as _;
    let mut h = Harness::new(120, 40).await;
    let is_file = |c: &lrx::api::models::Command| {
        c.has_result() && c.command.command_type == lrx::api::models::CommandType::GetFile
    };
    let action = h.select_action_with(|a| a.commands.iter().any(is_file));
    let position = action.commands.iter().position(is_file).expect("a GetFile");
    h.press(KeyCode::Enter);
    for _ in 0..position {
        h.key('j');
    }
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    assert_eq!(key.index, action.commands[position].index);
    let mut file = b"MZ\x90\x00 a collected file".to_vec();
    file.extend((0..4096u32).map(|i| u8::try_from(i % 251).unwrap_or(0)));
    let file = &file[..];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, file).expect("gzip");
    let gzipped = gz.finish().expect("gzip");
    let gzip_sha = hex::encode(sha2::Sha256::digest(&gzipped));
    h.send(Message::Decoded(
        key,
        Arc::new(Document::from_file(
            &gzipped,
            "msupd.dll.gz",
            gzip_sha.clone(),
            false,
            1 << 20,
        )),
    ));
    let file_sha = hex::encode(sha2::Sha256::digest(file));
    h.assert_shows(&format!("sha256    {file_sha} (the file)"));
    h.assert_shows(&format!(
        "md5       {}",
        hex::encode(md5::Md5::digest(file))
    ));
    h.assert_shows(&format!(
        "sha1      {}",
        hex::encode(sha1::Sha1::digest(file))
    ));
    h.assert_shows(&format!(
        "download  sha256 {gzip_sha} (the gzip, as fetched)"
    ));
    h.assert_shows(&format!("sha256 {}", &file_sha[..12]));
    // The hex view pages: its end is reachable, not just what fits.
    h.assert_hides("00000ff0");
    h.key('G');
    h.assert_shows("00000ff0");
    h.press(KeyCode::PageUp);
    h.assert_hides("00000ff0");
}

#[tokio::test]
async fn f_on_a_result_whose_link_expired_says_it_is_kept_instead_of_nothing() {
    let mut h = Harness::new(120, 40).await;
    h.select_action_with(|a| {
        a.commands
            .first()
            .is_some_and(lrx::api::models::Command::has_result)
    });
    h.press(KeyCode::Enter);
    let key = h.app.selected_key().expect("key");
    let now = h.app.now;
    h.app.update(Message::Fetch(FetchEvent::State(
        key,
        ResultState::Ready(fetched(Some(-60), now)),
    )));
    let effects = h.key('f').take_effects();
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Fetch(_, lrx::fetch::Priority::Interactive))),
        "{effects:?}"
    );
    h.assert_shows("already fetched and kept for this session; its link expired");
}

#[tokio::test]
async fn failed_only_says_what_it_cannot_know_yet_and_f_fetches_it() {
    let mut h = Harness::new(120, 40).await;
    h.key('x');
    let unknown = h.app.exit_unknown.clone();
    assert!(!unknown.is_empty(), "the demo has unfetched Succeeded runs");
    h.assert_shows(&format!(
        "x: {} failed · {} not fetched yet — F fetches",
        h.app.visible.len(),
        unknown.len()
    ));
    let effects = h.key('F').take_effects();
    let keys: Vec<ResultKey> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Fetch(key, _) => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert!(!keys.is_empty());
    // One of them turns out to have exited 1: it joins the list, and the count drops.
    let target = &h.app.actions[unknown[0]];
    let script = target
        .commands
        .iter()
        .find(|c| {
            c.has_result() && c.command.command_type == lrx::api::models::CommandType::RunScript
        })
        .expect("a script");
    let key = ResultKey::new(target.id.clone(), script.index);
    assert!(keys.contains(&key));
    let id = target.id.clone();
    let payload =
        br#"{"script_name":"a.ps1","exit_code":1,"script_output":"denied","script_errors":""}"#;
    h.send(Message::Decoded(
        key,
        Arc::new(Document::from_script(payload, "00".repeat(32), false)),
    ));
    assert!(h.app.visible.iter().any(|&i| h.app.actions[i].id == id));
    assert!(!h.app.exit_unknown.contains(&unknown[0]));
}

#[tokio::test]
async fn a_match_past_the_right_edge_is_scrolled_into_view_and_the_counter_covers_no_text() {
    for (width, height) in [(80, 24), (120, 40)] {
        let mut h = Harness::new(width, height).await;
        let output = format!(
            "{}\n{} b2b0f2d1 tail\nlast line of the output\n",
            "short line",
            "x".repeat(300)
        );
        h.open_output(&output);
        h.key('z');
        h.key('/');
        h.type_text("b2b0f2d1");
        h.press(KeyCode::Enter);
        h.assert_shows("b2b0f2d1");
        h.assert_shows("/b2b0f2d1 1/1");
        h.key('h');
        h.key('g');
        h.key('n');
        h.assert_shows("b2b0f2d1");

        // The counter sits on the border: the last line of a full pane stays readable.
        let mut h = Harness::new(width, height).await;
        let lines: String = (1..=200)
            .map(|i| format!("line {i:03} of the output\n"))
            .collect();
        h.open_output(&lines);
        h.key('G');
        h.assert_shows("line 200 of the output");
        let text = h.text();
        assert!(
            text.lines().any(|l| l.contains('┗') && l.contains("/20")),
            "the counter is drawn on the bottom border row: {text}"
        );
    }
}

#[tokio::test]
async fn every_type_shows_a_type_column_and_statuses_are_not_cut() {
    let mut h = Harness::new(200, 40).await;
    let first = h.app.visible[0];
    h.app.actions[first].status = lrx::api::models::ActionStatus::InProgress;
    let id = h.app.actions[first].id.clone();
    h.app.marked.insert(id);
    h.draw();
    h.assert_shows("●▶ InProgress ");
    h.app.all_types = true;
    h.draw();
    h.assert_shows("TYPE");
}

#[tokio::test]
async fn help_scrolls_when_the_terminal_is_shorter_than_it() {
    let mut h = Harness::new(80, 24).await;
    h.key('?');
    h.assert_shows("j/k/PgDn scroll");
    h.assert_hides("diff this run against the majority output");
    h.key('G');
    h.assert_shows("diff this run against the majority output");
    h.assert_shows("quit from anywhere");
    h.key('g');
    h.assert_shows("move down");
    h.press(KeyCode::Esc);
    h.assert_hides("Keys — ");
}

#[tokio::test]
async fn the_hint_bar_shows_whole_hints_and_points_to_help() {
    for (width, height) in [(80, 24), (120, 40)] {
        let h = Harness::new(width, height).await;
        let text = h.text();
        let bar = text.lines().last().expect("hint bar");
        assert!(bar.trim_end().ends_with("? all keys"), "{bar}");
    }
}

#[tokio::test]
async fn a_resumed_app_keeps_its_list_and_marks_instead_of_reloading() {
    // What a failed `:profile NAME` comes back to: the same app, not a fresh one.
    let mut h = Harness::new(120, 40).await;
    h.key(' ');
    assert_eq!(h.app.marked.len(), 1);
    let effects = h.app.start();
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::List(lrx::fetch::ListRequest::Load { .. }))),
        "{effects:?}"
    );
    assert_eq!(h.app.marked.len(), 1);
    let fresh = App::new("t".into(), "c".into(), Settings::default(), Utc::now()).start();
    assert!(
        fresh
            .iter()
            .any(|e| matches!(e, Effect::List(lrx::fetch::ListRequest::Load { .. })))
    );
}

#[tokio::test]
async fn the_light_theme_paints_its_own_background() {
    let mut h = Harness::new(80, 24).await;
    h.theme = Theme::from_env(Variant::Light);
    h.draw();
    let buffer = h.terminal.backend().buffer();
    let paper = ratatui::style::Color::Rgb(0xfb, 0xfb, 0xf8);
    let painted = buffer
        .content()
        .iter()
        .filter(|c| c.bg != ratatui::style::Color::Reset)
        .count();
    assert_eq!(
        painted,
        buffer.content().len(),
        "every cell has a background"
    );
    assert!(buffer.content().iter().any(|c| c.bg == paper));
}

#[tokio::test]
async fn a_long_notice_wraps_instead_of_losing_its_end() {
    let mut h = Harness::new(80, 24).await;
    h.send(Message::Notice(
        "could not switch to profile foo: no profile named 'foo' (known: contoso, fabrikam, northwind-traders)".into(),
    ));
    h.assert_shows("northwind-traders)");
}

#[tokio::test]
async fn unfinished_actions_are_polled_with_one_call_less_often_as_they_age() {
    let mut h = Harness::new(120, 40).await;
    let start = h.app.now;
    for action in h.app.actions.iter_mut().take(10) {
        action.status = lrx::api::models::ActionStatus::Pending;
        action.creation_date_time_utc = Some(start);
    }
    let polls_in = |h: &mut Harness, from: DateTime<Utc>, minutes: i64| {
        let mut polls = 0;
        for second in 0..minutes * 60 {
            h.app.now = from + chrono::Duration::seconds(second);
            for effect in h.send(Message::Tick).take_effects() {
                if let Effect::List(lrx::fetch::ListRequest::Refresh { query, watched }) = effect {
                    assert_eq!(watched.len(), 10, "every unfinished action is watched");
                    assert_eq!(query.statuses, ["Pending", "InProgress"]);
                    polls += 1;
                }
            }
        }
        polls
    };
    let young = polls_in(&mut h, start, 1);
    assert!((5..=7).contains(&young), "one call every 10 s: {young}");
    let older = polls_in(&mut h, start + chrono::Duration::minutes(10), 1);
    assert!((1..=3).contains(&older), "pending for minutes: {older}");
    let stale = polls_in(&mut h, start + chrono::Duration::hours(2), 4);
    assert!(
        (1..=3).contains(&stale),
        "pending for hours: {stale} in 4 minutes"
    );
}

#[tokio::test]
async fn leaving_a_review_takes_back_its_queued_fetches() {
    let mut h = Harness::new(140, 45).await;
    h.key('/').type_text("Finance OU").press(KeyCode::Enter);
    let asked: Vec<ResultKey> = h
        .key('R')
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Fetch(key, lrx::fetch::Priority::Normal) => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 39);
    // Two arrive; the rest wait in the engine's queue.
    for (n, key) in asked.iter().enumerate() {
        let state = if n < 2 {
            ResultState::Ready(fetched(None, h.app.now))
        } else {
            ResultState::Queued
        };
        h.send(Message::Fetch(FetchEvent::State(key.clone(), state)));
    }
    let effects = h.press(KeyCode::Esc).take_effects();
    assert!(!h.app.in_review());
    let Some(Effect::Withdraw { keys, at_most }) = effects
        .iter()
        .find(|e| matches!(e, Effect::Withdraw { .. }))
        .cloned()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(at_most, lrx::fetch::Priority::Normal);
    assert_eq!(keys.len(), 37, "the queued ones, not those already fetched");
    assert!(keys.iter().all(|key| !asked[..2].contains(key)));
    h.assert_shows("left the review: 37 queued fetches taken back");
}

#[tokio::test]
async fn offline_a_result_never_fetched_says_so_and_the_review_counts_it() {
    let mut h = Harness::new(140, 45).await;
    let action =
        h.select_action_with(|a| a.commands.iter().filter(|c| c.has_result()).count() >= 2);
    let index = action
        .commands
        .iter()
        .find(|c| c.has_result())
        .expect("a result")
        .index;
    let key = ResultKey::new(action.id.clone(), index);
    h.send(Message::Fetch(FetchEvent::State(
        key.clone(),
        ResultState::NotCached,
    )));
    h.assert_shows("not cached (offline)");
    h.assert_hides("error:");
    assert!(h.app.toast.is_none(), "the transcript says it; no toast");
    h.press(KeyCode::Enter);
    h.assert_shows("not in the cache, and lrx is offline (--offline)");
    // A review of this one action: what cannot come is counted, not waited for.
    h.press(KeyCode::Esc).press(KeyCode::Esc);
    h.key(' ');
    let wanted: Vec<ResultKey> = ResultKey::of_action(&action).collect();
    h.key('R');
    for key in &wanted {
        h.send(Message::Fetch(FetchEvent::State(
            key.clone(),
            ResultState::NotCached,
        )));
    }
    h.assert_shows(&format!(
        "0 results in · {} not cached (offline)",
        wanted.len()
    ));
}

#[rstest::rstest]
#[case::a_team(lrx::fetch::meter::Scope::Team { members: 3 }, "· team of 3")]
#[case::a_lost_team(
    lrx::fetch::meter::Scope::TeamLost { members: 3 },
    "· team store lost: counting 1/3 of the budget here"
)]
#[case::this_machine(lrx::fetch::meter::Scope::Machine, "│ queue 0")]
#[tokio::test]
async fn the_meter_says_whose_budget_it_is(
    #[case] scope: lrx::fetch::meter::Scope,
    #[case] shown: &str,
) {
    let mut h = Harness::new(160, 30).await;
    let window = |used, limit, secs| WindowUsage {
        used,
        limit,
        period: Duration::from_secs(secs),
        frees_at: None,
    };
    let team = !matches!(scope, lrx::fetch::meter::Scope::Machine);
    h.send(Message::Fetch(FetchEvent::Meter(
        MeterSnapshot {
            windows: vec![window(63, 100, 60), window(400, 1500, 3600)],
            scope,
            reserve_percent: 20,
            ..MeterSnapshot::default()
        },
        QueueStats::default(),
    )));
    h.assert_shows(&format!(
        "links 63/100 per min ▰▰▰▰▱ · 400/1500 per h {shown}"
    ));
    if !team {
        h.assert_hides("team");
    }
}

#[tokio::test]
async fn a_team_shows_who_is_active_what_they_do_and_each_share_of_the_minute() {
    let mut h = Harness::new(200, 30).await;
    let member = |name: &str, activity: &str, link_calls, is_you| lrx::fetch::meter::Teammate {
        name: name.into(),
        activity: activity.into(),
        link_calls,
        is_you,
    };
    h.send(Message::Fetch(FetchEvent::Meter(
        MeterSnapshot {
            windows: vec![WindowUsage {
                used: 42,
                limit: 100,
                period: Duration::from_secs(60),
                frees_at: None,
            }],
            scope: lrx::fetch::meter::Scope::Team { members: 3 },
            team: vec![
                member("me@jump01#aaaaaa", "browsing", 12, true),
                member(
                    "ana@jump02#bbbbbb",
                    "reviewing Get-Autoruns.ps1 · 40 machines",
                    30,
                    false,
                ),
                // What a teammate says is text from the team's store: shown, never obeyed.
                member("ben@jump03#cccccc", "idle\u{1b}[2J", 0, false),
            ],
            ..MeterSnapshot::default()
        },
        QueueStats::default(),
    )));
    h.assert_shows("· team of 3: you 12 · ana@jump02 30 · ben@jump03 0");
    h.assert_shows("team: ana@jump02 reviewing Get-Autoruns.ps1 · 40 machines · ben@jump03 idle");
    h.assert_hides("#bbbbbb");
    h.assert_hides("\u{1b}");
}

#[tokio::test]
async fn the_review_says_what_changed_since_each_machines_previous_run_and_b_diffs_it() {
    let dirs = Dirs(
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut session = demo_session(&dirs).await;
    let mut h = Harness::new(150, 45).await;
    h.key('/');
    h.type_text("INC-20471");
    h.press(KeyCode::Enter);
    let effects = h.key('R').take_effects();
    fulfil(&mut h, &mut session, effects).await;
    h.assert_shows("VS PREV");
    let review = h.app.review.as_mut().expect("review");
    review.refresh();
    let changed: Vec<usize> = review
        .rows()
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            matches!(
                r.vs_previous,
                Some(lrx::review::baseline::VsPrevious::Changed { .. })
            )
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        changed.len(),
        lrx::sim::dataset::RESWEEP_CHANGED,
        "the machines that changed between the two sweeps"
    );
    h.draw();
    h.assert_shows("changed")
        .assert_shows("first run")
        .assert_shows("same");
    for _ in 0..changed[0] {
        h.key('j');
    }
    h.key('b');
    assert!(h.settle(
        |app| app.review.as_ref().is_some_and(|r| r.diff.is_some()),
        Duration::from_secs(30)
    ));
    h.assert_shows("against its previous run");
    let diff = h
        .app
        .review
        .as_ref()
        .and_then(|r| r.diff.as_ref())
        .expect("diff");
    assert!(
        diff.lines.iter().any(
            |l| matches!(l, lrx::review::DiffLine::Added(text) if text.contains("WinSysHelper"))
        ),
        "{:?}",
        diff.lines
    );
}
