//! Fetch engine benchmarks, printed as plain numbers (run: `cargo bench --bench fetch`).
//!
//! 1. 500 uncached results against the simulated tenant at time-compressed limits
//!    (100 calls per 6 s, 1500 per 90 s: the documented limits ten times faster): the
//!    sustained call rate as a share of the allowed rate, and the number of 429s (must be 0).
//! 2. The same 500 from the cache: API calls (must be 0) and total time.
//! 3. A 200 MB download: peak resident memory before and after (must not grow with it).
//!
//! `LRX_BENCH_REAL_LIMITS=1` runs (1) with the real 100/min limits (about 5 minutes).

use std::time::{Duration, Instant};

use lrx::api::ListQuery;
use lrx::fetch::{FetchEvent, Priority, ResultKey, ResultState};
use lrx::session::{Session, SessionOptions};
use lrx::sim::{SimConfig, WindowLimit};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn open(limits: &[WindowLimit], cache: &std::path::Path, state: &std::path::Path) -> Session {
    Session::open(SessionOptions {
        demo: Some(SimConfig {
            limits: limits.to_vec(),
            ..SimConfig::default()
        }),
        cache_dir: Some(cache.to_path_buf()),
        state_dir: Some(state.to_path_buf()),
        rate_limits: Some(limits.to_vec()),
        ..SessionOptions::default()
    })
    .await
    .expect("session")
}

/// Total time, failures, and when each result became ready.
async fn fetch_all(session: &mut Session, keys: &[ResultKey]) -> (Duration, usize, Vec<Duration>) {
    let started = Instant::now();
    for key in keys {
        session.engine.fetch(key.clone(), Priority::Normal);
    }
    let mut done = 0;
    let mut failed = 0;
    let mut ready_at = Vec::new();
    while done < keys.len() {
        match session.events.recv().await {
            Some(FetchEvent::State(_, ResultState::Ready(_))) => {
                done += 1;
                ready_at.push(started.elapsed());
                if std::env::var("LRX_BENCH_TRACE").is_ok() && done % 25 == 0 {
                    eprintln!("{done} ready at {:.2} s", started.elapsed().as_secs_f64());
                }
            }
            Some(FetchEvent::State(_, ResultState::Failed(reason))) => {
                eprintln!("failed: {reason}");
                done += 1;
                failed += 1;
            }
            Some(_) => {}
            None => break,
        }
    }
    (started.elapsed(), failed, ready_at)
}

async fn rate_and_cache() {
    let real = std::env::var("LRX_BENCH_REAL_LIMITS").is_ok();
    let limits = if real {
        vec![WindowLimit::PER_MINUTE, WindowLimit::PER_HOUR]
    } else {
        vec![
            WindowLimit {
                calls: 100,
                period: Duration::from_secs(6),
            },
            WindowLimit {
                calls: 1500,
                period: Duration::from_secs(90),
            },
        ]
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let state = tempfile::tempdir().expect("tempdir");
    let mut session = open(&limits, cache.path(), state.path()).await;
    let actions = session
        .client
        .list_actions(&ListQuery::live_response(10_000), true)
        .await
        .expect("list")
        .actions;
    let keys: Vec<ResultKey> = actions
        .iter()
        .flat_map(ResultKey::of_action)
        .take(500)
        .collect();
    assert_eq!(keys.len(), 500, "the demo tenant has 500 results");
    let (elapsed, failed, ready_at) = fetch_all(&mut session, &keys).await;
    let demo = session.demo.as_ref().expect("demo");
    let calls = demo.api_calls();
    let throttled = demo.throttled_calls();
    // Calls go out in windows: a full one at once, the next when the first has aged out. The
    // sustained rate is the calls of all completed windows over the time at which the last
    // window opened (its first result's ready time). Call 1 was the list, so result i is
    // call i + 2.
    let window = limits[0];
    let per_window = u64::from(window.calls);
    let full_windows = (calls - 1) / per_window;
    let last_window_opened = ready_at[usize::try_from(full_windows * per_window - 1).unwrap_or(0)];
    let achieved_rate = (full_windows * per_window) as f64 / last_window_opened.as_secs_f64();
    let allowed_rate = f64::from(window.calls) / window.period.as_secs_f64();
    println!(
        "uncached: 500 results, {calls} API calls in {:.1} s, {failed} failed, {throttled} × 429; sustained {:.2} calls/s of {:.2} allowed = {:.1} %",
        elapsed.as_secs_f64(),
        achieved_rate,
        allowed_rate,
        100.0 * achieved_rate / allowed_rate
    );
    drop(session);

    let mut again = open(&limits, cache.path(), state.path()).await;
    let (elapsed, failed, _) = fetch_all(&mut again, &keys).await;
    println!(
        "cached: 500 results in {:.0} ms, {} API calls, {failed} failed",
        elapsed.as_secs_f64() * 1000.0,
        again.demo.as_ref().expect("demo").api_calls()
    );
}

async fn large_download() {
    use axum::body::{Body, Bytes};
    const SIZE: usize = 200 * 1024 * 1024;
    let app = axum::Router::new().fallback(|| async {
        let chunk = Bytes::from(vec![b'x'; 1024 * 1024]);
        let stream = futures_util::stream::iter(
            (0..SIZE / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
        );
        let mut response = axum::response::Response::new(Body::from_stream(stream));
        response.headers_mut().insert("content-length", SIZE.into());
        response
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/blob/x?se=2099-01-01T00%3A00%3A00Z&sig=s",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let link = lrx::api::link::ResultLink::new(
        lrx::api::link::SasUrl::parse(&url).expect("url"),
        chrono::Utc::now(),
        None,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let before = peak_rss_kib();
    let started = Instant::now();
    let http = lrx::session::http_client().expect("http");
    let downloaded = lrx::fetch::download::download(
        &http,
        &link,
        &dir.path().join("big"),
        lrx::fetch::DownloadLimits::default(),
        |_, _| {},
    )
    .await
    .expect("download");
    println!(
        "200 MB download: {} bytes in {:.2} s, peak RSS {} MiB before, {} MiB after",
        downloaded.size,
        started.elapsed().as_secs_f64(),
        before / 1024,
        peak_rss_kib() / 1024
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        large_download().await;
        rate_and_cache().await;
    });
}
