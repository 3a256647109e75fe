//! Where lrx keeps things (XDG paths via `directories`) and how it finds the tenant to talk
//! to: flags first, then `LRX_*` environment variables. Secrets only ever come from the
//! environment (or, with sign-in profiles, the OS keyring) — never from a file.

use std::path::PathBuf;

mod paths;
pub mod secrets;

pub use paths::Paths;

use sha2::{Digest, Sha256};

use crate::api::auth::Secret;
use crate::api::cloud::{Cloud, Endpoints};

/// How to get a token.
#[derive(Debug, Clone)]
pub enum Credential {
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    Token(Secret),
    /// `az account get-access-token` for this resource.
    AzureCli {
        resource: String,
    },
    /// The analyst's own identity, renewed from the refresh token `lrx login --device-code` kept.
    DeviceCode {
        client_id: String,
    },
    /// A client assertion signed with the app's private key.
    Certificate {
        client_id: String,
        certificate: PathBuf,
        private_key: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub api_root: String,
    pub token_url: String,
    pub scope: String,
    pub tenant_id: String,
    pub credential: Credential,
    pub cloud: Cloud,
    /// Storage origins beyond the cloud's own that result links may point to (an emulator).
    pub storage_urls: Vec<String>,
}

impl Connection {
    /// Where this connection may send what (checked when the connection was resolved).
    pub fn policy(&self) -> Result<crate::api::OutboundPolicy, ConfigError> {
        crate::api::OutboundPolicy::new(
            &self.api_root,
            Some(&self.token_url),
            self.cloud,
            &self.storage_urls,
        )
        .map_err(ConfigError)
    }

    /// Keeps caches and budgets of different tenants and apps apart, without putting ids
    /// into file names.
    /// Where and as which app this connection signs in, for `client_id`.
    pub fn sign_in_target(&self, client_id: &str) -> SignInTarget {
        SignInTarget {
            tenant: self.tenant_id.clone(),
            client_id: client_id.to_string(),
            token_url: self.token_url.clone(),
            scope: self.scope.clone(),
        }
    }

    pub fn scope_key(&self) -> String {
        let identity = match &self.credential {
            Credential::ClientSecret { client_id, .. } => client_id.clone(),
            Credential::Token(_) => "token".into(),
            Credential::AzureCli { .. } => "azure-cli".into(),
            Credential::DeviceCode { client_id } => format!("{client_id}/delegated"),
            Credential::Certificate { client_id, .. } => client_id.clone(),
        };
        let digest = Sha256::digest(format!("{}|{}|{}", self.api_root, self.tenant_id, identity));
        hex::encode(&digest[..8])
    }
}

/// What the user gave on the command line; `None` means "look at the environment".
#[derive(Debug, Clone, Default)]
pub struct ConnectionArgs {
    pub api_url: Option<String>,
    pub token_url: Option<String>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub cloud: Option<String>,
    pub region: Option<String>,
    /// `client-secret`, `token` or `azure-cli`; otherwise chosen from what is set.
    pub auth: Option<String>,
    /// PEM certificate and private key for `certificate` sign-in.
    pub certificate: Option<String>,
    pub private_key: Option<String>,
    /// A storage origin result links may use besides the cloud's (a storage emulator).
    pub storage_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub use crate::api::device::SignInTarget;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl ConnectionArgs {
    /// The cloud's endpoints for this tenant (or `organizations`), with the flags' and the
    /// environment's overrides applied: what every sign-in path starts from.
    pub(crate) fn endpoints(
        &self,
        tenant: Option<&str>,
    ) -> Result<(Cloud, Endpoints), ConfigError> {
        let cloud: Cloud = self
            .cloud
            .clone()
            .or_else(|| env("LRX_CLOUD"))
            .map(|c| c.parse())
            .transpose()
            .map_err(ConfigError)?
            .unwrap_or_default();
        let region = self.region.clone().or_else(|| env("LRX_REGION"));
        let mut endpoints =
            Endpoints::for_cloud(cloud, region.as_deref(), tenant.unwrap_or("organizations"))
                .map_err(ConfigError)?;
        if let Some(api_root) = self.api_url.clone().or_else(|| env("LRX_API_URL")) {
            endpoints.api_root = api_root;
        }
        if let Some(token_url) = self.token_url.clone().or_else(|| env("LRX_TOKEN_URL")) {
            endpoints.token_url = token_url;
        }
        // Cleartext, userinfo and odd schemes are refused here, before anything is sent.
        crate::api::OutboundPolicy::new(
            &endpoints.api_root,
            Some(&endpoints.token_url),
            cloud,
            &self.storage_urls(),
        )
        .map_err(ConfigError)?;
        Ok((cloud, endpoints))
    }

    fn storage_urls(&self) -> Vec<String> {
        self.storage_url
            .clone()
            .or_else(|| env("LRX_STORAGE_URL"))
            .into_iter()
            .collect()
    }

    /// Tenant, app and token endpoint for `lrx login` and `:login`, which store credentials
    /// rather than use them.
    pub fn sign_in_target(&self) -> Result<SignInTarget, ConfigError> {
        let tenant = self
            .tenant
            .clone()
            .or_else(|| env("LRX_TENANT_ID"))
            .ok_or_else(|| {
                ConfigError(
                    "which tenant? give --tenant (or LRX_TENANT_ID, or [connection] tenant)".into(),
                )
            })?;
        let client_id = self
            .client_id
            .clone()
            .or_else(|| env("LRX_CLIENT_ID"))
            .ok_or_else(|| {
                ConfigError(
                    "which app? give --client-id (or LRX_CLIENT_ID, or [connection] client_id)"
                        .into(),
                )
            })?;
        let (_, endpoints) = self.endpoints(Some(&tenant))?;
        Ok(SignInTarget {
            tenant,
            client_id,
            token_url: endpoints.token_url,
            scope: endpoints.scope,
        })
    }

    pub fn resolve(&self) -> Result<Connection, ConfigError> {
        self.resolve_with(true)
    }

    /// The connection without its secret (`--offline`: nothing signs in, but the tenant and
    /// app still name the cache). Nothing is read from the keyring.
    pub fn resolve_offline(&self) -> Result<Connection, ConfigError> {
        self.resolve_with(false)
    }

    fn resolve_with(&self, signs_in: bool) -> Result<Connection, ConfigError> {
        let token = env("LRX_TOKEN");
        let tenant = self.tenant.clone().or_else(|| env("LRX_TENANT_ID"));
        let (cloud, defaults) = self.endpoints(tenant.as_deref())?;
        let api_root = defaults.api_root.clone();
        let token_url = defaults.token_url.clone();
        let auth = self.auth.clone().or_else(|| env("LRX_AUTH"));
        let credential = if let Some(mode) = auth
            .as_deref()
            .filter(|m| *m != "client-secret" && *m != "token")
        {
            match mode {
                "azure-cli" => Credential::AzureCli {
                    resource: defaults.scope.trim_end_matches("/.default").to_string(),
                },
                "certificate" => {
                    let client_id = self.client_id.clone().or_else(|| env("LRX_CLIENT_ID"));
                    let certificate = self.certificate.clone().or_else(|| env("LRX_CERTIFICATE"));
                    let private_key = self.private_key.clone().or_else(|| env("LRX_PRIVATE_KEY"));
                    match (&tenant, client_id, certificate, private_key) {
                        (Some(_), Some(client_id), Some(certificate), Some(private_key)) => {
                            Credential::Certificate {
                                client_id,
                                certificate: PathBuf::from(certificate),
                                private_key: PathBuf::from(private_key),
                            }
                        }
                        _ => {
                            return Err(ConfigError(
                                "certificate sign-in needs the tenant, the app's client id, the certificate and the private key (--tenant, --client-id, LRX_CERTIFICATE and LRX_PRIVATE_KEY, or certificate = … and private_key = … in config.toml)".into(),
                            ));
                        }
                    }
                }
                "device-code" => {
                    let client_id = self.client_id.clone().or_else(|| env("LRX_CLIENT_ID"));
                    match (&tenant, client_id) {
                        (Some(_), Some(client_id)) => Credential::DeviceCode { client_id },
                        _ => {
                            return Err(ConfigError(
                                "device code sign-in needs the tenant and the app's client id (--tenant, --client-id or LRX_TENANT_ID, LRX_CLIENT_ID)".into(),
                            ));
                        }
                    }
                }
                other => {
                    return Err(ConfigError(format!(
                        "unknown auth mode '{other}' (use client-secret, certificate, token, azure-cli or device-code)"
                    )));
                }
            }
        } else if let Some(token) = token.filter(|_| auth.as_deref() != Some("client-secret")) {
            Credential::Token(Secret::new(token))
        } else {
            let tenant_missing =
                tenant.is_none() && self.token_url.is_none() && env("LRX_TOKEN_URL").is_none();
            let client_id = self.client_id.clone().or_else(|| env("LRX_CLIENT_ID"));
            let mut secret = env("LRX_CLIENT_SECRET").map(Secret::new);
            let mut store_problem = None;
            if secret.is_none() && signs_in {
                // `lrx login` keeps the secret in the OS credential store.
                if let (Some(tenant), Some(client)) = (&tenant, &client_id) {
                    match secrets::load(tenant, client) {
                        Ok(found) => secret = found,
                        Err(error) => store_problem = Some(error.to_string()),
                    }
                }
            }
            let mut missing = Vec::new();
            if tenant_missing {
                missing.push("the tenant id (--tenant or LRX_TENANT_ID)");
            }
            if client_id.is_none() {
                missing.push("the app's client id (--client-id or LRX_CLIENT_ID)");
            }
            if secret.is_none() && signs_in {
                missing.push("the client secret (`lrx login` stores it in the OS keyring; or LRX_CLIENT_SECRET)");
            }
            if !missing.is_empty() {
                let mut message = format!(
                    "lrx does not know how to sign in: missing {}. Set them, or set LRX_TOKEN to a bearer token, or use --auth azure-cli, or try `lrx --demo` for the simulated tenant.",
                    missing.join(", ")
                );
                if let Some(problem) = store_problem {
                    message.push_str(&format!(" Looking in the keyring failed: {problem}"));
                }
                return Err(ConfigError(message));
            }
            Credential::ClientSecret {
                client_id: client_id.unwrap_or_default(),
                secret: secret.unwrap_or_else(|| Secret::new("")),
            }
        };
        Ok(Connection {
            api_root,
            token_url,
            scope: defaults.scope,
            tenant_id: tenant.unwrap_or_default(),
            credential,
            cloud,
            storage_urls: self.storage_urls(),
        })
    }
}

/// `config.toml`: settings only — secrets never go in a file.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The profile used when neither --profile nor `LRX_PROFILE` names one.
    #[serde(default)]
    pub default_profile: Option<String>,
    /// Settings common to every profile (and the only ones without profiles).
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// Named tenants and apps, e.g. `[profiles.contoso]`; each field overrides `[connection]`.
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, ConnectionConfig>,
    #[serde(default)]
    pub ui: UiConfig,
    /// Action name → keys, e.g. `fetch_all = ["A"]`.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
    /// Where secrets are kept (never in this file).
    #[serde(default)]
    pub secrets: SecretsConfig,
}

const STORE_MISTAKE: &str = "[secrets] store is not a credential store lrx knows (use secret-service, keyutils, keychain or windows)";

/// `[secrets]`: which credential store keeps the client secret, passphrases and tokens.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// `secret-service`, `keyutils`, `keychain` or `windows`; the platform's own when unset.
    /// Read as text and checked with the other meanings, so a mistake is named without its
    /// value (a value in the wrong place may be a secret).
    pub store: Option<String>,
}

impl SecretsConfig {
    /// The store to use: `LRX_SECRET_STORE`, else this section's, else the platform's own.
    pub fn preferred_store(&self) -> Result<Option<secrets::StoreKind>, ConfigError> {
        match env("LRX_SECRET_STORE") {
            Some(name) => name
                .parse()
                .map(Some)
                .map_err(|e: String| ConfigError(format!("LRX_SECRET_STORE: {e}"))),
            None => self.preferred_store_in_file(),
        }
    }

    fn preferred_store_in_file(&self) -> Result<Option<secrets::StoreKind>, ConfigError> {
        self.store
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_: String| ConfigError(STORE_MISTAKE.into()))
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub cloud: Option<String>,
    pub region: Option<String>,
    pub api_url: Option<String>,
    pub token_url: Option<String>,
    /// `client-secret`, `certificate`, `token`, `azure-cli` or `device-code`.
    pub auth: Option<String>,
    /// Paths of the PEM certificate and private key, for `certificate`.
    pub certificate: Option<String>,
    pub private_key: Option<String>,
    /// A share of the 100 calls/minute for this machine's lrx processes.
    pub max_calls_per_minute: Option<u32>,
    /// The result cache's size cap in megabytes (default 2048).
    pub cache_size_mb: Option<u64>,
    /// A storage origin result links may use besides the cloud's blob storage: only for a
    /// storage emulator you run (e.g. Azurite on <http://127.0.0.1:10000>).
    pub storage_url: Option<String>,
    /// The longest `Retry-After` lrx waits before asking again (default 600 s).
    pub max_retry_after_seconds: Option<u64>,
    /// Largest script result to download, in megabytes (default 1024).
    pub max_result_mb: Option<u64>,
    /// Largest `GetFile` result to download, in megabytes of gzip (default 3136: the
    /// documented 3 GB file and a margin).
    pub max_file_mb: Option<u64>,
    /// A download must finish within this many minutes (default 30).
    pub download_deadline_minutes: Option<u64>,
    /// The team's Redis, without its password (`LRX_TEAM_PASSWORD` or `LRX_TEAM_URL`
    /// carries that): `redis://host:6379/0` or `rediss://…`.
    pub team_url: Option<String>,
    /// The largest result shared through the team's store, in megabytes (default 16);
    /// larger ones stay on the machine that fetched them.
    pub team_result_mb: Option<u64>,
    /// Refuse to start or cancel sessions: for analysts who must only read this tenant.
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    #[serde(default)]
    pub theme: Option<String>,
    /// Off by default, so the terminal's own text selection keeps working.
    #[serde(default)]
    pub mouse: bool,
    #[serde(default = "yes")]
    pub prefetch: bool,
}

fn yes() -> bool {
    true
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            theme: None,
            mouse: false,
            prefetch: true,
        }
    }
}

impl FileConfig {
    /// Reads the file if it exists; a mistake names the file, line and key.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => {
                return Err(ConfigError(format!(
                    "could not read {}: {error}",
                    path.display()
                )));
            }
        };
        Self::parse(&text).map_err(|message| ConfigError(format!("{}: {message}", path.display())))
    }

    /// Parses `config.toml`, naming every mistake at once rather than the first only: after
    /// each mistake the line it is on (or the section it names) is set aside and the rest
    /// read again, so an analyst fixes five typos in one go.
    pub fn parse(text: &str) -> Result<Self, String> {
        const MOST_MISTAKES: usize = 20;
        let mut mistakes = Vec::new();
        let mut rest = text.to_string();
        let config = loop {
            match toml::from_str::<Self>(&rest) {
                Ok(config) => break Some(config),
                Err(error) => {
                    mistakes.push((
                        error.span().map_or(usize::MAX, |span| span.start),
                        describe_mistake(&error, text),
                    ));
                    let Some(span) = error.span() else { break None };
                    // Setting a line aside must leave well-formed TOML (a value over
                    // several lines would not), or what follows would be noise.
                    if mistakes.len() >= MOST_MISTAKES
                        || !set_aside(&mut rest, span.start)
                        || toml::from_str::<toml::Table>(&rest).is_err()
                    {
                        break None;
                    }
                }
            }
        };
        // Top to bottom, as the analyst will fix them; what a value means comes last.
        mistakes.sort_by_key(|(at, _)| *at);
        let mut mistakes: Vec<String> = mistakes.into_iter().map(|(_, text)| text).collect();
        if let Some(config) = &config {
            mistakes.extend(config.meaning_mistakes());
        }
        match config {
            Some(config) if mistakes.is_empty() => Ok(config),
            _ if mistakes.len() == 1 => Err(mistakes.remove(0)),
            _ => Err(format!(
                "{} mistakes:\n  {}",
                mistakes.len(),
                mistakes.join("\n  ")
            )),
        }
    }

    /// What is well-formed but means nothing lrx can use.
    fn meaning_mistakes(&self) -> Vec<String> {
        let mut mistakes = Vec::new();
        if let Some(theme) = self
            .ui
            .theme
            .as_deref()
            .filter(|t| *t != "dark" && *t != "light")
        {
            mistakes.push(format!(
                "[ui] theme = \"{}\" is not a theme (use \"dark\" or \"light\")",
                crate::sanitize::line(theme)
            ));
        }
        if self.secrets.preferred_store_in_file().is_err() {
            mistakes.push(STORE_MISTAKE.to_string());
        }
        for (section, settings) in std::iter::once(("[connection]".to_string(), &self.connection))
            .chain(
                self.profiles
                    .iter()
                    .map(|(name, p)| (format!("[profiles.{name}]"), p)),
            )
        {
            if let Some(Err(error)) = settings.cloud.as_deref().map(str::parse::<Cloud>) {
                mistakes.push(format!("{section} cloud: {error}"));
            }
            match settings.team_url.as_deref().map(crate::team::TeamUrl::parse) {
                Some(Err(error)) => mistakes.push(format!("{section} team_url: {error}")),
                Some(Ok(url)) if url.has_password() => mistakes.push(format!(
                    "{section} team_url carries a password: secrets never go in config.toml. Put the password in LRX_TEAM_PASSWORD (or the whole URL in LRX_TEAM_URL)"
                )),
                _ => {}
            }
        }
        mistakes
    }
}

/// Says where a mistake is, but never echoes the file: a mistaken line may hold a secret.
fn describe_mistake(error: &toml::de::Error, text: &str) -> String {
    let place = error.span().map_or_else(String::new, |span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("line {line}, column {column}: ")
    });
    let message = error.message().trim().to_string();
    // What the mistake names, not the list of what was expected (which has `secrets`).
    let named = message.split(", expected").next().unwrap_or_default();
    if named.contains("secret") || named.contains("password") || named.contains("token`") {
        format!(
            "{place}{message}. Secrets never go in config.toml: use LRX_CLIENT_SECRET (or LRX_TOKEN)."
        )
    } else {
        format!("{place}{message}")
    }
}

/// Blanks the line holding byte `at` (a whole section when it is the section's header),
/// keeping every other line where it was, so later mistakes keep their line numbers.
/// False when nothing was left to set aside.
fn set_aside(text: &mut String, at: usize) -> bool {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(start);
    if text[start..end].trim_start().starts_with('[') {
        // An unknown section: its keys would otherwise land in the section above.
        while end < text.len() {
            let next = end + 1;
            let next_end = line_end(next);
            if text[next..next_end].trim_start().starts_with('[') {
                break;
            }
            end = next_end;
        }
    }
    if text[start..end].trim().is_empty() {
        return false;
    }
    let blank: String = text[start..end]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(start..end, &blank);
    true
}

impl FileConfig {
    /// Makes the named profile (or the default one) the connection in effect, and returns its
    /// name. Without profiles, `[connection]` stays as it is.
    pub fn select_profile(&mut self, wanted: Option<&str>) -> Result<Option<String>, ConfigError> {
        let Some(name) = wanted
            .map(str::to_string)
            .or_else(|| self.default_profile.clone())
        else {
            return Ok(None);
        };
        let Some(profile) = self.profiles.get(&name).cloned() else {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            return Err(ConfigError(if known.is_empty() {
                format!("no profile named '{name}': config.toml has no [profiles.…] sections")
            } else {
                format!("no profile named '{name}' (known: {})", known.join(", "))
            }));
        };
        let base = &mut self.connection;
        let pick = |own: Option<String>, common: &Option<String>| own.or_else(|| common.clone());
        *base = ConnectionConfig {
            tenant: pick(profile.tenant, &base.tenant),
            client_id: pick(profile.client_id, &base.client_id),
            cloud: pick(profile.cloud, &base.cloud),
            region: pick(profile.region, &base.region),
            api_url: pick(profile.api_url, &base.api_url),
            token_url: pick(profile.token_url, &base.token_url),
            auth: pick(profile.auth, &base.auth),
            certificate: pick(profile.certificate, &base.certificate),
            private_key: pick(profile.private_key, &base.private_key),
            max_calls_per_minute: profile.max_calls_per_minute.or(base.max_calls_per_minute),
            cache_size_mb: profile.cache_size_mb.or(base.cache_size_mb),
            storage_url: pick(profile.storage_url, &base.storage_url),
            team_url: pick(profile.team_url, &base.team_url),
            team_result_mb: profile.team_result_mb.or(base.team_result_mb),
            read_only: profile.read_only.or(base.read_only),
            max_retry_after_seconds: profile
                .max_retry_after_seconds
                .or(base.max_retry_after_seconds),
            max_result_mb: profile.max_result_mb.or(base.max_result_mb),
            max_file_mb: profile.max_file_mb.or(base.max_file_mb),
            download_deadline_minutes: profile
                .download_deadline_minutes
                .or(base.download_deadline_minutes),
        };
        Ok(Some(name))
    }
}

impl ConnectionArgs {
    /// Fills what neither flags nor the environment gave from the config file.
    #[must_use]
    pub fn with_file_defaults(mut self, file: &ConnectionConfig) -> Self {
        let fill = |slot: &mut Option<String>, env_name: &str, value: &Option<String>| {
            if slot.is_none() && env(env_name).is_none() {
                slot.clone_from(value);
            }
        };
        fill(&mut self.tenant, "LRX_TENANT_ID", &file.tenant);
        fill(&mut self.client_id, "LRX_CLIENT_ID", &file.client_id);
        fill(&mut self.cloud, "LRX_CLOUD", &file.cloud);
        fill(&mut self.region, "LRX_REGION", &file.region);
        fill(&mut self.api_url, "LRX_API_URL", &file.api_url);
        fill(&mut self.token_url, "LRX_TOKEN_URL", &file.token_url);
        fill(&mut self.auth, "LRX_AUTH", &file.auth);
        fill(&mut self.certificate, "LRX_CERTIFICATE", &file.certificate);
        fill(&mut self.private_key, "LRX_PRIVATE_KEY", &file.private_key);
        fill(&mut self.storage_url, "LRX_STORAGE_URL", &file.storage_url);
        self
    }
}

impl ConnectionConfig {
    /// The download bounds this profile asks for, over the defaults.
    pub fn download_limits(&self) -> crate::fetch::DownloadLimits {
        let defaults = crate::fetch::DownloadLimits::default();
        let mb = |value: Option<u64>, default: u64| {
            value.map_or(default, |mb| mb.saturating_mul(1024 * 1024).max(1))
        };
        crate::fetch::DownloadLimits {
            script_bytes: mb(self.max_result_mb, defaults.script_bytes),
            file_bytes: mb(self.max_file_mb, defaults.file_bytes),
            deadline: self
                .download_deadline_minutes
                .map_or(defaults.deadline, |m| {
                    std::time::Duration::from_secs(m.max(1).saturating_mul(60))
                }),
            ..defaults
        }
    }

    pub fn max_retry_after(&self) -> std::time::Duration {
        self.max_retry_after_seconds.map_or(
            crate::api::client::DEFAULT_MAX_RETRY_AFTER,
            std::time::Duration::from_secs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_file_parses() {
        let config = FileConfig::parse(
            "[connection]\ntenant = \"t\"\ncloud = \"gcc-high\"\n\n[ui]\ntheme = \"light\"\nmouse = true\n\n[keys]\nfetch_all = [\"A\"]\n",
        )
        .expect("valid");
        assert_eq!(config.connection.tenant.as_deref(), Some("t"));
        assert!(config.ui.mouse && config.ui.prefetch);
        assert_eq!(config.keys["fetch_all"], vec!["A".to_string()]);
        assert_eq!(
            FileConfig::parse("").expect("empty is fine"),
            FileConfig::default()
        );
    }

    #[test]
    fn profiles_override_the_common_connection() {
        let text = "default_profile = \"contoso\"\n[connection]\ncloud = \"commercial\"\nmax_calls_per_minute = 40\n\n[profiles.contoso]\ntenant = \"t1\"\nclient_id = \"c1\"\n\n[profiles.fabrikam]\ntenant = \"t2\"\nclient_id = \"c2\"\ncloud = \"gcc\"\n";
        let mut config = FileConfig::parse(text).expect("valid");
        assert_eq!(
            config
                .clone()
                .select_profile(None)
                .expect("default")
                .as_deref(),
            Some("contoso")
        );
        assert_eq!(
            config
                .select_profile(Some("fabrikam"))
                .expect("named")
                .as_deref(),
            Some("fabrikam")
        );
        assert_eq!(config.connection.tenant.as_deref(), Some("t2"));
        assert_eq!(config.connection.cloud.as_deref(), Some("gcc"));
        assert_eq!(
            config.connection.max_calls_per_minute,
            Some(40),
            "common settings stay"
        );
        let error = FileConfig::parse(text)
            .expect("valid")
            .select_profile(Some("nope"))
            .expect_err("unknown");
        assert!(
            error.to_string().contains("known: contoso, fabrikam"),
            "{error}"
        );
    }

    #[test]
    fn every_mistake_is_named_at_once_with_its_line() {
        let text = "[connection]\ntenat = \"t\"\nmax_calls_per_minute = \"fifty\"\ncloud = \"mars\"\n\n[bogus]\nx = 1\ny = 2\n\n[ui]\ncolour = \"red\"\ntheme = \"neon\"\n";
        let error = FileConfig::parse(text).expect_err("six mistakes");
        assert!(error.starts_with("6 mistakes:"), "{error}");
        for needle in [
            "line 2, column 1: unknown field `tenat`",
            "line 3, column 24:",
            "line 6, column 2: unknown field `bogus`",
            "line 11, column 1: unknown field `colour`",
            "theme = \"neon\" is not a theme",
            "[connection] cloud:",
        ] {
            assert!(error.contains(needle), "{needle} in {error}");
        }
        assert!(
            error.find("tenat") < error.find("bogus"),
            "top to bottom: {error}"
        );
        // The unknown section's own keys are not blamed on [connection].
        assert!(!error.contains("`x`"), "{error}");
        // A mistake in a value over several lines stops there rather than guessing.
        let error = FileConfig::parse("[keys]\nquit = [\n  1,\n]\n[ui]\ncolour = 1\n")
            .expect_err("a bad array");
        assert!(
            error.contains("line 2") || error.contains("line 3"),
            "{error}"
        );
    }

    #[test]
    fn the_secret_store_is_chosen_by_name_and_a_wrong_one_named_without_its_value() {
        let config = FileConfig::parse("[secrets]\nstore = \"keyutils\"\n").expect("parses");
        assert_eq!(
            config.secrets.preferred_store_in_file().expect("a store"),
            Some(secrets::StoreKind::Keyutils)
        );
        let error = FileConfig::parse("[secrets]\nstore = \"hunter2\"\n").expect_err("no store");
        assert!(
            error.contains("[secrets] store")
                && error.contains("keychain")
                && !error.contains("hunter2"),
            "{error}"
        );
        let error = FileConfig::parse("colour = \"blue\"\n").expect_err("unknown key");
        assert!(
            !error.contains("Secrets never go"),
            "an unknown key is not taken for a secret because `secrets` is expected: {error}"
        );
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let error =
            FileConfig::parse("[ui]\nmouse = true\ncolour = \"red\"\n").expect_err("unknown key");
        assert!(
            error.contains("line 3") && error.contains("colour"),
            "{error}"
        );
        let error = FileConfig::parse("[connection]\nclient_secret = \"x\"\n").expect_err("secret");
        assert!(error.contains("LRX_CLIENT_SECRET"), "{error}");
        let error = FileConfig::parse("[ui]\ntheme = \"neon\"\n").expect_err("theme");
        assert!(error.contains("neon"), "{error}");
        assert!(FileConfig::parse("[connection]\ncloud = \"mars\"\n").is_err());
    }

    #[test]
    fn a_team_url_in_the_file_never_carries_its_password() {
        let error = FileConfig::parse(
            "[profiles.ir]\nteam_url = \"redis://soc:hunter2@redis.corp:6379/0\"\n",
        )
        .expect_err("a password in the file");
        assert!(
            error.contains("[profiles.ir] team_url") && error.contains("LRX_TEAM_PASSWORD"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        assert!(FileConfig::parse("[connection]\nteam_url = \"http://redis.corp\"\n").is_err());
        let config = FileConfig::parse("[connection]\nteam_url = \"rediss://redis.corp:6380/1\"\n")
            .expect("ok");
        assert_eq!(
            config.connection.team_url.as_deref(),
            Some("rediss://redis.corp:6380/1")
        );
    }
}
