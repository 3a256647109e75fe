//! The client and fetch engine against a scripted mock server, for what the simulated tenant
//! does not produce on its own: 401 then renewal, 5xx then success, 429 with an HTTP-date
//! `Retry-After`, empty and non-JSON error bodies, a blob 403 answered by a fresh link.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lrx::api::MdeClient;
use lrx::api::auth::{Authenticator, Secret, StaticToken};
use lrx::api::client::Unlimited;
use lrx::fetch::{Budget, EngineConfig, FetchEvent, Priority, ResultKey, ResultState};
use lrx::sim::WindowLimit;

#[derive(Clone)]
struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn canned(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

#[derive(Default)]
struct Script {
    /// Responses per path prefix, served in order; the last one repeats.
    routes: Vec<(String, VecDeque<Canned>)>,
    seen: Vec<(String, Option<String>)>,
}

type Shared = Arc<Mutex<Script>>;

async fn respond(
    State(script): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut script = script.lock().expect("lock");
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    script.seen.push((path.clone(), auth));
    let Some((_, queue)) = script
        .routes
        .iter_mut()
        .find(|(prefix, _)| path.starts_with(prefix.as_str()))
    else {
        return (StatusCode::NOT_FOUND, "no script").into_response();
    };
    let response = if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().cloned()
    };
    let Some(response) = response else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut built = (
        StatusCode::from_u16(response.status).expect("status"),
        response.body,
    )
        .into_response();
    for (name, value) in response.headers {
        built
            .headers_mut()
            .insert(name, value.parse().expect("header"));
    }
    built
}

async fn mock(routes: Vec<(&str, Vec<Canned>)>) -> (String, Shared) {
    lrx::install_crypto_provider();
    let script: Shared = Arc::new(Mutex::new(Script {
        routes: routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r.into()))
            .collect(),
        seen: Vec::new(),
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new()
        .fallback(respond)
        .with_state(Arc::clone(&script));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, script)
}

fn client(base: &str, budget: Arc<dyn lrx::api::CallBudget>) -> MdeClient {
    let auth = Authenticator::new(Box::new(StaticToken(Secret::new("test-token"))));
    MdeClient::new(
        lrx::api::OutboundPolicy::for_api(base).expect("policy"),
        auth,
        budget,
    )
    .expect("client")
}

const ACTION: &str = r#"{"id":"a1","type":"LiveResponse","status":"Succeeded","commands":[]}"#;

#[tokio::test]
async fn a_401_renews_the_token_once_then_fails_clearly() {
    let (base, script) = mock(vec![(
        "/api/machineactions/a1",
        vec![canned(401, ""), canned(200, ACTION)],
    )])
    .await;
    let client = client(&base, Arc::new(Unlimited));
    let action = client
        .get_action("a1", true)
        .await
        .expect("renewed and retried");
    assert_eq!(action.id, "a1");
    assert_eq!(script.lock().expect("lock").seen.len(), 2);

    let (base, script) = mock(vec![("/api/machineactions/a1", vec![canned(401, "")])]).await;
    let client = self::client(&base, Arc::new(Unlimited));
    let error = client.get_action("a1", true).await.expect_err("still 401");
    assert_eq!(error.status(), Some(401));
    assert!(error.to_string().contains("token was refused"), "{error}");
    assert_eq!(
        script.lock().expect("lock").seen.len(),
        2,
        "renews once, not forever"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let (base, script) = mock(vec![(
        "/api/machineactions/a1",
        vec![
            canned(500, ""),
            canned(503, "<html>busy</html>"),
            canned(200, ACTION),
        ],
    )])
    .await;
    let client = client(&base, Arc::new(Unlimited));
    assert!(client.get_action("a1", true).await.is_ok());
    assert_eq!(script.lock().expect("lock").seen.len(), 3);

    let (base, _) = mock(vec![("/api/machineactions/a1", vec![canned(500, "")])]).await;
    let error = self::client(&base, Arc::new(Unlimited))
        .get_action("a1", true)
        .await
        .expect_err("gives up");
    assert_eq!(error.status(), Some(500));
}

#[tokio::test]
async fn forbidden_names_the_missing_permission_and_keeps_the_correlation_id() {
    let body = r#"{"error":{"code":"Forbidden","message":"Missing application roles","target":"|7c1a.42"}}"#;
    let (base, _) = mock(vec![("/api/machineactions/a1/", vec![canned(403, body)])]).await;
    let error = client(&base, Arc::new(Unlimited))
        .result_link("a1", 0, true)
        .await
        .expect_err("403");
    let text = error.to_string();
    assert!(
        text.contains("Machine.ReadWrite.All") && text.contains("Machine.LiveResponse"),
        "{text}"
    );
    assert!(
        text.contains("|7c1a.42") && text.contains("Forbidden"),
        "{text}"
    );
}

#[tokio::test]
async fn empty_and_html_error_bodies_still_give_a_useful_error() {
    for body in [
        "",
        "<html><body>Bad Gateway</body></html>",
        "not json at all",
    ] {
        let (base, _) = mock(vec![("/api/machineactions/a1", vec![canned(404, body)])]).await;
        let error = client(&base, Arc::new(Unlimited))
            .get_action("a1", true)
            .await
            .expect_err("404");
        let text = error.to_string();
        assert!(
            text.contains("404") && text.contains("What to do"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_429_with_an_http_date_holds_the_budget_until_then() {
    let until = std::time::SystemTime::now() + Duration::from_secs(2);
    let throttled = Canned {
        status: 429,
        headers: vec![("retry-after", httpdate::fmt_http_date(until))],
        body: r#"{"error":{"code":"TooManyRequests","message":"slow down","target":"t"}}"#.into(),
    };
    let (base, script) = mock(vec![(
        "/api/machineactions/a1",
        vec![throttled, canned(200, ACTION)],
    )])
    .await;
    let limiter = Arc::new(Budget::in_memory(vec![
        WindowLimit::PER_MINUTE,
        WindowLimit::PER_HOUR,
    ]));
    let client = client(&base, limiter.clone());
    let started = std::time::Instant::now();
    client
        .get_action("a1", true)
        .await
        .expect("retried after the date");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(script.lock().expect("lock").seen.len(), 2);
    assert_eq!(
        limiter.snapshot().await.session_calls,
        2,
        "the throttled call counted too"
    );
}

#[tokio::test]
async fn the_bearer_token_goes_to_the_api_but_never_to_blob_storage() {
    let (base, script) = mock(vec![]).await;
    let link = format!(
        r#"{{"value":"{base}/blob/c/x?se=2099-01-01T00%3A00%3A00Z&sp=r&sv=2019-07-07&sr=b&sig=abc%3D"}}"#
    );
    script.lock().expect("lock").routes = vec![
        ("/api/".into(), vec![canned(200, &link)].into()),
        (
            "/blob/".into(),
            vec![
                canned(403, "<Error><Code>AuthorizationFailure</Code></Error>"),
                canned(
                    200,
                    r#"{"script_name":"a","exit_code":0,"script_output":"ok","script_errors":""}"#,
                ),
            ]
            .into(),
        ),
    ];
    let client = Arc::new(client(&base, Arc::new(Unlimited)));
    let limiter = Arc::new(Budget::in_memory(vec![WindowLimit::PER_MINUTE]));
    let scratch = tempfile::tempdir().expect("tempdir");
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let engine = lrx::fetch::engine::spawn(
        client,
        limiter,
        EngineConfig {
            cache: None,
            scratch_dir: scratch.path().to_path_buf(),
            concurrent_downloads: 2,
            download_retries: 2,
            limits: lrx::fetch::DownloadLimits::default(),
            team: None,
            custody: None,
        },
        events_tx,
    );
    engine.fetch(ResultKey::new("a1", 0), Priority::Interactive);
    let fetched = loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event in time")
        {
            Some(FetchEvent::State(_, ResultState::Ready(fetched))) => break fetched,
            Some(FetchEvent::State(_, ResultState::Failed(reason))) => panic!("{reason}"),
            Some(_) => {}
            None => panic!("engine stopped"),
        }
    };
    assert!(
        std::fs::read_to_string(&fetched.path)
            .expect("payload")
            .contains("\"ok\"")
    );
    let seen = script.lock().expect("lock").seen.clone();
    let link_calls = seen
        .iter()
        .filter(|(path, _)| path.starts_with("/api/"))
        .count();
    assert_eq!(link_calls, 2, "a blob 403 costs exactly one fresh link");
    for (path, auth) in &seen {
        assert_eq!(
            path.starts_with("/api/"),
            auth.is_some(),
            "{path}: {auth:?}"
        );
    }
}

#[tokio::test]
async fn errors_never_show_the_link_signature() {
    let (base, _) = mock(vec![(
        "/api/",
        vec![canned(
            200,
            r#"{"value":"http://127.0.0.1:9/blob/x?se=2099-01-01T00%3A00%3A00Z&sig=TOPSECRET%3D"}"#,
        )],
    )])
    .await;
    let client = Arc::new(client(&base, Arc::new(Unlimited)));
    let scratch = tempfile::tempdir().expect("tempdir");
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let engine = lrx::fetch::engine::spawn(
        client,
        Arc::new(Budget::in_memory(vec![WindowLimit::PER_MINUTE])),
        EngineConfig {
            cache: None,
            scratch_dir: scratch.path().to_path_buf(),
            concurrent_downloads: 1,
            download_retries: 1,
            limits: lrx::fetch::DownloadLimits::default(),
            team: None,
            custody: None,
        },
        events_tx,
    );
    engine.fetch(ResultKey::new("a1", 0), Priority::Interactive);
    loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event in time")
        {
            Some(FetchEvent::State(_, ResultState::Failed(reason))) => {
                assert!(!reason.contains("TOPSECRET"), "{reason}");
                // Another local port is not the API's origin: refused, named without query.
                assert!(
                    reason.contains("refused") && reason.contains("http://127.0.0.1:9/blob/x"),
                    "{reason}"
                );
                break;
            }
            Some(FetchEvent::State(_, ResultState::Ready(_))) => panic!("port 9 should refuse"),
            Some(_) => {}
            None => panic!("engine stopped"),
        }
    }
}

#[tokio::test]
async fn tolerant_listing_keeps_going_past_an_odd_record() {
    let page = r#"{"value":[{"id":"a","type":"LiveResponse","status":"Succeeded"},{"id":42},{"id":"b","type":"LiveResponse","status":"Whatever","lastUpdateTimeUtc":"2024-01-01T00:00:00.1Z"}]}"#;
    let (base, _) = mock(vec![("/api/machineactions", vec![canned(200, page)])]).await;
    let list = client(&base, Arc::new(Unlimited))
        .list_actions(
            &lrx::api::ListQuery {
                limit: 10,
                ..Default::default()
            },
            true,
        )
        .await
        .expect("list");
    let ids: Vec<&str> = list.actions.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(list.actions[1].last_update_date_time_utc.is_some());
    assert_eq!(
        list.problems.len(),
        1,
        "the odd record is reported, not hidden"
    );
}
