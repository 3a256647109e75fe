//! The team's result store in Redis: once one member has downloaded a result, the others
//! take it from here with no API call — compressed, and verified by SHA-256 before use. A
//! claim (`SET NX` with an expiry the owner renews) keeps two members from fetching the same
//! result at once; the second waits, and takes over if the first goes away. Only payloads
//! and their hashes are written: never a result link, a token or a secret.

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::Script;
use sha2::Digest as _;

use super::result::{Fetched, ResultKey, TeamShare};
use crate::team::{STEP_TIMEOUT, Team};

/// How long a claim lives unless its owner renews it: a member that dies frees its results
/// this long after its last renewal.
pub const CLAIM_TTL: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long shared results are kept: an incident's working days, not forever.
const RESULT_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// After a failed step, the store is left alone this long (each result fetched directly).
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// The default cap on a shared payload (`team_result_mb` in config).
pub const DEFAULT_MAX_SHARED_BYTES: u64 = 16 * 1024 * 1024;

/// Renews a claim only while it is still this member's.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Releases a claim only while it is still this member's.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A result as a teammate shared it, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedResult {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub file_name: Option<String>,
    /// Who downloaded it.
    pub by: String,
}

/// What the store holds for one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shared {
    Result(SharedResult),
    /// A member fetched it, but it is larger than the store takes: fetch it directly.
    TooLarge {
        size: u64,
    },
    Missing,
}

/// Whose turn it is to fetch a result.
pub enum ClaimOutcome {
    Mine(Claim),
    Held { by: String },
}

/// The store did not answer: fetch directly, as a member alone would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable;

pub struct TeamResults {
    team: Team,
    max_bytes: u64,
    renew: Arc<Script>,
    release: Arc<Script>,
    paused_until: Mutex<Option<Instant>>,
    /// What this process writes in its claims: the member, and a tag of this process (two
    /// processes of one analyst must not release or renew each other's claims).
    claimant: String,
}

impl TeamResults {
    pub fn new(team: Team, max_bytes: u64) -> Self {
        Self {
            max_bytes,
            renew: Arc::new(Script::new(RENEW)),
            release: Arc::new(Script::new(RELEASE)),
            paused_until: Mutex::new(None),
            claimant: format!("{} {:016x}", team.member(), {
                use rand_core::RngCore as _;
                rand_core::OsRng.next_u64()
            }),
            team,
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn member(&self) -> &str {
        self.team.member()
    }

    fn result_key(&self, key: &ResultKey) -> String {
        self.team.key(&[
            "result",
            &crate::files::safe_name(&key.action_id),
            &key.index.to_string(),
        ])
    }

    fn claim_key(&self, key: &ResultKey) -> String {
        self.team.key(&[
            "claim",
            &crate::files::safe_name(&key.action_id),
            &key.index.to_string(),
        ])
    }

    fn paused(&self) -> bool {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *paused {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *paused = None;
                tracing::info!("trying the team's result store again");
                false
            }
            None => false,
        }
    }

    fn failed(&self, what: &str, reason: &str) -> Unavailable {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none() {
            tracing::warn!(
                "the team's result store did not answer ({what}: {reason}); fetching results directly for a while"
            );
        }
        *paused = Some(Instant::now() + PAUSE_AFTER_FAILURE);
        Unavailable
    }

    /// One step on the store, bounded in time: a store that hangs is one that failed.
    async fn step<T: redis::FromRedisValue>(
        &self,
        what: &str,
        run: impl AsyncFnOnce(redis::aio::ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, Unavailable> {
        if self.paused() {
            return Err(Unavailable);
        }
        match tokio::time::timeout(2 * STEP_TIMEOUT, run(self.team.connection())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failed(
                what,
                &crate::team::TeamError::of(self.team.url(), &error).to_string(),
            )),
            Err(_) => Err(self.failed(what, "no answer in time")),
        }
    }

    /// The result if a teammate shared it and it verifies; a damaged entry is removed, so
    /// the next fetch replaces it.
    pub async fn take(&self, key: &ResultKey) -> Result<Shared, Unavailable> {
        let name = self.result_key(key);
        let fields: Vec<Option<Vec<u8>>> = self
            .step("reading a result", async |mut c| {
                redis::cmd("HMGET")
                    .arg(&name)
                    .arg(&["sha256", "size", "by", "file_name", "body", "too_large"])
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let text = |i: usize| {
            fields
                .get(i)
                .and_then(Option::as_ref)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        if let Some(size) = text(5).and_then(|s| s.parse().ok()) {
            return Ok(Shared::TooLarge { size });
        }
        let (Some(sha256), Some(size), Some(body)) = (
            text(0),
            text(1).and_then(|s| s.parse::<u64>().ok()),
            fields.get(4).and_then(Option::as_ref),
        ) else {
            return Ok(Shared::Missing);
        };
        match self.unpack(body, size, &sha256) {
            Ok(bytes) => Ok(Shared::Result(SharedResult {
                bytes,
                sha256,
                file_name: text(3).filter(|n| !n.is_empty()),
                by: crate::sanitize::line(&text(2).unwrap_or_default()),
            })),
            Err(problem) => {
                tracing::warn!(action = %key.action_id, index = key.index, "a shared result was discarded: {problem}");
                let _: Result<i64, _> = self
                    .step("removing a damaged result", async |mut c| {
                        redis::cmd("DEL").arg(&name).query_async(&mut c).await
                    })
                    .await;
                Ok(Shared::Missing)
            }
        }
    }

    fn unpack(&self, body: &[u8], size: u64, sha256: &str) -> Result<Vec<u8>, String> {
        if size > self.max_bytes.max(DEFAULT_MAX_SHARED_BYTES) * 4 {
            return Err(format!("it claims {size} bytes"));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        flate2::read::DeflateDecoder::new(body)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("it does not decompress ({e})"))?;
        if bytes.len() as u64 != size {
            return Err(format!("{} bytes instead of {size}", bytes.len()));
        }
        let actual = hex::encode(sha2::Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(sha256) {
            return Err(format!("its SHA-256 is {actual}, not {sha256}"));
        }
        Ok(bytes)
    }

    /// Claims a result for this member to fetch, or says who is fetching it.
    pub async fn claim(&self, key: &ResultKey) -> Result<ClaimOutcome, Unavailable> {
        self.claim_named(self.claim_key(key)).await
    }

    /// Claims reading an action, so that teammates reviewing the same actions read each
    /// once between them.
    pub async fn claim_action(&self, id: &str) -> Result<ClaimOutcome, Unavailable> {
        self.claim_named(
            self.team
                .key(&["claim", "action", &crate::files::safe_name(id)]),
        )
        .await
    }

    async fn claim_named(&self, name: String) -> Result<ClaimOutcome, Unavailable> {
        let member = self.claimant.clone();
        let set: Option<String> = self
            .step("claiming a result", async |mut c| {
                redis::cmd("SET")
                    .arg(&name)
                    .arg(&member)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(CLAIM_TTL))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if set.is_some() {
            return Ok(ClaimOutcome::Mine(Claim::start(self, name)));
        }
        let by: Option<String> = self
            .step("reading a claim", async |mut c| {
                redis::cmd("GET").arg(&name).query_async(&mut c).await
            })
            .await?;
        match by {
            Some(by) => Ok(ClaimOutcome::Held {
                by: crate::sanitize::line(by.split(' ').next().unwrap_or_default()),
            }),
            // Released between the two steps: ask again.
            None => Box::pin(self.claim_named(name)).await,
        }
    }

    /// Shares a payload this member downloaded. One larger than the cap is not shared, and
    /// a marker says so, so that teammates fetch it directly instead of waiting for it.
    pub async fn publish(
        &self,
        key: &ResultKey,
        fetched: &Fetched,
    ) -> Result<TeamShare, Unavailable> {
        let name = self.result_key(key);
        let size = fetched.size;
        if size > self.max_bytes {
            tracing::info!(action = %key.action_id, index = key.index, bytes = size, cap = self.max_bytes, "result larger than the team store takes; it stays on this machine");
            self.write_entry(
                "marking a result too large to share",
                &name,
                &[("too_large", size.to_string().as_bytes())],
            )
            .await?;
            return Ok(TeamShare::TooLarge {
                cap_bytes: self.max_bytes,
            });
        }
        let bytes = tokio::fs::read(&fetched.path).await.map_err(|error| {
            tracing::warn!(action = %key.action_id, index = key.index, "could not read the result to share it: {error}");
            Unavailable
        })?;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        let body = encoder
            .write_all(&bytes)
            .and_then(|()| encoder.finish())
            .map_err(|_| Unavailable)?;
        let size = size.to_string();
        self.write_entry(
            "sharing a result",
            &name,
            &[
                ("sha256", fetched.sha256.as_bytes()),
                ("size", size.as_bytes()),
                ("by", self.team.member().as_bytes()),
                (
                    "file_name",
                    fetched.file_name.as_deref().unwrap_or_default().as_bytes(),
                ),
                ("body", body.as_slice()),
            ],
        )
        .await?;
        Ok(TeamShare::SharedByYou)
    }

    /// Writes a result's entry in one step, with the expiry of shared results.
    async fn write_entry(
        &self,
        what: &str,
        name: &str,
        fields: &[(&str, &[u8])],
    ) -> Result<(), Unavailable> {
        self.step(what, async |mut c| {
            let mut pipe = redis::pipe();
            pipe.atomic().cmd("HSET").arg(name);
            for (field, value) in fields {
                pipe.arg(*field).arg(*value);
            }
            pipe.ignore()
                .cmd("PEXPIRE")
                .arg(name)
                .arg(millis(RESULT_TTL))
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// A finished action a teammate shared, or this member's turn to read it (the claim to
    /// hold while reading), waiting while a teammate reads it.
    pub async fn action_turn(
        &self,
        id: &str,
    ) -> Result<crate::api::models::MachineAction, Option<Claim>> {
        loop {
            if let Some(action) = self.action(id).await {
                return Ok(action);
            }
            match self.claim_action(id).await {
                Ok(ClaimOutcome::Mine(claim)) => {
                    return match self.action(id).await {
                        Some(action) => Ok(action),
                        None => Err(Some(claim)),
                    };
                }
                Ok(ClaimOutcome::Held { .. }) => tokio::time::sleep(LOOK_AGAIN / 5).await,
                Err(Unavailable) => return Err(None),
            }
        }
    }

    /// A finished action a teammate shared (finished actions never change).
    pub async fn action(&self, id: &str) -> Option<crate::api::models::MachineAction> {
        let name = self.team.key(&["action", &crate::files::safe_name(id)]);
        let json: Option<Vec<u8>> = self
            .step("reading an action", async |mut c| {
                redis::cmd("GET").arg(&name).query_async(&mut c).await
            })
            .await
            .ok()?;
        let action: crate::api::models::MachineAction = serde_json::from_slice(&json?).ok()?;
        (action.id == id && action.status.is_final()).then_some(action)
    }

    /// Shares an action that has reached a final state.
    pub async fn put_action(&self, action: &crate::api::models::MachineAction) {
        if !action.status.is_final() {
            return;
        }
        let Ok(json) = serde_json::to_vec(action) else {
            return;
        };
        let name = self
            .team
            .key(&["action", &crate::files::safe_name(&action.id)]);
        let _: Result<(), _> = self
            .step("sharing an action", async |mut c| {
                redis::cmd("SET")
                    .arg(&name)
                    .arg(json.as_slice())
                    .arg("PX")
                    .arg(millis(RESULT_TTL))
                    .query_async(&mut c)
                    .await
            })
            .await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A result this member is fetching: renewed in the background until dropped, then
/// released, so a waiting teammate goes on at once.
pub struct Claim {
    renewal: tokio::task::JoinHandle<()>,
    release: Option<(redis::aio::ConnectionManager, Arc<Script>, String, String)>,
}

impl Claim {
    fn start(results: &TeamResults, name: String) -> Self {
        let member = results.claimant.clone();
        let renew = Arc::clone(&results.renew);
        let mut connection = results.team.connection();
        let (renew_name, renew_member) = (name.clone(), member.clone());
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let renewed = tokio::time::timeout(
                    2 * STEP_TIMEOUT,
                    renew
                        .key(&renew_name)
                        .arg(&renew_member)
                        .arg(millis(CLAIM_TTL))
                        .invoke_async::<i64>(&mut connection),
                )
                .await;
                if !matches!(renewed, Ok(Ok(1))) {
                    tracing::debug!(claim = %renew_name, "a claim could not be renewed");
                }
            }
        });
        Self {
            renewal,
            release: Some((
                results.team.connection(),
                Arc::clone(&results.release),
                name,
                member,
            )),
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Some((mut connection, release, name, member)) = self.release.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(
                    2 * STEP_TIMEOUT,
                    release
                        .key(&name)
                        .arg(&member)
                        .invoke_async::<i64>(&mut connection),
                )
                .await;
            });
        }
    }
}

/// What to do about a result a teammate may have or be fetching.
pub enum Turn {
    /// A teammate shared it: no call needed.
    Shared(SharedResult),
    /// This member fetches it (and shares it); teammates wait for the claim.
    Mine(Claim),
    /// A teammate is fetching it now.
    Held { by: String },
    /// Fetch it directly: the store is not answering, or the result is too large to share.
    Alone,
}

/// How often a member waiting for a teammate's download looks again.
pub const LOOK_AGAIN: Duration = Duration::from_millis(250);

/// Takes a shared result, or claims it, or says who is fetching it.
pub async fn look(results: &TeamResults, key: &ResultKey) -> Turn {
    match results.take(key).await {
        Ok(Shared::Result(shared)) => return Turn::Shared(shared),
        Ok(Shared::TooLarge { .. }) | Err(Unavailable) => return Turn::Alone,
        Ok(Shared::Missing) => {}
    }
    match results.claim(key).await {
        // The owner before may have shared it and released its claim between the two
        // steps: look once more before paying for a link.
        Ok(ClaimOutcome::Mine(claim)) => match results.take(key).await {
            Ok(Shared::Result(shared)) => Turn::Shared(shared),
            Ok(Shared::TooLarge { .. }) | Err(Unavailable) => Turn::Alone,
            Ok(Shared::Missing) => Turn::Mine(claim),
        },
        Ok(ClaimOutcome::Held { by }) => Turn::Held { by },
        Err(Unavailable) => Turn::Alone,
    }
}

/// Like `look`, but waits while a teammate fetches it (telling `waiting` whom it waits
/// for). A teammate that dies lets its claim expire, and this member takes over.
pub async fn await_turn(results: &TeamResults, key: &ResultKey, waiting: impl Fn(&str)) -> Turn {
    let mut told: Option<String> = None;
    loop {
        match look(results, key).await {
            Turn::Held { by } => {
                if told.as_deref() != Some(by.as_str()) {
                    waiting(&by);
                    told = Some(by);
                }
                tokio::time::sleep(LOOK_AGAIN).await;
            }
            turn => return turn,
        }
    }
}
