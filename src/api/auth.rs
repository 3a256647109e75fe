//! Getting and keeping an access token. Sources are pluggable (client secret now;
//! certificates, device code and the Azure CLI come with sign-in profiles); the cache renews
//! tokens before they expire and on demand after a 401.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::error::{ApiError, Operation, ServiceDetail};

mod authenticator;
pub use authenticator::{Authenticator, TokenShelf};

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub value: Secret,
    pub expires_at: DateTime<Utc>,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait TokenSource: Send + Sync {
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>>;
    /// For messages: which identity this is, without secrets.
    fn describe(&self) -> String;
}

/// `expires_in` arrives as a number (v2) or a string (v1).
pub(crate) fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        Text(String),
    }
    match NumberOrText::deserialize(deserializer)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(text) => text.trim().parse().map_err(serde::de::Error::custom),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
}

pub struct ClientSecretCredential {
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub secret: Secret,
    pub scope: String,
}

pub(crate) fn transport_error(
    operation: Operation,
    error: &reqwest::Error,
    host: &str,
) -> ApiError {
    // `without_url` keeps SAS signatures and tokens in query strings out of messages.
    let text = error_chain(error);
    if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
        ApiError::Tls {
            operation,
            host: host.into(),
            reason: text,
        }
    } else {
        ApiError::Network {
            operation,
            host: host.into(),
            reason: text,
        }
    }
}

pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let mut text = parts.join(": ");
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), url.host_str().unwrap_or("the host"));
    }
    text
}

pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| "the token endpoint".into())
}

/// Reads a client credentials token response (v1 or v2 numbers).
pub(crate) fn client_credentials_token(
    body: &[u8],
    requested_at: DateTime<Utc>,
) -> Result<AccessToken, ApiError> {
    let token: TokenResponse = serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        operation: Operation::SignIn,
        reason: format!("the token response is not what Entra sends: {e}"),
    })?;
    Ok(AccessToken {
        value: Secret::new(token.access_token),
        expires_at: requested_at + Duration::seconds(token.expires_in.max(0)),
    })
}

impl TokenSource for ClientSecretCredential {
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let requested_at = Utc::now();
            let body = request_token(
                http,
                &self.token_url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", self.secret.expose()),
                    ("scope", self.scope.as_str()),
                ],
            )
            .await?;
            client_credentials_token(&body, requested_at)
        })
    }

    fn describe(&self) -> String {
        format!("app {} in tenant {}", self.client_id, self.tenant_id)
    }
}

/// A ready bearer token (`LRX_TOKEN`). It cannot be renewed; its expiry is read from the
/// JWT's `exp` claim when there is one.
pub struct StaticToken(pub Secret);

fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    use base64::Engine as _;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(json.get("exp")?.as_i64()?, 0)
}

impl TokenSource for StaticToken {
    fn fetch<'a>(
        &'a self,
        _http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let expires_at =
                jwt_expiry(self.0.expose()).unwrap_or_else(|| Utc::now() + Duration::hours(1));
            Ok(AccessToken {
                value: self.0.clone(),
                expires_at,
            })
        })
    }

    fn describe(&self) -> String {
        "the token in LRX_TOKEN".into()
    }
}

/// Reuses the analyst's Azure CLI sign-in: `az account get-access-token --resource …`.
pub struct AzureCli {
    pub resource: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureCliToken {
    access_token: String,
    /// Newer az versions: seconds since the epoch.
    #[serde(default, rename = "expires_on")]
    expires_on_epoch: Option<i64>,
    /// Older versions: local time, e.g. `2026-11-27 01:23:45.000000`.
    #[serde(default)]
    expires_on: Option<String>,
}

impl TokenSource for AzureCli {
    fn fetch<'a>(
        &'a self,
        _http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let output = tokio::process::Command::new("az")
                .args(["account", "get-access-token", "--resource", &self.resource, "--output", "json"])
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| {
                    ApiError::MissingCredentials(format!(
                        "the Azure CLI (az) could not be run ({e}); install it and run `az login`, or use LRX_CLIENT_SECRET or LRX_TOKEN"
                    ))
                })?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let first = stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no message");
                return Err(ApiError::Other(format!(
                    "signing in through the Azure CLI failed: {}. Run `az login` (with the right tenant) and try again",
                    crate::sanitize::line(first)
                )));
            }
            let token: AzureCliToken =
                serde_json::from_slice(&output.stdout).map_err(|e| ApiError::Decode {
                    operation: Operation::SignIn,
                    reason: format!("az printed something other than a token: {e}"),
                })?;
            let expires_at = token
                .expires_on_epoch
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .or_else(|| {
                    token
                        .expires_on
                        .as_deref()
                        .and_then(|t| {
                            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok()
                        })
                        .and_then(|t| {
                            t.and_local_timezone(chrono::Local)
                                .single()
                                .map(|t| t.with_timezone(&Utc))
                        })
                })
                .unwrap_or_else(|| Utc::now() + Duration::minutes(30));
            Ok(AccessToken {
                value: Secret::new(token.access_token),
                expires_at,
            })
        })
    }

    fn describe(&self) -> String {
        "the Azure CLI's signed-in account".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_reads_numbers_and_strings() {
        for body in [
            r#"{"access_token":"a","expires_in":3599}"#,
            r#"{"access_token":"a","expires_in":"3599"}"#,
        ] {
            let parsed: TokenResponse = serde_json::from_str(body).expect("parses");
            assert_eq!(parsed.expires_in, 3599);
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<redacted>");
    }

    #[test]
    fn static_tokens_take_their_expiry_from_the_jwt() {
        use base64::Engine as _;
        let claims =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1900000000}"#);
        let token = format!("h.{claims}.s");
        assert_eq!(
            jwt_expiry(&token).map(|t| t.timestamp()),
            Some(1_900_000_000)
        );
        assert_eq!(jwt_expiry("opaque"), None);
    }
}

/// Where a delegated sign-in's refresh token lives between runs (the OS keyring).
pub trait RefreshTokenStore: Send + Sync {
    fn load(&self) -> Result<Option<Secret>, String>;
    fn store(&self, token: &Secret) -> Result<(), String>;
}

#[derive(Deserialize)]
struct DelegatedTokenResponse {
    access_token: String,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
    refresh_token: Option<String>,
}

pub(crate) fn delegated_token(
    body: &[u8],
    requested_at: DateTime<Utc>,
) -> Result<(AccessToken, Option<Secret>), ApiError> {
    let token: DelegatedTokenResponse =
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            operation: Operation::SignIn,
            reason: format!("the token response is not what Entra sends: {e}"),
        })?;
    Ok((
        AccessToken {
            value: Secret::new(token.access_token),
            expires_at: requested_at + Duration::seconds(token.expires_in.max(0)),
        },
        token.refresh_token.map(Secret::new),
    ))
}

/// Posts a token request and returns the body of a successful answer; a refusal becomes
/// the service's error with its code and text.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Vec<u8>, ApiError> {
    let (status, body) = post_form(http, url, form).await?;
    if !status.is_success() {
        return Err(ApiError::Status {
            operation: Operation::SignIn,
            status: status.as_u16(),
            detail: ServiceDetail::from_body(&body),
        });
    }
    Ok(body)
}

pub(crate) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Vec<u8>), ApiError> {
    let host = host_of(url);
    let deadline = |error: reqwest::Error| {
        if error.is_timeout() {
            ApiError::Deadline {
                operation: Operation::SignIn,
                host: host.clone(),
                seconds: super::policy::API_REQUEST_DEADLINE.as_secs(),
            }
        } else {
            transport_error(Operation::SignIn, &error.without_url(), &host)
        }
    };
    let response = http
        .post(url)
        .timeout(super::policy::API_REQUEST_DEADLINE)
        .form(form)
        .send()
        .await
        .map_err(deadline)?;
    let status = response.status();
    if status.is_redirection() {
        // The client follows no redirects; a 307 re-sent elsewhere would carry the secret.
        return Err(ApiError::Redirected {
            operation: Operation::SignIn,
            host,
            status: status.as_u16(),
            location: super::policy::redirect_target(response.headers(), url),
        });
    }
    let body = response.bytes().await.map_err(deadline)?;
    Ok((status, body.to_vec()))
}
