//! What the service allows each API: one table, read by the client's budget, the fetch
//! engine and the simulated tenant alike (contract §11), so the three cannot disagree.

use std::time::Duration;

use chrono::{DateTime, Utc};

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

/// The APIs lrx calls. The service counts each one on its own windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    ListActions,
    GetAction,
    CancelAction,
    ResultLink,
    RunLiveResponse,
    LibraryFiles,
    Machines,
    GetPackageUri,
}

/// 100 calls a minute and 1,500 an hour: what most APIs allow.
pub const STANDARD: [WindowLimit; 2] = [WindowLimit::PER_MINUTE, WindowLimit::PER_HOUR];

const RUN_LIVE_RESPONSE: [WindowLimit; 1] = [WindowLimit {
    calls: 10,
    period: Duration::from_secs(60),
}];

const GET_PACKAGE_URI: [WindowLimit; 2] = [
    WindowLimit {
        calls: 2,
        period: Duration::from_secs(60),
    },
    WindowLimit {
        calls: 120,
        period: Duration::from_secs(3600),
    },
];

impl Api {
    pub const ALL: [Self; 8] = [
        Self::ListActions,
        Self::GetAction,
        Self::CancelAction,
        Self::ResultLink,
        Self::RunLiveResponse,
        Self::LibraryFiles,
        Self::Machines,
        Self::GetPackageUri,
    ];

    /// A short stable name, for logs, budget keys and the meter.
    pub fn name(self) -> &'static str {
        match self {
            Self::ListActions => "list",
            Self::GetAction => "get",
            Self::CancelAction => "cancel",
            Self::ResultLink => "link",
            Self::RunLiveResponse => "runliveresponse",
            Self::LibraryFiles => "library",
            Self::Machines => "machines",
            Self::GetPackageUri => "getpackageuri",
        }
    }

    /// The API of a name that `name` gave.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|api| api.name() == name)
    }

    /// The windows the service documents for this API.
    pub fn documented_limits(self) -> &'static [WindowLimit] {
        match self {
            Self::RunLiveResponse => &RUN_LIVE_RESPONSE,
            Self::GetPackageUri => &GET_PACKAGE_URI,
            Self::ListActions
            | Self::GetAction
            | Self::CancelAction
            | Self::ResultLink
            | Self::LibraryFiles
            | Self::Machines => &STANDARD,
        }
    }

    /// Whether this API has the standard windows, so a time-compressed run scales it.
    pub fn is_standard(self) -> bool {
        self.documented_limits() == STANDARD
    }
}

/// A wait for room in the budget (the boxed future of an object-safe trait).
pub type BudgetWait<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Who decides when the next API call may go out. The fetch engine's budget
/// implements it; the client only asks.
pub trait CallBudget: Send + Sync {
    /// Waits until a call to `api` is allowed and counts it.
    fn acquire(&self, api: Api, interactive: bool) -> BudgetWait<'_>;
    /// The service answered 429 for `api`: no call to it may go out before `until` (the
    /// other APIs go on). `asked` is what the service asked for, when lrx capped it.
    fn throttled_until(
        &self,
        api: Api,
        until: DateTime<Utc>,
        asked: Option<DateTime<Utc>>,
    ) -> BudgetWait<'_>;
}

/// No budget at all: for tests of the client alone.
pub struct Unlimited;

impl CallBudget for Unlimited {
    fn acquire(&self, _api: Api, _interactive: bool) -> BudgetWait<'_> {
        Box::pin(async {})
    }
    fn throttled_until(
        &self,
        _api: Api,
        _until: DateTime<Utc>,
        _asked: Option<DateTime<Utc>>,
    ) -> BudgetWait<'_> {
        Box::pin(async {})
    }
}

/// Every API's windows for one tenant and app: the documented table, with the standard
/// windows (100/min, 1,500/h) replaceable for time-compressed demos and tests, and every API
/// scaled to the analyst's share (`--max-calls-per-minute`). The client's budget and the
/// simulated tenant both read their limits from here.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitTable {
    standard: Vec<WindowLimit>,
    /// The share of the standard per-minute limit this process may use, as a fraction.
    share: f64,
}

impl Default for LimitTable {
    fn default() -> Self {
        Self::documented()
    }
}

impl LimitTable {
    /// The service's limits as documented.
    pub fn documented() -> Self {
        Self {
            standard: STANDARD.to_vec(),
            share: 1.0,
        }
    }

    /// The documented table with other standard windows (the others keep theirs).
    pub fn with_standard(standard: Vec<WindowLimit>) -> Self {
        Self {
            standard,
            share: 1.0,
        }
    }

    /// Keeps to `calls_per_minute` of the standard per-minute limit, and the same share of
    /// every other window, so two analysts at 50 each never meet.
    #[must_use]
    pub fn with_share(mut self, calls_per_minute: Option<u32>) -> Self {
        if let Some(wanted) = calls_per_minute {
            let per_minute = self
                .standard
                .iter()
                .find(|l| l.period == Duration::from_secs(60))
                .map_or(100, |l| l.calls)
                .max(1);
            self.share = f64::from(wanted.min(per_minute)) / f64::from(per_minute);
        }
        self
    }

    /// The windows lrx keeps to for calls of `api`.
    pub fn for_api(&self, api: Api) -> Vec<WindowLimit> {
        let windows = if api.is_standard() {
            self.standard.clone()
        } else {
            api.documented_limits().to_vec()
        };
        windows
            .into_iter()
            .map(|limit| WindowLimit {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a share of a u32 stays in range"
                )]
                calls: ((f64::from(limit.calls) * self.share).floor() as u32).max(1),
                period: limit.period,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limit_specs() {
        assert_eq!(parse_limits("100/1m,1500/1h"), Ok(STANDARD.to_vec()));
        assert!(parse_limits("100").is_err());
        assert!(parse_limits("0/1m").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn the_table_follows_the_contract() {
        assert_eq!(Api::ResultLink.documented_limits(), STANDARD);
        assert_eq!(Api::RunLiveResponse.documented_limits()[0].calls, 10);
        assert_eq!(
            Api::GetPackageUri.documented_limits(),
            [
                WindowLimit {
                    calls: 2,
                    period: Duration::from_secs(60)
                },
                WindowLimit {
                    calls: 120,
                    period: Duration::from_secs(3600)
                },
            ]
        );
        let names: std::collections::HashSet<_> = Api::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), Api::ALL.len(), "names are distinct");
    }

    #[test]
    fn a_share_scales_every_api_and_compressed_runs_keep_the_others_own() {
        let half = LimitTable::documented().with_share(Some(50));
        assert_eq!(half.for_api(Api::ResultLink)[0].calls, 50);
        assert_eq!(half.for_api(Api::ResultLink)[1].calls, 750);
        assert_eq!(half.for_api(Api::RunLiveResponse)[0].calls, 5);
        assert_eq!(
            half.for_api(Api::GetPackageUri)[0].calls,
            1,
            "never below one call"
        );
        let fast = LimitTable::with_standard(vec![WindowLimit {
            calls: 3,
            period: Duration::from_secs(2),
        }]);
        assert_eq!(fast.for_api(Api::GetAction)[0].calls, 3);
        assert_eq!(
            fast.for_api(Api::RunLiveResponse),
            Api::RunLiveResponse.documented_limits()
        );
        assert_eq!(
            LimitTable::documented()
                .with_share(Some(500))
                .for_api(Api::ListActions)[0]
                .calls,
            100
        );
    }
}
