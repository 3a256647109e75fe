//! The service's documented throttling: sliding windows per endpoint family, answered with
//! 429 and `Retry-After` once any window is full (contract §10, §11).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// One sliding window: at most `calls` within any `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    pub calls: u32,
    pub period: Duration,
}

impl WindowLimit {
    pub const PER_MINUTE: Self = Self {
        calls: 100,
        period: Duration::from_secs(60),
    };
    pub const PER_HOUR: Self = Self {
        calls: 1500,
        period: Duration::from_secs(3600),
    };
}

/// Parses `100/1m,1500/1h` (units `s`, `m`, `h`; a bare number is seconds).
pub fn parse_limits(spec: &str) -> Result<Vec<WindowLimit>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (calls, period) = part
                .split_once('/')
                .ok_or_else(|| format!("'{part}' is not CALLS/PERIOD, e.g. 100/1m"))?;
            let calls: u32 = calls
                .trim()
                .parse()
                .map_err(|_| format!("'{calls}' is not a number of calls"))?;
            let period = parse_duration(period.trim())?;
            if calls == 0 || period.is_zero() {
                return Err(format!("'{part}' allows no calls at all"));
            }
            Ok(WindowLimit { calls, period })
        })
        .collect()
}

/// `90`, `90s`, `15m`, `1h`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| (&text[..at], &text[at..]));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 90s, 15m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{unit}' (use ms, s, m, h or d)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("'{text}' is out of range"))
}

#[derive(Debug)]
pub struct Throttle {
    limits: Vec<WindowLimit>,
    calls: HashMap<&'static str, VecDeque<Instant>>,
}

impl Throttle {
    pub fn new(limits: Vec<WindowLimit>) -> Self {
        Self {
            limits,
            calls: HashMap::new(),
        }
    }

    /// Counts a call to `family` now, or says how long until one would be allowed.
    /// Rejected calls are not counted: the service answers them without doing the work.
    pub fn admit(&mut self, family: &'static str, now: Instant) -> Result<(), Duration> {
        let longest = self
            .limits
            .iter()
            .map(|l| l.period)
            .max()
            .unwrap_or_default();
        let log = self.calls.entry(family).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.pop_front();
        }
        let mut wait = Duration::ZERO;
        for limit in &self.limits {
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
    fn parses_limit_specs() {
        assert_eq!(
            parse_limits("100/1m,1500/1h"),
            Ok(vec![WindowLimit::PER_MINUTE, WindowLimit::PER_HOUR])
        );
        assert!(parse_limits("100").is_err());
        assert!(parse_limits("0/1m").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn the_101st_call_in_a_minute_waits_for_the_first_to_expire() {
        let start = Instant::now();
        let mut throttle = Throttle::new(vec![WindowLimit::PER_MINUTE, WindowLimit::PER_HOUR]);
        for i in 0..100u64 {
            assert!(
                throttle
                    .admit("list", start + Duration::from_millis(i * 100))
                    .is_ok()
            );
        }
        let now = start + Duration::from_secs(30);
        let wait = throttle.admit("list", now).expect_err("101st call");
        assert_eq!(wait, Duration::from_secs(30));
        assert!(
            throttle.admit("link", now).is_ok(),
            "families are independent"
        );
        assert!(
            throttle
                .admit("list", start + Duration::from_secs(60))
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
                .admit("x", start + Duration::from_millis(i * 200))
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 15);
    }
}
