//! The MDE API client: every call passes the outbound policy and the rate budget first,
//! carries a bearer token, renews it once on 401, honours 429 `Retry-After` (capped), and
//! retries 5xx with jittered backoff.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::auth::{Authenticator, host_of, transport_error};
use super::error::{ApiError, Operation, ServiceDetail};
use super::link::{ResultLink, SasUrl};
use super::models::{ActionPage, LIVE_RESPONSE, MachineAction, StringValue};
use super::policy::{API_REQUEST_DEADLINE, OutboundPolicy};

pub use super::limits::{CallBudget, Unlimited};

const MAX_SERVER_ERROR_RETRIES: u32 = 3;
const MAX_THROTTLE_RETRIES: u32 = 5;
/// The longest `Retry-After` lrx waits before asking again (a hostile or confused answer
/// must not park every lrx process for days).
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Pages of one listing: a service that pages on forever is stopped here.
const MAX_PAGES: usize = 1_000;

pub struct MdeClient {
    http: reqwest::Client,
    policy: OutboundPolicy,
    auth: Authenticator,
    budget: Arc<dyn CallBudget>,
    max_retry_after: Duration,
    /// `--offline`: no call goes out at all.
    offline: bool,
}

/// A listing, with what could not be read in it (each one said, none hidden).
#[derive(Debug, Default)]
pub struct ActionList {
    pub actions: Vec<MachineAction>,
    pub problems: Vec<String>,
}

/// Server-side filters for listing (contract §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub statuses: Vec<String>,
    pub machine_id: Option<String>,
    pub requestor: Option<String>,
    /// `None` lists every type; lrx defaults to `LiveResponse`.
    pub action_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
    /// Actions to pass over first (paging further back in time).
    pub skip: usize,
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl ListQuery {
    /// The newest `limit` Live Response actions, unfiltered otherwise.
    pub fn live_response(limit: usize) -> Self {
        Self {
            action_type: Some(LIVE_RESPONSE.into()),
            limit,
            ..Self::default()
        }
    }

    pub fn filter(&self) -> Option<String> {
        let mut clauses = Vec::new();
        if let Some(kind) = &self.action_type {
            clauses.push(format!("type eq {}", quote(kind)));
        }
        match self.statuses.as_slice() {
            [] => {}
            [one] => clauses.push(format!("status eq {}", quote(one))),
            many => clauses.push(format!(
                "status in ({})",
                many.iter().map(|s| quote(s)).collect::<Vec<_>>().join(",")
            )),
        }
        if let Some(machine) = &self.machine_id {
            clauses.push(format!("machineId eq {}", quote(machine)));
        }
        if let Some(requestor) = &self.requestor {
            clauses.push(format!("requestor eq {}", quote(requestor)));
        }
        if let Some(since) = self.since {
            clauses.push(format!(
                "creationDateTimeUtc ge {}",
                since.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
        (!clauses.is_empty()).then(|| clauses.join(" and "))
    }

    /// Whether `action` is one the service would list for this query (for lists made from
    /// the cache, offline). Names compare as the service compares them, ignoring case.
    pub fn matches(&self, action: &MachineAction) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        self.action_type
            .as_deref()
            .is_none_or(|kind| same(kind, &action.action_type))
            && (self.statuses.is_empty()
                || self
                    .statuses
                    .iter()
                    .any(|status| same(status, action.status.as_str())))
            && self
                .machine_id
                .as_deref()
                .is_none_or(|machine| same(machine, &action.machine_id))
            && self
                .requestor
                .as_deref()
                .is_none_or(|requestor| same(requestor, &action.requestor))
            && self
                .since
                .is_none_or(|since| action.creation_date_time_utc.is_some_and(|t| t >= since))
    }
}

/// `Retry-After` as seconds or as an HTTP date; absurd values are clamped, never a panic.
pub fn retry_after(value: Option<&str>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    const A_YEAR: i64 = 366 * 24 * 3600;
    let value = value?.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(now + chrono::Duration::seconds(seconds.clamp(0, A_YEAR)));
    }
    httpdate::parse_http_date(value)
        .ok()
        .map(DateTime::<Utc>::from)
        .map(|at| at.max(now))
}

/// "2 h", "11 min", "40 s": how long, for messages.
pub fn human_wait(wait: chrono::Duration) -> String {
    let seconds = wait.num_seconds().max(0);
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        7200..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86_400),
    }
}

/// 0.5 s, 1 s, 2 s … with ±25 % jitter, so parallel clients do not retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64 * 2u64.pow(attempt.min(6));
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    let jitter = nanos % (base / 2 + 1);
    Duration::from_millis(base * 3 / 4 + jitter)
}

pub struct ApiResponse {
    pub body: Vec<u8>,
    pub date: Option<DateTime<Utc>>,
}

impl MdeClient {
    /// The client builds its own HTTP client (redirects off), so the policy it checks is
    /// the policy that holds.
    pub fn new(
        policy: OutboundPolicy,
        auth: Authenticator,
        budget: Arc<dyn CallBudget>,
    ) -> Result<Self, ApiError> {
        let http = super::policy::http_client()
            .map_err(|e| ApiError::Other(format!("could not build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            policy,
            auth,
            budget,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            offline: false,
        })
    }

    /// A client that makes no network call at all: every call fails as `Offline` before it
    /// signs in or spends budget.
    #[must_use]
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The longest `Retry-After` to wait before asking again.
    #[must_use]
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap.max(Duration::from_secs(1));
        self
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn api_root(&self) -> &str {
        self.policy.api_root()
    }

    pub fn identity(&self) -> String {
        self.auth.describe()
    }

    /// One API call with the whole retry policy around it.
    pub async fn call(
        &self,
        operation: Operation,
        method: Method,
        url: &str,
        body: Option<&Value>,
        interactive: bool,
    ) -> Result<ApiResponse, ApiError> {
        self.call_notifying(operation, method, url, body, interactive, || {})
            .await
    }

    async fn call_notifying(
        &self,
        operation: Operation,
        method: Method,
        url: &str,
        body: Option<&Value>,
        interactive: bool,
        on_request: impl FnOnce() + Send,
    ) -> Result<ApiResponse, ApiError> {
        if self.offline {
            return Err(ApiError::Offline { operation });
        }
        let mut on_request = Some(on_request);
        let host = host_of(url);
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiError::Other(format!("lrx built an invalid API URL: {e}")))?;
        self.policy.check_api(&parsed)?;
        let mut renewed = false;
        let mut server_errors = 0;
        let mut throttles = 0;
        loop {
            let token = self.auth.bearer(&self.http, false).await?;
            if let Some(api) = operation.api() {
                self.budget.acquire(api, interactive).await;
            }
            if let Some(notify) = on_request.take() {
                notify();
            }
            let mut request = self
                .http
                .request(method.clone(), parsed.clone())
                .timeout(API_REQUEST_DEADLINE)
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                // A connection never made sent nothing; a timeout may have been heard.
                Err(error)
                    if server_errors < MAX_SERVER_ERROR_RETRIES
                        && (error.is_connect()
                            || error.is_timeout() && operation.is_idempotent()) =>
                {
                    server_errors += 1;
                    tracing::warn!(
                        operation = operation.describe(),
                        "network error, retrying: {}",
                        error.without_url()
                    );
                    tokio::time::sleep(backoff(server_errors)).await;
                    continue;
                }
                Err(error) if error.is_timeout() => {
                    return Err(ApiError::Deadline {
                        operation,
                        host,
                        seconds: API_REQUEST_DEADLINE.as_secs(),
                    });
                }
                Err(error) => return Err(transport_error(operation, &error.without_url(), &host)),
            };
            let status = response.status();
            tracing::debug!(
                operation = operation.describe(),
                method = %method,
                path = %url::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_default(),
                status = status.as_u16(),
                "API call"
            );
            let date = response
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .map(DateTime::<Utc>::from);
            let retry_at = retry_after(
                response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                Utc::now(),
            );
            if status.is_redirection() {
                return Err(ApiError::Redirected {
                    operation,
                    host,
                    status: status.as_u16(),
                    location: super::policy::redirect_target(response.headers(), url),
                });
            }
            let body = response.bytes().await.map_err(|e| {
                if e.is_timeout() {
                    ApiError::Deadline {
                        operation,
                        host: host.clone(),
                        seconds: API_REQUEST_DEADLINE.as_secs(),
                    }
                } else {
                    transport_error(operation, &e.without_url(), &host)
                }
            })?;
            if status.is_success() {
                return Ok(ApiResponse {
                    body: body.to_vec(),
                    date,
                });
            }
            let detail = ServiceDetail::from_body(&body);
            match status {
                StatusCode::UNAUTHORIZED if !renewed => {
                    tracing::info!(
                        operation = operation.describe(),
                        "401: renewing the token once"
                    );
                    renewed = true;
                    self.auth.bearer(&self.http, true).await?;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let now = Utc::now();
                    let asked = retry_at.unwrap_or_else(|| now + chrono::Duration::seconds(10));
                    let cap = now
                        + chrono::Duration::from_std(self.max_retry_after)
                            .unwrap_or_else(|_| chrono::Duration::minutes(10));
                    let until = asked.min(cap);
                    let capped = (asked > cap).then_some(asked);
                    if capped.is_some() {
                        tracing::warn!(
                            operation = operation.describe(),
                            "the service asks us to wait {}: waiting {}, then asking again",
                            human_wait(asked - now),
                            human_wait(until - now)
                        );
                    }
                    if let Some(api) = operation.api() {
                        self.budget.throttled_until(api, until, capped).await;
                    }
                    throttles += 1;
                    if throttles > MAX_THROTTLE_RETRIES {
                        return Err(ApiError::Throttled {
                            operation,
                            until,
                            detail,
                        });
                    }
                    tracing::warn!(operation = operation.describe(), %until, "429 from the service; waiting");
                    // The budget holds this API's callers until `until`; acquire() waits it out.
                }
                status
                    if status.is_server_error()
                        && server_errors < MAX_SERVER_ERROR_RETRIES
                        && operation.is_idempotent() =>
                {
                    server_errors += 1;
                    tracing::warn!(
                        operation = operation.describe(),
                        status = status.as_u16(),
                        "server error, retrying"
                    );
                    tokio::time::sleep(backoff(server_errors)).await;
                }
                status => {
                    return Err(ApiError::Status {
                        operation,
                        status: status.as_u16(),
                        detail,
                    });
                }
            }
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/api/{path}", self.policy.api_root())
    }

    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        operation: Operation,
        body: &[u8],
    ) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            operation,
            reason: e.to_string(),
        })
    }

    /// Lists actions newest first, following `@odata.nextLink` (on the API's own origin
    /// only, and never to a page already read) or paging with `$top`/`$skip`.
    pub async fn list_actions(
        &self,
        query: &ListQuery,
        interactive: bool,
    ) -> Result<ActionList, ApiError> {
        const PAGE: usize = 10_000;
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit
        };
        let mut list = ActionList::default();
        let mut ids = HashSet::new();
        let mut seen_links = HashSet::new();
        let mut skip = query.skip;
        let mut next: Option<String> = None;
        let mut pages = 0;
        while list.actions.len() < limit {
            pages += 1;
            if pages > MAX_PAGES {
                list.problems.push(format!(
                    "the service kept paging past {MAX_PAGES} pages; lrx stopped there"
                ));
                break;
            }
            let mut requested = usize::MAX;
            let url = if let Some(link) = next.take() {
                link
            } else {
                let top = (limit - list.actions.len()).min(PAGE);
                requested = top;
                let mut url = url::Url::parse(&self.url("machineactions"))
                    .map_err(|e| ApiError::Other(format!("invalid API URL: {e}")))?;
                {
                    let mut pairs = url.query_pairs_mut();
                    if let Some(filter) = query.filter() {
                        pairs.append_pair("$filter", &filter);
                    }
                    pairs.append_pair("$orderby", "creationDateTimeUtc desc");
                    pairs.append_pair("$top", &top.to_string());
                    if skip > 0 {
                        pairs.append_pair("$skip", &skip.to_string());
                    }
                }
                url.to_string()
            };
            let response = self
                .call(Operation::ListActions, Method::GET, &url, None, interactive)
                .await?;
            let page: ActionPage = Self::decode(Operation::ListActions, &response.body)?;
            let count = page.value.len();
            let mut fresh = 0;
            for raw in page.value {
                match serde_json::from_str::<MachineAction>(raw.get()) {
                    Ok(mut action) => {
                        if let Some(problem) = action.drop_repeated_commands() {
                            list.problems.push(problem);
                        }
                        // A page served twice (or an overlapping nextLink) lists each once.
                        if ids.insert(action.id.clone()) {
                            fresh += 1;
                            list.actions.push(action);
                        }
                    }
                    // One odd record must not hide the rest of the list, nor vanish unsaid.
                    Err(error) => list.problems.push(unreadable_action(raw.get(), &error)),
                }
            }
            skip += count;
            match page.next_link {
                Some(link) if count > 0 => {
                    let parsed = url::Url::parse(&link).map_err(|_| ApiError::Decode {
                        operation: Operation::ListActions,
                        reason: "@odata.nextLink is not a URL".into(),
                    })?;
                    self.policy.check_api(&parsed)?;
                    if !seen_links.insert(parsed.to_string()) || (fresh == 0 && count > 0) {
                        list.problems.push(
                            "the service's @odata.nextLink led back to a page already read; lrx stopped paging there".into(),
                        );
                        break;
                    }
                    next = Some(link);
                }
                // A short page (or an empty one after a nextLink) is the last.
                _ if count == 0 || count < requested || requested == usize::MAX => break,
                _ => {}
            }
        }
        list.actions.truncate(limit);
        for problem in &list.problems {
            tracing::warn!("{problem}");
        }
        Ok(list)
    }

    pub async fn get_action(&self, id: &str, interactive: bool) -> Result<MachineAction, ApiError> {
        let url = self.url(&format!("machineactions/{}", encode_segment(id)));
        let response = self
            .call(Operation::GetAction, Method::GET, &url, None, interactive)
            .await?;
        let mut action: MachineAction = Self::decode(Operation::GetAction, &response.body)?;
        if let Some(problem) = action.drop_repeated_commands() {
            tracing::warn!("{problem}");
        }
        Ok(action)
    }

    pub async fn result_link(
        &self,
        id: &str,
        index: u32,
        interactive: bool,
    ) -> Result<ResultLink, ApiError> {
        self.result_link_waiting(id, index, interactive, || {})
            .await
    }

    /// As `result_link`, telling `on_request` when the budget let the call through.
    pub async fn result_link_waiting(
        &self,
        id: &str,
        index: u32,
        interactive: bool,
        on_request: impl FnOnce() + Send,
    ) -> Result<ResultLink, ApiError> {
        let url = self.url(&format!(
            "machineactions/{}/GetLiveResponseResultDownloadLink(index={index})",
            encode_segment(id)
        ));
        let issued = Utc::now();
        let response = self
            .call_notifying(
                Operation::ResultLink,
                Method::GET,
                &url,
                None,
                interactive,
                on_request,
            )
            .await?;
        let value: StringValue = Self::decode(Operation::ResultLink, &response.body)?;
        let sas = SasUrl::parse(&value.value).ok_or_else(|| ApiError::Decode {
            operation: Operation::ResultLink,
            reason: "the link is not a URL".into(),
        })?;
        self.policy.check_link(sas.expose())?;
        Ok(ResultLink::new(sas, issued, response.date))
    }
}

/// Names an action lrx could not read, by its id when even that much can be read.
fn unreadable_action(raw: &str, error: &serde_json::Error) -> String {
    #[derive(serde::Deserialize)]
    struct JustTheId {
        id: Option<String>,
    }
    let id = serde_json::from_str::<JustTheId>(raw)
        .ok()
        .and_then(|a| a.id)
        .map_or_else(
            || "an action without a readable id".to_string(),
            |id| format!("action {}", crate::sanitize::line(&id)),
        );
    format!("{id} could not be read and is not listed: {error}")
}

pub(super) fn encode_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_built_from_options() {
        let query = ListQuery {
            statuses: vec!["Failed".into(), "TimeOut".into()],
            machine_id: Some("abc".into()),
            requestor: Some("o'brien@contoso.com".into()),
            action_type: Some("LiveResponse".into()),
            since: DateTime::from_timestamp(1_800_000_000, 0),
            limit: 10,
            skip: 0,
        };
        assert_eq!(
            query.filter().as_deref(),
            Some(
                "type eq 'LiveResponse' and status in ('Failed','TimeOut') and machineId eq 'abc' and requestor eq 'o''brien@contoso.com' and creationDateTimeUtc ge 2027-01-15T08:00:00Z"
            )
        );
        assert_eq!(ListQuery::default().filter(), None);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert_eq!(
            retry_after(Some("30"), now),
            Some(now + chrono::Duration::seconds(30))
        );
        let date = httpdate::fmt_http_date(std::time::SystemTime::from(
            now + chrono::Duration::seconds(90),
        ));
        assert_eq!(
            retry_after(Some(&date), now),
            Some(now + chrono::Duration::seconds(90))
        );
        assert_eq!(retry_after(Some("soon"), now), None);
    }
}
