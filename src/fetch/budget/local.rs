//! The stores of one machine: this process's memory, and a file under a lock that every
//! lrx process for the same tenant and app shares. Time is wall-clock milliseconds that
//! advance with tokio's clock, so tests can pause time and separate processes still agree.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;

use super::store::{BudgetStore, Policy, Scope, StoreFuture, Usage, ms, to_time};
use crate::api::limits::Api;

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
    /// were almost all made for. True when a line could not be read (it is dropped).
    fn parse(text: &str) -> (Self, bool) {
        let mut log = Self::default();
        let mut unreadable = false;
        for line in text.lines().filter(|line| !line.is_empty()) {
            let mut parts = line.split(' ');
            let (kind, first, second) = (parts.next(), parts.next(), parts.next());
            let (api, ms) = match (first, second) {
                (Some(name), Some(ms)) => (Api::from_name(name), ms),
                (Some(ms), None) => (Some(Api::ResultLink), ms),
                _ => (None, ""),
            };
            let (Some(api), Ok(ms)) = (api, ms.parse::<i64>()) else {
                unreadable = true;
                continue;
            };
            match kind {
                Some("c") => log.calls.entry(api).or_default().push_back(ms),
                Some("t") => {
                    log.throttled_until_ms.insert(api, ms);
                }
                _ => unreadable = true,
            }
        }
        for calls in log.calls.values_mut() {
            calls.make_contiguous().sort_unstable();
        }
        (log, unreadable)
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
    /// another machine's clock) count as now, and a hold longer than the policy's is cut to
    /// it, so a bad entry can never park every process for an hour or for days. True when a
    /// bad entry was mended (so the mended log is written back).
    fn prune(&mut self, now: i64, policy: &Policy) -> bool {
        let mut mended = false;
        for (api, calls) in &mut self.calls {
            let longest = ms(policy.longest(*api));
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
        let max_hold = ms(policy.max_hold);
        for until in self.throttled_until_ms.values_mut() {
            let capped = (*until).min(now.saturating_add(max_hold));
            mended |= capped != *until;
            *until = capped;
        }
        mended
    }

    fn calls_of(&mut self, api: Api) -> &[i64] {
        self.calls.entry(api).or_default().make_contiguous()
    }

    fn wait(&mut self, policy: &Policy, api: Api, now: i64, interactive: bool) -> i64 {
        let held = self.throttled_until_ms.get(&api).copied();
        policy.wait_ms(api, self.calls_of(api), held, now, interactive)
    }

    fn usage(&mut self, policy: &Policy, now: i64, scope: Scope) -> Usage {
        let apis = Api::ALL
            .into_iter()
            .map(|api| {
                let held = self.throttled_until_ms.get(&api).copied();
                (api, policy.counts(api, self.calls_of(api), held, now))
            })
            .collect();
        self.calls.retain(|_, calls| !calls.is_empty());
        Usage {
            now: to_time(now).unwrap_or_else(Utc::now),
            apis,
            scope,
            reserve: policy.reserve,
            team: Vec::new(),
        }
    }
}

/// The budget of this process alone.
pub struct MemoryStore {
    policy: Policy,
    clock: Clock,
    log: Mutex<Log>,
}

impl MemoryStore {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            clock: Clock::new(),
            log: Mutex::new(Log::default()),
        }
    }
}

impl MemoryStore {
    /// Counts calls made elsewhere, as `(window, calls in it)` for each window of `api`
    /// (shortest first): those of the shortest window as made now, the rest of each longer
    /// window just outside the shorter ones, so each window starts as full as it was.
    pub fn seed(&self, api: Api, used: &[(crate::api::limits::WindowLimit, u32)]) {
        let now = self.clock.now_ms();
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seeded = 0u32;
        let mut age = 0i64;
        for (limit, count) in used {
            let calls = log.calls.entry(api).or_default();
            for _ in seeded..*count {
                calls.push_front(now - age);
            }
            seeded = seeded.max(*count);
            age = Policy::counted_period_ms(*limit) + 1;
        }
        if let Some(calls) = log.calls.get_mut(&api) {
            calls.make_contiguous().sort_unstable();
        }
    }
}

/// The budget every lrx process of this machine shares for one tenant and app: a small
/// text file, read and rewritten under an exclusive lock on each step. A file that cannot
/// be used leaves this process counting alone, said once in the log.
pub struct FileStore {
    path: PathBuf,
    alone: MemoryStore,
    said_unusable: AtomicBool,
    said_unreadable: AtomicBool,
}

impl FileStore {
    pub fn new(policy: Policy, path: PathBuf) -> Self {
        Self {
            path,
            alone: MemoryStore::new(policy),
            said_unusable: AtomicBool::new(false),
            said_unreadable: AtomicBool::new(false),
        }
    }

    fn open_locked(path: &Path) -> std::io::Result<File> {
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
}

/// A store on this machine: every step runs on the whole log, pruned at `now`, and says
/// whether it changed it (so a file is written back).
trait LocalLog {
    fn policy(&self) -> &Policy;
    fn with_log<T>(&self, step: impl FnOnce(&mut Log, i64, Scope) -> (T, bool)) -> T;
}

impl LocalLog for MemoryStore {
    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn with_log<T>(&self, step: impl FnOnce(&mut Log, i64, Scope) -> (T, bool)) -> T {
        let now = self.clock.now_ms();
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.prune(now, &self.policy);
        step(&mut log, now, Scope::Process).0
    }
}

impl LocalLog for FileStore {
    fn policy(&self) -> &Policy {
        &self.alone.policy
    }

    fn with_log<T>(&self, step: impl FnOnce(&mut Log, i64, Scope) -> (T, bool)) -> T {
        let mut file = match Self::open_locked(&self.path) {
            Ok(file) => file,
            Err(error) => {
                if !self.said_unusable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the shared rate budget {} is unusable ({error}); counting this process alone",
                        self.path.display()
                    );
                }
                return self.alone.with_log(step);
            }
        };
        let now = self.alone.clock.now_ms();
        let mut bytes = Vec::new();
        let read = file.read_to_end(&mut bytes);
        let (mut log, unreadable) = Log::parse(&String::from_utf8_lossy(&bytes));
        let unreadable = unreadable || read.is_err();
        if unreadable && !self.said_unreadable.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the shared rate budget {} had lines lrx cannot read: they were dropped and the file rewritten",
                self.path.display()
            );
        }
        let mended = log.prune(now, self.policy());
        let (result, changed) = step(&mut log, now, Scope::Machine);
        if changed || mended || unreadable {
            let _ = file.set_len(0);
            let _ = file.seek(SeekFrom::Start(0));
            let _ = file.write_all(log.render().as_bytes());
        }
        let _ = file.unlock();
        result
    }
}

fn duration(wait_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
}

// Local steps finish at once (a file lock is held for microseconds), so the futures are
// ready when made.
impl<S: LocalLog + Send + Sync> BudgetStore for S {
    fn try_take(&self, api: Api, interactive: bool) -> StoreFuture<'_, Result<(), Duration>> {
        let taken = self.with_log(|log, now, _| {
            let wait = log.wait(self.policy(), api, now, interactive);
            if wait == 0 {
                log.calls.entry(api).or_default().push_back(now);
                (Ok(()), true)
            } else {
                (Err(duration(wait)), false)
            }
        });
        Box::pin(async move { taken })
    }

    fn wait(&self, api: Api, interactive: bool) -> StoreFuture<'_, Duration> {
        let wait = self.with_log(|log, now, _| {
            (
                duration(log.wait(self.policy(), api, now, interactive)),
                false,
            )
        });
        Box::pin(async move { wait })
    }

    fn hold(&self, api: Api, hold: Duration) -> StoreFuture<'_, ()> {
        let max_hold = ms(self.policy().max_hold);
        self.with_log(|log, now, _| {
            let until = now + ms(hold).clamp(0, max_hold);
            let held = log.throttled_until_ms.entry(api).or_insert(until);
            *held = (*held).max(until);
            ((), true)
        });
        Box::pin(async {})
    }

    fn usage(&self) -> StoreFuture<'_, Usage> {
        let usage = self.with_log(|log, now, scope| (log.usage(self.policy(), now, scope), false));
        Box::pin(async move { usage })
    }
}
