//! What the rate-limit meter shows: each window's use and when it next frees, the waits a
//! 429 or the budget impose, and how long a number of calls will take under them.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use super::budget::store::{Scope, Teammate, WindowUsage};

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
    /// The share of every window kept for what the analyst asks for, in percent; reviews
    /// and prefetch spend the rest.
    pub reserve_percent: u8,
    /// Who is active on the team's store, this analyst first (empty alone).
    pub team: Vec<Teammate>,
}

impl MeterSnapshot {
    /// Calls of a window that reviews, fetch-all and prefetch may spend: what the analyst's
    /// reserve leaves (at least one).
    pub fn background_cap(&self, window: &WindowUsage) -> u32 {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a share of a u32 stays in range"
        )]
        let cap = (f64::from(window.limit)
            * (1.0 - f64::from(self.reserve_percent.min(90)) / 100.0))
            .floor() as u32;
        cap.max(1)
    }

    /// About how long `calls` more background calls (a review's) take under these windows:
    /// each window lets its free share go now and the rest at its own pace, so a spent hour
    /// window shows as the wait it is. `None` before the first snapshot.
    pub fn eta(&self, calls: usize, now: DateTime<Utc>) -> Option<Duration> {
        let calls = u64::try_from(calls).unwrap_or(u64::MAX);
        let held = self
            .throttled_until
            .map(|until| (until - now).to_std().unwrap_or_default())
            .unwrap_or_default();
        self.windows
            .iter()
            .map(|w| {
                let cap = self.background_cap(w);
                let free = u64::from(cap.saturating_sub(w.used));
                let beyond = calls.saturating_sub(free);
                if beyond == 0 {
                    return Duration::ZERO;
                }
                // A window's calls go out in bursts: the first call beyond waits for the
                // oldest counted one to leave (or, in an empty window, for the burst made
                // now), and each later burst of a whole share a period after the one before.
                let first = w
                    .frees_at
                    .filter(|_| w.used > 0)
                    .map_or(w.period, |t| (t - now).to_std().unwrap_or_default());
                let later_bursts = (beyond - 1) / u64::from(cap);
                first + w.period * u32::try_from(later_bursts).unwrap_or(u32::MAX)
            })
            .max()
            .map(|paced| paced.max(held))
    }

    /// The plan for `calls` more background calls, as the review and `lrx review` show it:
    /// `80/min · the hour's 1,500 caps this at 1,200 an hour · ETA 14:32 (in 16:05)`. The
    /// longer windows are named only when they bind; the clock time is local.
    pub fn plan_text(
        &self,
        calls: usize,
        now: DateTime<Utc>,
        local: chrono::FixedOffset,
    ) -> Option<String> {
        let eta = self.eta(calls, now)?;
        let mut parts = vec![format!("{}/min", self.per_minute()?)];
        let wanted = u64::try_from(calls).unwrap_or(u64::MAX);
        for window in self.windows.iter().skip(1) {
            let cap = self.background_cap(window);
            if wanted > u64::from(cap.saturating_sub(window.used)) {
                let name = match window.period.as_secs() {
                    3600 => "the hour's".to_string(),
                    86_400 => "the day's".to_string(),
                    s => format!("the {}'s", clock_duration(Duration::from_secs(s))),
                };
                let per = match window.period.as_secs() {
                    3600 => "an hour".to_string(),
                    86_400 => "a day".to_string(),
                    s => format!("per {}", clock_duration(Duration::from_secs(s))),
                };
                parts.push(format!(
                    "{name} {} caps this at {} {per}",
                    thousands(window.limit),
                    thousands(cap)
                ));
            }
        }
        let at = (now + chrono::Duration::from_std(eta).unwrap_or_default()).with_timezone(&local);
        parts.push(if eta < Duration::from_secs(1) {
            "ETA now".to_string()
        } else if eta < Duration::from_secs(20 * 3600) {
            format!("ETA {} (in {})", at.format("%H:%M"), clock_duration(eta))
        } else {
            format!("ETA {} (in {})", at.format("%a %H:%M"), clock_duration(eta))
        });
        Some(parts.join(" · "))
    }

    /// The background calls per minute the shortest window allows, for "80/min".
    pub fn per_minute(&self) -> Option<u32> {
        let shortest = self.windows.iter().min_by_key(|w| w.period)?;
        let per_minute = f64::from(self.background_cap(shortest)) * 60.0
            / shortest.period.as_secs_f64().max(1.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive rate of at most a u32's calls a second"
        )]
        Some(per_minute.round() as u32)
    }
}

/// `1,500`.
fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
        assert_eq!(
            eta, 120,
            "100 now, 100 a minute later, the last 50 at two minutes"
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
        let utc = chrono::FixedOffset::east_opt(0).expect("utc");
        let at = |eta: i64| {
            (now + chrono::Duration::seconds(eta))
                .with_timezone(&utc)
                .format("%H:%M")
                .to_string()
        };
        assert_eq!(
            spent.plan_text(1, now, utc),
            Some(format!(
                "100/min · the hour's 1,500 caps this at 1,500 an hour · ETA {} (in 37:00)",
                at(37 * 60)
            )),
            "with the clock given, the text is exact"
        );
        assert_eq!(
            fresh.plan_text(48, now, utc).as_deref(),
            Some("100/min · ETA now")
        );
        assert_eq!(clock_duration(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(clock_duration(Duration::from_secs(88)), "1:28");
    }

    #[test]
    fn a_review_plans_on_what_the_reserve_leaves_and_names_the_hour_when_it_binds() {
        let now = Utc::now();
        let utc = chrono::FixedOffset::east_opt(0).expect("utc");
        let window = |used, limit, minutes: u64| WindowUsage {
            used,
            limit,
            period: Duration::from_secs(minutes * 60),
            frees_at: Some(
                now + chrono::Duration::seconds(i64::try_from(minutes).unwrap_or(0) * 60),
            ),
        };
        let meter = MeterSnapshot {
            windows: vec![window(0, 100, 1), window(0, 1500, 60)],
            reserve_percent: 20,
            ..MeterSnapshot::default()
        };
        assert_eq!(
            meter.per_minute(),
            Some(80),
            "20 of 100 kept for the analyst"
        );
        let small = meter.plan_text(342, now, utc).expect("plan");
        assert!(small.starts_with("80/min · ETA "), "{small}");
        assert!(
            !small.contains("hour"),
            "the hour does not bind 342: {small}"
        );
        let secs = meter.eta(342, now).expect("eta").as_secs();
        assert_eq!(
            secs, 240,
            "bursts of 80 at 0, 1, 2, 3 and 4 minutes: {secs}"
        );
        let big = meter.plan_text(2000, now, utc).expect("plan");
        assert!(
            big.contains("the hour's 1,500 caps this at 1,200 an hour"),
            "{big}"
        );
        let hours = meter.eta(2000, now).expect("eta").as_secs();
        assert!(
            hours >= 3600,
            "beyond the hour's 1,200 it waits for the hour: {hours}"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
