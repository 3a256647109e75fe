//! The team store's overhead per API call on loopback, printed as plain numbers (run:
//! `cargo bench --bench team`): the latency of one budget step (`try_take`, one round trip
//! with its Lua script) on a real `redis-server`, beside the machine's file store and the
//! memory store. Skipped, saying so, when `redis-server` is not installed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lrx::api::limits::{Api, LimitTable, WindowLimit};
use lrx::fetch::budget::{BudgetStore, FileStore, MemoryStore, Policy, TeamStore};
use lrx::team::{Team, TeamUrl};

const STEPS: usize = 2_000;

fn policy() -> Policy {
    // Limits no bench can reach, so every step counts a call.
    Policy::new(
        &LimitTable::with_standard(vec![
            WindowLimit {
                calls: 10_000_000,
                period: Duration::from_secs(60),
            },
            WindowLimit {
                calls: 100_000_000,
                period: Duration::from_secs(3600),
            },
        ]),
        Duration::from_secs(600),
    )
}

async fn steps(name: &str, store: &dyn BudgetStore) {
    let mut took = Vec::with_capacity(STEPS);
    for _ in 0..STEPS {
        let start = Instant::now();
        store
            .try_take(Api::ResultLink, true)
            .await
            .expect("room in the budget");
        took.push(start.elapsed());
    }
    took.sort_unstable();
    let mean = took.iter().sum::<Duration>() / u32::try_from(STEPS).unwrap_or(1);
    let at = |percent: usize| took[(STEPS - 1) * percent / 100];
    println!(
        "{name:<12} {STEPS} steps: mean {:>7.1} µs · p50 {:>7.1} µs · p99 {:>7.1} µs · max {:>8.1} µs",
        mean.as_secs_f64() * 1e6,
        at(50).as_secs_f64() * 1e6,
        at(99).as_secs_f64() * 1e6,
        took[STEPS - 1].as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() {
    lrx::install_crypto_provider();
    steps("memory", &MemoryStore::new(policy())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The file store rewrites its whole log each step: a fresh file, as an idle machine's.
    steps(
        "file",
        &FileStore::new(policy(), dir.path().join("budget.log")),
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let Ok(mut redis) = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--requirepass", "bench"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
    else {
        println!("redis-server is not installed: the team store was not measured");
        return;
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = TeamUrl::parse(&format!("redis://:bench@127.0.0.1:{port}/0")).expect("url");
    let team = Team::connect(&url, "bench", "bench@host#1".into())
        .await
        .expect("team store");
    steps("team (redis)", &TeamStore::new(team, policy())).await;
    let _ = redis.kill();
    let _ = redis.wait();
}
