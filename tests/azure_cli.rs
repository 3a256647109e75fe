//! The Azure CLI auth mode through the real binary: a stand-in `az` on the PATH hands out a
//! token (here, one from the simulated tenant), and failures say to run `az login`.

use std::os::unix::fs::PermissionsExt as _;

use lrx::sim::SimConfig;

fn fake_az(dir: &std::path::Path, script: &str) {
    let path = dir.join("az");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write az");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_cli_tokens_sign_in_and_failures_point_to_az_login() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let e = sim.endpoints.clone();
    let access = e.client_token().await.expect("token");
    let bin = tempfile::tempdir().expect("tmp");
    let home = tempfile::tempdir().expect("tmp");
    let run = |path: &str| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args([
                "actions",
                "--api-url",
                &e.base_url,
                "--auth",
                "azure-cli",
                "--json",
                "--limit",
                "3",
            ])
            .env("PATH", path)
            .output()
            .expect("lrx")
    };
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let expires = chrono::Utc::now().timestamp() + 3000;
    fake_az(
        bin.path(),
        &format!(
            "[ \"$1 $2 $3 $4\" = \"account get-access-token --resource https://api.securitycenter.microsoft.com\" ] || exit 9\necho '{{\"accessToken\": \"{access}\", \"expires_on\": {expires}, \"tokenType\": \"Bearer\"}}'"
        ),
    );
    let ok = tokio::task::block_in_place(|| run(&path));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).lines().count(), 3);

    fake_az(
        bin.path(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
    );
    let failed = tokio::task::block_in_place(|| run(&path));
    assert_eq!(failed.status.code(), Some(1));
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(
        message.contains("az login") && message.contains("Azure CLI"),
        "{message}"
    );

    let empty = tempfile::tempdir().expect("tmp");
    let missing = tokio::task::block_in_place(|| run(&empty.path().display().to_string()));
    assert_eq!(
        missing.status.code(),
        Some(2),
        "no az at all is a configuration problem"
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Azure CLI (az) could not be run"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_bearer_token_from_lrx_token_signs_in() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let e = sim.endpoints.clone();
    let access = e.client_token().await.expect("token");
    let home = tempfile::tempdir().expect("tmp");
    let run = |bearer: &str| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args([
                "actions",
                "--api-url",
                &e.base_url,
                "--json",
                "--limit",
                "2",
            ])
            .env("LRX_TOKEN", bearer)
            .output()
            .expect("lrx")
    };
    let ok = tokio::task::block_in_place(|| run(&access));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).lines().count(), 2);
    let refused = tokio::task::block_in_place(|| run("not-a-token"));
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
}
