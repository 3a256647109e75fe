//! `lrx login` / `logout` with real credential stores: the kernel keyutils store inside
//! `keyctl session` (how a headless jump box without a session keyring gets one), and Secret
//! Service in a D-Bus session of its own with gnome-keyring (a Linux desktop's store). Both
//! keep the access token every process of one sign-in shares. `.ci/run` installs keyutils,
//! dbus, gnome-keyring and libsecret-tools; elsewhere a test without its tools says so and
//! passes.

use std::path::Path;

use lrx::sim::{SimConfig, SimHandle};

#[path = "support/tokens.rs"]
mod tokens;

fn keyctl() -> bool {
    let found = std::process::Command::new("keyctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CI").is_err(),
        "CI must have keyctl (Debian package keyutils)"
    );
    if !found {
        eprintln!("keyctl is not installed; skipping the keyutils test");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_the_secret_in_keyutils_and_logout_removes_it() {
    if !keyctl() {
        return;
    }
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("tmp");
    let lrx = env!("CARGO_BIN_EXE_lrx");
    let flags = format!(
        "--tenant {} --client-id {} --token-url {}",
        e.tenant_id, e.client_id, e.token_url
    );
    let script = format!(
        "printf %s wrong | {lrx} login {flags}; echo \"wrong:$?\"; \
         printf %s '{secret}' | {lrx} login {flags}; echo \"login:$?\"; \
         {lrx} actions {flags} --api-url {base} --json --limit 2 | wc -l | sed 's/^/listed:/'; \
         {lrx} actions {flags} --api-url {base} --json --limit 1 | wc -l | sed 's/^/again:/'; \
         LRX_CLIENT_SECRET=wrong {lrx} actions {flags} --api-url {base} --limit 1; echo \"borrowed:$?\"; \
         {lrx} logout {flags}; echo \"logout:$?\"; \
         {lrx} actions {flags} --api-url {base} --limit 1; echo \"after:$?\"",
        secret = e.client_secret,
        base = e.base_url,
    );
    let run = |program: &str, args: &[&str]| {
        lrx::fixtures::isolated(program, home.path())
            .args(args)
            .output()
            .expect("run")
    };
    let output =
        tokio::task::block_in_place(|| run("keyctl", &["session", "-", "sh", "-c", &script]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("wrong:1"),
        "a wrong secret is refused before it is stored:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("login:0") && stdout.contains("Stored the client secret"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("listed:2") && stdout.contains("again:1"),
        "the stored secret signs in:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        sim.token_requests(),
        3,
        "the wrong secret's refusal, login's own (the token it made serves both listings), and the wrong secret in the environment's"
    );
    assert!(
        stdout.contains("borrowed:1") && stderr.contains("AADSTS7000215"),
        "a wrong secret does not borrow the token the right one made:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("logout:0") && stdout.contains("Removed the client secret"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after:2") && stderr.contains("lrx login"),
        "after logout lrx says how to sign in:\n{stderr}"
    );
    assert!(
        !stderr.contains(&e.client_secret) && !stdout.contains(&e.client_secret),
        "the secret is never printed"
    );
    let leaks = tokens::files_holding_secrets(home.path(), &[&e.client_secret]);
    assert!(
        leaks.is_empty(),
        "no file holds a secret or a token: {leaks:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_sign_in_keeps_a_refresh_token_and_renews_silently() {
    if !keyctl() {
        return;
    }
    lrx::install_crypto_provider();
    let config = SimConfig {
        device_approval: Some(std::time::Duration::from_secs(1)),
        device_interval: std::time::Duration::from_secs(1),
        ..SimConfig::default()
    };
    let sim = lrx::sim::start(config).await.expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("tmp");
    let lrx = env!("CARGO_BIN_EXE_lrx");
    let flags = format!(
        "--tenant {} --client-id {} --token-url {}",
        e.tenant_id, e.client_id, e.token_url
    );
    let script = format!(
        "{lrx} login --device-code {flags}; echo \"login:$?\"; \
         {lrx} actions {flags} --api-url {base} --auth device-code --json --limit 2 | wc -l | sed 's/^/listed:/'; \
         {lrx} actions {flags} --api-url {base} --auth device-code --json --limit 1 | wc -l | sed 's/^/again:/'; \
         {lrx} logout {flags}; \
         {lrx} actions {flags} --api-url {base} --auth device-code --limit 1; echo \"after:$?\"",
        base = e.base_url,
    );
    let output = tokio::task::block_in_place(|| {
        lrx::fixtures::isolated("keyctl", home.path())
            .args(["session", "-", "sh", "-c", &script])
            .output()
            .expect("run")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/devicelogin") && stderr.contains("enter the code"),
        "the prompt shows the URL and code:\n{stderr}"
    );
    assert!(
        stdout.contains("login:0") && stdout.contains("Signed in."),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("listed:2") && stdout.contains("again:1"),
        "the refresh token renews silently, rotating:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("Removed the device code sign-in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after:2") && stderr.contains("lrx login --device-code"),
        "signed out is a configuration matter:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_certificate_key_is_unlocked_with_the_passphrase_from_the_keyring() {
    if !keyctl() {
        return;
    }
    lrx::install_crypto_provider();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let certificate =
        std::fs::read_to_string(format!("{dir}/lrx-test-app.cert.pem")).expect("cert");
    let public_key = std::fs::read_to_string(format!("{dir}/lrx-test-app.pub.pem")).expect("pub");
    let registered =
        lrx::sim::oauth::SimCertificate::from_pem(&certificate, &public_key).expect("certificate");
    let sim = lrx::sim::start(SimConfig {
        certificate: Some(registered),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("tmp");
    let lrx = env!("CARGO_BIN_EXE_lrx");
    let flags = format!(
        "--tenant {} --client-id {} --token-url {}",
        e.tenant_id, e.client_id, e.token_url
    );
    let script = format!(
        "printf %s correct-horse | {lrx} login --key-passphrase {flags}; echo \"stored:$?\"; \
         {lrx} actions {flags} --api-url {base} --auth certificate --json --limit 2 | wc -l | sed 's/^/listed:/'; \
         {lrx} logout {flags}; \
         {lrx} actions {flags} --api-url {base} --auth certificate --limit 1; echo \"after:$?\"",
        base = e.base_url,
    );
    let output = tokio::task::block_in_place(|| {
        lrx::fixtures::isolated("keyctl", home.path())
            .args(["session", "-", "sh", "-c", &script])
            .env("LRX_CERTIFICATE", format!("{dir}/lrx-test-app.cert.pem"))
            .env(
                "LRX_PRIVATE_KEY",
                format!("{dir}/lrx-test-app.encrypted-key.pem"),
            )
            .output()
            .expect("run")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("stored:0") && stdout.contains("listed:2"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Removed the key passphrase"), "{stdout}");
    assert!(
        stdout.contains("after:2") && stderr.contains("lrx login --key-passphrase"),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("correct-horse") && !stderr.contains("correct-horse"));
}

/// Whether this machine can start a desktop keyring of its own (CI must).
fn desktop_keyring() -> bool {
    let found = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"]
        .iter()
        .all(|tool| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    assert!(
        found || std::env::var("CI").is_err(),
        "CI must have dbus-run-session, gnome-keyring-daemon and secret-tool (Debian dbus, gnome-keyring, libsecret-tools)"
    );
    if !found {
        eprintln!("no D-Bus or gnome-keyring here; skipping the Secret Service test");
    }
    found
}

/// Runs `script` in a fresh D-Bus session with gnome-keyring's Secret Service unlocked, as
/// a desktop login does; the keyring's file stays in `home`, so the next session finds
/// what this one stored. lrx chooses the store itself (no `LRX_SECRET_STORE`).
fn in_desktop_session(home: &Path, script: &str) -> (String, String) {
    let session = format!(
        "printf %s keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null; {script}"
    );
    let output = tokio::task::block_in_place(|| {
        lrx::fixtures::isolated("dbus-run-session", home)
            .env_remove("LRX_SECRET_STORE")
            .args(["--", "sh", "-c", &session])
            .output()
            .expect("dbus-run-session")
    });
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|line| !line.contains("fd limit"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A finished action with a script result, read straight from the tenant.
async fn finished_action(sim: &SimHandle) -> String {
    let token = sim.endpoints.client_token().await.expect("token");
    let url = format!(
        "{}/api/machineactions?$filter=status eq 'Succeeded' and type eq 'LiveResponse'&$top=1",
        sim.endpoints.base_url
    );
    let listed: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    listed["value"][0]["id"]
        .as_str()
        .expect("a finished action")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_service_keeps_the_secret_and_one_token_serves_a_loop_of_processes() {
    if !desktop_keyring() {
        return;
    }
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig::default()).await.expect("sim");
    let e = &sim.endpoints;
    let id = finished_action(&sim).await;
    let home = tempfile::tempdir().expect("tmp");
    let lrx = env!("CARGO_BIN_EXE_lrx");
    let flags = format!(
        "--tenant {} --client-id {} --token-url {} --api-url {}",
        e.tenant_id, e.client_id, e.token_url, e.base_url
    );
    let account = format!("{}/{}", e.tenant_id, e.client_id);
    let results = |count: usize| {
        format!(
            "for i in $(seq {count}); do {lrx} result {id} --no-cache {flags} --json >/dev/null || echo \"failed:$i\"; done; echo \"ran:{count}\""
        )
    };
    let before = sim.token_requests();

    // Signed in once, then twenty processes without LRX_CLIENT_SECRET.
    let (stdout, stderr) = in_desktop_session(
        home.path(),
        &format!(
            "{lrx} config show {flags} | grep 'secret store'; \
             printf %s '{secret}' | {lrx} login {flags}; echo \"login:$?\"; \
             secret-tool search --all service lrx 2>&1 | grep -c '^attribute.username = {account}$' | sed 's/^/stored:/'; \
             {results}",
            secret = e.client_secret,
            results = results(20),
        ),
    );
    assert!(
        stdout.contains("secret store   Secret Service: usable"),
        "Secret Service is the default where it answers:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("login:0") && stdout.contains("in Secret Service (service lrx)"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("stored:1"),
        "secret-tool sees the secret:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ran:20") && !stdout.contains("failed:"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        sim.token_requests() - before,
        1,
        "login's check made the only token, and twenty processes used it"
    );

    // Revoked: the first process is told 401, renews once and shares the new token.
    sim.revoke_tokens();
    let (stdout, stderr) = in_desktop_session(home.path(), &results(5));
    assert!(
        stdout.contains("ran:5") && !stdout.contains("failed:"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        sim.token_requests() - before,
        2,
        "one renewal after the revocation, then cached again"
    );

    // Signed out: the secret and the tokens are gone from Secret Service.
    let (stdout, stderr) = in_desktop_session(
        home.path(),
        &format!(
            "{lrx} logout {flags}; echo \"logout:$?\"; \
             secret-tool search --all service lrx 2>&1 | grep -c '^attribute.username' | sed 's/^/left:/'; \
             {lrx} actions {flags} --limit 1; echo \"after:$?\""
        ),
    );
    assert!(
        stdout.contains("logout:0")
            && stdout.contains("Removed the access tokens")
            && stdout.contains("Removed the client secret"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("left:0"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("after:2") && stderr.contains("lrx login"),
        "{stdout}\n{stderr}"
    );
    // HOME holds the state, cache, config and data directories, and gnome-keyring's file.
    let leaks = tokens::files_holding_secrets(home.path(), &[&e.client_secret]);
    assert!(
        leaks.is_empty(),
        "no file holds a secret or a token: {leaks:?}"
    );
}
