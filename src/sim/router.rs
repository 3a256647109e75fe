//! HTTP routing for the simulated tenant. Paths are matched case-insensitively, as the real
//! service does (contract §1), so routing is done here rather than by axum's case-sensitive
//! router; throttling, injected faults and permissions are checked before any route.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::action_routes::{cancel, get, link, list, run_live_response};
use super::blob_route::blob;
use super::machine_routes::{library, machine, machines};
use super::oauth::{self, BearerError, Claims};
use super::sas;
use super::server::{Request, SimServer, api_error, internal_error, too_many_requests};
use super::signin_routes::{device_code, device_login, token};
use crate::api::limits::Api;

pub(super) fn router(server: Arc<SimServer>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

pub(super) async fn handle(
    State(server): State<Arc<SimServer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    server.requests.fetch_add(1, Ordering::Relaxed);
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    let request = Request {
        method,
        path,
        query: uri.query().unwrap_or_default().to_string(),
        headers,
        body,
    };
    let mut response = route(&server, &request).await;
    // The Date header carries the simulator's clock, so clients can correct for skew.
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(server.now().into())) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

pub(super) async fn route(server: &Arc<SimServer>, request: &Request) -> Response {
    let lower = request.path.to_ascii_lowercase();
    let segments: Vec<&str> = lower.trim_end_matches('/').split('/').skip(1).collect();
    let original: Vec<&str> = request
        .path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .collect();
    if lower.starts_with(sas::CONTAINER_PATH) && request.method == Method::GET {
        return blob(server, request);
    }
    match segments.as_slice() {
        [_, "oauth2", "v2.0", "devicecode"] if request.method == Method::POST => {
            return device_code(server, request, original[0]);
        }
        ["devicelogin"] => return device_login(server, request),
        [_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"]
            if request.method == Method::POST =>
        {
            return token(server, request, original[0], segments.len() == 3);
        }
        ["api", ..] => {}
        _ => {
            return api_error(
                server,
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("No route matches {} {}", request.method, request.path),
            );
        }
    }
    // `/api/v1.0/...` pins the version the unversioned path serves today.
    let rest: Vec<&str> = match segments.get(1) {
        Some(&"v1.0") => segments[2..].to_vec(),
        _ => segments[1..].to_vec(),
    };
    let original_rest: Vec<&str> = original[original.len() - rest.len()..].to_vec();
    let claims = match oauth::validate(
        request
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        &server.key,
        server.now(),
    ) {
        Ok(claims) if server.is_revoked(&claims) => {
            return api_error(
                server,
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Authorization token was revoked",
            );
        }
        Ok(claims) => claims,
        Err(error) => {
            let message = match error {
                BearerError::Missing => "Authorization header is missing or empty",
                BearerError::Malformed => {
                    "Authorization token is malformed or its signature is invalid"
                }
                BearerError::Expired => "Authorization token has expired",
            };
            return api_error(server, StatusCode::UNAUTHORIZED, "Unauthorized", message);
        }
    };
    let api = match (request.method.clone(), rest.as_slice()) {
        (Method::GET, ["machineactions"]) => Api::ListActions,
        (Method::GET, ["machineactions", _]) => Api::GetAction,
        (Method::POST, ["machineactions", _, "cancel"]) => Api::CancelAction,
        (Method::GET, ["machineactions", _, link])
            if link.starts_with("getliveresponseresultdownloadlink") =>
        {
            Api::ResultLink
        }
        (Method::POST, ["machines", _, "runliveresponse"]) => Api::RunLiveResponse,
        (Method::GET, ["libraryfiles"]) => Api::LibraryFiles,
        (Method::GET, ["machines"] | ["machines", _]) => Api::Machines,
        _ => {
            return api_error(
                server,
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("No route matches {} {}", request.method, request.path),
            );
        }
    };
    let call_number = server.api_calls.fetch_add(1, Ordering::Relaxed) + 1;
    if let Ok(mut calls) = server.calls_by_api.lock() {
        *calls.entry(api).or_default() += 1;
    }
    if !server.config.latency.is_zero() {
        tokio::time::sleep(server.config.latency).await;
    }
    if let Some(response) = injected_fault(server, call_number) {
        return response;
    }
    let admitted = server
        .throttle
        .lock()
        .map_or(Ok(()), |mut throttle| throttle.admit(api, server.instant()));
    if let Err(wait) = admitted {
        server.throttled.fetch_add(1, Ordering::Relaxed);
        return too_many_requests(server, wait);
    }
    if let Some(missing) = missing_permission(api, &claims) {
        return api_error(server, StatusCode::FORBIDDEN, "Forbidden", &missing);
    }
    match api {
        Api::ListActions => list(server, request),
        Api::GetAction => get(server, original_rest[1]),
        Api::CancelAction => cancel(server, original_rest[1], request),
        Api::ResultLink => link(server, original_rest[1], rest[2]),
        Api::LibraryFiles => library(server),
        Api::Machines if rest.len() == 1 => machines(server, request),
        Api::Machines => machine(server, original_rest[1]),
        _ => run_live_response(server, original_rest[1], request, &claims),
    }
}

pub(super) fn injected_fault(server: &SimServer, call_number: u64) -> Option<Response> {
    let faults = &server.config.faults;
    if faults.unauthorized_at.map(u64::from) == Some(call_number) {
        return Some(api_error(
            server,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization token was revoked",
        ));
    }
    if faults
        .throttle_every
        .is_some_and(|n| call_number.is_multiple_of(u64::from(n)))
    {
        server.throttled.fetch_add(1, Ordering::Relaxed);
        return Some(too_many_requests(server, Duration::from_secs(2)));
    }
    if server.chance(faults.server_errors) {
        return Some(internal_error(server));
    }
    None
}

pub(super) fn missing_permission(api: Api, claims: &Claims) -> Option<String> {
    let has = |role: &str| claims.roles.iter().any(|r| r == role);
    let (ok, needed) = match api {
        Api::LibraryFiles => (has("Library.Manage"), "Library.Manage"),
        Api::ListActions | Api::GetAction | Api::Machines => (
            has("Machine.Read.All") || has("Machine.ReadWrite.All"),
            "Machine.Read.All or Machine.ReadWrite.All",
        ),
        Api::ResultLink => (
            has("Machine.ReadWrite.All") || has("Machine.LiveResponse") && has("Machine.Read.All"),
            "Machine.ReadWrite.All",
        ),
        _ => (has("Machine.LiveResponse"), "Machine.LiveResponse"),
    };
    (!ok).then(|| format!("The application does not have the required permission: {needed}"))
}
