//! Delegated sign-in with a device code: the analyst approves in a browser elsewhere, lrx keeps
//! the refresh token in the keyring and renews its access silently from then on.

use super::auth::{
    AccessToken, BoxFuture, RefreshTokenStore, Secret, TokenSource, delegated_token, post_form,
    request_token, seconds,
};
use super::error::{ApiError, Operation, ServiceDetail};
use chrono::{Duration, Utc};
use serde::Deserialize;

/// Delegated sign-in renewed silently from the refresh token a device code sign-in stored.
pub struct DeviceCodeCredential {
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub refresh_tokens: Box<dyn RefreshTokenStore>,
}

impl TokenSource for DeviceCodeCredential {
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let refresh = self
                .refresh_tokens
                .load()
                .map_err(ApiError::MissingCredentials)?
                .ok_or_else(|| ApiError::MissingCredentials("no device code sign-in is stored for this tenant and app: run `lrx login --device-code`".into()))?;
            let requested_at = Utc::now();
            let body = request_token(
                http,
                &self.token_url,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &self.client_id),
                    ("refresh_token", refresh.expose()),
                    ("scope", &self.scope),
                ],
            )
            .await?;
            let (token, rotated) = delegated_token(&body, requested_at)?;
            if let Some(rotated) = rotated {
                self.refresh_tokens
                    .store(&rotated)
                    .map_err(ApiError::Other)?;
            }
            Ok(token)
        })
    }

    fn describe(&self) -> String {
        format!(
            "the signed-in user (device code) for app {} in tenant {}",
            self.client_id, self.tenant_id
        )
    }
}

/// What the device code endpoint tells the user to do.
#[derive(Debug, Clone, Deserialize)]
pub struct DevicePrompt {
    pub verification_uri: String,
    pub user_code: String,
    #[serde(default)]
    pub message: Option<String>,
    device_code: String,
    #[serde(deserialize_with = "seconds")]
    interval: i64,
    #[serde(deserialize_with = "seconds")]
    expires_in: i64,
}

/// Runs the device authorization grant: shows the prompt through `show`, polls as the
/// protocol says (`authorization_pending`, `slow_down`, `expired_token`), and returns the
/// access token and the refresh token to keep.
/// Where and as which app to sign in, without credentials.
#[derive(Debug, Clone)]
pub struct SignInTarget {
    pub tenant: String,
    pub client_id: String,
    pub token_url: String,
    pub scope: String,
}

/// A device code sign-in whose refresh token goes to `tokens`; `show` tells the analyst
/// where to go. Shared by `lrx login --device-code` and the TUI's `:login`.
pub async fn device_sign_in(
    http: &reqwest::Client,
    target: &SignInTarget,
    tokens: &dyn RefreshTokenStore,
    show: impl FnOnce(&DevicePrompt),
) -> Result<(), String> {
    let (_, refresh) = device_code_sign_in(
        http,
        &target.token_url,
        &target.client_id,
        &target.scope,
        show,
    )
    .await
    .map_err(|e| format!("device code sign-in failed: {e}"))?;
    tokens.store(&refresh)
}

pub async fn device_code_sign_in(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    scope: &str,
    show: impl FnOnce(&DevicePrompt),
) -> Result<(AccessToken, Secret), ApiError> {
    let devicecode_url = token_url.replace("/oauth2/v2.0/token", "/oauth2/v2.0/devicecode");
    let (status, body) = post_form(
        http,
        &devicecode_url,
        &[("client_id", client_id), ("scope", scope)],
    )
    .await?;
    if !status.is_success() {
        return Err(ApiError::Status {
            operation: Operation::SignIn,
            status: status.as_u16(),
            detail: ServiceDetail::from_body(&body),
        });
    }
    let prompt: DevicePrompt = serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
        operation: Operation::SignIn,
        reason: e.to_string(),
    })?;
    show(&prompt);
    let mut interval = prompt.interval.max(1);
    let deadline = Utc::now() + Duration::seconds(prompt.expires_in.max(1));
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::try_from(interval).unwrap_or(5),
        ))
        .await;
        let requested_at = Utc::now();
        let (status, body) = post_form(
            http,
            token_url,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client_id),
                ("device_code", &prompt.device_code),
            ],
        )
        .await?;
        if status.is_success() {
            let (token, refresh) = delegated_token(&body, requested_at)?;
            let refresh = refresh.ok_or_else(|| ApiError::Decode {
                operation: Operation::SignIn,
                reason: "no refresh token came back".into(),
            })?;
            return Ok((token, refresh));
        }
        let detail = ServiceDetail::from_body(&body);
        match detail.code.as_deref() {
            Some("authorization_pending") if Utc::now() < deadline => {}
            Some("slow_down") => interval += 5,
            Some("expired_token" | "authorization_pending") => {
                return Err(ApiError::Other("the device code expired before the sign-in was completed; run `lrx login --device-code` again".into()));
            }
            _ => {
                return Err(ApiError::Status {
                    operation: Operation::SignIn,
                    status: status.as_u16(),
                    detail,
                });
            }
        }
    }
}
