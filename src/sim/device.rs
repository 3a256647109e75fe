//! The device authorization grant (delegated sign-in on a machine without a browser) and
//! refresh tokens: `/devicecode`, polling with `authorization_pending`, `slow_down` and
//! `expired_token`, approval after a delay or through the demo URL `/devicelogin?code=…`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::oauth::{Issuer, TokenError};
use super::rng::SimRng;

#[derive(Debug, Clone)]
struct Grant {
    user_code: String,
    client_id: String,
    resource: String,
    issued: DateTime<Utc>,
    last_poll: Option<DateTime<Utc>>,
    approved: bool,
}

#[derive(Debug, Default)]
pub(super) struct DeviceFlows {
    grants: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, (String, String)>,
}

pub(super) struct DeviceSettings {
    /// Approve on its own after this long (the demo's stand-in for a person signing in).
    pub approve_after: Option<Duration>,
    pub interval: Duration,
    pub lifetime: Duration,
    /// Where the user is told to go (the simulator's own demo page).
    pub verification_uri: String,
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or_default()
}

impl DeviceFlows {
    pub(super) fn start(
        &mut self,
        issuer: &Issuer,
        form: &HashMap<String, String>,
        settings: &DeviceSettings,
        rng: &mut SimRng,
        now: DateTime<Utc>,
        ids: (&str, &str),
    ) -> Result<Value, TokenError> {
        let Some(client_id) = form.get("client_id").filter(|c| *c == issuer.client_id) else {
            return Err(issuer.entra_error(
                400,
                "unauthorized_client",
                700_016,
                "Application with the given identifier was not found in the directory.",
                now,
                ids,
            ));
        };
        let Some(resource) = form.get("scope").and_then(|s| issuer.resource_of_scope(s)) else {
            return Err(issuer.entra_error(
                400,
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid.",
                now,
                ids,
            ));
        };
        let device_code = rng.hex(48);
        let user_code = rng.hex(8).to_ascii_uppercase();
        self.grants.insert(
            device_code.clone(),
            Grant {
                user_code: user_code.clone(),
                client_id: client_id.clone(),
                resource,
                issued: now,
                last_poll: None,
                approved: false,
            },
        );
        let verification_uri = settings.verification_uri.clone();
        Ok(json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": settings.lifetime.as_secs(),
            "interval": settings.interval.as_secs(),
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
        }))
    }

    pub(super) fn approve(&mut self, user_code: &str) -> bool {
        let mut approved = false;
        for grant in self
            .grants
            .values_mut()
            .filter(|g| g.user_code.eq_ignore_ascii_case(user_code))
        {
            grant.approved = true;
            approved = true;
        }
        approved
    }

    fn tokens(
        &mut self,
        issuer: &Issuer,
        client_id: &str,
        resource: &str,
        rng: &mut SimRng,
        now: DateTime<Utc>,
    ) -> Value {
        let (access, expires_in) = issuer.mint(resource, now);
        let refresh = format!("0.sim-refresh.{}", rng.hex(64));
        self.refresh_tokens.insert(
            refresh.clone(),
            (client_id.to_string(), resource.to_string()),
        );
        json!({"token_type": "Bearer", "scope": format!("{resource}/.default"), "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access, "refresh_token": refresh})
    }

    pub(super) fn poll(
        &mut self,
        issuer: &Issuer,
        form: &HashMap<String, String>,
        settings: &DeviceSettings,
        rng: &mut SimRng,
        now: DateTime<Utc>,
        ids: (&str, &str),
    ) -> Result<Value, TokenError> {
        let code = form.get("device_code").cloned().unwrap_or_default();
        let Some(grant) = self.grants.get_mut(&code) else {
            return Err(issuer.entra_error(
                400,
                "invalid_grant",
                70000,
                "The provided device code is invalid or was already used.",
                now,
                ids,
            ));
        };
        if now - grant.issued > chrono(settings.lifetime) {
            self.grants.remove(&code);
            return Err(issuer.entra_error(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.", now, ids));
        }
        let too_soon = grant.last_poll.is_some_and(|last| {
            now - last < chrono(settings.interval) - chrono::Duration::milliseconds(250)
        });
        grant.last_poll = Some(now);
        if too_soon {
            return Err(issuer.entra_error(
                400,
                "slow_down",
                70016,
                "Polling too fast: wait the interval between requests.",
                now,
                ids,
            ));
        }
        let auto = settings
            .approve_after
            .is_some_and(|delay| now - grant.issued >= chrono(delay));
        if !(grant.approved || auto) {
            return Err(issuer.entra_error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                now,
                ids,
            ));
        }
        let Some(grant) = self.grants.remove(&code) else {
            return Err(issuer.entra_error(
                400,
                "invalid_grant",
                70000,
                "The provided device code is invalid.",
                now,
                ids,
            ));
        };
        Ok(self.tokens(issuer, &grant.client_id, &grant.resource, rng, now))
    }

    pub(super) fn refresh(
        &mut self,
        issuer: &Issuer,
        form: &HashMap<String, String>,
        rng: &mut SimRng,
        now: DateTime<Utc>,
        ids: (&str, &str),
    ) -> Result<Value, TokenError> {
        let token = form.get("refresh_token").cloned().unwrap_or_default();
        // Refresh tokens rotate: the old one is spent.
        let Some((client_id, resource)) = self.refresh_tokens.remove(&token) else {
            return Err(issuer.entra_error(
                400,
                "invalid_grant",
                70008,
                "The provided refresh token has expired or was revoked. Sign in again.",
                now,
                ids,
            ));
        };
        if form.get("client_id") != Some(&client_id) {
            return Err(issuer.entra_error(
                400,
                "invalid_grant",
                70000,
                "The refresh token was issued to a different client.",
                now,
                ids,
            ));
        }
        Ok(self.tokens(issuer, &client_id, &resource, rng, now))
    }
}
