//! The client-side rate budget: each API's sliding windows (100 calls/minute and 1500/hour
//! for most), counted per API as the service counts them, that every API call waits on, so
//! lrx never causes a 429 itself; a 429 holds the API it came from and no other. The call
//! log can live in a file under a lock, so every lrx process for the same tenant and app
//! shares one budget.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::meter::{ApiUse, MeterSnapshot, WindowUsage, clock_duration};
use crate::api::CallBudget;
use crate::api::limits::{Api, BudgetWait, LimitTable, WindowLimit};

/// Wall-clock milliseconds that advance with tokio's clock, so tests can pause time and
/// separate processes still agree on what "now" means.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_at_start_ms: i64,
    start: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            wall_at_start_ms: Utc::now().timestamp_millis(),
            start: tokio::time::Instant::now(),
        }
    }

    fn now_ms(self) -> i64 {
        self.wall_at_start_ms
            + i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// What the budget has counted, per API: the calls still inside a window, and how long the
/// service asked each API to wait.
#[derive(Debug, Default)]
struct Log {
    calls: BTreeMap<Api, VecDeque<i64>>,
    throttled_until_ms: BTreeMap<Api, i64>,
}

impl Log {
    /// Lines `c API MS` (a call) and `t API MS` (held until). The single budget of older
    /// versions wrote `c MS`: those calls count against the result-link API, the one they
    /// were almost all made for.
    fn parse(text: &str) -> Self {
        let mut log = Self::default();
        for line in text.lines() {
            let mut parts = line.split(' ');
            let (kind, first, second) = (parts.next(), parts.next(), parts.next());
            let (api, ms) = match (first, second) {
                (Some(name), Some(ms)) => (Api::from_name(name), ms),
                (Some(ms), None) => (Some(Api::ResultLink), ms),
                _ => continue,
            };
            let (Some(api), Ok(ms)) = (api, ms.parse::<i64>()) else {
                continue;
            };
            match kind {
                Some("c") => log.calls.entry(api).or_default().push_back(ms),
                Some("t") => {
                    log.throttled_until_ms.insert(api, ms);
                }
                _ => {}
            }
        }
        for calls in log.calls.values_mut() {
            calls.make_contiguous().sort_unstable();
        }
        log
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (api, calls) in &self.calls {
            for ms in calls {
                out.push_str(&format!("c {} {ms}\n", api.name()));
            }
        }
        for (api, until) in &self.throttled_until_ms {
            out.push_str(&format!("t {} {until}\n", api.name()));
        }
        out
    }

    /// Drops what has left every window. Stamps from the future (a clock stepped back,
    /// another machine's clock) count as now, and a hold longer than `max_hold_ms` is cut
    /// to it, so a bad entry can never park every process for an hour or for days.
    /// True when a bad entry was mended (so the mended log is written back).
    fn prune(&mut self, now: i64, longest_ms: impl Fn(Api) -> i64, max_hold_ms: i64) -> bool {
        let mut mended = false;
        for (api, calls) in &mut self.calls {
            let longest = longest_ms(*api);
            while calls.front().is_some_and(|t| now - t >= longest) {
                calls.pop_front();
            }
            for stamp in calls.iter_mut().rev() {
                if *stamp <= now {
                    break;
                }
                *stamp = now;
                mended = true;
            }
        }
        self.calls.retain(|_, calls| !calls.is_empty());
        self.throttled_until_ms.retain(|_, until| *until > now);
        for until in self.throttled_until_ms.values_mut() {
            let capped = (*until).min(now.saturating_add(max_hold_ms));
            mended |= capped != *until;
            *until = capped;
        }
        mended
    }
}

pub struct RateLimiter {
    /// Each API's windows, as the service counts them.
    limits: BTreeMap<Api, Vec<WindowLimit>>,
    /// Share of each window that prefetching leaves for what the analyst asks for next.
    reserve: f64,
    shared_log: Option<PathBuf>,
    memory: Mutex<Log>,
    session_calls: Mutex<u64>,
    clock: Clock,
    /// The longest a 429 may hold calls (the client's `Retry-After` cap).
    max_hold_ms: i64,
    /// What the service last asked for when lrx capped it, per API, for the meter.
    asked_until: Mutex<BTreeMap<Api, DateTime<Utc>>>,
    /// How often the log was read (under the cross-process lock when shared): an idle UI
    /// should not read it at all.
    reads: std::sync::atomic::AtomicU64,
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

fn to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl RateLimiter {
    /// The documented table with these standard windows (`100/1m,1500/1h` unless a test or
    /// a time-compressed demo says otherwise). `shared_log`: a file shared by every lrx
    /// process of this tenant and app.
    pub fn new(standard: Vec<WindowLimit>, shared_log: Option<PathBuf>) -> Self {
        Self::with_table(&LimitTable::with_standard(standard), shared_log)
    }

    pub fn with_table(table: &LimitTable, shared_log: Option<PathBuf>) -> Self {
        Self {
            limits: Api::ALL
                .into_iter()
                .map(|api| (api, table.for_api(api)))
                .collect(),
            reserve: 0.2,
            shared_log,
            memory: Mutex::new(Log::default()),
            session_calls: Mutex::new(0),
            clock: Clock::new(),
            max_hold_ms: ms(crate::api::client::DEFAULT_MAX_RETRY_AFTER),
            asked_until: Mutex::new(BTreeMap::new()),
            reads: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The longest a 429 may hold calls, here and in what other processes wrote.
    #[must_use]
    pub fn with_max_hold(mut self, hold: Duration) -> Self {
        self.max_hold_ms = ms(hold).max(1000);
        self
    }

    #[must_use]
    pub fn with_reserve(mut self, reserve: f64) -> Self {
        self.reserve = reserve.clamp(0.0, 0.9);
        self
    }

    /// The windows of one API.
    pub fn limits(&self, api: Api) -> &[WindowLimit] {
        self.limits.get(&api).map_or(&[], Vec::as_slice)
    }

    /// Runs `update` on the current log under the cross-process lock.
    fn with_log<T>(&self, update: impl FnOnce(&mut Log, i64) -> (T, bool)) -> T {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = self.clock.now_ms();
        let longest = |api: Api| {
            self.limits(api)
                .iter()
                .map(|l| ms(l.period))
                .max()
                .unwrap_or(0)
        };
        let max_hold = self.max_hold_ms;
        if let Some(path) = &self.shared_log {
            match Self::open_locked(path) {
                Ok(mut file) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let mut log = Log::parse(&text);
                    let mended = log.prune(now, longest, max_hold);
                    let (result, changed) = update(&mut log, now);
                    if changed || mended {
                        let _ = file.set_len(0);
                        let _ = file.seek(SeekFrom::Start(0));
                        let _ = file.write_all(log.render().as_bytes());
                    }
                    let _ = file.unlock();
                    return result;
                }
                Err(error) => {
                    tracing::warn!(
                        "the shared rate budget file is unusable ({error}); counting this process alone"
                    );
                }
            }
        }
        let mut log = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = log.prune(now, longest, max_hold);
        update(&mut log, now).0
    }

    fn open_locked(path: &PathBuf) -> std::io::Result<File> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.lock()?;
        Ok(file)
    }

    /// Milliseconds until a call to `api` of this kind may go out (0 = now).
    fn wait_ms(&self, log: &Log, api: Api, now: i64, interactive: bool) -> i64 {
        let mut wait = log
            .throttled_until_ms
            .get(&api)
            .map_or(0, |t| (t - now).max(0));
        let calls = log.calls.get(&api);
        for limit in self.limits(api) {
            // A call leaves here a little before the service counts it; a margin keeps our
            // window's edge behind the service's, so the two never disagree into a 429. At
            // least a quarter second: a loaded machine delays requests by more than 2%.
            let period = ms(limit.period) + (ms(limit.period) / 50).clamp(250, 1000);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a share of a u32 stays in range"
            )]
            let cap = if interactive {
                limit.calls as usize
            } else {
                ((f64::from(limit.calls) * (1.0 - self.reserve)).floor() as usize).max(1)
            };
            let in_window: Vec<i64> = calls
                .into_iter()
                .flatten()
                .copied()
                .filter(|t| now - t < period)
                .collect();
            if in_window.len() >= cap {
                let frees_at = in_window[in_window.len() - cap] + period;
                wait = wait.max(frees_at - now);
            }
        }
        wait
    }

    /// When a call to `api` may go out, if not now (for "waiting for budget" states).
    pub fn next_allowed(&self, api: Api, interactive: bool) -> Option<DateTime<Utc>> {
        self.with_log(|log, now| {
            let wait = self.wait_ms(log, api, now, interactive);
            ((wait > 0).then(|| to_time(now + wait)).flatten(), false)
        })
    }

    pub async fn acquire_call(&self, api: Api, interactive: bool) {
        loop {
            let wait = self.with_log(|log, now| {
                let wait = self.wait_ms(log, api, now, interactive);
                if wait == 0 {
                    log.calls.entry(api).or_default().push_back(now);
                    (0, true)
                } else {
                    (wait, false)
                }
            });
            if wait == 0 {
                *self
                    .session_calls
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                return;
            }
            tokio::time::sleep(Duration::from_millis(
                u64::try_from(wait).unwrap_or(1000).max(1),
            ))
            .await;
        }
    }

    /// The service answered 429 for `api`: hold its calls until `until` (capped).
    pub fn record_throttle(&self, api: Api, until: DateTime<Utc>) {
        // Convert the service's wall-clock instant into our clock's terms.
        let offset = until
            .timestamp_millis()
            .saturating_sub(Utc::now().timestamp_millis())
            .clamp(0, self.max_hold_ms);
        self.with_log(|log, now| {
            let until = now + offset;
            let held = log.throttled_until_ms.entry(api).or_insert(until);
            *held = (*held).max(until);
            ((), true)
        });
    }

    /// How many times the budget's log has been read or written.
    pub fn store_reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The meter: the result-link API's windows (what a sweep spends), then every other
    /// API with calls in its shortest window or held by the service.
    pub fn snapshot(&self) -> MeterSnapshot {
        let session_calls = *self
            .session_calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let asked = self
            .asked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        self.with_log(|log, now| {
            let windows_of = |api: Api| -> Vec<WindowUsage> {
                let calls = log.calls.get(&api);
                self.limits(api)
                    .iter()
                    .map(|limit| {
                        let mut counted = calls
                            .into_iter()
                            .flatten()
                            .filter(|t| now - **t < ms(limit.period));
                        let oldest = counted.clone().min().copied();
                        WindowUsage {
                            used: u32::try_from(counted.by_ref().count()).unwrap_or(u32::MAX),
                            limit: limit.calls,
                            period: limit.period,
                            frees_at: oldest.and_then(|t| to_time(t + ms(limit.period))),
                        }
                    })
                    .collect()
            };
            let link = Api::ResultLink;
            let held = |api: Api| log.throttled_until_ms.get(&api).copied().and_then(to_time);
            let others = Api::ALL
                .into_iter()
                .filter(|api| *api != link)
                .filter_map(|api| {
                    let windows = windows_of(api);
                    let first = windows.first().copied()?;
                    let throttled_until = held(api);
                    (first.used > 0 || throttled_until.is_some()).then_some(ApiUse {
                        api,
                        window: first,
                        throttled_until,
                        throttle_asked_until: throttled_until.and(asked.get(&api).copied()),
                    })
                })
                .collect();
            let wait = self.wait_ms(log, link, now, true);
            (
                MeterSnapshot {
                    windows: windows_of(link),
                    next_call_at: (wait > 0).then(|| to_time(now + wait)).flatten(),
                    throttled_until: held(link),
                    throttle_asked_until: held(link).and(asked.get(&link).copied()),
                    session_calls,
                    others,
                },
                false,
            )
        })
    }
}

impl CallBudget for RateLimiter {
    fn acquire(&self, api: Api, interactive: bool) -> BudgetWait<'_> {
        Box::pin(self.acquire_call(api, interactive))
    }

    fn throttled_until(&self, api: Api, until: DateTime<Utc>, asked: Option<DateTime<Utc>>) {
        let mut asked_until = self
            .asked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match asked {
            Some(asked) => asked_until.insert(api, asked),
            None => asked_until.remove(&api),
        };
        drop(asked_until);
        self.record_throttle(api, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: Api = Api::ResultLink;

    fn limits(minute: u32, hour: u32) -> Vec<WindowLimit> {
        vec![
            WindowLimit {
                calls: minute,
                period: Duration::from_secs(60),
            },
            WindowLimit {
                calls: hour,
                period: Duration::from_secs(3600),
            },
        ]
    }

    async fn calls_within(limiter: &RateLimiter, count: usize, interactive: bool) -> Duration {
        let start = tokio::time::Instant::now();
        for _ in 0..count {
            limiter.acquire_call(LINK, interactive).await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn the_minute_window_holds_the_101st_call_for_a_minute() {
        let limiter = RateLimiter::new(limits(100, 1500), None);
        assert!(calls_within(&limiter, 100, true).await < Duration::from_millis(10));
        assert_eq!(limiter.snapshot().windows[0].used, 100);
        assert!(limiter.next_allowed(LINK, true).is_some());
        let waited = calls_within(&limiter, 1, true).await;
        assert!(
            waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_hour_window_binds_after_fifteen_minutes_of_full_use() {
        let limiter = RateLimiter::new(limits(100, 1500), None);
        let took = calls_within(&limiter, 1500, true).await;
        assert!(took >= Duration::from_secs(14 * 60), "{took:?}");
        let waited = calls_within(&limiter, 1, true).await;
        assert!(
            waited > Duration::from_secs(40 * 60),
            "the hour window decides: {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn prefetch_leaves_a_reserve_for_interactive_calls() {
        let limiter = RateLimiter::new(limits(10, 150), None);
        calls_within(&limiter, 8, false).await;
        assert!(
            limiter.next_allowed(LINK, false).is_some(),
            "prefetch stops at 80 %"
        );
        assert!(
            limiter.next_allowed(LINK, true).is_none(),
            "the analyst still has room"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_429_holds_every_call_until_retry_after() {
        let limiter = RateLimiter::new(limits(100, 1500), None);
        limiter.record_throttle(LINK, Utc::now() + chrono::Duration::seconds(30));
        assert!(limiter.snapshot().throttled_until.is_some());
        let waited = calls_within(&limiter, 1, true).await;
        assert!(waited >= Duration::from_secs(29), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn two_processes_share_one_budget_through_the_log_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let a = RateLimiter::new(limits(10, 150), Some(path.clone()));
        let b = RateLimiter::new(limits(10, 150), Some(path));
        calls_within(&a, 6, true).await;
        calls_within(&b, 4, true).await;
        assert_eq!(b.snapshot().windows[0].used, 10);
        let waited = calls_within(&a, 1, true).await;
        assert!(waited >= Duration::from_secs(59), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn stamps_from_the_future_count_as_now_and_holds_are_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let now = Utc::now().timestamp_millis();
        // A clock stepped back by a day left these; another process asked for 11 days.
        let hour_ahead = now + 24 * 3_600_000;
        let days_ahead = now + 11 * 24 * 3_600_000;
        std::fs::write(
            &path,
            format!("c {hour_ahead}\nc {hour_ahead}\nt {days_ahead}\n"),
        )
        .expect("write");
        let limiter =
            RateLimiter::new(limits(10, 150), Some(path)).with_max_hold(Duration::from_secs(600));
        let meter = limiter.snapshot();
        let held = meter.throttled_until.expect("held") - Utc::now();
        assert!(held <= chrono::Duration::seconds(601), "{held}");
        assert_eq!(meter.windows[0].used, 2, "counted, as if made now");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(
            limiter.snapshot().windows[0].used,
            0,
            "and gone from the minute a minute later, not a day later"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_api_has_its_own_windows_and_a_429_holds_only_its_own() {
        let limiter = RateLimiter::new(limits(3, 100), None);
        for _ in 0..3 {
            limiter.acquire_call(Api::GetAction, true).await;
        }
        assert!(
            limiter.next_allowed(Api::GetAction, true).is_some(),
            "get is full"
        );
        assert!(limiter.next_allowed(LINK, true).is_none(), "links are not");
        limiter.record_throttle(Api::ListActions, Utc::now() + chrono::Duration::seconds(30));
        assert!(limiter.next_allowed(Api::ListActions, true).is_some());
        assert!(
            limiter.next_allowed(LINK, true).is_none(),
            "a 429 on list holds list only"
        );
        let meter = limiter.snapshot();
        assert_eq!(
            meter.windows[0].used, 0,
            "the meter's first line is the links'"
        );
        let named: Vec<&str> = meter.others.iter().map(|o| o.api.name()).collect();
        assert_eq!(named, ["list", "get"], "{:?}", meter.others);
        assert!(meter.others[0].throttled_until.is_some());
        assert_eq!(meter.others[1].window.used, 3);
        // runliveresponse keeps its documented 10 a minute whatever the standard windows.
        assert_eq!(limiter.limits(Api::RunLiveResponse)[0].calls, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_file_of_the_single_budget_counts_as_link_calls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let now = Utc::now().timestamp_millis();
        std::fs::write(&path, format!("c {now}\nc {now}\ngarbage\nc get {now}\n")).expect("write");
        let limiter = RateLimiter::new(limits(10, 150), Some(path.clone()));
        let meter = limiter.snapshot();
        assert_eq!(meter.windows[0].used, 2);
        assert_eq!(meter.others[0].window.used, 1);
        limiter.acquire_call(LINK, true).await;
        let written = std::fs::read_to_string(&path).expect("read");
        assert!(
            written.contains("c link ") && written.contains("c get "),
            "{written}"
        );
        assert!(!written.contains("garbage"), "{written}");
    }
}
