//! The simulated tenant's shared state and the answers every route gives alike: the
//! service's error body, `OData` JSON, 429 and 500.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::SimConfig;
use super::dataset::{self, Dataset, SimAction};
use super::rng::SimRng;
use super::throttle::Throttle;

pub struct SimServer {
    pub(super) config: SimConfig,
    pub(super) base_url: String,
    /// "Now" of the generated history.
    pub(super) anchor: DateTime<Utc>,
    pub(super) key: [u8; 32],
    pub(super) data: RwLock<Dataset>,
    pub(super) throttle: Mutex<Throttle>,
    pub(super) blobs: Mutex<HashMap<String, (String, usize)>>,
    pub(super) rng: Mutex<SimRng>,
    pub(super) offset_millis: AtomicI64,
    pub(super) devices: Mutex<super::device::DeviceFlows>,
    pub(super) api_calls: AtomicU64,
    /// Every request of any kind (sign-in, API, storage): what "no request at all" counts.
    pub(super) requests: AtomicU64,
    pub(super) throttled: AtomicU64,
    /// Calls per API, 429s included: what a team's coordination is measured by.
    pub(super) calls_by_api: Mutex<HashMap<crate::api::limits::Api, u64>>,
    /// Blob downloads served (a whole payload sent).
    pub(super) downloads: AtomicU64,
    /// Requests to the token endpoint, of any grant: what sharing a token saves.
    pub(super) token_requests: AtomicU64,
    /// Tokens whose serial is at most this were revoked (`revoke_tokens`); serials start at 1.
    pub(super) revoked_through: AtomicU64,
    /// `runliveresponse` calls answered so far (for the fault that fails after creating).
    pub(super) runs: AtomicU64,
}

impl SimServer {
    pub fn new(config: SimConfig, base_url: String) -> Self {
        let anchor = config.anchor.unwrap_or_else(Utc::now);
        let data = dataset::generate(config.seed, anchor);
        Self {
            key: server_key(config.seed),
            throttle: Mutex::new(Throttle::new(config.limits.clone())),
            rng: Mutex::new(SimRng::derive(config.seed, "requests")),
            config,
            base_url,
            anchor,
            data: RwLock::new(data),
            blobs: Mutex::new(HashMap::new()),
            offset_millis: AtomicI64::new(0),
            devices: Mutex::new(super::device::DeviceFlows::default()),
            api_calls: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            calls_by_api: Mutex::new(HashMap::new()),
            downloads: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            revoked_through: AtomicU64::new(0),
            runs: AtomicU64::new(0),
        }
    }

    pub fn anchor(&self) -> DateTime<Utc> {
        self.anchor
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_millis.load(Ordering::Relaxed))
    }

    /// The simulator's clock as a monotonic instant, for the throttle's windows: moved by
    /// `advance` like `now`, so a test frees a window without waiting for it.
    pub fn instant(&self) -> tokio::time::Instant {
        let ahead = u64::try_from(self.offset_millis.load(Ordering::Relaxed)).unwrap_or(0);
        tokio::time::Instant::now() + Duration::from_millis(ahead)
    }

    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_millis.fetch_add(millis, Ordering::Relaxed);
    }

    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn throttled_calls(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    pub fn calls_to(&self, api: crate::api::limits::Api) -> u64 {
        self.calls_by_api
            .lock()
            .map_or(0, |calls| calls.get(&api).copied().unwrap_or(0))
    }

    pub fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    pub fn token_requests(&self) -> u64 {
        self.token_requests.load(Ordering::Relaxed)
    }

    /// Revokes every access token issued so far, as an admin does by revoking the app's
    /// sessions: each is answered with 401 from now on.
    pub fn revoke_tokens(&self) {
        self.revoked_through.store(
            self.token_requests.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    pub(super) fn is_revoked(&self, claims: &super::oauth::Claims) -> bool {
        claims
            .uti
            .parse::<u64>()
            .is_ok_and(|serial| serial <= self.revoked_through.load(Ordering::Relaxed))
    }

    pub(super) fn correlation_id(&self) -> String {
        self.rng
            .lock()
            .map(|mut rng| rng.guid())
            .unwrap_or_default()
    }

    pub(super) fn chance(&self, probability: f64) -> bool {
        probability > 0.0 && self.rng.lock().is_ok_and(|mut rng| rng.chance(probability))
    }
}

pub(super) fn server_key(seed: u64) -> [u8; 32] {
    // Mixed with process entropy so that links and tokens from one run are worthless to
    // another, while the dataset itself stays a pure function of the seed.
    let entropy = std::collections::hash_map::RandomState::new();
    let mut key = [0u8; 32];
    let mut rng = SimRng::new(seed ^ std::hash::BuildHasher::hash_one(&entropy, seed));
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    key
}

pub(super) struct Request {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

pub(super) fn too_many_requests(server: &SimServer, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = api_error(
        server,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        &format!("Rate limit is exceeded. Try again in {seconds} seconds."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The shared state is unusable (a poisoned lock): the service's own 500.
pub(super) fn internal_error(server: &SimServer) -> Response {
    api_error(
        server,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "",
    )
}

pub(super) fn api_error(
    server: &SimServer,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let body =
        json!({"error": {"code": code, "message": message, "target": server.correlation_id()}});
    (status, axum::Json(body)).into_response()
}

pub(super) fn odata_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")],
        bytes,
    )
        .into_response()
}

pub(super) fn form_map(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn find_action<'a>(data: &'a Dataset, id: &str) -> Option<&'a SimAction> {
    data.actions.iter().find(|a| a.id.eq_ignore_ascii_case(id))
}
