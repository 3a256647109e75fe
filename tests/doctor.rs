//! `lrx doctor` against the simulated tenant: all green with full permissions, the missing
//! permission named when the app lacks one, a clear sign-in failure with a wrong secret —
//! the last through the real binary, configured from the environment like a real tenant.

use lrx::session::{Session, SessionOptions};
use lrx::sim::SimConfig;

async fn checks(roles: &[&str]) -> Vec<lrx::cli::doctor::Check> {
    let state = tempfile::tempdir().expect("tmp");
    let session = Session::open(SessionOptions {
        demo: Some(SimConfig {
            roles: roles.iter().map(|r| (*r).to_string()).collect(),
            ..SimConfig::default()
        }),
        state_dir: Some(state.path().to_path_buf()),
        no_cache: true,
        ..SessionOptions::default()
    })
    .await
    .expect("session");
    lrx::cli::doctor::run(&session.client).await
}

#[tokio::test]
async fn full_permissions_pass_every_check() {
    let checks = checks(&[
        "Machine.Read.All",
        "Machine.ReadWrite.All",
        "Machine.LiveResponse",
        "Library.Manage",
    ])
    .await;
    assert_eq!(checks.len(), 6);
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    let library = checks
        .iter()
        .find(|c| c.what == "live response library")
        .expect("library check");
    assert!(library.detail.contains("files"), "{}", library.detail);
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let checks = checks(&["Machine.Read.All"]).await;
    let link = checks
        .iter()
        .find(|c| c.what == "GetLiveResponseResultDownloadLink")
        .expect("link check");
    assert!(!link.ok);
    assert!(
        link.detail.contains("403")
            && link.detail.contains("Machine.ReadWrite.All (application)")
            && link.detail.contains("Machine.LiveResponse (delegated)"),
        "{}",
        link.detail
    );
    assert!(
        checks
            .iter()
            .filter(|c| c.what != "GetLiveResponseResultDownloadLink")
            .all(|c| c.ok),
        "{checks:?}"
    );
    let library = checks
        .iter()
        .find(|c| c.what == "live response library")
        .expect("library check");
    assert!(
        library.detail.contains("without Library.Manage"),
        "only lrx run needs it, and the check says so: {}",
        library.detail
    );
    let none = self::checks(&[]).await;
    let list = none
        .iter()
        .find(|c| c.what == "list machine actions")
        .expect("list check");
    assert!(
        !list.ok && list.detail.contains("Machine.Read.All"),
        "{}",
        list.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_sign_in_clearly_through_the_binary() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let home = tempfile::tempdir().expect("tmp");
    let e = &sim.endpoints;
    // The simulator keeps serving on the runtime's other worker while this one waits.
    let run = |secret: &str| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .arg("doctor")
            .args(e.cli_args())
            .env("LRX_CLIENT_SECRET", secret)
            .output()
            .expect("lrx")
    };
    let ok = tokio::task::block_in_place(|| run(&e.client_secret));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = tokio::task::block_in_place(|| run("not-the-secret"));
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("✘ sign in")
            && text.contains("AADSTS7000215")
            && text.contains("LRX_CLIENT_SECRET"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-secret"),
        "the secret is never echoed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_tokens_and_link_signatures_never_reach_the_log() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("tmp");
    let access = e.client_token().await.expect("token");
    let run = |args: &[&str]| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args(args)
            .args(["-vv"])
            .args(e.cli_args())
            .env("LRX_CLIENT_SECRET", &e.client_secret)
            .output()
            .expect("lrx")
    };
    let listed = tokio::task::block_in_place(|| {
        run(&["actions", "--json", "--status", "Succeeded", "--limit", "3"])
    });
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .next()
            .expect("an action"),
    )
    .expect("json");
    let id = first["id"].as_str().expect("id").to_string();
    let fetched = tokio::task::block_in_place(|| run(&["result", &id, "--json"]));
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let doctor = tokio::task::block_in_place(|| run(&["doctor"]));
    assert!(doctor.status.success());
    let log = std::fs::read_to_string(home.path().join("state/lrx/lrx.log")).expect("a log file");
    assert!(log.len() > 100, "the log has content at -vv");
    assert!(!log.contains(&e.client_secret), "client secret in the log");
    // The simulator's tokens are JWT-shaped: no part of one may appear.
    for part in access.split('.').filter(|p| p.len() > 20) {
        assert!(!log.contains(part), "token material in the log");
    }
    assert!(!log.contains("sig="), "a SAS signature in the log");
    for output in [&listed, &fetched, &doctor] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains(&e.client_secret) && !text.contains("sig="));
    }
}
