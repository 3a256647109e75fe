//! The simulated sign-in endpoints: client credentials (secret or assertion), device code
//! and its approval page, refresh tokens.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::device::DeviceFlows;
use super::oauth::{self, Issuer, TokenError, TokenRequest};
use super::rng::SimRng;
use super::server::{Request, SimServer, form_map};

pub(super) fn issuer(server: &SimServer) -> Issuer<'_> {
    Issuer {
        tenant_id: &server.config.tenant_id,
        client_id: &server.config.client_id,
        client_secret: &server.config.client_secret,
        app_name: &server.config.app_name,
        roles: &server.config.roles,
        token_ttl: chrono::Duration::from_std(server.config.token_ttl).unwrap_or_default(),
        key: &server.key,
        own_base: &server.base_url,
        certificate: server.config.certificate.as_ref(),
        serial: server.token_requests.load(Ordering::Relaxed),
    }
}

pub(super) fn device_settings(server: &SimServer) -> super::device::DeviceSettings {
    super::device::DeviceSettings {
        approve_after: server.config.device_approval,
        interval: server.config.device_interval,
        lifetime: Duration::from_secs(900),
        verification_uri: format!("{}/devicelogin", server.base_url),
    }
}

pub(super) fn token_response(result: Result<Value, oauth::TokenError>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(error.body),
        )
            .into_response(),
    }
}

pub(super) fn device_code(server: &SimServer, request: &Request, tenant: &str) -> Response {
    let ids = (server.correlation_id(), server.correlation_id());
    let issuer = issuer(server);
    if tenant != server.config.tenant_id {
        return token_response(Err(issuer.entra_error(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
            server.now(),
            (&ids.0, &ids.1),
        )));
    }
    let form = form_map(&request.body);
    let result = with_device_flows(server, &issuer, &ids, |flows, rng, now| {
        flows.start(
            &issuer,
            &form,
            &device_settings(server),
            rng,
            now,
            (&ids.0, &ids.1),
        )
    });
    token_response(result)
}

/// Runs a device-code or refresh step on the shared flows with a random source forked from
/// the server's; a poisoned lock is the internal error Entra would answer.
pub(super) fn with_device_flows(
    server: &SimServer,
    issuer: &Issuer,
    ids: &(String, String),
    step: impl FnOnce(&mut DeviceFlows, &mut SimRng, DateTime<Utc>) -> Result<Value, TokenError>,
) -> Result<Value, TokenError> {
    let mut rng = server
        .rng
        .lock()
        .map_or_else(|_| SimRng::new(7), |mut r| SimRng::new(r.next_u64()));
    let now = server.now();
    let mut flows = server.devices.lock().map_err(|_| {
        issuer.entra_error(
            500,
            "server_error",
            50000,
            "internal error",
            now,
            (&ids.0, &ids.1),
        )
    })?;
    step(&mut flows, &mut rng, now)
}

pub(super) fn device_login(server: &SimServer, request: &Request) -> Response {
    let code = url::form_urlencoded::parse(request.query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned());
    let approved = code.is_some_and(|code| {
        server
            .devices
            .lock()
            .is_ok_and(|mut flows| flows.approve(&code))
    });
    if approved {
        (
            StatusCode::OK,
            "Signed in to the lrx simulated tenant. You can close this page and return to lrx.\n",
        )
            .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            "Unknown or expired code: open /devicelogin?code=<the code lrx shows>\n",
        )
            .into_response()
    }
}

pub(super) fn token(server: &SimServer, request: &Request, tenant: &str, v1: bool) -> Response {
    let serial = server.token_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let grant = form_map(&request.body)
        .get("grant_type")
        .cloned()
        .unwrap_or_default();
    tracing::info!(
        target: "lrx::sim",
        "token request {serial} ({})",
        crate::sanitize::line(&grant)
    );
    if tenant == server.config.tenant_id
        && (grant == "urn:ietf:params:oauth:grant-type:device_code" || grant == "refresh_token")
    {
        let ids = (server.correlation_id(), server.correlation_id());
        let issuer = issuer(server);
        let form = form_map(&request.body);
        let result = with_device_flows(server, &issuer, &ids, |flows, rng, now| {
            if grant == "refresh_token" {
                flows.refresh(&issuer, &form, rng, now, (&ids.0, &ids.1))
            } else {
                flows.poll(
                    &issuer,
                    &form,
                    &device_settings(server),
                    rng,
                    now,
                    (&ids.0, &ids.1),
                )
            }
        });
        return token_response(result);
    }
    let form = url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let token_request = TokenRequest {
        tenant: tenant.to_string(),
        v1,
        form,
        basic_auth: oauth::basic_auth(
            request
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let issuer = issuer(server);
    let ids = (server.correlation_id(), server.correlation_id());
    token_response(issuer.issue(&token_request, server.now(), (&ids.0, &ids.1)))
}
