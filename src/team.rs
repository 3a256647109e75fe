//! Team mode: the Redis (or Valkey) server that a team's lrx processes, on any number of
//! machines, share for one budget. lrx never runs a coordinator of its own; without a team
//! URL nothing here is used. What lives in Redis is counts and holds, never a token, a
//! result link or a secret; the URL's password is never shown (`redacted`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::api::auth::Secret;

/// `redis://[user:password@]host:port/db` or `rediss://` (TLS). Its `Debug` and `Display`
/// leave the password out.
#[derive(Clone)]
pub struct TeamUrl {
    url: url::Url,
}

impl TeamUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|_| {
            "the team URL is not a URL: use redis://[user:password@]host:port/db or rediss://… for TLS".to_string()
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(format!(
                "the team URL must start redis:// or rediss:// (TLS), not {}://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the team URL names no host: redis://host:6379/0".into());
        }
        Ok(Self { url })
    }

    /// Whether the URL carries a password (which a config file must not).
    pub fn has_password(&self) -> bool {
        self.url.password().is_some()
    }

    /// The URL with this password (from `LRX_TEAM_PASSWORD`), unless it has one.
    #[must_use]
    pub fn with_password(mut self, password: Option<&Secret>) -> Self {
        if let Some(password) = password
            && self.url.password().is_none()
        {
            let _ = self.url.set_password(Some(password.expose()));
        }
        self
    }

    /// The URL as it may be shown and logged: the password replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        shown.to_string()
    }

    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "rediss"
    }
}

impl std::fmt::Debug for TeamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for TeamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why the team store cannot be used, each with what to do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TeamError {
    #[error("{0}")]
    Url(String),
    #[error("the team store {url} is unreachable: {reason}. Check the host, port and firewall")]
    Unreachable { url: String, reason: String },
    #[error(
        "the team store {url} refused the password: set the right one in LRX_TEAM_URL or LRX_TEAM_PASSWORD"
    )]
    Auth { url: String },
    #[error("the TLS connection to the team store {url} failed: {reason}")]
    Tls { url: String, reason: String },
    #[error(
        "the team store {url} cannot run Lua scripts ({reason}); lrx needs EVAL (Redis 6 or later, or Valkey)"
    )]
    NoLua { url: String, reason: String },
    #[error("the team store {url} answered with an error: {reason}")]
    Server { url: String, reason: String },
}

impl TeamError {
    /// Sorts a client error into what the analyst can act on.
    pub fn of(url: &TeamUrl, error: &redis::RedisError) -> Self {
        let url = url.redacted();
        // The client's own words can quote the URL it was given: never echo them raw.
        let reason = crate::sanitize::line(&error.to_string())
            .replace(&url, "<team url>")
            .chars()
            .take(200)
            .collect::<String>();
        let code = error.code().unwrap_or_default();
        if error.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(code, "WRONGPASS" | "NOAUTH")
        {
            return Self::Auth { url };
        }
        let lowered = reason.to_ascii_lowercase();
        if lowered.contains("tls") || lowered.contains("certificate") {
            return Self::Tls { url, reason };
        }
        if error.is_io_error() || error.is_timeout() || error.is_connection_refusal() {
            return Self::Unreachable { url, reason };
        }
        Self::Server { url, reason }
    }
}

/// A connection to the team store, for one tenant and app: every key it names carries the
/// scope, so several tenants can share one Redis.
#[derive(Clone)]
pub struct Team {
    connection: ConnectionManager,
    url: TeamUrl,
    scope: String,
    /// This process, as the team sees it: `analyst@host#pid`.
    member: String,
    members_at_start: u32,
}

/// Lua every team script starts with: the server's clock (analysts' clocks do not matter)
/// and presence (a member seen within two minutes is active; returns the team's size).
pub const CLOCK_AND_PRESENCE: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function presence(members, member, now)
  redis.call('ZADD', members, now, member)
  redis.call('ZREMRANGEBYSCORE', members, '-inf', now - 120000)
  redis.call('PEXPIRE', members, 120000)
  return redis.call('ZCARD', members)
end
";

/// KEYS: members. ARGV: member. Adds this member; returns the team's size.
const ANNOUNCE: &str = "return presence(KEYS[1], ARGV[1], now_ms())";

/// How long one step on the team store may take before lrx counts it as lost.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(1);

impl Team {
    /// Connects, signs in and checks that scripts run, so every problem is said at start.
    pub async fn connect(url: &TeamUrl, scope: &str, member: String) -> Result<Self, TeamError> {
        crate::install_crypto_provider();
        let client =
            redis::Client::open(url.url.as_str()).map_err(|e| match TeamError::of(url, &e) {
                TeamError::Server { reason, .. } => {
                    TeamError::Url(format!("the team URL {url} cannot be used: {reason}"))
                }
                other => other,
            })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(STEP_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| TeamError::of(url, &e))?;
        let _: i64 = redis::Script::new("return 1")
            .invoke_async(&mut connection)
            .await
            .map_err(|e| match TeamError::of(url, &e) {
                TeamError::Server { url, reason } => TeamError::NoLua { url, reason },
                other => other,
            })?;
        let mut team = Self {
            connection,
            url: url.clone(),
            scope: scope.to_string(),
            member,
            members_at_start: 1,
        };
        // Announced at once, so that a store lost before this member's first call still
        // leaves every member a fair share: each knows how many started.
        let members: i64 = redis::Script::new(&format!("{CLOCK_AND_PRESENCE}{ANNOUNCE}"))
            .key(team.key(&["members"]))
            .arg(&team.member)
            .invoke_async(&mut team.connection)
            .await
            .map_err(|e| TeamError::of(url, &e))?;
        team.members_at_start = u32::try_from(members).unwrap_or(1).max(1);
        Ok(team)
    }

    /// How many members the store knew when this one joined (itself included).
    pub fn members_at_start(&self) -> u32 {
        self.members_at_start
    }

    /// `lrx:SCOPE:PART:PART…`
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = format!("lrx:{}", self.scope);
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub fn member(&self) -> &str {
        &self.member
    }

    pub fn url(&self) -> &TeamUrl {
        &self.url
    }

    /// The median of a few round trips (PING), for `lrx doctor`.
    pub async fn round_trip(&self) -> Result<Duration, TeamError> {
        let mut connection = self.connection();
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let _: String = redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .map_err(|e| TeamError::of(&self.url, &e))?;
            times.push(start.elapsed());
        }
        times.sort_unstable();
        Ok(times[times.len() / 2])
    }
}

/// `analyst@host#1a2b3c`: who this lrx is in the team's presence list. The analyst is
/// `$USER` (or `$USERNAME`), the host the machine's name, and the tag stands for the state
/// directory, so every process of one analyst's lrx counts as one member and two homes on a
/// shared jump box count as two.
pub fn member_name(state_dir: &std::path::Path) -> String {
    use sha2::Digest as _;
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "analyst".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "host".into());
    let tag = sha2::Sha256::digest(state_dir.to_string_lossy().as_bytes());
    crate::sanitize::line(&format!("{user}@{host}#{}", hex::encode(&tag[..3])))
}

/// A member as the analyst reads it: `ana@jump01`, without the tag of the state directory.
pub fn shown_member(member: &str) -> String {
    crate::sanitize::line(member.split('#').next().unwrap_or(member))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url = TeamUrl::parse("redis://soc:hunter2@redis.corp:6380/2").expect("url");
        assert!(url.has_password());
        assert_eq!(url.redacted(), "redis://soc:***@redis.corp:6380/2");
        assert!(!format!("{url:?} {url}").contains("hunter2"));
        let bare = TeamUrl::parse("rediss://redis.corp:6380").expect("url");
        assert!(bare.is_tls() && !bare.has_password());
        let given = bare.with_password(Some(&Secret::new("s3cret")));
        assert!(given.has_password() && !given.redacted().contains("s3cret"));
        assert!(TeamUrl::parse("http://redis.corp").is_err());
        assert!(TeamUrl::parse("redis://").is_err());
        assert!(TeamUrl::parse("not a url").is_err());
    }
}
