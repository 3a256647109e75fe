//! What the rate-limit meter shows: each window's use and when it next frees, the waits a
//! 429 or the budget impose, and how long a number of calls will take under them.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::budget::store::{Scope, WindowUsage};

/// Another API than the result links, in use: its shortest window, and a hold from a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUse {
    pub api: crate::api::limits::Api,
    pub window: WindowUsage,
    pub throttled_until: Option<DateTime<Utc>>,
    /// What the service asked for, when it was longer than lrx waits.
    pub throttle_asked_until: Option<DateTime<Utc>>,
}

/// What the meter shows: the result-link API first (what fetching spends), then the others
/// in use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterSnapshot {
    /// The result-link API's windows.
    pub windows: Vec<WindowUsage>,
    /// When the next interactive result-link call may go out, if not right now.
    pub next_call_at: Option<DateTime<Utc>>,
    /// A 429 from the service holds result-link calls until then.
    pub throttled_until: Option<DateTime<Utc>>,
    /// What the service asked for, when it was longer than lrx waits.
    pub throttle_asked_until: Option<DateTime<Utc>>,
    /// Calls of every API this process made.
    pub session_calls: u64,
    /// The other APIs with calls in their shortest window, or held by a 429.
    pub others: Vec<ApiUse>,
    /// Who shares these windows.
    pub scope: Scope,
}

impl MeterSnapshot {
    /// About how long `calls` more calls take under these windows: each window lets its free
    /// calls go now and the rest at its own pace, so a spent hour window shows as the wait
    /// it is. `None` before the first snapshot.
    pub fn eta(&self, calls: usize, now: DateTime<Utc>) -> Option<Duration> {
        let calls = u64::try_from(calls).unwrap_or(u64::MAX);
        let held = [self.next_call_at, self.throttled_until]
            .into_iter()
            .flatten()
            .max()
            .map(|until| (until - now).to_std().unwrap_or_default())
            .unwrap_or_default();
        self.windows
            .iter()
            .map(|w| {
                let free = u64::from(w.limit.saturating_sub(w.used));
                let beyond = calls.saturating_sub(free);
                if beyond == 0 {
                    return Duration::ZERO;
                }
                // The first call beyond waits for the oldest counted one to leave (or, in an
                // empty window, for the calls made now); the rest follow at the window's pace.
                // Conservative: a burst frees in batches, sooner than this.
                let first = w
                    .frees_at
                    .filter(|_| w.used > 0)
                    .map_or(w.period, |t| (t - now).to_std().unwrap_or_default());
                first
                    + w.period
                        .mul_f64((beyond - 1) as f64 / f64::from(w.limit.max(1)))
            })
            .max()
            .map(|paced| paced.max(held))
    }

    /// `ETA 1:28 at 100/min` for `calls` more calls, as the review and `lrx review` show it.
    pub fn eta_text(&self, calls: usize, now: DateTime<Utc>) -> Option<String> {
        let eta = self.eta(calls, now)?;
        let per_minute = self.per_minute()?;
        Some(format!("ETA {} at {per_minute}/min", clock_duration(eta)))
    }

    /// The calls per minute the shortest window allows, for "at 100/min".
    pub fn per_minute(&self) -> Option<u32> {
        let shortest = self.windows.iter().min_by_key(|w| w.period)?;
        let per_minute = f64::from(shortest.limit) * 60.0 / shortest.period.as_secs_f64().max(1.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive rate of at most a u32's calls a second"
        )]
        Some(per_minute.round() as u32)
    }
}

/// `1:28`, or `1:02:03` past an hour.
pub fn clock_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 3600 {
        format!(
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    } else {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_counts_free_calls_as_now_and_a_spent_hour_as_the_wait_it_is() {
        let now = Utc::now();
        let window = |used, limit, minutes: u64, frees_in: i64| WindowUsage {
            used,
            limit,
            period: Duration::from_secs(minutes * 60),
            frees_at: Some(now + chrono::Duration::seconds(frees_in)),
        };
        let fresh = MeterSnapshot {
            windows: vec![window(0, 100, 1, 60), window(0, 1500, 60, 3600)],
            ..MeterSnapshot::default()
        };
        assert_eq!(fresh.eta(48, now), Some(Duration::ZERO));
        assert_eq!(fresh.per_minute(), Some(100));
        let eta = fresh.eta(250, now).expect("eta").as_secs();
        assert!(
            (149..=150).contains(&eta),
            "150 beyond the minute: a minute, then 149 at 100/min: {eta}"
        );
        let spent = MeterSnapshot {
            windows: vec![window(0, 100, 1, 60), window(1500, 1500, 60, 37 * 60)],
            ..MeterSnapshot::default()
        };
        let eta = spent.eta(1, now).expect("eta").as_secs();
        assert!(
            (2218..=2220).contains(&eta),
            "waits 37 min for the hour: {eta}"
        );
        assert_eq!(
            MeterSnapshot::default().eta(5, now),
            None,
            "nothing known yet"
        );
        assert_eq!(
            spent.eta_text(1, now).as_deref(),
            Some("ETA 37:00 at 100/min"),
            "with the clock given, the text is exact"
        );
        assert_eq!(clock_duration(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(clock_duration(Duration::from_secs(88)), "1:28");
    }
}
