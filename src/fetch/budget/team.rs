//! The team's budget in Redis: each API's calls in a sorted set, checked against both
//! windows and counted in one Lua script on the server's clock, so analysts' clocks do not
//! matter and one round trip decides a call. A 429 any member sees holds that API for all.
//! When the store is lost, this process counts its share (the limit divided by the team's
//! last known size, the windows seeded as full as they were) until the store is back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::Script;

use super::local::MemoryStore;
use super::store::{
    ApiCounts, BudgetStore, Policy, Scope, StoreFuture, Teammate, Usage, WindowUsage, ms,
};
use crate::api::limits::Api;
use crate::team::{CLOCK_AND_PRESENCE, STEP_TIMEOUT, Team, TeamError};

/// Shared by the budget's scripts (after the team's clock and presence): a wait against
/// every window.
const PRELUDE: &str = r"
local function wait_ms(calls, hold, now, caps, periods)
  local wait = 0
  local held = tonumber(redis.call('GET', hold) or '0')
  if held > now then wait = held - now end
  for i = 1, #caps do
    local from = '(' .. tostring(now - periods[i])
    local count = redis.call('ZCOUNT', calls, from, '+inf')
    if count >= caps[i] then
      local at = redis.call('ZRANGEBYSCORE', calls, from, '+inf', 'WITHSCORES', 'LIMIT', count - caps[i], 1)
      local frees = tonumber(at[2]) + periods[i]
      if frees - now > wait then wait = frees - now end
    end
  end
  return wait
end
";

/// KEYS: calls, hold, members. ARGV: interactive, count (0: only say the wait), member,
/// nonce, longest ms, windows, then per window: the analyst's cap, the background cap, the
/// counted period, the period. Returns the wait (0: counted), the team's size, and each
/// window's calls.
const TAKE: &str = r"
local interactive, count = ARGV[1] == '1', ARGV[2] == '1'
local member, nonce, longest = ARGV[3], ARGV[4], tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local caps, periods, raws = {}, {}, {}
for i = 1, n do
  local base = 6 + (i - 1) * 4
  caps[i] = tonumber(interactive and ARGV[base + 1] or ARGV[base + 2])
  periods[i] = tonumber(ARGV[base + 3])
  raws[i] = tonumber(ARGV[base + 4])
end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local members = presence(KEYS[3], member, now)
local wait = wait_ms(KEYS[1], KEYS[2], now, caps, periods)
if wait == 0 and count then
  redis.call('ZADD', KEYS[1], now, tostring(now) .. ':' .. member .. ':' .. nonce)
  redis.call('PEXPIRE', KEYS[1], longest)
end
local out = {wait, members}
for i = 1, n do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '(' .. tostring(now - raws[i]), '+inf')
end
return out
";

/// KEYS: hold. ARGV: hold ms, the longest hold. The later hold wins.
const HOLD: &str = r"
local now = now_ms()
local hold = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]))
local until_ms = now + hold
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > held and hold > 0 then
  redis.call('SET', KEYS[1], tostring(until_ms), 'PX', hold)
end
return until_ms
";

/// KEYS: the calls of each API. ARGV: member, then per API: the longest ms, how many
/// calls, and each call's age in ms. Counts calls made while the store was lost.
const MERGE: &str = r"
local now = now_ms()
local at = 2
for k = 1, #KEYS do
  local longest, n = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  at = at + 2
  for i = 1, n do
    local t = now - tonumber(ARGV[at])
    at = at + 1
    redis.call('ZADD', KEYS[k], t, tostring(t) .. ':' .. ARGV[1] .. ':alone:' .. i)
  end
  redis.call('PEXPIRE', KEYS[k], longest)
end
return 1
";

/// KEYS: calls and hold of each API, then members, then activities. ARGV: member, APIs,
/// then per API its windows and per window: the analyst's cap, the counted period, the
/// period; then this member's activity, which API is the result link's (1-based) and its
/// shortest period. Returns the server's now, the team's size, per API: hold, the
/// analyst's wait, then each window's calls and oldest call; and per member active: name,
/// activity and result-link calls in that period.
const USAGE: &str = r"
local member, napis = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local members_key, activities = KEYS[napis * 2 + 1], KEYS[napis * 2 + 2]
local members = presence(members_key, member, now)
local rows = {}
local at = 3
for a = 1, napis do
  local calls, hold = KEYS[a * 2 - 1], KEYS[a * 2]
  local n = tonumber(ARGV[at]); at = at + 1
  local caps, periods, raws = {}, {}, {}
  for i = 1, n do
    caps[i] = tonumber(ARGV[at]); periods[i] = tonumber(ARGV[at + 1]); raws[i] = tonumber(ARGV[at + 2])
    at = at + 3
  end
  local row = {tonumber(redis.call('GET', hold) or '0'), wait_ms(calls, hold, now, caps, periods)}
  for i = 1, n do
    local from = '(' .. tostring(now - raws[i])
    local first = redis.call('ZRANGEBYSCORE', calls, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    row[#row + 1] = redis.call('ZCOUNT', calls, from, '+inf')
    row[#row + 1] = first[2] and tonumber(first[2]) or 0
  end
  rows[#rows + 1] = row
end
local activity, link, period = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
redis.call('HSET', activities, member, activity)
redis.call('PEXPIRE', activities, 120000)
local calls_of = {}
for _, call in ipairs(redis.call('ZRANGEBYSCORE', KEYS[link * 2 - 1], '(' .. tostring(now - period), '+inf')) do
  local who = string.match(call, '^%d+:([^:]*)')
  if who then calls_of[who] = (calls_of[who] or 0) + 1 end
end
local team = {}
for _, who in ipairs(redis.call('ZRANGE', members_key, 0, -1)) do
  team[#team + 1] = who
  team[#team + 1] = redis.call('HGET', activities, who) or ''
  team[#team + 1] = tostring(calls_of[who] or 0)
end
return {now, members, rows, team}
";

/// While the store is lost: this process's share, and when to try the store again.
struct Lost {
    alone: Arc<MemoryStore>,
    retry_at: Instant,
    /// The calls this process made while alone, written back when the store answers again
    /// (a store restarted empty would not know them; the service does).
    made: Vec<(Api, Instant)>,
}

#[derive(Default)]
struct Known {
    /// The team's size at the last step (processes seen within two minutes).
    members: u32,
    /// Each API's calls per window at the last step, for seeding a share if the store goes.
    used: BTreeMap<Api, Vec<u32>>,
    lost: Option<Lost>,
}

/// How often a lost store is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(5);

type Say = Box<dyn Fn(&str) + Send + Sync>;

pub struct TeamStore {
    team: Team,
    policy: Policy,
    take: Script,
    hold: Script,
    usage: Script,
    merge: Script,
    known: Mutex<Known>,
    /// What this member says it is doing, written with each reading of the meter.
    activity: Mutex<String>,
    /// Tells the analyst once when the store is lost and when it is back (stderr in the
    /// CLI; the TUI shows the meter's scope instead).
    say: Option<Say>,
}

impl TeamStore {
    pub fn new(team: Team, policy: Policy) -> Self {
        Self {
            policy,
            take: Script::new(&format!("{CLOCK_AND_PRESENCE}{PRELUDE}{TAKE}")),
            hold: Script::new(&format!("{CLOCK_AND_PRESENCE}{PRELUDE}{HOLD}")),
            usage: Script::new(&format!("{CLOCK_AND_PRESENCE}{PRELUDE}{USAGE}")),
            merge: Script::new(&format!("{CLOCK_AND_PRESENCE}{PRELUDE}{MERGE}")),
            known: Mutex::new(Known {
                members: team.members_at_start(),
                ..Known::default()
            }),
            activity: Mutex::new(String::new()),
            say: None,
            team,
        }
    }

    #[must_use]
    pub fn saying(mut self, say: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.say = Some(Box::new(say));
        self
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This process's share, while the store is lost. Once the retry is due, one caller
    /// (this one, getting `None`) tries the store; the others go on with the share.
    fn counting_alone(&self) -> Option<Arc<MemoryStore>> {
        let mut known = self.known();
        let lost = known.lost.as_mut()?;
        let now = Instant::now();
        if now < lost.retry_at {
            return Some(Arc::clone(&lost.alone));
        }
        lost.retry_at = now + RETRY_EVERY;
        None
    }

    /// The store answered: if it had been lost, the team is rejoined, and the calls made
    /// alone meanwhile are counted there.
    async fn answered(&self, members: u32) {
        let lost = {
            let mut known = self.known();
            known.members = members.max(1);
            known.lost.take()
        };
        let Some(lost) = lost else {
            return;
        };
        if !lost.made.is_empty() {
            let now = Instant::now();
            let mut invocation = self.merge.prepare_invoke();
            invocation.arg(self.team.member());
            for api in Api::ALL {
                let ages: Vec<u128> = lost
                    .made
                    .iter()
                    .filter(|(made_for, _)| *made_for == api)
                    .map(|(_, at)| now.duration_since(*at).as_millis())
                    .collect();
                if ages.is_empty() {
                    continue;
                }
                invocation
                    .key(self.team.key(&["api", api.name(), "calls"]))
                    .arg(ms(self.policy.longest(api)))
                    .arg(ages.len());
                for age in ages {
                    invocation.arg(u64::try_from(age).unwrap_or(u64::MAX));
                }
            }
            if let Err(problem) = self.run::<i64>(&invocation).await {
                tracing::warn!("could not count the calls made alone in the team store: {problem}");
            }
        }
        let message = format!(
            "the team store {} is back: one team budget again",
            self.team.url()
        );
        tracing::info!("{message}");
        self.tell(&message);
    }

    /// The store failed: count this process's share alone, seeded from what was last seen.
    fn lose(&self, error: &str) {
        let mut known = self.known();
        if let Some(lost) = known.lost.as_mut() {
            lost.retry_at = Instant::now() + RETRY_EVERY;
            return;
        }
        let members = known.members.max(1);
        let alone = Arc::new(MemoryStore::new(self.policy.shared_by(members)));
        for (api, used) in &known.used {
            let seeded: Vec<_> = self
                .policy
                .limits(*api)
                .iter()
                .zip(used)
                .map(|(limit, used)| (*limit, used.div_ceil(members)))
                .collect();
            alone.seed(*api, &seeded);
        }
        known.lost = Some(Lost {
            alone,
            retry_at: Instant::now() + RETRY_EVERY,
            made: Vec::new(),
        });
        drop(known);
        let message = format!(
            "the team store is lost ({error}); counting this process's share of the budget (1 of {members}) until it is back"
        );
        tracing::warn!("{message}");
        self.tell(&message);
    }

    fn tell(&self, message: &str) {
        if let Some(say) = &self.say {
            say(message);
        }
    }

    /// Runs a script once, and once more after a dropped connection (the manager reconnects
    /// underneath): a blip is not a lost store. A take repeated after its reply was lost is
    /// counted twice, which errs on the safe side.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut connection = self.team.connection();
            match tokio::time::timeout(2 * STEP_TIMEOUT, invocation.invoke_async(&mut connection))
                .await
            {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error))
                    if attempt == 1 && (error.is_io_error() || error.is_connection_dropped()) => {}
                Ok(Err(error)) => return Err(self.failure(Ok(error))),
                Err(elapsed) => return Err(self.failure(Err(elapsed))),
            }
        }
    }

    fn failure(&self, error: Result<redis::RedisError, tokio::time::error::Elapsed>) -> String {
        match error {
            Ok(error) => TeamError::of(self.team.url(), &error).to_string(),
            Err(_) => format!("no answer within {} s", STEP_TIMEOUT.as_secs()),
        }
    }

    /// One step of the take script; `count` false only asks for the wait.
    async fn take(&self, api: Api, interactive: bool, count: bool) -> Result<(), Duration> {
        if let Some(alone) = self.counting_alone() {
            if !count {
                return wait_result(alone.wait(api, interactive).await);
            }
            let taken = alone.try_take(api, interactive).await;
            if taken.is_ok()
                && let Some(lost) = self.known().lost.as_mut()
            {
                lost.made.push((api, Instant::now()));
            }
            return taken;
        }
        let limits = self.policy.limits(api);
        let mut invocation = self.take.prepare_invoke();
        invocation
            .key(self.team.key(&["api", api.name(), "calls"]))
            .key(self.team.key(&["api", api.name(), "hold"]))
            .key(self.team.key(&["members"]))
            .arg(if interactive { "1" } else { "0" })
            .arg(if count { "1" } else { "0" })
            .arg(self.team.member())
            .arg(nonce())
            .arg(ms(self.policy.longest(api)))
            .arg(limits.len());
        for limit in limits {
            invocation
                .arg(self.policy.cap(*limit, true))
                .arg(self.policy.cap(*limit, false))
                .arg(Policy::counted_period_ms(*limit))
                .arg(ms(limit.period));
        }
        let problem = match self.run::<Vec<i64>>(&invocation).await {
            Ok(reply) if reply.len() >= 2 => {
                self.answered(u32::try_from(reply[1]).unwrap_or(1)).await;
                let used = reply[2..]
                    .iter()
                    .map(|n| u32::try_from(*n).unwrap_or(0))
                    .collect();
                self.known().used.insert(api, used);
                return match u64::try_from(reply[0]).unwrap_or(0) {
                    0 => Ok(()),
                    wait => Err(Duration::from_millis(wait)),
                };
            }
            Ok(_) => "it answered the budget script with something else".to_string(),
            Err(problem) => problem,
        };
        self.lose(&problem);
        Box::pin(self.take(api, interactive, count)).await
    }

    async fn hold_api(&self, api: Api, hold: Duration) {
        // A hold is kept locally too, so a store lost right after still honours it.
        let mut invocation = self.hold.prepare_invoke();
        invocation
            .key(self.team.key(&["api", api.name(), "hold"]))
            .arg(ms(hold))
            .arg(ms(self.policy.max_hold));
        let done = self.run::<i64>(&invocation).await;
        let alone = self
            .known()
            .lost
            .as_ref()
            .map(|lost| Arc::clone(&lost.alone));
        if let Some(alone) = alone {
            alone.hold(api, hold).await;
        }
        if let Err(problem) = done {
            self.lose(&problem);
        }
    }

    async fn read_usage(&self) -> Usage {
        if let Some(alone) = self.counting_alone() {
            let members = self.known().members;
            return Usage {
                scope: Scope::TeamLost { members },
                ..alone.usage().await
            };
        }
        let mut invocation = self.usage.prepare_invoke();
        invocation.arg(self.team.member()).arg(Api::ALL.len());
        for api in Api::ALL {
            invocation
                .key(self.team.key(&["api", api.name(), "calls"]))
                .key(self.team.key(&["api", api.name(), "hold"]));
            let limits = self.policy.limits(api);
            invocation.arg(limits.len());
            for limit in limits {
                invocation
                    .arg(self.policy.cap(*limit, true))
                    .arg(Policy::counted_period_ms(*limit))
                    .arg(ms(limit.period));
            }
        }
        let link = Api::ALL
            .iter()
            .position(|api| *api == Api::ResultLink)
            .unwrap_or(0);
        let activity = self
            .activity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        invocation
            .key(self.team.key(&["members"]))
            .key(self.team.key(&["activities"]))
            .arg(activity)
            .arg(link + 1)
            .arg(
                self.policy
                    .limits(Api::ResultLink)
                    .first()
                    .map_or(60_000, |limit| ms(limit.period)),
            );
        type Reply = (i64, i64, Vec<Vec<i64>>, Vec<String>);
        match self.run::<Reply>(&invocation).await {
            Ok((now, members, rows, team)) if rows.len() == Api::ALL.len() => {
                let members = u32::try_from(members).unwrap_or(1).max(1);
                self.answered(members).await;
                let apis = Api::ALL
                    .into_iter()
                    .zip(rows)
                    .map(|(api, row)| (api, self.counts(api, now, &row)))
                    .collect::<BTreeMap<_, _>>();
                for (api, counts) in &apis {
                    self.known()
                        .used
                        .insert(*api, counts.windows.iter().map(|w| w.used).collect());
                }
                Usage {
                    now: to_time(now),
                    apis,
                    scope: Scope::Team { members },
                    reserve: self.policy.reserve,
                    team: self.teammates(&team),
                }
            }
            Ok(_) => {
                self.lose("it answered the usage script with something else");
                Box::pin(self.read_usage()).await
            }
            Err(problem) => {
                self.lose(&problem);
                Box::pin(self.read_usage()).await
            }
        }
    }

    /// The usage script's members, this one first, then by name.
    fn teammates(&self, flat: &[String]) -> Vec<Teammate> {
        let mut team: Vec<Teammate> = flat
            .chunks_exact(3)
            .map(|member| Teammate {
                name: crate::sanitize::line(&member[0]),
                activity: crate::sanitize::line(&member[1]),
                link_calls: member[2].parse().unwrap_or(0),
                is_you: member[0] == self.team.member(),
            })
            .collect();
        team.sort_by(|a, b| b.is_you.cmp(&a.is_you).then_with(|| a.name.cmp(&b.name)));
        team
    }

    /// One API's row of the usage script: hold, wait, then (calls, oldest) per window.
    fn counts(&self, api: Api, now: i64, row: &[i64]) -> ApiCounts {
        let held = row.first().copied().unwrap_or(0);
        let wait = row.get(1).copied().unwrap_or(0);
        let windows = self
            .policy
            .limits(api)
            .iter()
            .enumerate()
            .map(|(i, limit)| {
                let used = row.get(2 + i * 2).copied().unwrap_or(0);
                let oldest = row.get(3 + i * 2).copied().unwrap_or(0);
                WindowUsage {
                    used: u32::try_from(used).unwrap_or(u32::MAX),
                    limit: limit.calls,
                    period: limit.period,
                    frees_at: (used > 0).then(|| to_time(oldest + ms(limit.period))),
                }
            })
            .collect();
        ApiCounts {
            windows,
            held_until: (held > now).then(|| to_time(held)),
            interactive_wait: Duration::from_millis(u64::try_from(wait).unwrap_or(0)),
        }
    }
}

fn to_time(ms: i64) -> DateTime<Utc> {
    super::store::to_time(ms).unwrap_or_else(Utc::now)
}

/// Makes each counted call a member of its own, however many share a millisecond.
fn nonce() -> u64 {
    use rand_core::RngCore as _;
    rand_core::OsRng.next_u64()
}

fn wait_result(wait: Duration) -> Result<(), Duration> {
    if wait.is_zero() { Ok(()) } else { Err(wait) }
}

impl BudgetStore for TeamStore {
    fn try_take(&self, api: Api, interactive: bool) -> StoreFuture<'_, Result<(), Duration>> {
        Box::pin(self.take(api, interactive, true))
    }

    fn wait(&self, api: Api, interactive: bool) -> StoreFuture<'_, Duration> {
        Box::pin(async move {
            self.take(api, interactive, false)
                .await
                .err()
                .unwrap_or_default()
        })
    }

    fn hold(&self, api: Api, hold: Duration) -> StoreFuture<'_, ()> {
        Box::pin(self.hold_api(api, hold))
    }

    fn usage(&self) -> StoreFuture<'_, Usage> {
        Box::pin(self.read_usage())
    }

    fn heartbeat(&self) -> Option<Duration> {
        Some(Duration::from_secs(20))
    }

    fn set_activity(&self, activity: &str) {
        *self
            .activity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            crate::sanitize::line(activity).chars().take(120).collect();
    }
}
