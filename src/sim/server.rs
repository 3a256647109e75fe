//! HTTP routing for the simulated tenant. Paths are matched case-insensitively, as the real
//! service does (contract §1), so routing is done here rather than by axum's case-sensitive
//! router.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::SimConfig;
use super::dataset::{self, CommandSpec, Dataset, Outcome, ResultSpec, SimAction};
use super::device::DeviceFlows;
use super::entity::action_json;
use super::oauth::{self, BearerError, Claims, Issuer, TokenError, TokenRequest};
use super::odata::{self, Filterable, Property};
use super::payload;
use super::rng::SimRng;
use super::sas;
use super::throttle::Throttle;
use super::timeline::{self, ActionView, CommandStatus};
use crate::api::limits::Api;

pub struct SimServer {
    config: SimConfig,
    base_url: String,
    key: [u8; 32],
    data: RwLock<Dataset>,
    throttle: Mutex<Throttle>,
    blobs: Mutex<HashMap<String, (String, usize)>>,
    rng: Mutex<SimRng>,
    offset_millis: AtomicI64,
    devices: Mutex<super::device::DeviceFlows>,
    api_calls: AtomicU64,
    throttled: AtomicU64,
}

fn server_key(seed: u64) -> [u8; 32] {
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
            data: RwLock::new(data),
            blobs: Mutex::new(HashMap::new()),
            offset_millis: AtomicI64::new(0),
            devices: Mutex::new(super::device::DeviceFlows::default()),
            api_calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_millis.load(Ordering::Relaxed))
    }

    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_millis.fetch_add(millis, Ordering::Relaxed);
    }

    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    pub fn throttled_calls(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    fn correlation_id(&self) -> String {
        self.rng
            .lock()
            .map(|mut rng| rng.guid())
            .unwrap_or_default()
    }

    fn chance(&self, probability: f64) -> bool {
        probability > 0.0 && self.rng.lock().is_ok_and(|mut rng| rng.chance(probability))
    }
}

pub fn router(server: Arc<SimServer>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

struct Request {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(
    State(server): State<Arc<SimServer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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

async fn route(server: &Arc<SimServer>, request: &Request) -> Response {
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
    if !server.config.latency.is_zero() {
        tokio::time::sleep(server.config.latency).await;
    }
    if let Some(response) = injected_fault(server, call_number) {
        return response;
    }
    let admitted = server
        .throttle
        .lock()
        .map(|mut throttle| throttle.admit(api, tokio::time::Instant::now()))
        .unwrap_or(Ok(()));
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
        _ => run_live_response(server, original_rest[1], request, &claims),
    }
}

fn injected_fault(server: &SimServer, call_number: u64) -> Option<Response> {
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

fn missing_permission(api: Api, claims: &Claims) -> Option<String> {
    let has = |role: &str| claims.roles.iter().any(|r| r == role);
    let (ok, needed) = match api {
        Api::ListActions | Api::GetAction | Api::LibraryFiles | Api::Machines => (
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

fn too_many_requests(server: &SimServer, wait: Duration) -> Response {
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
fn internal_error(server: &SimServer) -> Response {
    api_error(
        server,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "",
    )
}

fn api_error(server: &SimServer, status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({"error": {"code": code, "message": message, "target": server.correlation_id()}});
    (status, axum::Json(body)).into_response()
}

fn odata_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")],
        bytes,
    )
        .into_response()
}

fn issuer(server: &SimServer) -> Issuer<'_> {
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
    }
}

fn device_settings(server: &SimServer) -> super::device::DeviceSettings {
    super::device::DeviceSettings {
        approve_after: server.config.device_approval,
        interval: server.config.device_interval,
        lifetime: Duration::from_secs(900),
        verification_uri: format!("{}/devicelogin", server.base_url),
    }
}

fn token_response(result: Result<Value, oauth::TokenError>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(error.body),
        )
            .into_response(),
    }
}

fn form_map(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn device_code(server: &SimServer, request: &Request, tenant: &str) -> Response {
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
fn with_device_flows(
    server: &SimServer,
    issuer: &Issuer,
    ids: &(String, String),
    step: impl FnOnce(&mut DeviceFlows, &mut SimRng, DateTime<Utc>) -> Result<Value, TokenError>,
) -> Result<Value, TokenError> {
    let mut rng = server
        .rng
        .lock()
        .map(|mut r| SimRng::new(r.next_u64()))
        .unwrap_or_else(|_| SimRng::new(7));
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

fn device_login(server: &SimServer, request: &Request) -> Response {
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

fn token(server: &SimServer, request: &Request, tenant: &str, v1: bool) -> Response {
    let grant = form_map(&request.body)
        .get("grant_type")
        .cloned()
        .unwrap_or_default();
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

struct Row<'a> {
    action: &'a SimAction,
    machine_id: &'a str,
    status: &'static str,
}

impl Filterable for Row<'_> {
    fn text(&self, property: Property) -> Option<&str> {
        Some(match property {
            Property::Id => &self.action.id,
            Property::Status => self.status,
            Property::MachineId => self.machine_id,
            Property::Type => &self.action.action_type,
            Property::Requestor => &self.action.requestor,
            Property::CreationDateTimeUtc => return None,
        })
    }

    fn created(&self) -> DateTime<Utc> {
        self.action.created
    }
}

struct ListQuery {
    filter: Option<odata::Filter>,
    top: Option<usize>,
    skip: usize,
    ascending: bool,
    count: bool,
}

fn parse_list_query(query: &str) -> Result<ListQuery, String> {
    let mut parsed = ListQuery {
        filter: None,
        top: None,
        skip: 0,
        ascending: false,
        count: false,
    };
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.to_ascii_lowercase().as_str() {
            "$filter" => parsed.filter = Some(odata::parse_filter(&value)?),
            "$top" => {
                let top: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("Invalid value '{value}' for $top query option found. The $top query option requires a non-negative integer value."))?;
                if top > 10_000 {
                    return Err(format!(
                        "The limit of '10000' for Top query has been exceeded. The value from the incoming request is '{top}'."
                    ));
                }
                parsed.top = Some(top);
            }
            "$skip" => {
                parsed.skip = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("Invalid value '{value}' for $skip query option found. The $skip query option requires a non-negative integer value."))?;
            }
            "$orderby" => {
                let mut words = value.split_whitespace();
                let property = words.next().unwrap_or_default();
                if !property.eq_ignore_ascii_case("creationDateTimeUtc") {
                    return Err(format!(
                        "The $orderby property '{property}' is not supported; order by creationDateTimeUtc."
                    ));
                }
                parsed.ascending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("desc") => false,
                    Some("asc") => true,
                    Some(other) => {
                        return Err(format!(
                            "Unknown $orderby direction '{other}'; use asc or desc."
                        ));
                    }
                };
            }
            "$count" => {
                parsed.count = match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(format!(
                            "'{value}' is not a valid value for $count; use true or false."
                        ));
                    }
                };
            }
            other if other.starts_with('$') => {
                return Err(format!("The query parameter '{name}' is not supported."));
            }
            _ => {}
        }
    }
    Ok(parsed)
}

fn list(server: &SimServer, request: &Request) -> Response {
    let query = match parse_list_query(&request.query) {
        Ok(query) => query,
        Err(message) => return api_error(server, StatusCode::BAD_REQUEST, "ODataError", &message),
    };
    let now = server.now();
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    let mut matching: Vec<(&SimAction, ActionView)> = data
        .actions
        .iter()
        .filter_map(|action| {
            let view = timeline::evaluate(action, now);
            let row = Row {
                action,
                machine_id: &data.machines[action.machine].id,
                status: view.status.as_str(),
            };
            query
                .filter
                .as_ref()
                .is_none_or(|filter| filter.matches(&row))
                .then_some((action, view))
        })
        .collect();
    if query.ascending {
        matching.reverse();
    }
    let total = matching.len();
    let take = query.top.unwrap_or(server.config.page_size);
    let page: Vec<_> = matching.iter().skip(query.skip).take(take).collect();
    let has_more = query.skip + page.len() < total;
    let value: Vec<_> = page
        .iter()
        .map(|(action, view)| action_json(action, &data.machines[action.machine], view, None))
        .collect();
    let next_link = (query.top.is_none() && page.len() == take && has_more)
        .then(|| next_link(server, request, query.skip + take));
    let body = ListBody {
        context: format!("{}/api/$metadata#MachineActions", server.base_url),
        count: query.count.then_some(total),
        value,
        next_link,
    };
    odata_json(StatusCode::OK, &body)
}

/// Serialised from a struct, not a map, so properties keep the service's order.
#[derive(serde::Serialize)]
struct ListBody<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<usize>,
    value: Vec<crate::sim::entity::ActionJson<'a>>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

fn next_link(server: &SimServer, request: &Request, skip: usize) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(request.query.as_bytes()) {
        if !name.eq_ignore_ascii_case("$skip") {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair("$skip", &skip.to_string());
    format!("{}{}?{}", server.base_url, request.path, query.finish())
}

fn find_action<'a>(data: &'a Dataset, id: &str) -> Option<&'a SimAction> {
    data.actions.iter().find(|a| a.id.eq_ignore_ascii_case(id))
}

fn entity_response(
    server: &SimServer,
    status: StatusCode,
    data: &Dataset,
    action: &SimAction,
) -> Response {
    let view = timeline::evaluate(action, server.now());
    let context = Some(format!(
        "{}/api/$metadata#MachineActions/$entity",
        server.base_url
    ));
    odata_json(
        status,
        &action_json(action, &data.machines[action.machine], &view, context),
    )
}

fn not_found_action(server: &SimServer, id: &str) -> Response {
    api_error(
        server,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("Machine action {id} was not found"),
    )
}

fn get(server: &SimServer, id: &str) -> Response {
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    match find_action(&data, id) {
        Some(action) => entity_response(server, StatusCode::OK, &data, action),
        None => not_found_action(server, id),
    }
}

fn cancel(server: &SimServer, id: &str, request: &Request) -> Response {
    let comment = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| {
            body.get("Comment")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Cancelled through the API".into());
    let now = server.now();
    let Ok(mut data) = server.data.write() else {
        return internal_error(server);
    };
    let Some(position) = data
        .actions
        .iter()
        .position(|a| a.id.eq_ignore_ascii_case(id))
    else {
        return not_found_action(server, id);
    };
    let status = timeline::evaluate(&data.actions[position], now).status;
    if !status.is_active() {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Machine action {id} is already in a final state ({}) and cannot be cancelled",
                status.as_str()
            ),
        );
    }
    data.actions[position].cancellation = Some(dataset::Cancellation {
        at: now,
        requestor: "lrx demo app".into(),
        comment,
    });
    let action = data.actions[position].clone();
    entity_response(server, StatusCode::OK, &data, &action)
}

fn link(server: &SimServer, id: &str, segment: &str) -> Response {
    let index = segment
        .split_once("index=")
        .map(|(_, rest)| rest.trim_end_matches(')').trim())
        .and_then(|n| n.parse::<usize>().ok());
    let Some(index) = index else {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            &format!(
                "Invalid input {segment}: expected GetLiveResponseResultDownloadLink(index=N)"
            ),
        );
    };
    let now = server.now();
    let Ok(data) = server.data.read() else {
        return internal_error(server);
    };
    let Some(action) = find_action(&data, id) else {
        return not_found_action(server, id);
    };
    let Some(command) = action.commands.get(index) else {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Command index {index} was not found in machine action {id}"),
        );
    };
    if matches!(command.spec, CommandSpec::PutFile { .. }) {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Command index {index} is a PutFile command, which has no result"),
        );
    }
    let view = timeline::evaluate(action, now);
    if view.commands[index].status != CommandStatus::Completed {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!(
                "The result of command index {index} is not available: the command has not completed"
            ),
        );
    }
    let path = sas::blob_path(&server.key, &action.id, index);
    if let Ok(mut blobs) = server.blobs.lock() {
        blobs.insert(path.clone(), (action.id.clone(), index));
    }
    let expiry = now + chrono::Duration::from_std(server.config.link_ttl).unwrap_or_default();
    let url = sas::sign_url(&server.base_url, &server.key, &path, expiry);
    odata_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/api/$metadata#Edm.String", server.base_url), "value": url}),
    )
}

fn blob(server: &SimServer, request: &Request) -> Response {
    let now = server.now();
    let request_id = format!("{}000000", &server.correlation_id()[..30]);
    if let Err(rejection) = sas::verify(&server.key, &request.path, &request.query, now) {
        let body = sas::error_body(&rejection, now, &request_id);
        return (
            StatusCode::FORBIDDEN,
            [
                (header::CONTENT_TYPE, "application/xml".to_string()),
                (
                    header::HeaderName::from_static("x-ms-error-code"),
                    "AuthenticationFailed".to_string(),
                ),
                (
                    header::HeaderName::from_static("x-ms-request-id"),
                    request_id,
                ),
            ],
            body,
        )
            .into_response();
    }
    let located = server
        .blobs
        .lock()
        .ok()
        .and_then(|blobs| blobs.get(&request.path).cloned());
    let Some((action_id, index)) = located else {
        return blob_not_found(&request_id);
    };
    let Ok(data) = server.data.read() else {
        return blob_not_found(&request_id);
    };
    let Some(action) = find_action(&data, &action_id) else {
        return blob_not_found(&request_id);
    };
    let view = timeline::evaluate(action, now);
    let ran_at = view.commands[index].end.unwrap_or(now);
    let spec = match &action.commands[index].outcome {
        Outcome::Completed(spec) => spec.clone(),
        _ => ResultSpec::None,
    };
    let Some(blob) = payload::render(action, index, &data.machines[action.machine], ran_at, &spec)
    else {
        return blob_not_found(&request_id);
    };
    drop(data);
    let length = blob.bytes.len();
    let body = if server.chance(server.config.faults.truncated_blobs) {
        // Announce the full length, send half, then drop the connection, as a flaky
        // network path does.
        let half = Bytes::from(blob.bytes).slice(..length / 2);
        let stream = futures_util::stream::iter(vec![
            Ok::<Bytes, std::io::Error>(half),
            Err(std::io::Error::other(
                "connection reset by the simulated network",
            )),
        ]);
        Body::from_stream(stream)
    } else {
        Body::from(blob.bytes)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(blob.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    headers.insert(
        "x-ms-version",
        HeaderValue::from_static(sas::SERVICE_VERSION),
    );
    if let Some(value) = blob
        .file_name
        .and_then(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn blob_not_found(request_id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (header::HeaderName::from_static("x-ms-error-code"), "BlobNotFound".to_string()),
        ],
        format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.\nRequestId:{request_id}</Message></Error>"),
    )
        .into_response()
}

fn run_live_response(
    server: &SimServer,
    machine_id: &str,
    request: &Request,
    claims: &Claims,
) -> Response {
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(_) => {
            return api_error(
                server,
                StatusCode::BAD_REQUEST,
                "InvalidRequestBody",
                "Request body is incorrect",
            );
        }
    };
    // Body keys are case-sensitive (contract §3).
    let Some(commands) = body.get("Commands").and_then(Value::as_array) else {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter Commands is missing",
        );
    };
    if commands.is_empty() {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Commands must contain at least one command",
        );
    }
    let comment = body
        .get("Comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut specs = Vec::new();
    for command in commands {
        match parse_command(command) {
            Ok(spec) => specs.push(spec),
            Err(message) => {
                return api_error(
                    server,
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestBody",
                    &message,
                );
            }
        }
    }
    let rank = |spec: &CommandSpec| match spec {
        CommandSpec::PutFile { .. } => 0,
        CommandSpec::RunScript { .. } => 1,
        CommandSpec::GetFile { .. } => 2,
    };
    if specs.windows(2).any(|pair| rank(&pair[0]) > rank(&pair[1])) {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Commands must be ordered PutFile, then RunScript, then GetFile",
        );
    }
    let now = server.now();
    let Ok(mut data) = server.data.write() else {
        return internal_error(server);
    };
    let Some(machine) = data
        .machines
        .iter()
        .position(|m| m.id.eq_ignore_ascii_case(machine_id))
    else {
        return api_error(
            server,
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {machine_id} was not found"),
        );
    };
    let busy = data.actions.iter().any(|a| {
        a.machine == machine
            && a.action_type == "LiveResponse"
            && timeline::evaluate(a, now).status.is_active()
    });
    if busy {
        return api_error(
            server,
            StatusCode::BAD_REQUEST,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        );
    }
    let mut rng = server
        .rng
        .lock()
        .map(|mut rng| SimRng::new(rng.next_u64()))
        .unwrap_or_else(|_| SimRng::new(1));
    let action = dataset::planned_from_request(
        &mut rng,
        machine,
        &data.machines[machine],
        specs,
        now,
        claims.app_displayname.clone(),
        comment,
    );
    data.actions.insert(0, action.clone());
    entity_response(server, StatusCode::CREATED, &data, &action)
}

fn parse_command(command: &Value) -> Result<CommandSpec, String> {
    let kind = command
        .get("type")
        .and_then(Value::as_str)
        .ok_or("Each command needs a 'type'")?;
    let params = command
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let param = |key: &str| {
        params.iter().find_map(|p| {
            (p.get("key").and_then(Value::as_str) == Some(key))
                .then(|| p.get("value").and_then(Value::as_str).map(str::to_string))
                .flatten()
        })
    };
    match kind {
        "PutFile" => Ok(CommandSpec::PutFile {
            file_name: param("FileName").ok_or("PutFile needs the param FileName")?,
        }),
        "RunScript" => Ok(CommandSpec::RunScript {
            script_name: param("ScriptName").ok_or("RunScript needs the param ScriptName")?,
            args: param("Args"),
        }),
        "GetFile" => Ok(CommandSpec::GetFile {
            path: param("Path").ok_or("GetFile needs the param Path")?,
        }),
        other => Err(format!(
            "Unknown command type '{other}'; use PutFile, RunScript or GetFile"
        )),
    }
}
