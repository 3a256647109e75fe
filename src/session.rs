//! One connected session: the client, the rate budget, the cache and the fetch engine for
//! one tenant and app — or for the built-in simulated tenant with `--demo`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::api::MdeClient;
use crate::api::auth::{
    Authenticator, AzureCli, ClientSecretCredential, Secret, StaticToken, TokenShelf, TokenSource,
};
use crate::api::limits::{LimitTable, WindowLimit};
use crate::config::{ConfigError, Connection, ConnectionArgs, Credential, Paths};
use crate::custody::CustodyLog;
use crate::fetch::cache::{Cache, DEFAULT_MAX_BYTES};
use crate::fetch::{Budget, EngineConfig, FetchEngine, FetchEvent, FileStore, MemoryStore, Policy};
use crate::sim::{self, SimConfig, SimHandle};

#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Start the simulated tenant in-process and connect to it.
    pub demo: Option<SimConfig>,
    pub connection: ConnectionArgs,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    pub max_calls_per_minute: Option<u32>,
    /// Overrides the documented limits (time-compressed runs, benchmarks).
    pub rate_limits: Option<Vec<WindowLimit>>,
    /// Overrides the XDG state directory (budget log, scratch space).
    pub state_dir: Option<PathBuf>,
    /// Where the custody log is kept: the XDG data directory's `custody`, or, when only the
    /// state directory is moved (tests, tools), `custody` beside the state.
    pub custody_dir: Option<PathBuf>,
    /// The cache's size cap (default 2 GiB).
    pub cache_max_bytes: Option<u64>,
    /// Size, time and stall bounds of each download.
    pub download_limits: crate::fetch::DownloadLimits,
    /// The longest `Retry-After` to wait before asking again.
    pub max_retry_after: Duration,
    /// Make no network call at all: only what the cache kept.
    pub offline: bool,
    /// The team's Redis: one budget for every analyst on it (`--team`, `LRX_TEAM_URL`).
    pub team: Option<crate::team::TeamUrl>,
    /// Where the budget says that the team store was lost or is back (stderr in the CLI;
    /// none in the TUI, whose meter says it).
    pub say: Option<Say>,
    /// The largest result shared through the team's store (default 16 MiB).
    pub team_result_max_bytes: Option<u64>,
    /// Neither start nor cancel sessions (`read_only = true`, `--read-only`).
    pub read_only: bool,
}

/// A way to tell the analyst something outside the TUI.
#[derive(Clone)]
pub struct Say(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Say {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Say")
    }
}

impl Say {
    /// Prints `lrx: MESSAGE` on stderr.
    pub fn stderr() -> Self {
        Self(std::sync::Arc::new(|message: &str| {
            eprintln!("lrx: {}", crate::sanitize::line(message));
        }))
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            demo: None,
            connection: ConnectionArgs::default(),
            cache_dir: None,
            no_cache: false,
            max_calls_per_minute: None,
            rate_limits: None,
            state_dir: None,
            custody_dir: None,
            cache_max_bytes: None,
            download_limits: crate::fetch::DownloadLimits::default(),
            max_retry_after: crate::api::client::DEFAULT_MAX_RETRY_AFTER,
            offline: false,
            team: None,
            say: None,
            team_result_max_bytes: None,
            read_only: false,
        }
    }
}

/// Removes the no-cache scratch directory when the session ends.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Session {
    pub client: Arc<MdeClient>,
    pub budget: Arc<Budget>,
    pub engine: FetchEngine,
    pub events: mpsc::UnboundedReceiver<FetchEvent>,
    /// What to call this tenant on screen.
    pub label: String,
    pub cloud: String,
    pub demo: Option<SimHandle>,
    /// Where and as whom this session signs in (for sign-ins started from the UI).
    pub connection: Connection,
    /// The result cache, which also keeps actions that have reached a final state.
    cache: Option<Cache>,
    /// What keeps this tenant and app's budget (and cache) apart from others'.
    pub budget_scope: String,
    /// The team's result store, when the team's Redis answered at start.
    team_results: Option<Arc<crate::fetch::team_results::TeamResults>>,
    /// Neither start nor cancel sessions with this session's profile.
    pub read_only: bool,
    /// Everything done with this tenant's results, hash-chained.
    pub custody: Arc<CustodyLog>,
    _scratch: ScratchDir,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not start the simulated tenant: {0}")]
    Demo(std::io::Error),
    #[error("could not prepare {what} at {path}: {error}")]
    Storage {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("could not build the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    Team(crate::team::TeamError),
}

impl Session {
    /// One machine action: from the cache when it has reached a final state before (it
    /// never changes again, so a revisit makes no call at all, not even for a token), else
    /// from the service, kept once it is final.
    pub async fn action(
        &self,
        id: &str,
        interactive: bool,
    ) -> Result<crate::api::models::MachineAction, crate::api::ApiError> {
        if let Some(kept) = self.cache.as_ref().and_then(|cache| cache.get_action(id)) {
            return Ok(kept);
        }
        // A team reads each action once between its members: the others take it from the
        // team's store (finished actions never change).
        let turn = match &self.team_results {
            Some(team) if !self.client.is_offline() => team.action_turn(id).await,
            _ => Err(None),
        };
        let action = match turn {
            Ok(action) => action,
            Err(claim) => {
                let action = self.client.get_action(id, interactive).await?;
                if let Some(team) = &self.team_results {
                    team.put_action(&action).await;
                }
                drop(claim);
                action
            }
        };
        if let Some(cache) = &self.cache
            && let Err(error) = cache.put_action(&action)
        {
            tracing::warn!("could not keep the action in the cache: {error}");
        }
        Ok(action)
    }
}

impl Session {
    /// One listing of machine actions: from the service (keeping the finished ones, so a
    /// revisit costs nothing), or offline from what the cache kept.
    pub async fn list_actions(
        &self,
        query: &crate::api::ListQuery,
        interactive: bool,
    ) -> Result<crate::api::ActionList, crate::api::ApiError> {
        crate::fetch::lists::list_actions(&self.client, self.cache.as_ref(), query, interactive)
            .await
    }
}

/// The team's budget on its Redis. A store that does not answer at start leaves this
/// machine's own budget in place, said once; a wrong password, TLS or a server without Lua
/// is a mistake to fix, and stops here.
async fn team_store(
    url: &crate::team::TeamUrl,
    scope: &str,
    member: &str,
    policy: Policy,
    local: Box<dyn crate::fetch::BudgetStore>,
    say: Option<Say>,
) -> Result<
    (
        Box<dyn crate::fetch::BudgetStore>,
        Option<crate::team::Team>,
    ),
    SessionError,
> {
    use crate::team::{Team, TeamError};
    match Team::connect(url, scope, member.to_string()).await {
        Ok(team) => {
            let mut store = crate::fetch::TeamStore::new(team.clone(), policy);
            if let Some(say) = say {
                store = store.saying(move |message| (say.0)(message));
            }
            Ok((Box::new(store), Some(team)))
        }
        Err(error @ TeamError::Unreachable { .. }) => {
            let message = format!(
                "{error}; counting this machine's budget alone (other analysts are not counted)"
            );
            tracing::warn!("{message}");
            if let Some(say) = say {
                (say.0)(&message);
            }
            Ok((local, None))
        }
        Err(error) => Err(SessionError::Team(error)),
    }
}

/// Where this sign-in's access token is shared with the analyst's other lrx processes: only
/// for sign-ins lrx makes itself (the token in `LRX_TOKEN` is given, and the Azure CLI keeps
/// its own).
fn token_shelf(connection: &Connection) -> Option<Arc<dyn TokenShelf>> {
    use crate::config::secrets::credential_binding;
    let (client_id, kind, binding) = match &connection.credential {
        Credential::ClientSecret { client_id, secret } => (
            client_id,
            "client-secret",
            credential_binding(secret.expose()),
        ),
        Credential::Certificate {
            client_id,
            certificate,
            private_key,
        } => (
            client_id,
            "certificate",
            credential_binding(&format!(
                "{}\0{}",
                certificate.display(),
                private_key.display()
            )),
        ),
        // The user behind a refresh token is bound by `lrx login --device-code`, which drops
        // the tokens of whoever signed in before.
        Credential::DeviceCode { client_id } => (client_id, "device-code", String::new()),
        Credential::Token(_) | Credential::AzureCli { .. } => return None,
    };
    Some(Arc::new(crate::config::secrets::KeyringTokens::new(
        &connection.sign_in_target(client_id),
        kind,
        binding,
    )))
}

/// The client for sign-ins outside a session (`lrx login`): the same one, redirects off.
pub fn http_client() -> Result<reqwest::Client, SessionError> {
    crate::api::policy::http_client().map_err(SessionError::Http)
}

/// The custody log of one tenant and app (`scope`).
fn custody_log(options: &SessionOptions, paths: &Paths, scope: &str) -> CustodyLog {
    let dir = options
        .custody_dir
        .clone()
        .unwrap_or_else(|| match &options.state_dir {
            Some(state) => state.join("custody"),
            None => paths.data_dir.join("custody"),
        });
    let analyst = crate::team::shown_member(&crate::team::member_name(&paths.state_dir));
    CustodyLog::new(&dir, scope, analyst)
}

/// The custody log these options' session would keep, found without signing in or calling
/// anything (for `lrx log`).
pub fn custody_log_of(options: &SessionOptions) -> Result<CustodyLog, SessionError> {
    let mut paths = Paths::discover();
    if let Some(dir) = &options.state_dir {
        paths.state_dir.clone_from(dir);
    }
    let scope = match &options.demo {
        Some(config) => format!("demo-{}", config.seed),
        None => options.connection.resolve_offline()?.scope_key(),
    };
    Ok(custody_log(options, &paths, &scope))
}

impl Session {
    pub async fn open(options: SessionOptions) -> Result<Self, SessionError> {
        if options.offline && (options.no_cache || options.demo.is_some()) {
            return Err(SessionError::Config(ConfigError(
                "--offline shows what the result cache of a tenant kept: it cannot go with --no-cache, nor with --demo (whose cache lasts one run)".into(),
            )));
        }
        let mut paths = Paths::discover();
        if let Some(dir) = &options.state_dir {
            paths.state_dir.clone_from(dir);
        }
        let (connection, limits, demo) = match &options.demo {
            Some(config) => {
                let handle = sim::start(config.clone())
                    .await
                    .map_err(SessionError::Demo)?;
                let e = &handle.endpoints;
                let connection = Connection {
                    api_root: e.base_url.clone(),
                    token_url: e.token_url.clone(),
                    scope: "https://api.securitycenter.microsoft.com/.default".into(),
                    tenant_id: e.tenant_id.clone(),
                    credential: Credential::ClientSecret {
                        client_id: e.client_id.clone(),
                        secret: Secret::new(e.client_secret.clone()),
                    },
                    cloud: crate::api::cloud::Cloud::Commercial,
                    storage_urls: Vec::new(),
                };
                (connection, e.limits.clone(), Some(handle))
            }
            None if options.offline => (
                options.connection.resolve_offline()?,
                crate::api::limits::STANDARD.to_vec(),
                None,
            ),
            None => (
                options.connection.resolve()?,
                crate::api::limits::STANDARD.to_vec(),
                None,
            ),
        };
        // The demo tenant's address changes every run; its identity (and seed) does not.
        let scope = match &options.demo {
            Some(config) => format!("demo-{}", config.seed),
            None => connection.scope_key(),
        };
        let custody = Arc::new(custody_log(&options, &paths, &scope));
        // Every API on its own windows, as the service counts them; `--rate-limits` (tests,
        // time-compressed demos) replaces the standard ones.
        let table = LimitTable::with_standard(options.rate_limits.clone().unwrap_or(limits))
            .with_share(options.max_calls_per_minute);
        // A demo tenant lives as long as this process, so its budget is this process's own;
        // a real tenant's budget is shared by every lrx process on the machine.
        let budget_file = demo
            .is_none()
            .then(|| paths.state_dir.join("budget").join(format!("{scope}.log")));
        let policy = Policy::new(&table, options.max_retry_after);
        let local: Box<dyn crate::fetch::BudgetStore> = match budget_file {
            Some(path) => Box::new(FileStore::new(policy.clone(), path)),
            None => Box::new(MemoryStore::new(policy.clone())),
        };
        let (store, team) = match (&options.team, options.offline) {
            (Some(url), false) => {
                let member = crate::team::member_name(&paths.state_dir);
                team_store(url, &scope, &member, policy, local, options.say.clone()).await?
            }
            _ => (local, None),
        };
        let team_results = team.map(|team| {
            Arc::new(crate::fetch::team_results::TeamResults::new(
                team,
                options
                    .team_result_max_bytes
                    .unwrap_or(crate::fetch::team_results::DEFAULT_MAX_SHARED_BYTES),
            ))
        });
        let budget = Arc::new(Budget::new(store));
        let source: Box<dyn TokenSource> = match &connection.credential {
            // Offline nothing signs in: the client refuses every call before it asks.
            _ if options.offline => Box::new(StaticToken(Secret::new(String::new()))),
            Credential::ClientSecret { client_id, secret } => Box::new(ClientSecretCredential {
                token_url: connection.token_url.clone(),
                tenant_id: connection.tenant_id.clone(),
                client_id: client_id.clone(),
                secret: secret.clone(),
                scope: connection.scope.clone(),
            }),
            Credential::Token(token) => Box::new(StaticToken(token.clone())),
            Credential::AzureCli { resource } => Box::new(AzureCli {
                resource: resource.clone(),
            }),
            Credential::Certificate {
                client_id,
                certificate,
                private_key,
            } => {
                let read = |path: &PathBuf| {
                    std::fs::read_to_string(path)
                        .map_err(|e| ConfigError(format!("could not read {}: {e}", path.display())))
                };
                // A passphrase, when the key has one, comes from the environment or the keyring.
                let passphrase = match std::env::var("LRX_KEY_PASSPHRASE")
                    .ok()
                    .filter(|p| !p.is_empty())
                {
                    Some(passphrase) => Some(Secret::new(passphrase)),
                    None => crate::config::secrets::load(
                        &connection.tenant_id,
                        &format!("{client_id}/key-passphrase"),
                    )
                    .ok()
                    .flatten(),
                };
                let credential = crate::api::assertion::CertificateCredential::from_pem(
                    &read(private_key)?,
                    &read(certificate)?,
                    passphrase.as_ref(),
                    connection.token_url.clone(),
                    connection.tenant_id.clone(),
                    client_id.clone(),
                    connection.scope.clone(),
                )
                .map_err(ConfigError)?;
                Box::new(credential)
            }
            Credential::DeviceCode { client_id } => {
                Box::new(crate::api::device::DeviceCodeCredential {
                    token_url: connection.token_url.clone(),
                    tenant_id: connection.tenant_id.clone(),
                    client_id: client_id.clone(),
                    scope: connection.scope.clone(),
                    refresh_tokens: Box::new(crate::config::secrets::KeyringRefreshTokens {
                        tenant: connection.tenant_id.clone(),
                        client_id: client_id.clone(),
                    }),
                })
            }
        };
        let call_budget: Arc<dyn crate::api::CallBudget> = budget.clone();
        let mut authenticator = Authenticator::new(source);
        // A demo tenant's tokens die with it, and offline nothing signs in.
        if demo.is_none()
            && !options.offline
            && let Some(shelf) = token_shelf(&connection)
        {
            authenticator = authenticator.with_shelf(shelf);
        }
        let client = MdeClient::new(connection.policy()?, authenticator, call_budget)
            .map_err(|e| SessionError::Http(e.to_string()))?
            .with_max_retry_after(options.max_retry_after);
        let client = Arc::new(if options.offline {
            client.offline()
        } else {
            client
        });
        let scratch = paths
            .state_dir
            .join(format!("scratch-{}", std::process::id()));
        crate::files::own_private_dir(&scratch).map_err(|error| SessionError::Storage {
            what: "a scratch directory",
            path: scratch.clone(),
            error,
        })?;
        let scratch = ScratchDir(scratch);
        let cache = if options.no_cache {
            None
        } else {
            let root = match (&options.cache_dir, &demo) {
                (Some(dir), _) => dir.clone(),
                (None, Some(_)) => scratch.0.join("demo-cache"),
                (None, None) => std::env::var_os("LRX_CACHE_DIR")
                    .map_or_else(|| paths.cache_dir.join("results"), PathBuf::from),
            };
            Some(
                Cache::open(
                    &root,
                    &scope,
                    options.cache_max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
                )
                .map_err(|error| SessionError::Storage {
                    what: "the result cache",
                    path: root.clone(),
                    error,
                })?,
            )
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let engine = crate::fetch::engine::spawn(
            Arc::clone(&client),
            Arc::clone(&budget),
            EngineConfig {
                cache: cache.clone(),
                scratch_dir: scratch.0.clone(),
                concurrent_downloads: 4,
                download_retries: 3,
                limits: options.download_limits,
                team: team_results.clone(),
                custody: Some(Arc::clone(&custody)),
            },
            events_tx,
        );
        let mut label = if demo.is_some() {
            "demo tenant (simulated)".to_string()
        } else if connection.tenant_id.is_empty() {
            client.identity()
        } else {
            format!("tenant {}", connection.tenant_id)
        };
        if options.offline {
            label = format!("offline · cached results only · {label}");
        }
        Ok(Self {
            client,
            budget,
            engine,
            events,
            label,
            cloud: format!("{:?}", connection.cloud).to_ascii_lowercase(),
            demo,
            connection,
            cache,
            budget_scope: scope,
            team_results,
            read_only: options.read_only,
            custody,
            _scratch: scratch,
        })
    }
}
