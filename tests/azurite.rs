//! The download path against Azurite, Microsoft's Azure Storage emulator: real blob SAS
//! tokens, valid, expired and tampered, served by a blob service we did not write.
//!
//! `.ci/run` installs and starts Azurite and sets `LRX_AZURITE_BLOB` (e.g.
//! `http://127.0.0.1:10000`). Without it the tests say so and pass, except under CI, where a
//! missing emulator is a failure.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use lrx::api::link::{ResultLink, SasUrl};
use lrx::fetch::download::{self, DownloadError};
use sha2::Sha256;

const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented, emulator only).
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite() -> Option<String> {
    match std::env::var("LRX_AZURITE_BLOB") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_string()),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run these tests against Azurite: set LRX_AZURITE_BLOB"
            );
            eprintln!(
                "LRX_AZURITE_BLOB is not set; skipping the Azurite tests (.ci/run starts Azurite)"
            );
            None
        }
    }
}

fn sign(text: &str) -> String {
    let key = STANDARD.decode(KEY).expect("key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An account SAS for setting up containers and blobs.
fn account_sas() -> String {
    let expiry = stamp(Utc::now() + chrono::Duration::hours(1));
    let to_sign = format!("{ACCOUNT}\nracwdl\nb\nsco\n\n{expiry}\n\nhttps,http\n2019-07-07\n");
    format!(
        "sv=2019-07-07&ss=b&srt=sco&sp=racwdl&se={}&spr=https,http&sig={}",
        encode(&expiry),
        encode(&sign(&to_sign))
    )
}

/// A read-only blob SAS like the ones MDE hands out (contract §9): se, sp=r, sv, sr=b, sig.
fn blob_sas(container: &str, blob: &str, expiry: DateTime<Utc>) -> String {
    let expiry = stamp(expiry);
    let resource = format!("/blob/{ACCOUNT}/{container}/{blob}");
    let to_sign = format!("r\n\n{expiry}\n{resource}\n\n\n\n2019-07-07\nb\n\n\n\n\n\n");
    format!(
        "se={}&sp=r&sv=2019-07-07&sr=b&sig={}",
        encode(&expiry),
        encode(&sign(&to_sign))
    )
}

async fn upload(base: &str, container: &str, blob: &str, body: &[u8]) {
    lrx::install_crypto_provider();
    let http = reqwest::Client::new();
    let sas = account_sas();
    let created = http
        .put(format!(
            "{base}/{ACCOUNT}/{container}?restype=container&{sas}"
        ))
        .header("x-ms-version", "2019-07-07")
        .send()
        .await
        .expect("container");
    assert!(
        created.status().is_success() || created.status().as_u16() == 409,
        "container: {}",
        created.status()
    );
    let put = http
        .put(format!("{base}/{ACCOUNT}/{container}/{blob}?{sas}"))
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-version", "2019-07-07")
        .body(body.to_vec())
        .send()
        .await
        .expect("upload");
    assert!(
        put.status().is_success(),
        "upload: {} {}",
        put.status(),
        put.text().await.unwrap_or_default()
    );
}

fn link(base: &str, container: &str, blob: &str, expiry: DateTime<Utc>) -> ResultLink {
    let url = format!(
        "{base}/{ACCOUNT}/{container}/{blob}?{}",
        blob_sas(container, blob, expiry)
    );
    ResultLink::new(SasUrl::parse(&url).expect("url"), Utc::now(), None)
}

#[tokio::test]
async fn valid_expired_and_tampered_sas_links_against_azurite() {
    let Some(base) = azurite() else { return };
    let payload = br#"{"script_name":"Get-ProcessList.ps1","exit_code":0,"script_output":"ok\n","script_errors":""}"#;
    upload(&base, "investigation-actions-data", "a1-0", payload).await;
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");

    let valid = link(
        &base,
        "investigation-actions-data",
        "a1-0",
        Utc::now() + chrono::Duration::minutes(30),
    );
    let target = dir.path().join("valid");
    let downloaded = download::download(
        &http,
        &valid,
        &target,
        download::DownloadLimits::default(),
        |_, _| {},
    )
    .await
    .expect("a valid SAS downloads");
    assert_eq!(std::fs::read(&target).expect("file"), payload);
    assert_eq!(downloaded.size, payload.len() as u64);

    let expired = link(
        &base,
        "investigation-actions-data",
        "a1-0",
        Utc::now() - chrono::Duration::minutes(1),
    );
    let outcome = download::download(
        &http,
        &expired,
        &dir.path().join("expired"),
        download::DownloadLimits::default(),
        |_, _| {},
    )
    .await;
    assert_eq!(
        outcome,
        Err(DownloadError::Rejected),
        "an expired SAS is a 403"
    );

    let url = valid.url.expose().as_str().replace("sp=r", "sp=rw");
    let tampered = ResultLink::new(SasUrl::parse(&url).expect("url"), Utc::now(), None);
    let outcome = download::download(
        &http,
        &tampered,
        &dir.path().join("tampered"),
        download::DownloadLimits::default(),
        |_, _| {},
    )
    .await;
    assert_eq!(
        outcome,
        Err(DownloadError::Rejected),
        "a tampered SAS is a 403"
    );
}

/// Hands out an expired Azurite link first, a valid one after, like an MDE link endpoint
/// whose first link went stale before it was used.
async fn link_server(links: Vec<String>) -> String {
    let links = Arc::new(std::sync::Mutex::new(links));
    let app = Router::new()
        .fallback(
            |State(links): State<Arc<std::sync::Mutex<Vec<String>>>>| async move {
                let mut links = links.lock().expect("lock");
                let next = if links.len() > 1 {
                    links.remove(0)
                } else {
                    links[0].clone()
                };
                axum::Json(serde_json::json!({ "value": next }))
            },
        )
        .with_state(links);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn the_engine_renews_a_link_that_azurite_rejects() {
    let Some(base) = azurite() else { return };
    let payload =
        br#"{"script_name":"x.ps1","exit_code":3,"script_output":"renewed","script_errors":""}"#;
    upload(&base, "investigation-actions-data", "a2-1", payload).await;
    let stale = link(
        &base,
        "investigation-actions-data",
        "a2-1",
        Utc::now() + chrono::Duration::seconds(1),
    );
    // Stale on arrival: Azurite compares `se` with its own clock.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = link(
        &base,
        "investigation-actions-data",
        "a2-1",
        Utc::now() + chrono::Duration::minutes(30),
    );
    let api = link_server(vec![
        stale.url.expose().to_string(),
        fresh.url.expose().to_string(),
    ])
    .await;
    let auth = lrx::api::auth::Authenticator::new(Box::new(lrx::api::auth::StaticToken(
        lrx::api::auth::Secret::new("t"),
    )));
    // Azurite is a storage origin of its own: configured explicitly, as a user would.
    let policy = lrx::api::OutboundPolicy::for_api(&api)
        .and_then(|p| p.with_storage(&base))
        .expect("policy");
    let client = Arc::new(
        lrx::api::MdeClient::new(policy, auth, Arc::new(lrx::api::client::Unlimited))
            .expect("client"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let engine = lrx::fetch::engine::spawn(
        client,
        Arc::new(lrx::fetch::Budget::in_memory(vec![
            lrx::sim::WindowLimit::PER_MINUTE,
        ])),
        lrx::fetch::EngineConfig {
            cache: None,
            scratch_dir: dir.path().to_path_buf(),
            concurrent_downloads: 1,
            download_retries: 1,
            limits: lrx::fetch::DownloadLimits::default(),
            team: None,
            custody: None,
        },
        tx,
    );
    engine.fetch(
        lrx::fetch::ResultKey::new("a2", 1),
        lrx::fetch::Priority::Interactive,
    );
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("progress")
        {
            Some(lrx::fetch::FetchEvent::State(_, lrx::fetch::ResultState::Ready(fetched))) => {
                assert_eq!(std::fs::read(&fetched.path).expect("payload"), payload);
                break;
            }
            Some(lrx::fetch::FetchEvent::State(_, lrx::fetch::ResultState::Failed(reason))) => {
                panic!("{reason}")
            }
            Some(_) => {}
            None => panic!("engine stopped"),
        }
    }
}
