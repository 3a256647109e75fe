//! The simulated tenant: a real HTTP server on 127.0.0.1 that speaks the documented MDE API
//! (OAuth token endpoints, machine actions with `OData`, result links, an Azure-like blob
//! route) with the documented limits, over a seeded, realistic dataset.

mod action_routes;
mod blob_route;
mod corpus;
pub mod dataset;
mod device;
mod entity;
mod library;
mod machine_routes;
pub mod oauth;
pub mod odata;
mod payload;
mod rng;
mod router;
pub mod sas;
mod server;
mod signin_routes;
pub mod throttle;
pub mod timeline;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::api::limits::{WindowLimit, parse_duration, parse_limits};
pub use server::SimServer;

/// Faults the simulator can inject, so clients can be tested against a misbehaving service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share of API calls answered with 500 `InternalServerError`.
    pub server_errors: f64,
    /// Share of blob downloads cut off halfway.
    pub truncated_blobs: f64,
    /// Every Nth API call is answered with 429, as if another tool spent the budget.
    pub throttle_every: Option<u32>,
    /// The Nth API call is answered with 401 once, as if the token had been revoked.
    pub unauthorized_at: Option<u32>,
    /// The Nth `runliveresponse` creates its action and then answers 503, as a gateway
    /// that times out after the service has acted.
    pub fail_after_create: Option<u32>,
}

impl Faults {
    /// Parses `500=0.1,truncate=0.2,429-every=10,401-at=20`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut faults = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not NAME=VALUE"))?;
            let rate = || -> Result<f64, String> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("'{value}' is not a share between 0 and 1"))
            };
            let count = || -> Result<u32, String> {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("'{value}' is not a positive whole number"))
            };
            match name {
                "500" => faults.server_errors = rate()?,
                "truncate" => faults.truncated_blobs = rate()?,
                "429-every" => faults.throttle_every = Some(count()?),
                "401-at" => faults.unauthorized_at = Some(count()?),
                "503-after-create" => faults.fail_after_create = Some(count()?),
                other => {
                    return Err(format!(
                        "unknown fault '{other}' (known: 500, truncate, 429-every, 401-at, 503-after-create)"
                    ));
                }
            }
        }
        Ok(faults)
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// "Now" for the generated history; defaults to the server's start time.
    pub anchor: Option<DateTime<Utc>>,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub app_name: String,
    pub roles: Vec<String>,
    pub link_ttl: Duration,
    pub token_ttl: Duration,
    pub limits: Vec<WindowLimit>,
    pub page_size: usize,
    pub latency: Duration,
    pub faults: Faults,
    pub bind: SocketAddr,
    /// Device code sign-ins approve on their own after this long (`None`: only through the
    /// demo URL `/devicelogin?code=…`).
    pub device_approval: Option<Duration>,
    /// The polling interval the device code endpoint asks for.
    pub device_interval: Duration,
    /// A certificate registered on the app, for client assertions.
    pub certificate: Option<oauth::SimCertificate>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 20_467,
            anchor: None,
            tenant_id: "8b1a3c52-0d4e-4f6a-9b7c-2e5d1f0a9c31".into(),
            client_id: "4f2d7e90-6a1b-4c3d-8e5f-0a9b8c7d6e51".into(),
            client_secret: "lrx-demo-secret~not-a-real-one".into(),
            app_name: "lrx demo app".into(),
            roles: vec![
                "Machine.Read.All".into(),
                "Machine.ReadWrite.All".into(),
                "Machine.LiveResponse".into(),
                "Library.Manage".into(),
            ],
            link_ttl: Duration::from_secs(30 * 60),
            token_ttl: Duration::from_secs(3600),
            limits: crate::api::limits::STANDARD.to_vec(),
            page_size: 10_000,
            latency: Duration::ZERO,
            faults: Faults::default(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            device_approval: Some(Duration::from_secs(8)),
            device_interval: Duration::from_secs(5),
            certificate: None,
        }
    }
}

/// What a client needs to talk to a running simulator.
#[derive(Debug, Clone)]
pub struct SimEndpoints {
    pub base_url: String,
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub limits: Vec<WindowLimit>,
}

impl SimEndpoints {
    /// A client credentials token from a running simulated tenant.
    pub async fn client_token(&self) -> Result<String, String> {
        crate::install_crypto_provider();
        let body: serde_json::Value = reqwest::Client::new()
            .post(&self.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.as_str()),
                ("scope", "https://api.securitycenter.microsoft.com/.default"),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no token: {body}"))
    }

    fn new(config: &SimConfig, address: SocketAddr) -> Self {
        let base_url = format!("http://{address}");
        Self {
            token_url: format!("{base_url}/{}/oauth2/v2.0/token", config.tenant_id),
            base_url,
            tenant_id: config.tenant_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            limits: config.limits.clone(),
        }
    }

    /// The command-line flags that point `lrx` at this tenant (the credential is separate).
    pub fn cli_args(&self) -> [&str; 8] {
        [
            "--api-url",
            &self.base_url,
            "--token-url",
            &self.token_url,
            "--tenant",
            &self.tenant_id,
            "--client-id",
            &self.client_id,
        ]
    }
}

/// A handle that keeps the server alive; dropping it stops the server.
pub struct SimHandle {
    pub endpoints: SimEndpoints,
    server: Arc<SimServer>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SimHandle {
    /// Moves the simulator's clock forward, so tests can expire links and tokens instantly.
    pub fn advance(&self, by: Duration) {
        self.server.advance(by);
    }

    /// How many requests of any kind (sign-in, API, storage) the server has had.
    pub fn requests(&self) -> u64 {
        self.server.requests()
    }

    /// How many API calls (not blob downloads) the server has answered, 429s included.
    pub fn api_calls(&self) -> u64 {
        self.server.api_calls()
    }

    /// How many calls were answered with 429 because a window was full.
    pub fn throttled_calls(&self) -> u64 {
        self.server.throttled_calls()
    }

    /// How many calls one API has had, 429s included.
    pub fn calls_to(&self, api: crate::api::limits::Api) -> u64 {
        self.server.calls_to(api)
    }

    /// How many result payloads the storage side has served.
    pub fn downloads(&self) -> u64 {
        self.server.downloads()
    }

    /// How many requests the token endpoint has had (any grant, refused ones included).
    pub fn token_requests(&self) -> u64 {
        self.server.token_requests()
    }

    /// Revokes every access token issued so far: each is answered with 401 from now on.
    pub fn revoke_tokens(&self) {
        self.server.revoke_tokens();
    }

    pub fn server(&self) -> &Arc<SimServer> {
        &self.server
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Starts the simulator on the current tokio runtime.
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let address = listener.local_addr()?;
    let endpoints = SimEndpoints::new(&config, address);
    let server = Arc::new(SimServer::new(config, endpoints.base_url.clone()));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router::router(Arc::clone(&server));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(SimHandle {
        endpoints,
        server,
        shutdown: Some(shutdown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_reject_nonsense() {
        let faults =
            Faults::parse("500=0.1,truncate=0.5,429-every=10,401-at=3").unwrap_or_default();
        assert_eq!(faults.throttle_every, Some(10));
        assert_eq!(faults.unauthorized_at, Some(3));
        assert!(Faults::parse("500=2").is_err());
        assert!(Faults::parse("gremlins=1").is_err());
    }
}
