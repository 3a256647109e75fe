//! Team mode against a real Redis: `redis-server` (Debian's package; `.ci/run` installs it)
//! started on a free port with a password and no persistence, one per test. Without the
//! binary the tests say so and pass, except under CI, where that is a failure.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lrx::api::limits::{Api, LimitTable, WindowLimit};
use lrx::fetch::budget::{BudgetStore, Policy, Scope};
use lrx::fetch::{Budget, TeamStore};
use lrx::team::{Team, TeamError, TeamUrl};
use support::redis::Redis;

fn policy(calls: u32) -> Policy {
    Policy::new(
        &LimitTable::with_standard(vec![
            WindowLimit {
                calls,
                period: Duration::from_secs(60),
            },
            WindowLimit {
                calls: calls * 15,
                period: Duration::from_secs(3600),
            },
        ]),
        Duration::from_secs(600),
    )
}

async fn member(redis: &Redis, name: &str, calls: u32) -> TeamStore {
    lrx::install_crypto_provider();
    let team = Team::connect(
        &TeamUrl::parse(&redis.url_text()).expect("url"),
        "test-scope",
        name.into(),
    )
    .await
    .expect("connected");
    TeamStore::new(team, policy(calls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_never_take_more_than_the_window_between_them() {
    let Some(redis) = Redis::start() else { return };
    let mut members = Vec::new();
    for name in ["ana@a#1", "ben@b#2", "cy@c#3"] {
        members.push(Arc::new(member(&redis, name, 30).await));
    }
    let mut racing = Vec::new();
    for store in &members {
        let store = Arc::clone(store);
        racing.push(tokio::spawn(async move {
            let mut taken = 0;
            while store.try_take(Api::ResultLink, true).await.is_ok() {
                taken += 1;
            }
            taken
        }));
    }
    let mut taken = 0;
    for race in racing {
        taken += race.await.expect("member");
    }
    assert_eq!(taken, 30, "the window's 30 between the three, not one more");
    let usage = members[0].usage().await;
    assert_eq!(usage.scope, Scope::Team { members: 3 });
    assert_eq!(usage.apis[&Api::ResultLink].windows[0].used, 30);
    assert!(
        !usage.apis[&Api::ResultLink].interactive_wait.is_zero(),
        "the next call waits for the window"
    );
    assert_eq!(
        usage.apis[&Api::GetAction].windows[0].used,
        0,
        "each API counts on its own"
    );
    // Reviews leave the analysts' reserve: a fresh API lets 80 % go in the background.
    let mut background = 0;
    while members[1].try_take(Api::GetAction, false).await.is_ok() {
        background += 1;
    }
    assert_eq!(background, 24);
    assert!(members[2].try_take(Api::GetAction, true).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_one_member_sees_holds_that_api_for_the_team() {
    let Some(redis) = Redis::start() else { return };
    let seen = member(&redis, "ana@a#1", 100).await;
    let other = Budget::new(Box::new(member(&redis, "ben@b#2", 100).await));
    seen.hold(Api::ListActions, Duration::from_secs(30)).await;
    let held = other
        .next_allowed(Api::ListActions, true)
        .await
        .expect("held for the team");
    let wait = held - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::seconds(25) && wait <= chrono::Duration::seconds(31),
        "{wait}"
    );
    assert!(
        other.next_allowed(Api::ResultLink, true).await.is_none(),
        "and no other API"
    );
    let meter = other.snapshot().await;
    assert!(
        meter
            .others
            .iter()
            .any(|o| o.api == Api::ListActions && o.throttled_until.is_some()),
        "{meter:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_no_server_are_said_plainly() {
    let Some(redis) = Redis::start() else { return };
    lrx::install_crypto_provider();
    let wrong =
        TeamUrl::parse(&format!("redis://:not-it@127.0.0.1:{}/0", redis.port)).expect("url");
    let error = Team::connect(&wrong, "s", "m".into())
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, TeamError::Auth { .. }), "{error:?}");
    assert!(!error.to_string().contains("not-it"), "{error}");
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let gone = TeamUrl::parse(&format!("redis://:pw@127.0.0.1:{nobody}/0")).expect("url");
    let error = Team::connect(&gone, "s", "m".into())
        .await
        .err()
        .expect("unreachable");
    assert!(matches!(error, TeamError::Unreachable { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_store_leaves_each_member_its_share_and_is_rejoined() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let said = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let heard = Arc::clone(&said);
    let ana = member(&redis, "ana@a#1", 20)
        .await
        .saying(move |message| heard.lock().expect("said").push(message.to_string()));
    let ben = member(&redis, "ben@b#2", 20).await;
    for _ in 0..4 {
        ana.try_take(Api::ResultLink, true).await.expect("room");
        ben.try_take(Api::ResultLink, true).await.expect("room");
    }
    redis.stop();
    // The team had 8 of 20 in the minute and two members: Ana may make 10 - 4 = 6 alone.
    let mut alone = 0;
    while ana.try_take(Api::ResultLink, true).await.is_ok() {
        alone += 1;
    }
    assert_eq!(alone, 6, "her share of what was left, no more");
    let usage = ana.usage().await;
    assert_eq!(usage.scope, Scope::TeamLost { members: 2 });
    {
        let said = said.lock().expect("said");
        assert_eq!(said.len(), 1, "said once: {said:?}");
        assert!(said[0].contains("team store is lost"), "{said:?}");
        assert!(!said[0].contains(&redis.password), "{said:?}");
    }
    // Back on the same port: after the retry interval the team budget is used again.
    let port = redis.port;
    let _back = Redis::on(port);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(ana.try_take(Api::GetAction, true).await.is_ok());
    let usage = ana.usage().await;
    assert_eq!(usage.scope, Scope::Team { members: 1 });
    assert_eq!(
        usage.apis[&Api::ResultLink].windows[0].used,
        6,
        "the store came back empty; the calls Ana made alone are counted again"
    );
    let said = said.lock().expect("said");
    assert!(
        said.last().is_some_and(|m| m.contains("is back")),
        "{said:?}"
    );
}

fn lrx(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("lrx")
}

#[test]
fn doctor_checks_the_team_store_and_a_wrong_password_stops_with_exit_2() {
    let Some(redis) = Redis::start() else { return };
    let home = tempfile::tempdir().expect("home");
    let url = redis.url_text();
    let doctor = lrx(home.path(), &["doctor", "--demo", "--team", &url]);
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{stdout}");
    assert!(
        stdout.contains("✔ team store (Redis)") && stdout.contains("round trip"),
        "{stdout}"
    );
    assert!(!stdout.contains(&redis.password), "{stdout}");
    let wrong = format!("redis://:wrong-one@127.0.0.1:{}/0", redis.port);
    let refused = lrx(home.path(), &["actions", "--demo", "--team", &wrong]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused the password") && !stderr.contains("wrong-one"),
        "{stderr}"
    );
    // Fetching through the team budget works end to end, and the store holds only counts.
    let listed = lrx(
        home.path(),
        &[
            "actions", "--demo", "--team", &url, "--json", "--limit", "3",
        ],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let mut keys = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "-a",
            &redis.password,
            "--no-auth-warning",
        ])
        .args(["--scan", "--pattern", "lrx:*"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    keys.sort();
    assert!(
        keys.iter().any(|k| k.ends_with(":api:list:calls"))
            && keys.iter().all(|k| {
                k.ends_with(":calls") || k.ends_with(":hold") || k.ends_with(":members")
            }),
        "{keys:?}"
    );
}
