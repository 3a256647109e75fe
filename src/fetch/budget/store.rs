//! Where the budget's counts live, behind one trait: this process's memory, a file every
//! lrx process of the machine shares, or (for a team) a server. A store decides in one step
//! whether a call may go out and counts it, so members sharing it can never both take the
//! last call of a window; the caller only asks.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::limits::{Api, LimitTable, WindowLimit};

/// The boxed future of an object-safe async trait.
pub type StoreFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    pub used: u32,
    pub limit: u32,
    pub period: Duration,
    /// When the oldest call still counted leaves this window, so a meter on screen knows
    /// when its number next changes without asking every second.
    pub frees_at: Option<DateTime<Utc>>,
}

/// Who shares the budget, for the meter and `lrx doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Counted in this process alone (a demo tenant, or a budget file that is unusable).
    #[default]
    Process,
    /// The team store is lost: this process counts its share (1 of `members`) alone until
    /// it is back.
    TeamLost { members: u32 },
    /// Every lrx process of this machine for the tenant and app, through a file.
    Machine,
    /// Every member of a team, through a shared server; `members` seen lately.
    Team { members: u32 },
}

/// One API's windows as they stand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiCounts {
    pub windows: Vec<WindowUsage>,
    /// A 429 from the service holds this API until then.
    pub held_until: Option<DateTime<Utc>>,
    /// How long until a call the analyst asked for may go out (zero: now).
    pub interactive_wait: Duration,
}

/// Every API's windows, read in one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The store's clock when it read them.
    pub now: DateTime<Utc>,
    pub apis: BTreeMap<Api, ApiCounts>,
    pub scope: Scope,
    /// The share of each window the policy keeps for interactive calls.
    pub reserve: f64,
    /// Who is active on a team's store (empty without one), this member first.
    pub team: Vec<Teammate>,
}

/// A member of the team as its store last saw them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Teammate {
    /// `analyst@host#tag`, as the store knows them (`crate::team::shown_member` to show).
    pub name: String,
    /// What they said they are doing ("reviewing Get-Autoruns.ps1 · 40 machines").
    pub activity: String,
    /// Their result-link calls in the shortest window: their share of the team's budget.
    pub link_calls: u32,
    pub is_you: bool,
}

/// The rules every store applies the same way: each API's windows, the share of each window
/// that prefetching and reviews leave for what the analyst asks for, and the longest a 429
/// may hold an API.
#[derive(Debug, Clone)]
pub struct Policy {
    limits: BTreeMap<Api, Vec<WindowLimit>>,
    /// Share of each window (of every API) kept for interactive calls.
    pub reserve: f64,
    pub max_hold: Duration,
}

impl Policy {
    pub fn new(table: &LimitTable, max_hold: Duration) -> Self {
        Self {
            limits: Api::ALL
                .into_iter()
                .map(|api| (api, table.for_api(api)))
                .collect(),
            reserve: 0.2,
            max_hold: max_hold.max(Duration::from_secs(1)),
        }
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

    /// The longest window of `api` as counted (with its margin): calls older than this no
    /// longer count anywhere.
    pub fn longest(&self, api: Api) -> Duration {
        let longest = self
            .limits(api)
            .iter()
            .map(|l| Self::counted_period_ms(*l))
            .max()
            .unwrap_or(0);
        Duration::from_millis(u64::try_from(longest).unwrap_or(0))
    }

    /// This policy for one of `members` sharing it: every window's calls divided among
    /// them (at least one each), for a member counting alone while the team store is lost.
    #[must_use]
    pub fn shared_by(&self, members: u32) -> Self {
        let members = members.max(1);
        let mut shared = self.clone();
        for windows in shared.limits.values_mut() {
            for limit in windows {
                limit.calls = (limit.calls / members).max(1);
            }
        }
        shared
    }

    /// How many calls of this kind a window lets through: all of them for the analyst, what
    /// the reserve leaves for the rest (at least one).
    pub fn cap(&self, limit: WindowLimit, interactive: bool) -> usize {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a share of a u32 stays in range"
        )]
        let background = ((f64::from(limit.calls) * (1.0 - self.reserve)).floor() as usize).max(1);
        if interactive {
            limit.calls as usize
        } else {
            background
        }
    }

    /// A call leaves here a little before the service counts it; a margin keeps our window's
    /// edge behind the service's, so the two never disagree into a 429. At least a quarter
    /// second: a loaded machine delays requests by more than 2 %.
    pub fn counted_period_ms(limit: WindowLimit) -> i64 {
        let period = ms(limit.period);
        period + (period / 50).clamp(250, 1000)
    }

    /// Milliseconds until a call to `api` may go out at `now` (0: now), given the calls
    /// counted so far (oldest first) and the hold of a 429.
    pub fn wait_ms(
        &self,
        api: Api,
        calls: &[i64],
        held_until_ms: Option<i64>,
        now: i64,
        interactive: bool,
    ) -> i64 {
        let mut wait = held_until_ms.map_or(0, |t| (t - now).max(0));
        for limit in self.limits(api) {
            let period = Self::counted_period_ms(*limit);
            let cap = self.cap(*limit, interactive);
            let in_window: Vec<i64> = calls.iter().copied().filter(|t| now - t < period).collect();
            if in_window.len() >= cap {
                let frees_at = in_window[in_window.len() - cap] + period;
                wait = wait.max(frees_at - now);
            }
        }
        wait
    }

    /// The meter's view of one API's windows at `now`.
    pub fn counts(
        &self,
        api: Api,
        calls: &[i64],
        held_until_ms: Option<i64>,
        now: i64,
    ) -> ApiCounts {
        let windows = self
            .limits(api)
            .iter()
            .map(|limit| {
                let period = ms(limit.period);
                let counted: Vec<i64> =
                    calls.iter().copied().filter(|t| now - t < period).collect();
                WindowUsage {
                    used: u32::try_from(counted.len()).unwrap_or(u32::MAX),
                    limit: limit.calls,
                    period: limit.period,
                    frees_at: counted.iter().min().and_then(|t| to_time(t + period)),
                }
            })
            .collect();
        let wait = self.wait_ms(api, calls, held_until_ms, now, true);
        ApiCounts {
            windows,
            held_until: held_until_ms.filter(|t| *t > now).and_then(to_time),
            interactive_wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
        }
    }
}

/// Keeps the calls of every API and the holds of the service's 429s.
pub trait BudgetStore: Send + Sync {
    /// Counts one call to `api` if every window has room for a call of this kind, in one
    /// step no other member of the store can come between; otherwise counts nothing and
    /// says how long until one would fit.
    fn try_take(&self, api: Api, interactive: bool) -> StoreFuture<'_, Result<(), Duration>>;
    /// How long until a call of this kind would fit (zero: now), counting nothing.
    fn wait(&self, api: Api, interactive: bool) -> StoreFuture<'_, Duration>;
    /// Holds `api` for everyone sharing the store, `hold` from the store's now (capped by
    /// the policy); a longer hold already there wins.
    fn hold(&self, api: Api, hold: Duration) -> StoreFuture<'_, ()>;
    /// Every API's windows, for the meter and the review's plan.
    fn usage(&self) -> StoreFuture<'_, Usage>;
    /// What this member is doing, for teammates to see (a team's store; others ignore it).
    fn set_activity(&self, _activity: &str) {}
    /// How often an idle process should read this store anyway: a team's store counts a
    /// member as active only while it hears from them. Local stores need no reading.
    fn heartbeat(&self) -> Option<Duration> {
        None
    }
}

pub fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

pub fn to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}
