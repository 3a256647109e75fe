//! Acting from the terminal UI on `TestBackend`: the run dialog from the review (its
//! preview, the typed confirmation, the new actions followed until they end and their
//! results taken into the open review), the cancel dialog, and a read-only profile. The
//! effects the app asks for are carried out against a live simulated tenant, as the event
//! loop does.

use std::time::{Duration, Instant};

use chrono::Utc;
use lrx::api::ListQuery;
use lrx::api::models::{ActionStatus, MachineAction};
use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;
use lrx::tui::app::{App, Settings};
use lrx::tui::harness::Harness;
use lrx::tui::message::{Effect, Message};
use lrx::tui::state::act::RunStage;
use lrx::tui::state::dialogs::Prompt;
use lrx::tui::theme::{Theme, Variant};
use ratatui::crossterm::event::KeyCode;

struct Live {
    session: Session,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// A tenant whose "now" is now: new sessions progress while the test runs.
async fn live() -> Live {
    let dirs = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let session = Session::open(SessionOptions {
        demo: Some(SimConfig::default()),
        cache_dir: Some(dirs.0.path().to_path_buf()),
        state_dir: Some(dirs.1.path().to_path_buf()),
        ..SessionOptions::default()
    })
    .await
    .expect("session");
    Live {
        session,
        _dirs: dirs,
    }
}

async fn harness(live: &Live, settings: Settings) -> Harness {
    let mut app = App::new("demo".into(), "commercial".into(), settings, Utc::now());
    app.local_offset = chrono::FixedOffset::east_opt(0).expect("utc");
    let _ = app.start();
    let actions = live
        .session
        .client
        .list_actions(&ListQuery::live_response(2000), true)
        .await
        .expect("list")
        .actions;
    let _ = app.update(Message::listed(actions));
    let theme = Theme {
        colored: false,
        variant: Variant::Dark,
    };
    Harness::new(app, 140, 45, theme)
}

/// Carries out what the app asked for, as the event loop would: acting effects as tasks,
/// fetches and list refreshes through the session's engine (their events fed back).
fn carry_out(h: &mut Harness, live: &Live) {
    for effect in h.take_effects() {
        let Some(effect) = lrx::tui::acting::start(
            effect,
            &live.session.client,
            Some(&live.session.custody),
            &h.sink(),
        ) else {
            continue;
        };
        match effect {
            Effect::Fetch(key, priority) => live.session.engine.fetch(key, priority),
            Effect::List(request) => live.session.engine.list(request),
            _ => {}
        }
    }
}

/// Takes in engine events and background news until `done` holds, ticking the app's clock
/// so unfinished actions are refreshed; false after `timeout`.
async fn pump(
    h: &mut Harness,
    live: &mut Live,
    done: impl Fn(&App) -> bool,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut last_tick = Instant::now();
    while Instant::now() < deadline {
        if done(&h.app) {
            return true;
        }
        while let Ok(event) = live.session.events.try_recv() {
            h.send(Message::Fetch(event));
            carry_out(h, live);
        }
        h.settle(|_| false, Duration::from_millis(50));
        carry_out(h, live);
        if last_tick.elapsed() >= Duration::from_millis(500) {
            last_tick = Instant::now();
            h.app.now = Utc::now();
            h.send(Message::Tick);
            carry_out(h, live);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done(&h.app)
}

/// Selects the first action listed in this status.
fn select_first(h: &mut Harness, status: &ActionStatus) {
    h.app.selected_action = h
        .app
        .visible
        .iter()
        .position(|&i| h.app.actions[i].status == *status)
        .unwrap_or_else(|| panic!("no {status} action listed"));
    h.draw();
}

fn stage(app: &App) -> Option<&RunStage> {
    match &app.prompt {
        Prompt::Run(dialog) => Some(&dialog.stage),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_from_the_review_is_previewed_confirmed_followed_and_joins_the_review() {
    let mut live = live().await;
    let settings = Settings {
        refresh_every: chrono::Duration::seconds(1),
        analyst: "ana@jump01".into(),
        case: Some("4711".into()),
        ..Settings::default()
    };
    let mut h = harness(&live, settings).await;
    h.key('/').type_text("Finance OU").press(KeyCode::Enter);
    h.key('R');
    carry_out(&mut h, &live);
    let wanted = h.app.review.as_ref().expect("review").keys().len();
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| app.review.as_ref().is_some_and(|r| r.done() >= wanted),
            Duration::from_secs(60)
        )
        .await,
        "the sweep's results are in"
    );
    let scope_before = h.app.review.as_ref().expect("review").scope.len();

    // X takes the review's outliers and failed runs.
    h.key('X');
    let Prompt::Run(dialog) = &h.app.prompt else {
        panic!("no run dialog:\n{}", h.text());
    };
    let targets = dialog.targets.len();
    assert!((2..=10).contains(&targets), "{targets} targets");
    assert!(dialog.from_review);
    h.assert_shows(&format!("Run live response on {targets} machines"));
    h.assert_shows("lrx: ana@jump01 · case 4711 · ");
    carry_out(&mut h, &live);
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| matches!(&app.prompt, Prompt::Run(d) if d.matching().len() > 5),
            Duration::from_secs(20)
        )
        .await
    );
    h.type_text("autoruns");
    h.assert_shows("Get-Autoruns.ps1")
        .assert_hides("Get-DnsCache.ps1");
    h.press(KeyCode::Tab).type_text("-Csv");
    h.press(KeyCode::Tab).type_text("outliers again");
    h.press(KeyCode::Enter);
    carry_out(&mut h, &live);
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| matches!(stage(app), Some(RunStage::Confirming(_))),
            Duration::from_secs(20)
        )
        .await,
        "{}",
        h.text()
    );
    let Some(RunStage::Confirming(preview)) = stage(&h.app) else {
        unreachable!()
    };
    let ready = preview.ready().count();
    // An inactive machine's session waits in the queue (2 h): it is not waited for here.
    let queued = preview.ready().filter(|t| t.machine.is_offline()).count();
    h.assert_shows("Will run RunScript Get-Autoruns.ps1 -Csv");
    h.assert_shows(&format!("runliveresponse {ready} of 10/min"));
    h.assert_shows(&format!("Type {ready} to start {ready} session(s)"));

    // A wrong count starts nothing.
    h.type_text(&(ready + 1).to_string()).press(KeyCode::Enter);
    assert!(h.take_effects().is_empty());
    h.assert_shows(&format!("type {ready} (the number of machines) to start"));
    h.type_text(&ready.to_string()).press(KeyCode::Enter);
    assert!(matches!(stage(&h.app), Some(RunStage::Launching { .. })));
    carry_out(&mut h, &live);
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| matches!(stage(app), Some(RunStage::Done { .. })),
            Duration::from_secs(30)
        )
        .await
    );
    h.assert_shows("done: the new actions are in the list");
    let created: Vec<String> = h
        .app
        .actions
        .iter()
        .filter(|a| a.requestor_comment.contains("outliers again"))
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(
        created.len(),
        ready,
        "the new actions joined the list at once"
    );
    let comment = &h.app.actions[0].requestor_comment;
    assert!(
        comment.starts_with("lrx: ana@jump01 · case 4711 · outliers again · run "),
        "{comment}"
    );
    h.press(KeyCode::Esc);
    assert_eq!(h.app.prompt, Prompt::None);
    let review = h.app.review.as_ref().expect("review");
    assert_eq!(
        review.scope.len(),
        scope_before + ready,
        "they joined the review"
    );

    // Followed by the refresh of unfinished actions until they end; their results come in.
    let done = |app: &App| {
        let ended: Vec<&MachineAction> = app
            .actions
            .iter()
            .filter(|a| created.contains(&a.id) && a.status.is_final())
            .collect();
        ended.len() == ready - queued
            && app.review.as_ref().is_some_and(|r| {
                ended
                    .iter()
                    .filter(|a| a.status == ActionStatus::Succeeded)
                    .all(|a| r.digests.keys().any(|key| key.action_id == a.id))
            })
    };
    assert!(
        pump(&mut h, &mut live, done, Duration::from_secs(90)).await,
        "the new sessions ended and their results reached the review:\n{}",
        h.text()
    );
    let review = h.app.review.as_mut().expect("review");
    review.refresh();
    let rows: usize = review.groups.iter().map(|g| g.rows.len()).sum();
    let succeeded = h
        .app
        .actions
        .iter()
        .filter(|a| created.contains(&a.id) && a.status == ActionStatus::Succeeded)
        .count();
    assert!(succeeded > 0, "some of the new sessions succeeded");
    let waiting = h
        .app
        .actions
        .iter()
        .filter(|a| created.contains(&a.id) && a.status == ActionStatus::Pending)
        .count();
    assert_eq!(
        waiting, queued,
        "the inactive machine's session waits in the queue"
    );
    assert!(
        rows >= scope_before + ready,
        "{rows} rows for {} actions",
        scope_before + ready
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_asks_for_a_comment_and_the_action_shows_cancelled() {
    let mut live = live().await;
    let settings = Settings {
        analyst: "ana@jump01".into(),
        ..Settings::default()
    };
    let mut h = harness(&live, settings).await;
    select_first(&mut h, &ActionStatus::Pending);
    let id = h.app.selected().expect("selected").id.clone();
    h.key('C');
    h.assert_shows("Cancel machine action").assert_shows(&id);
    h.assert_shows("lrx: ana@jump01 · ");
    h.type_text("stuck since Monday");
    h.press(KeyCode::Enter);
    h.assert_shows("cancelling…");
    carry_out(&mut h, &live);
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| app.prompt == Prompt::None,
            Duration::from_secs(20)
        )
        .await
    );
    let action: &MachineAction = h
        .app
        .actions
        .iter()
        .find(|a| a.id == id)
        .expect("still listed");
    assert_eq!(action.status, ActionStatus::Cancelled);
    assert!(
        action
            .cancellation_comment
            .as_deref()
            .is_some_and(|c| c.ends_with("stuck since Monday"))
    );
    h.assert_shows("now Cancelled");

    // A final action has nothing to cancel: said, and no dialog.
    select_first(&mut h, &ActionStatus::Succeeded);
    h.key('C');
    assert_eq!(h.app.prompt, Prompt::None);
    h.assert_shows("there is nothing to cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_profile_opens_neither_dialog() {
    let live = live().await;
    let settings = Settings {
        read_only: true,
        ..Settings::default()
    };
    let mut h = harness(&live, settings).await;
    h.key('X');
    assert_eq!(h.app.prompt, Prompt::None);
    assert!(h.take_effects().is_empty());
    h.assert_shows("read-only");
    h.key('C');
    assert_eq!(h.app.prompt, Prompt::None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_library_descriptions_reach_the_dialog_inert() {
    let mut live = live().await;
    let mut h = harness(&live, Settings::default()).await;
    h.key('X');
    carry_out(&mut h, &live);
    assert!(
        pump(
            &mut h,
            &mut live,
            |app| matches!(&app.prompt, Prompt::Run(d) if !d.matching().is_empty()),
            Duration::from_secs(20)
        )
        .await
    );
    h.type_text("cleanup");
    let text = h.text();
    assert!(
        text.contains("Invoke-Cleanup.ps1") && text.contains("Cleans temp folders"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    h.press(KeyCode::Esc);
    assert_eq!(h.app.prompt, Prompt::None);
}
