//! The simulated tenant over real HTTP: every route, `OData`, paging, state transitions, auth
//! failures, throttling, SAS expiry and tampering, faults and determinism.

use std::io::Read as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lrx::sim::{self, Faults, SimConfig, SimHandle, WindowLimit};
use pretty_assertions::assert_eq;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn anchor() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(5)
}

async fn start(config: SimConfig) -> SimHandle {
    lrx::install_crypto_provider();
    sim::start(config).await.expect("simulator starts")
}

async fn start_default() -> SimHandle {
    start(SimConfig::default()).await
}

fn client() -> reqwest::Client {
    lrx::install_crypto_provider();
    reqwest::Client::new()
}

async fn token(sim: &SimHandle) -> String {
    sim.endpoints.client_token().await.expect("token")
}

async fn api(sim: &SimHandle, token: &str, path_and_query: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{}{path_and_query}", sim.endpoints.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("api request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn list(sim: &SimHandle, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = api(sim, token, &format!("/api/machineactions?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["value"].as_array().cloned().unwrap_or_default()
}

fn assert_mde_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(
        body["error"]["target"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn token_endpoints_issue_v2_and_v1_tokens_and_reject_bad_credentials() {
    let sim = start_default().await;
    let e = &sim.endpoints;
    let v2: Value = client()
        .post(&e.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &e.client_id),
            ("client_secret", &e.client_secret),
            ("scope", "https://api.security.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("v2")
        .json()
        .await
        .expect("json");
    assert_eq!(v2["token_type"], "Bearer");
    assert_eq!(v2["expires_in"], 3600);
    let v1_url = e.token_url.replace("/v2.0/token", "/token");
    let v1: Value = client()
        .post(&v1_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &e.client_id),
            ("client_secret", &e.client_secret),
            ("resource", "https://api.securitycenter.microsoft.com"),
        ])
        .send()
        .await
        .expect("v1")
        .json()
        .await
        .expect("json");
    assert_eq!(v1["expires_in"], "3600", "v1 encodes numbers as strings");
    assert!(v1["expires_on"].is_string());

    for (client_id, secret, scope, status, error, aadsts) in [
        (
            e.client_id.as_str(),
            "wrong",
            "https://api.securitycenter.microsoft.com/.default",
            401,
            "invalid_client",
            "AADSTS7000215",
        ),
        (
            "00000000-0000-0000-0000-000000000000",
            e.client_secret.as_str(),
            "https://api.securitycenter.microsoft.com/.default",
            401,
            "unauthorized_client",
            "AADSTS700016",
        ),
        (
            e.client_id.as_str(),
            e.client_secret.as_str(),
            "https://graph.microsoft.com/.default",
            400,
            "invalid_scope",
            "AADSTS70011",
        ),
    ] {
        let response = client()
            .post(&e.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], error);
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.starts_with(aadsts)),
            "{body}"
        );
        assert!(
            body["error_codes"].is_array()
                && body["trace_id"].is_string()
                && body["correlation_id"].is_string()
        );
    }
    let wrong_tenant = e.token_url.replace(&e.tenant_id, "contoso.onmicrosoft.com");
    let response = client()
        .post(wrong_tenant)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_routes_need_a_valid_unexpired_bearer_token() {
    let sim = start(SimConfig {
        token_ttl: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await;
    let (status, body) = api(&sim, "", "/api/machineactions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_mde_error(&body, "Unauthorized");
    let (status, _) = api(&sim, "not.a.token", "/api/machineactions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = token(&sim).await;
    assert_eq!(
        api(&sim, &token, "/api/machineactions?$top=1").await.0,
        StatusCode::OK
    );
    sim.advance(Duration::from_secs(61));
    let (status, body) = api(&sim, &token, "/api/machineactions?$top=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );
    let (status, body) = api(&sim, &token, "/api/nothing-here").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "auth is checked before routing: {body}"
    );
}

#[tokio::test]
async fn unknown_routes_answer_404_with_the_mde_error_shape() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let (status, body) = api(&sim, &token, "/api/machines/abc/quarantine").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_mde_error(&body, "NotFound");
    let (status, body) = api(&sim, &token, "/something/else").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_mde_error(&body, "NotFound");
}

#[tokio::test]
async fn listing_is_newest_first_with_documented_fields_in_order() {
    let sim = start(SimConfig {
        anchor: Some(anchor()),
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim).await;
    let (status, body) = api(&sim, &token, "/api/machineactions?$count=true").await;
    assert_eq!(status, StatusCode::OK);
    let actions = body["value"].as_array().expect("value");
    assert_eq!(body["@odata.count"].as_u64(), Some(actions.len() as u64));
    assert!(actions.len() >= 330, "{}", actions.len());
    let created: Vec<&str> = actions
        .iter()
        .map(|a| a["creationDateTimeUtc"].as_str().unwrap_or_default())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let first = actions[0].as_object().expect("object");
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "title",
            "requestor",
            "requestorComment",
            "status",
            "machineId",
            "computerDnsName",
            "creationDateTimeUtc",
            "lastUpdateDateTimeUtc",
            "cancellationRequestor",
            "cancellationComment",
            "cancellationDateTimeUtc",
            "errorHResult",
            "scope",
            "externalId",
            "requestSource",
            "relatedFileInfo",
            "commands",
            "troubleshootInfo"
        ]
    );
    let live_response = actions
        .iter()
        .filter(|a| a["type"] == "LiveResponse")
        .count();
    assert!(live_response >= 300);
    let machines: std::collections::HashSet<_> =
        actions.iter().map(|a| a["machineId"].as_str()).collect();
    assert!(machines.len() >= 60);
    for status in [
        "Pending",
        "InProgress",
        "Succeeded",
        "Failed",
        "TimeOut",
        "Cancelled",
    ] {
        assert!(
            actions.iter().any(|a| a["status"] == status),
            "no {status} action"
        );
    }
    let raw = body.to_string();
    let text = String::from_utf8_lossy(raw.as_bytes());
    assert!(text.contains("@contoso.com") && text.contains("SOAR-LiveResponse-Automation"));
}

#[tokio::test]
async fn odata_filters_select_what_they_say() {
    let sim = start(SimConfig {
        anchor: Some(anchor()),
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim).await;
    let all = list(&sim, &token, "").await;
    let lr = list(&sim, &token, "$filter=type eq 'LiveResponse'").await;
    assert!(lr.len() < all.len() && lr.iter().all(|a| a["type"] == "LiveResponse"));
    let failed = list(
        &sim,
        &token,
        "$filter=Status eq 'Failed' and type eq 'LiveResponse'",
    )
    .await;
    assert!(!failed.is_empty() && failed.iter().all(|a| a["status"] == "Failed"));
    let either = list(&sim, &token, "$filter=status in ('Failed','TimeOut')").await;
    assert!(either.len() > failed.len());
    let machine = all[0]["machineId"].as_str().expect("machine");
    let by_machine = list(&sim, &token, &format!("$filter=machineId eq '{machine}'")).await;
    assert!(!by_machine.is_empty() && by_machine.iter().all(|a| a["machineId"] == machine));
    let prefix = &machine[..6];
    let started = list(
        &sim,
        &token,
        &format!("$filter=startswith(machineId,'{prefix}')"),
    )
    .await;
    assert_eq!(started.len(), by_machine.len());
    let since = (Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let recent = list(
        &sim,
        &token,
        &format!("$filter=creationDateTimeUtc ge {since}"),
    )
    .await;
    assert!(!recent.is_empty() && recent.len() < all.len());
    let grouped = list(&sim, &token, &format!("$filter=(status eq 'Succeeded' or status eq 'Failed') and creationDateTimeUtc ge {since} and requestor eq 'SOAR-LiveResponse-Automation'")).await;
    assert!(
        grouped
            .iter()
            .all(|a| a["requestor"] == "SOAR-LiveResponse-Automation")
    );
    let oldest_first = list(&sim, &token, "$orderby=creationDateTimeUtc asc&$top=5").await;
    assert_eq!(oldest_first[0]["id"], all[all.len() - 1]["id"]);
    let skipped = list(&sim, &token, "$top=3&$skip=2").await;
    assert_eq!(skipped[0]["id"], all[2]["id"]);
    assert_eq!(skipped.len(), 3);

    for bad in [
        "$filter=status eq",
        "$filter=colour eq 'red'",
        "$filter=status eq 'x' 'y'",
        "$top=10001",
        "$top=-1",
        "$orderby=status",
        "$select=id",
        "$filter=creationDateTimeUtc ge 2026-99-01T00:00:00Z",
    ] {
        let (status, body) = api(&sim, &token, &format!("/api/machineactions?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_mde_error(&body, "ODataError");
    }
}

#[tokio::test]
async fn next_links_page_through_everything_when_top_is_absent() {
    let sim = start(SimConfig {
        anchor: Some(anchor()),
        page_size: 50,
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim).await;
    let (_, first) = api(&sim, &token, "/api/machineactions?$count=true").await;
    let total = usize::try_from(first["@odata.count"].as_u64().expect("count")).expect("fits");
    let mut seen = first["value"].as_array().expect("value").clone();
    assert_eq!(seen.len(), 50);
    let mut next = first["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(link) = next {
        let body: Value = client()
            .get(&link)
            .bearer_auth(&token)
            .send()
            .await
            .expect("next")
            .json()
            .await
            .expect("json");
        seen.extend(body["value"].as_array().cloned().unwrap_or_default());
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), total);
    let ids: std::collections::HashSet<_> = seen.iter().map(|a| a["id"].as_str()).collect();
    assert_eq!(ids.len(), total, "no duplicates across pages");
    let (_, with_top) = api(&sim, &token, "/api/machineactions?$top=50").await;
    assert!(
        with_top.get("@odata.nextLink").is_none(),
        "no nextLink when $top is given"
    );
}

#[tokio::test]
async fn single_actions_are_found_case_insensitively_or_404() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let id = list(&sim, &token, "$top=1").await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = api(&sim, &token, &format!("/API/MachineActions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap_or_default()
            .ends_with("#MachineActions/$entity")
    );
    assert_eq!(body["id"], id.as_str());
    let (status, body) = api(
        &sim,
        &token,
        "/api/v1.0/machineactions/00000000-0000-0000-0000-000000000000",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_mde_error(&body, "ResourceNotFound");
}

/// First (action, index) whose command is a completed `RunScript`, `GetFile` or `PutFile`.
fn find_command(actions: &[Value], command_type: &str) -> Option<(String, u64)> {
    actions.iter().find_map(|action| {
        action["commands"].as_array()?.iter().find_map(|command| {
            (command["command"]["type"] == command_type && command["commandStatus"] == "Completed")
                .then(|| {
                    (
                        action["id"].as_str().unwrap_or_default().to_string(),
                        command["index"].as_u64().unwrap_or(0),
                    )
                })
        })
    })
}

async fn link(sim: &SimHandle, token: &str, id: &str, index: u64) -> (StatusCode, Value) {
    api(
        sim,
        token,
        &format!("/api/machineactions/{id}/GetLiveResponseResultDownloadLink(index={index})"),
    )
    .await
}

#[tokio::test]
async fn result_links_download_transcripts_and_expire_like_azure() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let actions = list(
        &sim,
        &token,
        "$filter=type eq 'LiveResponse' and status eq 'Succeeded'",
    )
    .await;
    let (id, index) = find_command(&actions, "RunScript").expect("a completed RunScript");
    let (status, body) = link(&sim, &token, &id, index).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap_or_default()
            .ends_with("#Edm.String")
    );
    let url = body["value"].as_str().expect("url").to_string();
    for part in [
        "se=",
        "sp=r",
        "sv=2019-07-07",
        "sr=b",
        "sig=",
        "/CustomPlaybookCommandOutput/",
    ] {
        assert!(url.contains(part), "{url} lacks {part}");
    }
    sim.advance(Duration::from_secs(2));
    let (_, again) = link(&sim, &token, &id, index).await;
    assert_ne!(again["value"], body["value"], "a fresh se/sig on each call");

    let response = client().get(&url).send().await.expect("blob");
    assert_eq!(response.status(), StatusCode::OK);
    let transcript: Value = response.json().await.expect("transcript json");
    assert!(transcript["script_name"].is_string());
    assert!(transcript["exit_code"].is_i64());
    assert!(transcript["script_output"].is_string() && transcript["script_errors"].is_string());

    let tampered = url.replace("sp=r", "sp=rw");
    let response = client().get(&tampered).send().await.expect("blob");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let forged = format!("{}{}", &url[..url.len() - 6], "AAAA%3D");
    let response = client().get(&forged).send().await.expect("blob");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "AuthenticationFailed"
    );
    assert!(
        response
            .text()
            .await
            .unwrap_or_default()
            .contains("Signature did not match")
    );

    sim.advance(Duration::from_secs(31 * 60));
    let response = client().get(&url).send().await.expect("blob");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "AuthenticationFailed"
    );
    assert_eq!(response.headers()["content-type"], "application/xml");
    let bytes = response.bytes().await.unwrap_or_default();
    assert!(
        bytes.starts_with(b"\xef\xbb\xbf"),
        "Azure bodies start with a BOM"
    );
    let body = String::from_utf8_lossy(&bytes);
    assert!(
        body.contains("<Code>AuthenticationFailed</Code>") && body.contains("Signed expiry time ["),
        "{body}"
    );
}

#[tokio::test]
async fn getfile_results_are_gzipped_attachments_and_putfile_has_none() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let actions = list(&sim, &token, "$filter=type eq 'LiveResponse'").await;
    let (id, index) = find_command(&actions, "GetFile").expect("a completed GetFile");
    let (_, body) = link(&sim, &token, &id, index).await;
    let response = client()
        .get(body["value"].as_str().expect("url"))
        .send()
        .await
        .expect("blob");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.ends_with(".gz\""),
        "{disposition}"
    );
    let bytes = response.bytes().await.expect("bytes");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert!(unzipped.len() >= 64);

    let (id, index) = find_command(&actions, "PutFile").expect("a completed PutFile");
    let (status, body) = link(&sim, &token, &id, index).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_mde_error(&body, "ResourceNotFound");
    let (status, _) = link(&sim, &token, &id, 99).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = link(&sim, &token, "00000000-0000-0000-0000-000000000000", 0).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn post(sim: &SimHandle, token: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}{path}", sim.endpoints.base_url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn run_live_response_creates_a_pending_action_that_progresses() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let actions = list(&sim, &token, "").await;
    // A Windows machine with no active session.
    let busy: std::collections::HashSet<_> = actions
        .iter()
        .filter(|a| a["status"] == "Pending" || a["status"] == "InProgress")
        .map(|a| a["machineId"].as_str())
        .collect();
    let machine = actions
        .iter()
        .find(|a| {
            a["computerDnsName"]
                .as_str()
                .is_some_and(|n| n.starts_with("wks-"))
                && !busy.contains(&a["machineId"].as_str())
        })
        .expect("idle machine")["machineId"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/machines/{machine}/runliveresponse");
    let request = json!({"Commands": [
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "Get-ProcessList.ps1"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\Windows\\Prefetch\\RUNDLL32.EXE-1B9D7D2A.pf"}]}
    ], "Comment": "lrx integration test"});
    let (status, created) = post(&sim, &token, &path, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "Pending");
    assert_eq!(created["requestorComment"], "lrx integration test");
    assert!(
        created["commands"]
            .as_array()
            .expect("commands")
            .iter()
            .all(|c| c["commandStatus"] == "Created" && c["startTime"].is_null())
    );
    let (status, body) = post(&sim, &token, &path, &request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_mde_error(&body, "ActiveRequestAlreadyExists");

    sim.advance(Duration::from_secs(120));
    let id = created["id"].as_str().expect("id");
    let (_, done) = api(&sim, &token, &format!("/api/machineactions/{id}")).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert!(done["lastUpdateDateTimeUtc"].as_str() > done["creationDateTimeUtc"].as_str());
    assert_eq!(link(&sim, &token, id, 1).await.0, StatusCode::OK);

    let (status, body) = post(&sim, &token, &path, &json!({"commands": []})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "body keys are case-sensitive"
    );
    assert_mde_error(&body, "MissingRequiredParameter");
    let wrong_order = json!({"Commands": [
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\x"}]},
        {"type": "PutFile", "params": [{"key": "FileName", "value": "a.ps1"}]}
    ], "Comment": "x"});
    let (status, body) = post(&sim, &token, &path, &wrong_order).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_mde_error(&body, "InvalidRequestBody");
    let (status, _) = post(&sim, &token, "/api/machines/0000/runliveresponse", &request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancel_stops_active_actions_and_refuses_final_ones() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let actions = list(
        &sim,
        &token,
        "$filter=status eq 'Pending' or status eq 'InProgress'",
    )
    .await;
    let active = actions[0]["id"].as_str().expect("an active action");
    let (status, body) = post(
        &sim,
        &token,
        &format!("/api/machineactions/{active}/cancel"),
        &json!({"Comment": "wrong host"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "Cancelled");
    assert_eq!(body["cancellationComment"], "wrong host");
    assert!(body["cancellationDateTimeUtc"].is_string());
    let (status, body) = post(
        &sim,
        &token,
        &format!("/api/machineactions/{active}/cancel"),
        &json!({"Comment": "again"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_mde_error(&body, "BadRequest");
}

#[tokio::test]
async fn live_actions_move_to_final_states_while_the_server_runs() {
    let sim = start_default().await;
    let token = token(&sim).await;
    let active = list(&sim, &token, "$filter=status in ('Pending','InProgress')").await;
    assert!(active.len() >= 3);
    sim.advance(Duration::from_secs(600));
    let still_active = list(&sim, &token, "$filter=status in ('Pending','InProgress')").await;
    assert!(
        still_active.len() < active.len(),
        "{} -> {}",
        active.len(),
        still_active.len()
    );
}

#[tokio::test]
async fn the_101st_call_in_a_minute_gets_429_with_retry_after() {
    let sim = start_default().await;
    let token = token(&sim).await;
    for _ in 0..100 {
        assert_eq!(
            api(&sim, &token, "/api/machineactions?$top=1").await.0,
            StatusCode::OK
        );
    }
    let response = client()
        .get(format!(
            "{}/api/machineactions?$top=1",
            sim.endpoints.base_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("101st");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_mde_error(&body, "TooManyRequests");
    assert_eq!(sim.throttled_calls(), 1);
    assert_eq!(
        api(&sim, &token, "/api/machineactions?$top=1").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another endpoint family has its own window.
    let (status, _) = link(&sim, &token, "00000000-0000-0000-0000-000000000000", 0).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scaled_limits_bind_on_the_longer_window_too() {
    let limits = vec![
        WindowLimit {
            calls: 3,
            period: Duration::from_secs(2),
        },
        WindowLimit {
            calls: 4,
            period: Duration::from_secs(3600),
        },
    ];
    let sim = start(SimConfig {
        limits,
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            api(&sim, &token, "/api/machineactions?$top=1")
                .await
                .0
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The short window frees up; the hour window then allows exactly one more call.
    sim.advance(Duration::from_millis(2100));
    assert_eq!(
        api(&sim, &token, "/api/machineactions?$top=1").await.0,
        StatusCode::OK
    );
    let response = client()
        .get(format!(
            "{}/api/machineactions?$top=1",
            sim.endpoints.base_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after > 3000, "the hour window decides: {retry_after}");
}

#[tokio::test]
async fn injected_faults_happen_as_configured() {
    let faults = Faults {
        server_errors: 1.0,
        ..Faults::default()
    };
    let sim = start(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await;
    let token = token(&sim).await;
    let (status, body) = api(&sim, &token, "/api/machineactions").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_mde_error(&body, "InternalServerError");

    let faults = Faults {
        throttle_every: Some(2),
        unauthorized_at: Some(3),
        ..Faults::default()
    };
    let sim = start(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await;
    let token = self::token(&sim).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            api(&sim, &token, "/api/machineactions?$top=1")
                .await
                .0
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 429, 401, 429]);

    let faults = Faults {
        truncated_blobs: 1.0,
        ..Faults::default()
    };
    let sim = start(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await;
    let token = self::token(&sim).await;
    let actions = list(&sim, &token, "$filter=type eq 'LiveResponse'").await;
    let (id, index) = find_command(&actions, "RunScript").expect("RunScript");
    let (_, body) = link(&sim, &token, &id, index).await;
    let cut_off = match client()
        .get(body["value"].as_str().expect("url"))
        .send()
        .await
    {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(cut_off, "the body is cut off");
}

#[tokio::test]
async fn the_same_seed_gives_byte_identical_responses() {
    let fixed = anchor();
    let body = |sim: &SimHandle, token: String| {
        let url = format!(
            "{}/api/machineactions?$filter=type eq 'LiveResponse'",
            sim.endpoints.base_url
        );
        let base = sim.endpoints.base_url.clone();
        async move {
            let text = client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .text()
                .await
                .expect("text");
            text.replace(&base, "BASE")
        }
    };
    let a = start(SimConfig {
        seed: 5,
        anchor: Some(fixed),
        ..SimConfig::default()
    })
    .await;
    let b = start(SimConfig {
        seed: 5,
        anchor: Some(fixed),
        ..SimConfig::default()
    })
    .await;
    let c = start(SimConfig {
        seed: 6,
        anchor: Some(fixed),
        ..SimConfig::default()
    })
    .await;
    let (ta, tb, tc) = (token(&a).await, token(&b).await, token(&c).await);
    let body_a = body(&a, ta.clone()).await;
    assert_eq!(body_a, body(&b, tb.clone()).await);
    assert_ne!(body_a, body(&c, tc).await);

    // Result payloads too.
    let actions: Value = serde_json::from_str(&body_a.replace("BASE", "http://x")).expect("json");
    let (id, index) =
        find_command(actions["value"].as_array().expect("value"), "RunScript").expect("RunScript");
    let mut payloads = Vec::new();
    for (sim, token) in [(&a, &ta), (&b, &tb)] {
        let (_, link_body) = link(sim, token, &id, index).await;
        payloads.push(
            client()
                .get(link_body["value"].as_str().expect("url"))
                .send()
                .await
                .expect("blob")
                .bytes()
                .await
                .expect("bytes"),
        );
    }
    assert_eq!(payloads[0], payloads[1]);
}

#[tokio::test]
async fn device_code_flow_polls_as_the_protocol_says_and_refresh_tokens_rotate() {
    let sim = start(SimConfig {
        device_approval: None,
        device_interval: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    let e = &sim.endpoints;
    let base = e.token_url.replace("/token", "");
    let started: Value = client()
        .post(format!("{base}/devicecode"))
        .form(&[
            ("client_id", e.client_id.as_str()),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("devicecode")
        .json()
        .await
        .expect("json");
    let device_code = started["device_code"]
        .as_str()
        .expect("device_code")
        .to_string();
    let user_code = started["user_code"]
        .as_str()
        .expect("user_code")
        .to_string();
    assert!(
        started["verification_uri"]
            .as_str()
            .expect("uri")
            .ends_with("/devicelogin")
    );
    assert_eq!(started["interval"], 1);
    let poll = || async {
        let response = client()
            .post(&e.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", e.client_id.as_str()),
                ("device_code", device_code.as_str()),
            ])
            .send()
            .await
            .expect("poll");
        let status = response.status();
        (status, response.json::<Value>().await.expect("json"))
    };
    let (status, body) = poll().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let (_, body) = poll().await;
    assert_eq!(
        body["error"], "slow_down",
        "polling faster than the interval"
    );
    let approved = client()
        .get(format!("{}/devicelogin?code={user_code}", e.base_url))
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), StatusCode::OK);
    sim.advance(Duration::from_millis(1100));
    let (status, body) = poll().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    let access = body["access_token"].as_str().expect("access").to_string();
    assert_eq!(
        api(&sim, &access, "/api/machineactions?$top=1").await.0,
        StatusCode::OK
    );
    let renew = |token: String| async move {
        client()
            .post(&e.token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", e.client_id.as_str()),
                ("refresh_token", token.as_str()),
            ])
            .send()
            .await
            .expect("refresh")
            .json::<Value>()
            .await
            .expect("json")
    };
    let renewed = renew(refresh.clone()).await;
    assert!(renewed["access_token"].is_string() && renewed["refresh_token"].is_string());
    let reused = renew(refresh).await;
    assert_eq!(
        reused["error"], "invalid_grant",
        "a spent refresh token is refused"
    );
}
