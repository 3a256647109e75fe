//! The fetch engine through a real session on the simulated tenant: the whole lifecycle,
//! the cache, the budget under load, truncated downloads.

use std::collections::HashMap;
use std::time::Duration;

use lrx::api::ListQuery;
use lrx::fetch::{FetchEvent, Fetched, Priority, ResultKey, ResultState};
use lrx::session::{Session, SessionOptions};
use lrx::sim::{Faults, SimConfig, WindowLimit};

struct Dirs {
    cache: tempfile::TempDir,
    state: tempfile::TempDir,
}

fn dirs() -> Dirs {
    Dirs {
        cache: tempfile::tempdir().expect("tempdir"),
        state: tempfile::tempdir().expect("tempdir"),
    }
}

async fn session(config: SimConfig, dirs: &Dirs, limits: Option<Vec<WindowLimit>>) -> Session {
    Session::open(SessionOptions {
        demo: Some(config),
        cache_dir: Some(dirs.cache.path().to_path_buf()),
        state_dir: Some(dirs.state.path().to_path_buf()),
        rate_limits: limits,
        ..SessionOptions::default()
    })
    .await
    .expect("session")
}

/// Every (action, index) with a downloadable result, newest actions first.
async fn result_keys(session: &Session, count: usize) -> Vec<ResultKey> {
    let actions = session
        .client
        .list_actions(
            &ListQuery {
                statuses: vec!["Succeeded".into()],
                ..ListQuery::live_response(1000)
            },
            true,
        )
        .await
        .expect("list")
        .actions;
    actions
        .iter()
        .flat_map(ResultKey::of_action)
        // Keep the >20 MB outputs out of the fast tests.
        .filter(|k| !k.action_id.is_empty())
        .take(count)
        .collect()
}

/// Waits until every key is Ready or Failed; returns the outcomes and every state seen.
async fn collect(
    session: &mut Session,
    keys: &[ResultKey],
) -> (
    HashMap<ResultKey, Result<std::sync::Arc<Fetched>, String>>,
    Vec<(ResultKey, ResultState)>,
) {
    let mut outcomes = HashMap::new();
    let mut seen = Vec::new();
    while outcomes.len() < keys.len() {
        let event = tokio::time::timeout(Duration::from_secs(120), session.events.recv())
            .await
            .expect("the engine makes progress")
            .expect("engine alive");
        if let FetchEvent::State(key, state) = event {
            match &state {
                ResultState::Ready(fetched) => {
                    outcomes.insert(key.clone(), Ok(fetched.clone()));
                }
                ResultState::Failed(reason) => {
                    outcomes.insert(key.clone(), Err(reason.clone()));
                }
                _ => {}
            }
            seen.push((key, state));
        }
    }
    (outcomes, seen)
}

#[tokio::test]
async fn results_go_through_every_state_and_come_from_cache_the_second_time() {
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let keys: Vec<ResultKey> = result_keys(&session, 200)
        .await
        .into_iter()
        .filter(|k| k.index == 0)
        .take(12)
        .collect();
    for key in &keys {
        session.engine.fetch(key.clone(), Priority::Normal);
    }
    let (outcomes, seen) = collect(&mut session, &keys).await;
    assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    let first = &keys[0];
    let states: Vec<&ResultState> = seen
        .iter()
        .filter(|(k, _)| k == first)
        .map(|(_, s)| s)
        .collect();
    assert!(matches!(states[0], ResultState::Queued));
    assert!(
        states
            .iter()
            .any(|s| matches!(s, ResultState::RequestingLink))
    );
    assert!(
        states
            .iter()
            .any(|s| matches!(s, ResultState::Downloading { .. }))
    );
    let ready = outcomes[first].as_ref().expect("ready");
    assert!(!ready.from_cache);
    assert!(
        ready
            .link_expires_at
            .is_some_and(|t| t > chrono::Utc::now() + chrono::Duration::minutes(29))
    );

    // A new session on the same cache: zero API calls for the same results.
    let calls_before = session.demo.as_ref().expect("demo").api_calls();
    drop(session);
    let mut again = self::session(SimConfig::default(), &dirs, None).await;
    for key in &keys {
        again.engine.fetch(key.clone(), Priority::Normal);
    }
    let (outcomes, _) = collect(&mut again, &keys).await;
    assert!(
        outcomes
            .values()
            .all(|o| o.as_ref().is_ok_and(|f| f.from_cache))
    );
    assert_eq!(
        again.demo.as_ref().expect("demo").api_calls(),
        0,
        "a cache hit costs no API call"
    );
    assert!(calls_before >= keys.len() as u64);
}

#[tokio::test]
async fn a_corrupted_cache_entry_is_fetched_again() {
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let key = result_keys(&session, 1).await.remove(0);
    session.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, _) = collect(&mut session, std::slice::from_ref(&key)).await;
    let path = outcomes[&key].as_ref().expect("ready").path.clone();
    drop(session);
    std::fs::write(&path, b"flipped bits").expect("corrupt the entry");
    let mut again = self::session(SimConfig::default(), &dirs, None).await;
    again.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, _) = collect(&mut again, std::slice::from_ref(&key)).await;
    assert!(!outcomes[&key].as_ref().expect("ready").from_cache);
}

/// Rewrites a cache entry as a large payload with these bytes, its metadata claiming
/// `claimed` as their SHA-256.
fn plant_large_entry(path: &std::path::Path, bytes: &[u8], claimed: &str) {
    std::fs::write(path, bytes).expect("payload");
    let meta_path = path.with_extension("json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).expect("meta")).expect("meta json");
    meta["size"] = serde_json::json!(bytes.len());
    meta["sha256"] = serde_json::json!(claimed);
    std::fs::write(&meta_path, meta.to_string()).expect("meta");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn a_large_cached_copy_is_announced_while_checked_and_refetched_when_it_fails() {
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let key = result_keys(&session, 1).await.remove(0);
    session.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, _) = collect(&mut session, std::slice::from_ref(&key)).await;
    let first = outcomes[&key].as_ref().expect("ready").clone();
    drop(session);

    // Intact: announced as being checked, then ready from the cache, with no call.
    let large = vec![b'x'; 2 * 1024 * 1024];
    plant_large_entry(&first.path, &large, &sha256(&large));
    let mut again = self::session(SimConfig::default(), &dirs, None).await;
    again.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, seen) = collect(&mut again, std::slice::from_ref(&key)).await;
    let states: Vec<&ResultState> = seen.iter().map(|(_, s)| s).collect();
    assert!(
        matches!(
            states.as_slice(),
            [
                ResultState::Queued,
                ResultState::Verifying(_),
                ResultState::Ready(_)
            ]
        ),
        "{states:?}"
    );
    assert!(outcomes[&key].as_ref().expect("ready").from_cache);
    drop(again);

    // One byte flipped: announced, then fetched again, and the service's bytes kept.
    let mut flipped = large.clone();
    flipped[1_000_000] = b'y';
    plant_large_entry(&first.path, &flipped, &sha256(&large));
    let mut third = self::session(SimConfig::default(), &dirs, None).await;
    third.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, seen) = collect(&mut third, std::slice::from_ref(&key)).await;
    let states: Vec<&ResultState> = seen.iter().map(|(_, s)| s).collect();
    let checked = states
        .iter()
        .position(|s| matches!(s, ResultState::Verifying(_)))
        .expect("announced while checked");
    assert!(
        states[checked..]
            .iter()
            .any(|s| matches!(s, ResultState::RequestingLink)),
        "fetched again after the check failed: {states:?}"
    );
    let fetched = outcomes[&key].as_ref().expect("ready");
    assert!(!fetched.from_cache);
    assert_eq!(
        fetched.sha256, first.sha256,
        "the service's bytes, not the planted ones"
    );
    assert_eq!(
        sha256(&std::fs::read(&fetched.path).expect("payload")),
        first.sha256
    );
}

#[tokio::test]
async fn under_a_tight_budget_nothing_is_throttled_and_the_rate_is_used() {
    let limits = vec![
        WindowLimit {
            calls: 10,
            period: Duration::from_secs(2),
        },
        WindowLimit {
            calls: 40,
            period: Duration::from_secs(60),
        },
    ];
    let dirs = dirs();
    let config = SimConfig {
        limits: limits.clone(),
        ..SimConfig::default()
    };
    let mut session = session(config, &dirs, Some(limits)).await;
    let keys = result_keys(&session, 40).await;
    let keys: Vec<_> = keys.into_iter().take(25).collect();
    let started = std::time::Instant::now();
    for key in &keys {
        session.engine.fetch(key.clone(), Priority::Normal);
    }
    let (outcomes, seen) = collect(&mut session, &keys).await;
    let elapsed = started.elapsed();
    assert!(outcomes.values().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(
        session.demo.as_ref().expect("demo").throttled_calls(),
        0,
        "lrx never causes a 429"
    );
    assert!(
        seen.iter()
            .any(|(_, s)| matches!(s, ResultState::WaitingForBudget { .. })),
        "the budget was felt"
    );
    // 1 list call + 25 links at 10 per 2 s: at least two full windows of waiting.
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn truncated_downloads_are_retried_and_then_reported() {
    let dirs = dirs();
    let config = SimConfig {
        faults: Faults {
            truncated_blobs: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let mut session = session(config, &dirs, None).await;
    let key = result_keys(&session, 1).await.remove(0);
    session.engine.fetch(key.clone(), Priority::Interactive);
    let (outcomes, _) = collect(&mut session, std::slice::from_ref(&key)).await;
    let reason = outcomes[&key]
        .as_ref()
        .expect_err("every attempt is cut off");
    assert!(
        reason.contains("downloading the result failed")
            && (reason.contains("cut off")
                || reason.contains("truncated")
                || reason.contains("connection")),
        "{reason}"
    );
    let left: Vec<String> = files_under(dirs.cache.path())
        .into_iter()
        .filter(|name| name.contains(&key.action_id.to_ascii_lowercase()))
        .collect();
    assert!(
        left.is_empty(),
        "no entry and no partial download of the failed result is left: {left:?}"
    );

    let config = SimConfig {
        faults: Faults {
            truncated_blobs: 0.5,
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let mut session = self::session(config, &dirs, None).await;
    let keys: Vec<_> = result_keys(&session, 6).await;
    for key in &keys {
        session.engine.fetch(key.clone(), Priority::Interactive);
    }
    let (outcomes, _) = collect(&mut session, &keys).await;
    assert!(
        outcomes.values().filter(|o| o.is_ok()).count() >= 4,
        "retries get most through: {outcomes:?}"
    );
    let kept = files_under(dirs.cache.path());
    assert!(
        kept.iter().any(|name| name.ends_with(".payload")),
        "what got through is in the cache (so the check above looks where entries live): {kept:?}"
    );
    assert!(
        !kept.iter().any(|name| name.ends_with(".part")),
        "no partial download is left behind: {kept:?}"
    );
}

/// The names of every file below `dir`, at any depth.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

#[tokio::test]
async fn a_withdrawn_prefetch_costs_no_call_and_a_wanted_fetch_is_not_withdrawn() {
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let keys = result_keys(&session, 12).await;
    let calls_before = session.demo.as_ref().expect("demo").api_calls();
    // Two downloads run at once: everything behind them is still queued when withdrawn.
    for key in &keys {
        session.engine.fetch(key.clone(), Priority::Prefetch);
    }
    let (kept, withdrawn) = keys.split_at(4);
    session.engine.fetch(kept[3].clone(), Priority::Normal);
    for key in withdrawn.iter().chain(&kept[3..]) {
        session.engine.withdraw(key.clone(), Priority::Prefetch);
    }
    let mut cancelled = std::collections::HashSet::new();
    let mut ready = std::collections::HashSet::new();
    while ready.len() + cancelled.len() < keys.len() {
        let event = tokio::time::timeout(Duration::from_secs(60), session.events.recv())
            .await
            .expect("progress")
            .expect("engine");
        match event {
            FetchEvent::State(key, ResultState::Cancelled) => {
                cancelled.insert(key);
            }
            FetchEvent::State(key, ResultState::Ready(_)) => {
                ready.insert(key);
            }
            FetchEvent::State(_, ResultState::Failed(reason)) => panic!("{reason}"),
            _ => {}
        }
    }
    assert!(
        ready.contains(&kept[3]),
        "a fetch asked for at Normal stays"
    );
    assert!(
        !withdrawn.iter().any(|k| ready.contains(k)),
        "nothing withdrawn was fetched"
    );
    assert!(cancelled.len() >= withdrawn.len() - 2, "{cancelled:?}");
    let calls = session.demo.as_ref().expect("demo").api_calls() - calls_before;
    assert!(
        calls <= 2 * ready.len() as u64,
        "withdrawn results spent no link call: {calls} calls for {} results",
        ready.len()
    );
}

#[tokio::test]
async fn interactive_requests_jump_the_prefetch_queue() {
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let keys = result_keys(&session, 30).await;
    let (prefetch, wanted) = keys.split_at(29);
    for key in prefetch {
        session.engine.fetch(key.clone(), Priority::Prefetch);
    }
    session
        .engine
        .fetch(wanted[0].clone(), Priority::Interactive);
    let (_, seen) = collect(&mut session, &keys).await;
    let ready_order: Vec<&ResultKey> = seen
        .iter()
        .filter(|(_, s)| matches!(s, ResultState::Ready(_)))
        .map(|(k, _)| k)
        .collect();
    let position = ready_order
        .iter()
        .position(|k| **k == wanted[0])
        .expect("fetched");
    assert!(
        position < 10,
        "the analyst's result came {position}th of 30"
    );
}

#[tokio::test]
async fn a_result_larger_than_the_cache_is_still_shown_and_the_cache_kept() {
    let dirs = dirs();
    let mut session = Session::open(SessionOptions {
        demo: Some(SimConfig::default()),
        cache_dir: Some(dirs.cache.path().to_path_buf()),
        state_dir: Some(dirs.state.path().to_path_buf()),
        // Smaller than any transcript of the demo tenant.
        cache_max_bytes: Some(64),
        ..SessionOptions::default()
    })
    .await
    .expect("session");
    let keys = result_keys(&session, 2).await;
    for key in &keys {
        session.engine.fetch(key.clone(), Priority::Interactive);
    }
    let (outcomes, _) = collect(&mut session, &keys).await;
    for key in &keys {
        let fetched = outcomes[key].as_ref().expect("ready");
        assert!(fetched.size > 64, "the test needs results over the cap");
        let bytes = std::fs::read(&fetched.path).expect("still there to be shown");
        assert_eq!(bytes.len() as u64, fetched.size);
        assert!(
            !fetched.path.starts_with(dirs.cache.path()),
            "kept for this session, not in the cache it would overflow"
        );
    }
}

/// The next list event, skipping meters and result states.
async fn next_list_event(session: &mut Session) -> lrx::fetch::ListEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), session.events.recv())
            .await
            .expect("the engine answers")
            .expect("engine alive");
        if let FetchEvent::List(listed) = event {
            return listed;
        }
    }
}

#[tokio::test]
async fn list_loads_coalesce_and_a_newer_one_replaces_the_one_under_way() {
    use lrx::fetch::{ListEvent, ListRequest};
    let dirs = dirs();
    // Every call takes a while, so the second request comes while the first is under way.
    let mut session = session(
        SimConfig {
            latency: Duration::from_millis(300),
            ..SimConfig::default()
        },
        &dirs,
        None,
    )
    .await;
    let before = session_calls(&session);
    let first = ListQuery::live_response(5);
    session.engine.list(ListRequest::Load {
        query: first.clone(),
        append: false,
    });
    session.engine.list(ListRequest::Load {
        query: first,
        append: false,
    });
    let ListEvent::Loaded { result, .. } = next_list_event(&mut session).await else {
        panic!("a load was asked for");
    };
    assert_eq!(result.expect("listed").len(), 5);
    assert_eq!(
        session_calls(&session) - before,
        1,
        "the same load asked twice ran once"
    );

    // A newer load (another page size) replaces the one under way; a refresh meanwhile is
    // left out, because the full load reads those actions anyway.
    session.engine.list(ListRequest::Load {
        query: ListQuery::live_response(3),
        append: false,
    });
    session.engine.list(ListRequest::Load {
        query: ListQuery::live_response(2),
        append: false,
    });
    session.engine.list(ListRequest::Refresh {
        query: ListQuery::live_response(5),
        watched: vec!["any-unfinished-action".into()],
    });
    let ListEvent::Loaded { result, .. } = next_list_event(&mut session).await else {
        panic!("only the load answers");
    };
    assert_eq!(result.expect("listed").len(), 2, "the newer load's answer");
    // Nothing else comes: the replaced load and the skipped refresh say nothing.
    let more = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(FetchEvent::List(event)) = session.events.recv().await {
                return event;
            }
        }
    })
    .await;
    assert!(more.is_err(), "{more:?}");
}

fn session_calls(session: &Session) -> u64 {
    session.demo.as_ref().expect("demo").api_calls()
}

#[tokio::test]
async fn a_refresh_is_one_list_call_and_one_read_per_action_that_finished() {
    use lrx::fetch::{ListEvent, ListRequest};
    let dirs = dirs();
    let mut session = session(SimConfig::default(), &dirs, None).await;
    let finished: Vec<String> = session
        .client
        .list_actions(
            &ListQuery {
                statuses: vec!["Succeeded".into()],
                ..ListQuery::live_response(3)
            },
            true,
        )
        .await
        .expect("list")
        .actions
        .into_iter()
        .map(|a| a.id)
        .collect();
    let before = session_calls(&session);
    session.engine.list(ListRequest::Refresh {
        query: ListQuery {
            statuses: vec!["Pending".into(), "InProgress".into()],
            ..ListQuery::live_response(300)
        },
        watched: finished.clone(),
    });
    let ListEvent::Refreshed(results) = next_list_event(&mut session).await else {
        panic!("a refresh was asked for");
    };
    let results: Vec<_> = results.into_iter().map(|r| r.expect("read")).collect();
    assert!(
        results
            .iter()
            .filter(|a| !finished.contains(&a.id))
            .all(|a| !a.status.is_final()),
        "the list brings the unfinished ones"
    );
    for id in &finished {
        let read = results
            .iter()
            .find(|a| &a.id == id)
            .expect("the finished one is read");
        assert!(read.status.is_final());
    }
    assert_eq!(
        session_calls(&session) - before,
        1 + 3,
        "one list call, and one read for each of the three that finished"
    );
}

#[tokio::test]
async fn a_review_leaves_the_reserve_to_what_the_analyst_opens() {
    let limits = vec![
        WindowLimit {
            calls: 10,
            period: Duration::from_secs(4),
        },
        WindowLimit {
            calls: 1000,
            period: Duration::from_secs(3600),
        },
    ];
    let dirs = dirs();
    let config = SimConfig {
        limits: limits.clone(),
        ..SimConfig::default()
    };
    let mut session = session(config, &dirs, Some(limits)).await;
    let keys = result_keys(&session, 13).await;
    let (review, opened) = keys.split_at(12);
    for key in review {
        session.engine.fetch(key.clone(), Priority::Normal);
    }
    // The review spends its 8 of the window's 10, then waits.
    let mut ready = 0;
    let mut waiting = false;
    while ready < 8 || !waiting {
        let event = tokio::time::timeout(Duration::from_secs(30), session.events.recv())
            .await
            .expect("progress")
            .expect("engine alive");
        match event {
            FetchEvent::State(_, ResultState::Ready(_)) => ready += 1,
            FetchEvent::State(_, ResultState::WaitingForBudget { .. }) => waiting = true,
            _ => {}
        }
    }
    assert_eq!(ready, 8, "no more than the review's share went out");
    session
        .engine
        .fetch(opened[0].clone(), Priority::Interactive);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), session.events.recv())
            .await
            .expect("progress")
            .expect("engine alive");
        match event {
            FetchEvent::State(key, ResultState::WaitingForBudget { .. }) if key == opened[0] => {
                panic!("the analyst's open waited behind the review")
            }
            FetchEvent::State(key, ResultState::Ready(_)) if key == opened[0] => break,
            FetchEvent::State(_, ResultState::Ready(_)) => ready += 1,
            _ => {}
        }
    }
    assert_eq!(
        ready, 8,
        "the open went out of the reserve, before the window freed"
    );
}
