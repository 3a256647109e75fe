//! The service's documented throttling: sliding windows per endpoint family, answered with
//! 429 and `Retry-After` once any window is full (contract §10, §11).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::api::limits::{Api, LimitTable, WindowLimit};

#[derive(Debug)]
pub struct Throttle {
    /// The service's table; time-compressed runs shrink the standard windows, and the
    /// others (runliveresponse, getPackageUri) keep their own.
    limits: LimitTable,
    calls: HashMap<Api, VecDeque<Instant>>,
}

impl Throttle {
    pub fn new(standard: Vec<WindowLimit>) -> Self {
        Self {
            limits: LimitTable::with_standard(standard),
            calls: HashMap::new(),
        }
    }

    /// Counts a call to `api` now, or says how long until one would be allowed.
    /// Rejected calls are not counted: the service answers them without doing the work.
    pub fn admit(&mut self, api: Api, now: Instant) -> Result<(), Duration> {
        let limits = self.limits.for_api(api);
        let longest = limits.iter().map(|l| l.period).max().unwrap_or_default();
        let log = self.calls.entry(api).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.pop_front();
        }
        let mut wait = Duration::ZERO;
        for limit in &limits {
            let in_window = log
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) < limit.period)
                .count();
            if in_window >= limit.calls as usize {
                // The call that frees a slot is the oldest one still inside this window.
                let oldest_index = log.len() - in_window;
                let frees_at =
                    log[oldest_index + (in_window - limit.calls as usize)] + limit.period;
                wait = wait.max(frees_at.duration_since(now));
            }
        }
        if wait.is_zero() {
            log.push_back(now);
            Ok(())
        } else {
            Err(wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_101st_call_in_a_minute_waits_for_the_first_to_expire() {
        let start = Instant::now();
        let mut throttle = Throttle::new(crate::api::limits::STANDARD.to_vec());
        for i in 0..100u64 {
            assert!(
                throttle
                    .admit(Api::ListActions, start + Duration::from_millis(i * 100))
                    .is_ok()
            );
        }
        let now = start + Duration::from_secs(30);
        let wait = throttle
            .admit(Api::ListActions, now)
            .expect_err("101st call");
        assert_eq!(wait, Duration::from_secs(30));
        assert!(
            throttle.admit(Api::ResultLink, now).is_ok(),
            "APIs are counted apart"
        );
        assert!(
            throttle
                .admit(Api::ListActions, start + Duration::from_secs(60))
                .is_ok()
        );
    }

    #[test]
    fn the_hour_window_binds_too() {
        let start = Instant::now();
        let mut throttle = Throttle::new(vec![
            WindowLimit {
                calls: 10,
                period: Duration::from_secs(1),
            },
            WindowLimit {
                calls: 15,
                period: Duration::from_secs(10),
            },
        ]);
        let mut admitted = 0;
        for i in 0..40u64 {
            if throttle
                .admit(Api::GetAction, start + Duration::from_millis(i * 200))
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 15);
    }
}
