//! The trust boundaries against a hostile upstream: a service (or an interceptor) that
//! points lrx elsewhere, redirects it, trickles or floods it, or asks it to wait for days.
//! The simplest proof that nothing leaves is a second listener, the trap, that must never
//! receive a request.

use rstest::rstest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lrx::api::auth::{Authenticator, ClientSecretCredential, Secret, StaticToken};
use lrx::api::client::Unlimited;
use lrx::api::{ApiError, CallBudget, ListQuery, MdeClient, OutboundPolicy};
use lrx::fetch::{
    Budget, DownloadLimits, EngineConfig, FetchEvent, Priority, ResultKey, ResultState,
};

type Handler = Arc<dyn Fn(&Uri, &HeaderMap) -> Response + Send + Sync>;

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
}

/// A server on 127.0.0.1 answering every request with `handler`, counting what it gets.
async fn serve(handler: impl Fn(&Uri, &HeaderMap) -> Response + Send + Sync + 'static) -> Server {
    lrx::install_crypto_provider();
    let handler: Handler = Arc::new(handler);
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (counter, log) = (Arc::clone(&hits), Arc::clone(&seen));
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let handler = Arc::clone(&handler);
        counter.fetch_add(1, Ordering::SeqCst);
        log.lock().expect("lock").push(uri.to_string());
        async move { handler(&uri, &headers) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { base, hits, seen }
}

/// The listener that must receive nothing.
async fn trap() -> Server {
    serve(|_, _| (StatusCode::OK, "you should not be here").into_response()).await
}

fn json(status: u16, body: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.into(),
    )
        .into_response()
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    response
        .headers_mut()
        .insert(name, value.parse().expect("header"));
    response
}

fn client_for(base: &str, budget: Arc<dyn CallBudget>) -> MdeClient {
    let auth = Authenticator::new(Box::new(StaticToken(Secret::new("tenant-token"))));
    MdeClient::new(OutboundPolicy::for_api(base).expect("policy"), auth, budget).expect("client")
}

const ACTION: &str = r#"{"id":"a1","type":"LiveResponse","status":"Succeeded","commands":[]}"#;

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_carries_no_token() {
    let trap = trap().await;
    let next = format!("{}/api/machineactions?$skip=1", trap.base);
    let api = serve(move |_, _| {
        json(
            200,
            format!(r#"{{"value":[{ACTION}],"@odata.nextLink":"{next}"}}"#),
        )
    })
    .await;
    let error = client_for(&api.base, Arc::new(Unlimited))
        .list_actions(&ListQuery::live_response(0), true)
        .await
        .expect_err("refused");
    let text = error.to_string();
    assert!(matches!(error, ApiError::Refused(_)), "{text}");
    assert!(
        text.contains(&trap.base) && !text.contains("$skip"),
        "{text}"
    );
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "the trap got a request"
    );
}

#[tokio::test]
async fn a_next_link_looping_back_stops_with_a_word_instead_of_paging_forever() {
    let base = Arc::new(Mutex::new(String::new()));
    let own = Arc::clone(&base);
    let api = serve(move |_, _| {
        let next = format!("{}/api/machineactions?$top=1", own.lock().expect("lock"));
        json(
            200,
            format!(r#"{{"value":[{ACTION}],"@odata.nextLink":"{next}"}}"#),
        )
    })
    .await;
    base.lock().expect("lock").clone_from(&api.base);
    let list = client_for(&api.base, Arc::new(Unlimited))
        .list_actions(&ListQuery::live_response(0), true)
        .await
        .expect("what was read");
    assert_eq!(list.actions.len(), 1, "listed once");
    assert!(
        list.problems.iter().any(|p| p.contains("already read")),
        "{:?}",
        list.problems
    );
    assert!(api.hits.load(Ordering::SeqCst) <= 3, "{:?}", api.seen);
}

#[tokio::test]
async fn one_unreadable_or_deeply_nested_action_is_reported_and_the_others_listed() {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let page = format!(
        r#"{{"value":[{ACTION},{{"id":"deep-one","type":"LiveResponse","status":"Succeeded","commands":[],"troubleshootInfo":{deep}}},{{"id":"b2","commands":"not a list"}}]}}"#
    );
    let api = serve(move |_, _| json(200, page.clone())).await;
    let list = client_for(&api.base, Arc::new(Unlimited))
        .list_actions(&ListQuery::live_response(10), true)
        .await
        .expect("the page is read");
    let ids: Vec<&str> = list.actions.iter().map(|a| a.id.as_str()).collect();
    assert!(ids.contains(&"a1"), "{ids:?}");
    assert_eq!(
        list.actions.len() + list.problems.len(),
        3,
        "each action is listed or reported: {ids:?} {:?}",
        list.problems
    );
    assert!(
        list.problems.iter().any(|p| p.contains("action b2")),
        "{:?}",
        list.problems
    );
}

#[tokio::test]
async fn an_api_redirect_is_not_followed() {
    let trap = trap().await;
    let target = format!("{}/api/machineactions/a1", trap.base);
    let api = serve(move |_, _| {
        with_header(
            StatusCode::TEMPORARY_REDIRECT.into_response(),
            "location",
            &target,
        )
    })
    .await;
    let error = client_for(&api.base, Arc::new(Unlimited))
        .get_action("a1", true)
        .await
        .expect_err("refused");
    assert!(matches!(error, ApiError::Redirected { .. }), "{error}");
    assert_eq!(trap.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_307_from_the_token_endpoint_never_carries_the_secret_elsewhere() {
    let trap = trap().await;
    let target = format!("{}/steal", trap.base);
    let login = serve(move |_, _| {
        with_header(
            StatusCode::TEMPORARY_REDIRECT.into_response(),
            "location",
            &target,
        )
    })
    .await;
    let api = serve(|_, _| json(200, ACTION)).await;
    let credential = ClientSecretCredential {
        token_url: format!("{}/t/oauth2/v2.0/token", login.base),
        tenant_id: "t".into(),
        client_id: "c".into(),
        secret: Secret::new("client-secret-value"),
        scope: "https://api.securitycenter.microsoft.com/.default".into(),
    };
    let client = MdeClient::new(
        OutboundPolicy::for_api(&api.base).expect("policy"),
        Authenticator::new(Box::new(credential)),
        Arc::new(Unlimited),
    )
    .expect("client");
    let error = client.get_action("a1", true).await.expect_err("no token");
    let text = error.to_string();
    assert!(
        text.contains("redirect") && !text.contains("client-secret-value"),
        "{text}"
    );
    assert_eq!(
        trap.hits.load(Ordering::SeqCst),
        0,
        "the secret went to the trap"
    );
    assert_eq!(api.hits.load(Ordering::SeqCst), 0, "no token, no API call");
}

/// Runs one fetch through the engine against `api` and returns how it ended.
async fn fetch_once(client: MdeClient, limits: DownloadLimits) -> (ResultState, tempfile::TempDir) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let engine = lrx::fetch::engine::spawn(
        Arc::new(client),
        Arc::new(Budget::in_memory(vec![lrx::sim::WindowLimit::PER_MINUTE])),
        EngineConfig {
            cache: None,
            scratch_dir: scratch.path().to_path_buf(),
            concurrent_downloads: 1,
            download_retries: 1,
            limits,
            team: None,
            custody: None,
        },
        events_tx,
    );
    engine.fetch(ResultKey::new("a1", 0), Priority::Interactive);
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("an event in time")
        {
            Some(FetchEvent::State(
                _,
                state @ (ResultState::Ready(_) | ResultState::Failed(_)),
            )) => {
                return (state, scratch);
            }
            Some(_) => {}
            None => panic!("the engine stopped"),
        }
    }
}

fn failure(state: &ResultState) -> &str {
    match state {
        ResultState::Failed(reason) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// An API whose result link is `link`.
async fn api_with_link(link: String) -> Server {
    serve(move |uri, headers| {
        assert!(
            uri.path().starts_with("/api/"),
            "the API only gets API calls: {uri}"
        );
        assert!(headers.contains_key("authorization"));
        json(200, format!(r#"{{"value":"{link}"}}"#))
    })
    .await
}

/// The kind of link a hostile or broken service could hand out, with `{trap}` for a local
/// server that counts every request it gets and `{port}` for its port.
#[rstest]
#[case::plain_http_to_anywhere("{trap}/blob/x?se=2099-01-01T00%3A00%3A00Z&sig=SECRET")]
#[case::credentials_in_the_link("http://user:password@127.0.0.1:{port}/blob/x?sig=SECRET")]
#[case::cloud_metadata("http://169.254.169.254/latest/meta-data?sig=SECRET")]
#[case::storage_host_over_http("http://acct.blob.core.windows.net/c/b?sig=SECRET")]
#[case::lookalike_storage_host("https://x.blob.core.windows.net.evil.example/c/b?sig=SECRET")]
#[tokio::test]
async fn result_links_off_the_storage_are_refused_and_never_fetched(#[case] link: &str) {
    let trap = trap().await;
    let port = trap.base.rsplit(':').next().unwrap_or_default().to_string();
    let link = link.replace("{trap}", &trap.base).replace("{port}", &port);
    let api = api_with_link(link.clone()).await;
    let (state, _scratch) = fetch_once(
        client_for(&api.base, Arc::new(Unlimited)),
        DownloadLimits::default(),
    )
    .await;
    let reason = failure(&state);
    assert!(reason.contains("refused"), "{link}: {reason}");
    assert!(
        !reason.contains("SECRET") && !reason.contains("password@"),
        "{reason}"
    );
    assert_eq!(trap.hits.load(Ordering::SeqCst), 0, "{:?}", trap.seen);
}

/// A storage origin configured explicitly (as Azurite is), answering with `blob`.
async fn storage_and_api(
    blob: impl Fn(&Uri, &HeaderMap) -> Response + Send + Sync + 'static,
) -> (MdeClient, Server, Server) {
    let storage = serve(blob).await;
    let api = api_with_link(format!(
        "{}/devstoreaccount1/c/b?se=2099-01-01T00%3A00%3A00Z&sig=s",
        storage.base
    ))
    .await;
    let policy = OutboundPolicy::for_api(&api.base)
        .and_then(|p| p.with_storage(&storage.base))
        .expect("policy");
    let auth = Authenticator::new(Box::new(StaticToken(Secret::new("tenant-token"))));
    let client = MdeClient::new(policy, auth, Arc::new(Unlimited)).expect("client");
    (client, api, storage)
}

fn payload_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, std::iter::Iterator::count)
}

#[tokio::test]
async fn storage_redirects_are_not_followed_and_storage_gets_no_token() {
    let trap = trap().await;
    let target = format!("{}/metadata", trap.base);
    let (client, _api, storage) = storage_and_api(move |_, headers| {
        assert!(
            !headers.contains_key("authorization"),
            "a token went to storage"
        );
        with_header(StatusCode::FOUND.into_response(), "location", &target)
    })
    .await;
    let (state, scratch) = fetch_once(client, DownloadLimits::default()).await;
    assert!(failure(&state).contains("redirect"), "{state:?}");
    assert_eq!(trap.hits.load(Ordering::SeqCst), 0);
    assert!(storage.hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(payload_files(scratch.path()), 0, "nothing left behind");
}

fn small_limits() -> DownloadLimits {
    DownloadLimits {
        script_bytes: 1024 * 1024,
        file_bytes: 2 * 1024 * 1024,
        deadline: Duration::from_secs(20),
        stall_window: Duration::from_secs(1),
        stall_bytes: 4096,
    }
}

#[tokio::test]
async fn an_endless_blob_is_cut_at_the_limit_and_removed() {
    let (client, _api, _storage) = storage_and_api(|_, _| {
        let chunks = futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'A'; 64 * 1024]))
        });
        Response::new(Body::from_stream(chunks))
    })
    .await;
    let (state, scratch) = fetch_once(client, small_limits()).await;
    let reason = failure(&state);
    assert!(
        reason.contains("larger than lrx's limit of 1 MB"),
        "{reason}"
    );
    assert_eq!(
        payload_files(scratch.path()),
        0,
        "the partial file is removed"
    );
}

#[tokio::test]
async fn an_announced_8_gib_result_is_refused_before_reading() {
    let (client, _api, _storage) = storage_and_api(|_, _| {
        // The body never comes: lrx must decide on the header alone.
        let pending = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        with_header(
            Response::new(Body::from_stream(pending)),
            "content-length",
            "8589934592",
        )
    })
    .await;
    let (state, _scratch) = fetch_once(client, DownloadLimits::default()).await;
    assert!(failure(&state).contains("8192 MB"), "{state:?}");
}

#[tokio::test]
async fn a_partial_206_is_not_taken_for_the_whole_result() {
    let (client, _api, storage) = storage_and_api(|_, _| {
        let mut response = (StatusCode::PARTIAL_CONTENT, "half").into_response();
        response
            .headers_mut()
            .insert("content-range", "bytes 0-3/8".parse().expect("header"));
        response
    })
    .await;
    let (state, _scratch) = fetch_once(client, small_limits()).await;
    assert!(failure(&state).contains("only part"), "{state:?}");
    assert!(storage.hits.load(Ordering::SeqCst) >= 2, "retried once");
}

#[tokio::test]
async fn a_trickling_blob_is_given_up_on() {
    let (client, _api, _storage) = storage_and_api(|_, _| {
        let trickle = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((
                Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"x")),
                (),
            ))
        });
        Response::new(Body::from_stream(trickle))
    })
    .await;
    let started = std::time::Instant::now();
    let (state, _scratch) = fetch_once(client, small_limits()).await;
    let reason = failure(&state);
    assert!(reason.contains("trickling"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(20), "bounded");
}

#[tokio::test]
async fn an_absurd_retry_after_is_capped_shown_and_never_panics() {
    for asked in [
        "999999",
        "9223372036854775807",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let api = serve(move |_, _| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                with_header(
                    json(429, r#"{"error":{"code":"TooManyRequests"}}"#),
                    "retry-after",
                    asked,
                )
            } else {
                json(200, ACTION)
            }
        })
        .await;
        let limiter = Arc::new(lrx::fetch::Budget::new(Box::new(
            lrx::fetch::MemoryStore::new(lrx::fetch::Policy::new(
                &lrx::api::limits::LimitTable::with_standard(vec![
                    lrx::sim::WindowLimit::PER_MINUTE,
                ]),
                Duration::from_secs(1),
            )),
        )));
        let client =
            client_for(&api.base, limiter.clone()).with_max_retry_after(Duration::from_secs(1));
        let started = std::time::Instant::now();
        let call = tokio::spawn(async move { client.get_action("a1", true).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // While it waits, the meter says both: lrx's wait and what the service asked for.
        let meter = limiter.snapshot().await;
        let get = meter
            .others
            .iter()
            .find(|o| o.api == lrx::api::limits::Api::GetAction)
            .expect("get is in use");
        let (until, told) = (
            get.throttled_until.expect("held"),
            get.throttle_asked_until.expect("what was asked"),
        );
        assert!(
            meter.throttled_until.is_none(),
            "a 429 on get holds get only"
        );
        assert!(told > until + chrono::Duration::days(1), "{asked}");
        let action = call.await.expect("task").expect("asked again");
        assert_eq!(action.id, "a1");
        assert!(started.elapsed() < Duration::from_secs(10), "{asked}");
    }
}

/// The awkward tenant's one action.
const AWKWARD: &str = "00000000-0000-4000-8000-0000000000a1";

fn command(index: u32, kind: &str, key: &str, value: &str) -> serde_json::Value {
    serde_json::json!({
        "index": index, "startTime": "2026-11-30T10:00:00Z", "endTime": "2026-11-30T10:00:05Z",
        "commandStatus": "Completed", "errors": [],
        "command": {"type": kind, "params": [{"key": key, "value": value}]}
    })
}

/// A tenant whose one action lists index 0 twice, has a `GetFile` whose "gzip" is not one,
/// and a script whose name is long and not ASCII: each result through its own link on the
/// API's loopback origin.
async fn awkward_tenant(long_name: &str) -> Server {
    let action = serde_json::json!({
        "id": AWKWARD, "type": "LiveResponse", "status": "Succeeded", "computerDnsName": "wks-1",
        "commands": [
            command(0, "RunScript", "ScriptName", "x.ps1"),
            command(0, "RunScript", "ScriptName", "x.ps1"),
            command(1, "GetFile", "Path", "C:\\evil.bin"),
            command(2, "RunScript", "ScriptName", long_name),
        ]
    })
    .to_string();
    let transcript = |name: &str| {
        serde_json::json!({"script_name": name, "exit_code": 0, "script_output": format!("output of {name}"), "script_errors": ""}).to_string()
    };
    let (first, third) = (transcript("x.ps1"), transcript(long_name));
    let base = Arc::new(Mutex::new(String::new()));
    let own = Arc::clone(&base);
    let server = serve(move |uri, _| {
        let path = percent_encoding::percent_decode_str(uri.path())
            .decode_utf8_lossy()
            .into_owned();
        let path = path.as_str();
        let base = own.lock().expect("lock").clone();
        if let Some(index) = path
            .strip_prefix(
                format!("/api/machineactions/{AWKWARD}/GetLiveResponseResultDownloadLink(index=")
                    .as_str(),
            )
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return json(200, format!(r#"{{"value":"{base}/blob/{index}?sig=s"}}"#));
        }
        if path == format!("/api/machineactions/{AWKWARD}") {
            return json(200, action.clone());
        }
        match path {
            "/blob/0" => json(200, first.clone()),
            "/blob/1" => (StatusCode::OK, "this is not gzip at all").into_response(),
            "/blob/2" => json(200, third.clone()),
            _ => (StatusCode::NOT_FOUND, "no").into_response(),
        }
    })
    .await;
    base.lock().expect("lock").clone_from(&server.base);
    server
}

async fn lrx_against(
    server: &Server,
    home: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut command = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home);
    command
        .args(["--api-url", &server.base, "--token-url"])
        .arg(format!("{}/t/oauth2/v2.0/token", server.base))
        .args(args)
        .env("LRX_TOKEN", "tenant-token")
        .stdin(std::process::Stdio::null());
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::from(command).output(),
    )
    .await
    .expect("lrx finishes (no hang)")
    .expect("lrx runs")
}

#[tokio::test]
async fn one_bad_result_is_reported_and_the_others_still_print_and_save_safely() {
    let long_name = format!("{}.ps1", "Überprüfung-der-Dienste-".repeat(12));
    let tenant = awkward_tenant(&long_name).await;
    let home = tempfile::tempdir().expect("home");
    let evidence = home.path().join("evidence");
    std::fs::create_dir(&evidence).expect("mkdir");
    // A planted link where lrx will save index 0: the victim must stay as it is.
    let victim = home.path().join("victim");
    std::fs::write(&victim, b"precious").expect("victim");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&victim, evidence.join(format!("{AWKWARD}-0-x.ps1.json")))
        .expect("symlink");
    let output = lrx_against(
        &tenant,
        home.path(),
        &[
            "result",
            AWKWARD,
            "--json",
            "--save",
            evidence.to_str().expect("utf8"),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "one result failed: {stderr}");
    assert!(
        stderr.contains("index 1") && stderr.contains("not valid gzip"),
        "{stderr}"
    );
    let printed: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let indexes: Vec<u64> = printed.iter().filter_map(|r| r["index"].as_u64()).collect();
    assert_eq!(indexes, [0, 2], "index 0 once, index 2 after the failure");
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    for result in &printed {
        let saved = std::path::PathBuf::from(result["saved_to"].as_str().expect("saved_to"));
        assert!(saved.starts_with(&evidence), "{}", saved.display());
        let name = saved
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(name.len() <= 200, "{} bytes", name.len());
        let meta = std::fs::symlink_metadata(&saved).expect("saved");
        assert!(meta.is_file(), "a real file, not the planted link");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
    assert!(
        printed[1]["saved_to"]
            .as_str()
            .is_some_and(|s| s.contains("Überprüfung")),
        "non-ASCII kept where it fits"
    );
    let left: Vec<String> = std::fs::read_dir(&evidence)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "no empty or partial file for the bad one: {left:?}"
    );
}

#[rstest]
#[case::an_action_id_that_is_no_guid(&["show", "not-a-guid"], "GUID")]
#[case::a_path_for_an_action_id(&["result", "../../etc/passwd"], "GUID")]
#[case::an_undocumented_status(&["actions", "--status", "Bogus"], "Pending, InProgress")]
#[tokio::test]
async fn ids_and_statuses_are_checked_before_anything_is_sent(
    #[case] args: &[&str],
    #[case] says: &str,
) {
    let api = trap().await;
    let home = tempfile::tempdir().expect("home");
    let output = lrx_against(&api, home.path(), args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(
        api.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the service"
    );
}

#[tokio::test]
async fn plain_http_to_a_real_host_is_refused_before_anything_is_sent() {
    let home = tempfile::tempdir().expect("home");
    let mut command = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path());
    command
        .args(["actions", "--api-url", "http://api.security.microsoft.com"])
        .env("LRX_TOKEN", "tenant-token")
        .stdin(std::process::Stdio::null());
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cleartext"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn the_log_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = tempfile::tempdir().expect("home");
    let output = lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
        .args(["config", "path"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let log = home.path().join("state/lrx/lrx.log");
    let mode = std::fs::metadata(&log).expect("log").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_review_of_an_action_with_a_repeated_index_finishes() {
    let tenant = awkward_tenant("y.ps1").await;
    let home = tempfile::tempdir().expect("home");
    let output = lrx_against(&tenant, home.path(), &["review", AWKWARD, "--json"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .filter(|v: &serde_json::Value| v["type"] == "row")
        .collect();
    let mut indexes: Vec<u64> = rows.iter().filter_map(|r| r["index"].as_u64()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2], "each index once");
}
