//! Regenerates the README's screenshots from the real UI on the simulated tenant: fixed
//! seed, fixed clock, UTC, so the SVGs come out byte-identical on every machine and CI can
//! check that the committed ones match what the UI draws today.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyCode;

use crate::svg;
use lrx::api::ListQuery;
use lrx::api::limits::Api;
use lrx::fetch::meter::{ApiUse, WindowUsage};
use lrx::fetch::{
    FetchEvent, Fetched, MeterSnapshot, Priority, QueueStats, ResultKey, ResultState,
};
use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;
use lrx::tui::app::{App, Settings};
use lrx::tui::harness::Harness;
use lrx::tui::message::Message;
use lrx::tui::state::act::RunStage;
use lrx::tui::state::dialogs::Prompt;
use lrx::tui::theme::{Theme, Variant};

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
        .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc))
}

fn theme(variant: Variant) -> Theme {
    Theme {
        colored: true,
        variant,
    }
}

/// The screen at this size and theme, as SVG. Every document shown is small enough to be
/// highlighted where it is built, so nothing on screen waits for a worker.
fn shot(harness: &mut Harness, variant: Variant, width: u16, height: u16) -> String {
    harness.theme = theme(variant);
    harness.resize(width, height);
    let palette = match variant {
        Variant::Dark => svg::DARK,
        Variant::Light => svg::LIGHT,
    };
    svg::render(harness.terminal.backend().buffer(), palette)
}

/// Fetches one result through the real engine and waits for it.
async fn fetch_ready(
    session: &mut Session,
    key: &ResultKey,
    priority: Priority,
) -> std::io::Result<Arc<Fetched>> {
    session.engine.fetch(key.clone(), priority);
    loop {
        match tokio::time::timeout(Duration::from_secs(60), session.events.recv()).await {
            Ok(Some(FetchEvent::State(k, ResultState::Ready(fetched)))) if &k == key => {
                return Ok(fetched);
            }
            Ok(Some(FetchEvent::State(k, ResultState::Failed(reason)))) if &k == key => {
                return Err(std::io::Error::other(reason));
            }
            Ok(Some(_)) => {}
            _ => return Err(std::io::Error::other("the fetch engine did not answer")),
        }
    }
}

/// Decodes a fetched result as the UI's background task does, straight into the app.
fn decode_into(app: &mut App, key: &ResultKey, fetched: &Fetched) {
    lrx::results::decode(
        fetched,
        &lrx::results::PayloadKind::Script,
        &lrx::review::Normaliser::builtin(),
        &mut |event| {
            let _ = app.update(Message::from_result(key.clone(), event));
        },
    );
}

/// Fetches one result through the real engine and hands it to the app as the UI would see
/// it, with a link countdown relative to the app's frozen clock.
async fn fetch_into(
    app: &mut App,
    session: &mut Session,
    key: &ResultKey,
    link_left: i64,
) -> std::io::Result<()> {
    let fetched = fetch_ready(session, key, Priority::Interactive).await?;
    let shown = Arc::new(Fetched {
        link_expires_at: Some(app.now + chrono::Duration::seconds(link_left)),
        from_cache: false,
        team_share: lrx::fetch::TeamShare::Unshared,
        ..(*fetched).clone()
    });
    let _ = app.update(Message::Fetch(FetchEvent::State(
        key.clone(),
        ResultState::Ready(Arc::clone(&shown)),
    )));
    decode_into(app, key, &shown);
    Ok(())
}

fn select(
    app: &mut App,
    predicate: impl Fn(&lrx::api::models::MachineAction) -> bool,
) -> std::io::Result<()> {
    let position = app
        .visible
        .iter()
        .position(|&i| predicate(&app.actions[i]))
        .ok_or_else(|| {
            std::io::Error::other("the demo tenant has no action for this screenshot")
        })?;
    app.selected_action = position;
    Ok(())
}

/// Carries out what the run dialog asked for against the tenant, as the event loop does.
fn act(harness: &mut Harness, session: &Session) {
    let sink = harness.sink();
    for effect in harness.take_effects() {
        let _ = lrx::tui::acting::start(effect, &session.client, None, &sink);
    }
}

fn busy_meter(now: DateTime<Utc>) -> (MeterSnapshot, QueueStats) {
    (
        MeterSnapshot {
            windows: vec![
                WindowUsage {
                    used: 100,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                WindowUsage {
                    used: 412,
                    limit: 1500,
                    period: Duration::from_secs(3600),
                    frees_at: None,
                },
            ],
            next_call_at: Some(now + chrono::Duration::seconds(12)),
            throttled_until: None,
            throttle_asked_until: None,
            session_calls: 412,
            others: Vec::new(),
            scope: lrx::fetch::meter::Scope::Machine,
            reserve_percent: 20,
            team: Vec::new(),
        },
        QueueStats {
            queued: 37,
            running: 2,
            ready: 61,
        },
    )
}

/// Writes every screenshot into `out` and returns their paths.
pub(crate) async fn generate(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let scratch = std::env::temp_dir().join(format!("lrx-screenshots-{}", std::process::id()));
    let mut session = Session::open(SessionOptions {
        demo: Some(SimConfig {
            anchor: Some(anchor()),
            ..SimConfig::default()
        }),
        cache_dir: Some(scratch.join("cache")),
        state_dir: Some(scratch.join("state")),
        no_cache: true,
        ..SessionOptions::default()
    })
    .await
    .map_err(std::io::Error::other)?;
    let actions = session
        .client
        .list_actions(&ListQuery::live_response(400), true)
        .await
        .map_err(std::io::Error::other)?
        .actions;
    let mut app = App::new(
        "demo tenant (simulated)".into(),
        "commercial".into(),
        Settings {
            prefetch: false,
            ..Settings::default()
        },
        anchor() + chrono::Duration::hours(1),
    );
    app.local_offset = chrono::FixedOffset::east_opt(0).unwrap_or_else(|| {
        chrono::FixedOffset::west_opt(0).unwrap_or(*Utc::now().fixed_offset().offset())
    });
    let mut harness = Harness::new(app, 150, 42, theme(Variant::Dark));
    let _ = harness.app.update(Message::listed(actions));
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
        next_call_at: None,
        throttled_until: None,
        throttle_asked_until: None,
        session_calls: 212,
        // Listing and refreshing the actions count on their own APIs' windows.
        others: vec![
            ApiUse {
                api: Api::ListActions,
                window: WindowUsage {
                    used: 2,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                throttled_until: None,
                throttle_asked_until: None,
            },
            ApiUse {
                api: Api::GetAction,
                window: WindowUsage {
                    used: 6,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                throttled_until: None,
                throttle_asked_until: None,
            },
        ],
        scope: lrx::fetch::meter::Scope::Machine,
        reserve_percent: 20,
        team: Vec::new(),
    };
    let _ = harness.app.update(Message::Fetch(FetchEvent::Meter(
        meter,
        QueueStats {
            queued: 0,
            running: 0,
            ready: 14,
        },
    )));

    // The main screen: a fleet-sweep outlier's autoruns, a flagged unsigned entry.
    select(&mut harness.app, |a| {
        a.requestor_comment.contains("autoruns on Finance OU") && a.status.as_str() == "Succeeded"
    })?;
    harness.press(KeyCode::Enter);
    harness.press(KeyCode::Enter);
    let action = harness
        .app
        .selected()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no selection"))?;
    for command in action.commands.iter().filter(|c| c.has_result()) {
        fetch_into(
            &mut harness.app,
            &mut session,
            &ResultKey::new(action.id.clone(), command.index),
            29 * 60 + 41,
        )
        .await?;
    }
    // Show the processes of a busier session instead when one is there: more to read.
    select(&mut harness.app, |a| {
        a.commands.len() >= 3
            && a.commands
                .iter()
                .all(|c| c.has_result() || c.command.command_type.as_str() == "PutFile")
            && a.commands
                .iter()
                .any(|c| c.target().starts_with("Get-NetConnections"))
    })?;
    let action = harness
        .app
        .selected()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no selection"))?;
    for (n, command) in action
        .commands
        .iter()
        .filter(|c| c.has_result())
        .enumerate()
    {
        let left = 29 * 60 + 41 - i64::try_from(n).unwrap_or(0) * 83;
        fetch_into(
            &mut harness.app,
            &mut session,
            &ResultKey::new(action.id.clone(), command.index),
            left,
        )
        .await?;
    }
    harness.app.selected_command = action
        .commands
        .iter()
        .position(|c| c.target().starts_with("Get-NetConnections"))
        .unwrap_or(0);
    harness.app.focus = lrx::tui::state::browse::Pane::Transcript;
    let mut written = Vec::new();
    std::fs::create_dir_all(out)?;
    let mut save = |name: &str, svg: String| -> std::io::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, svg)?;
        written.push(path);
        Ok(())
    };
    save("main.svg", shot(&mut harness, Variant::Dark, 150, 42))?;
    save("light.svg", shot(&mut harness, Variant::Light, 150, 42))?;
    save("main-80x24.svg", shot(&mut harness, Variant::Dark, 80, 24))?;

    harness.app.prompt = lrx::tui::state::dialogs::Prompt::Help { scroll: 0 };
    save("help.svg", shot(&mut harness, Variant::Dark, 120, 40))?;
    harness.app.prompt = lrx::tui::state::dialogs::Prompt::None;

    // Waiting for budget: F on a large action with the minute window full.
    let (meter, stats) = busy_meter(harness.app.now);
    let _ = harness
        .app
        .update(Message::Fetch(FetchEvent::Meter(meter, stats)));
    select(&mut harness.app, |a| {
        a.commands.len() >= 4 && a.commands.iter().filter(|c| c.has_result()).count() >= 3
    })?;
    harness.app.focus = lrx::tui::state::browse::Pane::Commands;
    let action = harness
        .app
        .selected()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no selection"))?;
    let mut results = action.commands.iter().filter(|c| c.has_result());
    if let Some(first) = results.next() {
        let _ = harness.app.update(Message::Fetch(FetchEvent::State(
            ResultKey::new(action.id.clone(), first.index),
            ResultState::Downloading {
                received: 45,
                total: Some(100),
            },
        )));
    }
    if let Some(second) = results.next() {
        let until = harness.app.now + chrono::Duration::seconds(12);
        let _ = harness.app.update(Message::Fetch(FetchEvent::State(
            ResultKey::new(action.id.clone(), second.index),
            ResultState::WaitingForBudget { until },
        )));
    }
    for rest in results {
        let _ = harness.app.update(Message::Fetch(FetchEvent::State(
            ResultKey::new(action.id.clone(), rest.index),
            ResultState::Queued,
        )));
    }
    save("budget.svg", shot(&mut harness, Variant::Dark, 120, 30))?;

    // A compromised host's output: escape sequences shown, never interpreted.
    let (meter, stats) = (
        MeterSnapshot {
            windows: vec![
                WindowUsage {
                    used: 9,
                    limit: 100,
                    period: Duration::from_secs(60),
                    frees_at: None,
                },
                WindowUsage {
                    used: 9,
                    limit: 1500,
                    period: Duration::from_secs(3600),
                    frees_at: None,
                },
            ],
            next_call_at: None,
            throttled_until: None,
            throttle_asked_until: None,
            session_calls: 9,
            others: Vec::new(),
            scope: lrx::fetch::meter::Scope::Machine,
            reserve_percent: 20,
            team: Vec::new(),
        },
        QueueStats::default(),
    );
    let _ = harness
        .app
        .update(Message::Fetch(FetchEvent::Meter(meter, stats)));
    select(&mut harness.app, |a| {
        a.commands
            .first()
            .is_some_and(|c| c.target() == "Get-LoggedOnUsers.ps1 -All")
            && a.status.as_str() == "Succeeded"
    })?;
    harness.app.selected_command = 0;
    harness.app.focus = lrx::tui::state::browse::Pane::Transcript;
    let action = harness
        .app
        .selected()
        .cloned()
        .ok_or_else(|| std::io::Error::other("no selection"))?;
    fetch_into(
        &mut harness.app,
        &mut session,
        &ResultKey::new(action.id.clone(), 0),
        27 * 60 + 5,
    )
    .await?;
    save("hostile.svg", shot(&mut harness, Variant::Dark, 120, 30))?;

    // The review of a fleet sweep with an outlier's diff against the majority.
    harness.app.filter = "Finance OU".into();
    harness.app.refilter();
    harness.app.focus = lrx::tui::state::browse::Pane::Actions;
    harness.press(KeyCode::Char('R'));
    let keys = harness
        .app
        .review
        .as_ref()
        .map(lrx::tui::state::review::ReviewScreen::keys)
        .unwrap_or_default();
    for result in &keys {
        if harness.app.digests.contains_key(result) {
            continue;
        }
        let fetched = fetch_ready(&mut session, result, Priority::Normal).await?;
        // The app digests it in the background, as in the UI.
        harness.send(Message::Fetch(FetchEvent::State(
            result.clone(),
            ResultState::Ready(fetched),
        )));
    }
    harness.settle(
        |app| keys.iter().all(|key| app.digests.contains_key(key)),
        std::time::Duration::from_secs(60),
    );
    let outlier = harness
        .app
        .review
        .as_mut()
        .and_then(|r| {
            r.refresh();
            r.rows()
                .iter()
                .position(|row| row.cluster == Some(lrx::review::ClusterLabel(1)))
        })
        .unwrap_or(0);
    for _ in 0..outlier {
        harness.press(KeyCode::Char('j'));
    }
    harness.press(KeyCode::Char('d'));
    // The two outputs are read from their payloads in the background, as in the UI.
    harness.settle(
        |app| app.review.as_ref().is_some_and(|r| r.diff.is_some()),
        std::time::Duration::from_secs(60),
    );
    save("review.svg", shot(&mut harness, Variant::Dark, 150, 42))?;

    // The run dialog on the review's outliers, at its preview.
    harness.press(KeyCode::Esc);
    harness.app.settings.analyst = "ana@jump01".into();
    harness.app.settings.case = Some("4711".into());
    harness.press(KeyCode::Char('X'));
    act(&mut harness, &session);
    harness.settle(
        |app| matches!(&app.prompt, Prompt::Run(d) if !d.matching().is_empty()),
        std::time::Duration::from_secs(30),
    );
    for c in "autoruns".chars() {
        harness.press(KeyCode::Char(c));
    }
    harness.press(KeyCode::Tab);
    for c in "-Csv".chars() {
        harness.press(KeyCode::Char(c));
    }
    harness.press(KeyCode::Tab);
    for c in "outliers again".chars() {
        harness.press(KeyCode::Char(c));
    }
    harness.press(KeyCode::Enter);
    act(&mut harness, &session);
    let previewed = harness.settle(
        |app| matches!(&app.prompt, Prompt::Run(d) if matches!(d.stage, RunStage::Confirming(_))),
        std::time::Duration::from_secs(30),
    );
    if !previewed {
        return Err(std::io::Error::other(
            "the run dialog's preview did not come (is the runtime multi-threaded?)",
        ));
    }
    save("run.svg", shot(&mut harness, Variant::Dark, 150, 42))?;

    drop(session);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(written)
}
