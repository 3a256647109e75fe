//! The client-side rate budget: each API's sliding windows (100 calls/minute and 1500/hour
//! for most), counted per API as the service counts them, that every API call waits on, so
//! lrx never causes a 429 itself; a 429 holds the API it came from and no other. Where the
//! counts live is a [`BudgetStore`]: this process, the machine (a file), or a team.

pub mod local;
pub mod store;
pub mod team;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use local::{FileStore, MemoryStore};
pub use store::{ApiCounts, BudgetStore, Policy, Scope, Teammate, Usage};
pub use team::TeamStore;

use super::meter::{ApiUse, MeterSnapshot};
use crate::api::CallBudget;
use crate::api::limits::{Api, BudgetWait, LimitTable, WindowLimit};

/// What every API call waits on: asks its store for room, counts what this process made,
/// and turns the store's counts into the meter.
pub struct Budget {
    store: Box<dyn BudgetStore>,
    session_calls: AtomicU64,
    /// What the service last asked for when lrx capped it, per API, for the meter.
    asked_until: Mutex<BTreeMap<Api, DateTime<Utc>>>,
    /// How often the store was asked: an idle UI should not ask it at all.
    reads: AtomicU64,
}

impl Budget {
    pub fn new(store: Box<dyn BudgetStore>) -> Self {
        Self {
            store,
            session_calls: AtomicU64::new(0),
            asked_until: Mutex::new(BTreeMap::new()),
            reads: AtomicU64::new(0),
        }
    }

    /// This process's own budget over the documented table with these standard windows
    /// (tests and time-compressed demos give shorter ones).
    pub fn in_memory(standard: Vec<WindowLimit>) -> Self {
        let policy = Policy::new(
            &LimitTable::with_standard(standard),
            crate::api::client::DEFAULT_MAX_RETRY_AFTER,
        );
        Self::new(Box::new(MemoryStore::new(policy)))
    }

    fn asked(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until the store counts a call to `api` of this kind.
    pub async fn acquire_call(&self, api: Api, interactive: bool) {
        loop {
            self.asked();
            match self.store.try_take(api, interactive).await {
                Ok(()) => {
                    self.session_calls.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// When a call to `api` may go out, if not now (for "waiting for budget" states).
    pub async fn next_allowed(&self, api: Api, interactive: bool) -> Option<DateTime<Utc>> {
        self.asked();
        let wait = self.store.wait(api, interactive).await;
        (!wait.is_zero()).then(|| Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
    }

    /// The service answered 429 for `api`: hold its calls until `until` (the store caps it).
    pub async fn record_throttle(&self, api: Api, until: DateTime<Utc>) {
        let hold = (until - Utc::now()).to_std().unwrap_or_default();
        self.asked();
        self.store.hold(api, hold).await;
    }

    /// How many times the store has been asked.
    /// What this analyst is doing, for teammates on a team's store to see.
    pub fn set_activity(&self, activity: &str) {
        self.store.set_activity(activity);
    }

    /// How often an idle process reads the store anyway (a team's store), if at all.
    pub fn heartbeat(&self) -> Option<std::time::Duration> {
        self.store.heartbeat()
    }

    pub fn store_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The meter: the result-link API's windows (what a sweep spends), then every other
    /// API with calls in its shortest window or held by the service.
    pub async fn snapshot(&self) -> MeterSnapshot {
        self.asked();
        let usage = self.store.usage().await;
        let asked = self
            .asked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let link = usage
            .apis
            .get(&Api::ResultLink)
            .cloned()
            .unwrap_or_default();
        let others = usage
            .apis
            .iter()
            .filter(|(api, _)| **api != Api::ResultLink)
            .filter_map(|(api, counts)| {
                let window = counts.windows.first().copied()?;
                (window.used > 0 || counts.held_until.is_some()).then_some(ApiUse {
                    api: *api,
                    window,
                    throttled_until: counts.held_until,
                    throttle_asked_until: counts.held_until.and(asked.get(api).copied()),
                })
            })
            .collect();
        MeterSnapshot {
            next_call_at: (!link.interactive_wait.is_zero()).then(|| {
                usage.now + chrono::Duration::from_std(link.interactive_wait).unwrap_or_default()
            }),
            throttled_until: link.held_until,
            throttle_asked_until: link.held_until.and(asked.get(&Api::ResultLink).copied()),
            windows: link.windows,
            session_calls: self.session_calls.load(Ordering::Relaxed),
            others,
            scope: usage.scope,
            team: usage.team,
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "the policy keeps the reserve within 0..=0.9"
            )]
            reserve_percent: (usage.reserve * 100.0).round() as u8,
        }
    }
}

impl CallBudget for Budget {
    fn acquire(&self, api: Api, interactive: bool) -> BudgetWait<'_> {
        Box::pin(self.acquire_call(api, interactive))
    }

    fn throttled_until(
        &self,
        api: Api,
        until: DateTime<Utc>,
        asked: Option<DateTime<Utc>>,
    ) -> BudgetWait<'_> {
        let mut asked_until = self
            .asked_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match asked {
            Some(asked) => asked_until.insert(api, asked),
            None => asked_until.remove(&api),
        };
        drop(asked_until);
        Box::pin(self.record_throttle(api, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: Api = Api::ResultLink;

    fn on_file(standard: Vec<WindowLimit>, path: std::path::PathBuf) -> Budget {
        let policy = Policy::new(
            &LimitTable::with_standard(standard),
            crate::api::client::DEFAULT_MAX_RETRY_AFTER,
        );
        Budget::new(Box::new(FileStore::new(policy, path)))
    }

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

    async fn calls_within(limiter: &Budget, count: usize, interactive: bool) -> Duration {
        let start = tokio::time::Instant::now();
        for _ in 0..count {
            limiter.acquire_call(LINK, interactive).await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn the_minute_window_holds_the_101st_call_for_a_minute() {
        let limiter = Budget::in_memory(limits(100, 1500));
        assert!(calls_within(&limiter, 100, true).await < Duration::from_millis(10));
        assert_eq!(limiter.snapshot().await.windows[0].used, 100);
        assert!(limiter.next_allowed(LINK, true).await.is_some());
        let waited = calls_within(&limiter, 1, true).await;
        assert!(
            waited >= Duration::from_secs(59) && waited <= Duration::from_secs(61),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_hour_window_binds_after_fifteen_minutes_of_full_use() {
        let limiter = Budget::in_memory(limits(100, 1500));
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
        let limiter = Budget::in_memory(limits(10, 150));
        calls_within(&limiter, 8, false).await;
        assert!(
            limiter.next_allowed(LINK, false).await.is_some(),
            "prefetch stops at 80 %"
        );
        assert!(
            limiter.next_allowed(LINK, true).await.is_none(),
            "the analyst still has room"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_429_holds_every_call_until_retry_after() {
        let limiter = Budget::in_memory(limits(100, 1500));
        limiter
            .record_throttle(LINK, Utc::now() + chrono::Duration::seconds(30))
            .await;
        assert!(limiter.snapshot().await.throttled_until.is_some());
        let waited = calls_within(&limiter, 1, true).await;
        assert!(waited >= Duration::from_secs(29), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn two_processes_share_one_budget_through_the_log_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let a = on_file(limits(10, 150), path.clone());
        let b = on_file(limits(10, 150), path);
        calls_within(&a, 6, true).await;
        calls_within(&b, 4, true).await;
        assert_eq!(b.snapshot().await.windows[0].used, 10);
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
        let policy = Policy::new(
            &LimitTable::with_standard(limits(10, 150)),
            Duration::from_secs(600),
        );
        let limiter = Budget::new(Box::new(FileStore::new(policy, path)));
        let meter = limiter.snapshot().await;
        let held = meter.throttled_until.expect("held") - Utc::now();
        assert!(held <= chrono::Duration::seconds(601), "{held}");
        assert_eq!(meter.windows[0].used, 2, "counted, as if made now");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(
            limiter.snapshot().await.windows[0].used,
            0,
            "and gone from the minute a minute later, not a day later"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_api_has_its_own_windows_and_a_429_holds_only_its_own() {
        let limiter = Budget::in_memory(limits(3, 100));
        for _ in 0..3 {
            limiter.acquire_call(Api::GetAction, true).await;
        }
        assert!(
            limiter.next_allowed(Api::GetAction, true).await.is_some(),
            "get is full"
        );
        assert!(
            limiter.next_allowed(LINK, true).await.is_none(),
            "links are not"
        );
        limiter
            .record_throttle(Api::ListActions, Utc::now() + chrono::Duration::seconds(30))
            .await;
        assert!(limiter.next_allowed(Api::ListActions, true).await.is_some());
        assert!(
            limiter.next_allowed(LINK, true).await.is_none(),
            "a 429 on list holds list only"
        );
        let meter = limiter.snapshot().await;
        assert_eq!(
            meter.windows[0].used, 0,
            "the meter's first line is the links'"
        );
        let named: Vec<&str> = meter.others.iter().map(|o| o.api.name()).collect();
        assert_eq!(named, ["list", "get"], "{:?}", meter.others);
        assert!(meter.others[0].throttled_until.is_some());
        assert_eq!(meter.others[1].window.used, 3);
        // runliveresponse keeps its documented 10 a minute whatever the standard windows.
        let policy = Policy::new(
            &LimitTable::with_standard(limits(3, 100)),
            Duration::from_secs(600),
        );
        assert_eq!(policy.limits(Api::RunLiveResponse)[0].calls, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_file_of_the_single_budget_counts_as_link_calls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let now = Utc::now().timestamp_millis();
        std::fs::write(&path, format!("c {now}\nc {now}\ngarbage\nc get {now}\n")).expect("write");
        let limiter = on_file(limits(10, 150), path.clone());
        let meter = limiter.snapshot().await;
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

    /// Every API's first window, filled by the analyst: the next call to it waits for the
    /// window, and no other API notices.
    #[rstest::rstest]
    #[tokio::test(start_paused = true)]
    async fn every_api_keeps_its_own_documented_windows(
        #[values(
            Api::ListActions,
            Api::GetAction,
            Api::CancelAction,
            Api::ResultLink,
            Api::RunLiveResponse,
            Api::LibraryFiles,
            Api::Machines,
            Api::GetPackageUri
        )]
        api: Api,
    ) {
        let budget = Budget::in_memory(crate::api::limits::STANDARD.to_vec());
        let first = api.documented_limits()[0];
        let start = tokio::time::Instant::now();
        for _ in 0..first.calls {
            budget.acquire_call(api, true).await;
        }
        assert!(start.elapsed() < Duration::from_millis(10), "{api:?}");
        for other in Api::ALL.into_iter().filter(|other| *other != api) {
            assert!(
                budget.next_allowed(other, true).await.is_none(),
                "{api:?} full leaves {other:?} free"
            );
        }
        budget.acquire_call(api, true).await;
        let waited = start.elapsed();
        assert!(
            waited >= first.period && waited <= first.period + Duration::from_secs(2),
            "{api:?}: {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn two_processes_never_both_take_the_last_call_of_a_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let policy = Policy::new(
            &LimitTable::with_standard(limits(10, 150)),
            Duration::from_secs(600),
        );
        let race = |path: std::path::PathBuf| {
            let store = FileStore::new(policy.clone(), path);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let mut taken = 0;
                    while store.try_take(LINK, true).await.is_ok() {
                        taken += 1;
                    }
                    taken
                })
            })
        };
        let (a, b) = (race(path.clone()), race(path.clone()));
        let taken = a.join().expect("a") + b.join().expect("b");
        assert_eq!(taken, 10, "the window's ten, and not one more");
        let meter = on_file(limits(10, 150), path).snapshot().await;
        assert_eq!(meter.windows[0].used, 10);
        assert_eq!(meter.scope, Scope::Machine);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unusable_budget_file_leaves_the_process_counting_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: it can never be opened as one.
        let path = dir.path().join("budget.log");
        std::fs::create_dir(&path).expect("mkdir");
        let budget = on_file(limits(2, 150), path);
        budget.acquire_call(LINK, true).await;
        budget.acquire_call(LINK, true).await;
        let meter = budget.snapshot().await;
        assert_eq!(meter.scope, Scope::Process, "said: counting alone");
        assert_eq!(meter.windows[0].used, 2, "and still counting");
        assert!(budget.next_allowed(LINK, true).await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_corrupt_budget_file_is_recovered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        std::fs::write(&path, b"\xff\xfe binary\n\0\0\nc link not-a-number\nt\n").expect("write");
        let budget = on_file(limits(10, 150), path.clone());
        budget.acquire_call(LINK, true).await;
        assert_eq!(budget.snapshot().await.windows[0].used, 1);
        let written = std::fs::read_to_string(&path).expect("the file is text again");
        assert_eq!(written.lines().count(), 1, "{written}");
        assert!(written.starts_with("c link "), "{written}");
    }

    /// A review of 500 results in one process and an analyst opening a result every 7 s in
    /// another, on the machine's one budget with the documented windows.
    #[tokio::test(start_paused = true)]
    async fn a_review_never_makes_the_analyst_wait_and_spends_nearly_all_it_may() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.log");
        let review = std::sync::Arc::new(on_file(limits(100, 1500), path.clone()));
        let analyst = on_file(limits(100, 1500), path);
        let start = tokio::time::Instant::now();
        let reviewing = {
            let review = std::sync::Arc::clone(&review);
            tokio::spawn(async move {
                let mut made = Vec::new();
                for _ in 0..500 {
                    review.acquire_call(LINK, false).await;
                    made.push(start.elapsed());
                }
                made
            })
        };
        let mut longest_wait = Duration::ZERO;
        let mut opens = 0u32;
        while !reviewing.is_finished() {
            tokio::time::sleep(Duration::from_secs(7)).await;
            let asked = tokio::time::Instant::now();
            analyst.acquire_call(LINK, true).await;
            longest_wait = longest_wait.max(asked.elapsed());
            opens += 1;
        }
        let made = reviewing.await.expect("review");
        assert!(
            longest_wait <= Duration::from_secs(2),
            "the analyst waited {longest_wait:?} ({opens} opens)"
        );
        // What is left to the review is 80 a minute (the reserve is the analyst's). In every
        // whole minute before its last calls it made at least 90 % of that.
        let last = made.last().copied().unwrap_or_default();
        let minutes = last.as_secs() / 60;
        assert!(minutes >= 5, "500 calls at 80 a minute: {last:?}");
        for minute in 0..minutes {
            let in_minute = made.iter().filter(|t| t.as_secs() / 60 == minute).count();
            assert!(
                in_minute >= 72,
                "minute {minute}: {in_minute} calls of the 80 left ({opens} opens on the side)"
            );
        }
    }
}
