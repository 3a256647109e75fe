//! `lrx login` / `logout` with the real kernel keyutils store, inside `keyctl session` (how a
//! headless jump box without a session keyring gets one), and the honest failure outside it.
//! `.ci/run` installs keyutils; elsewhere the test says so and passes without it.

use lrx::sim::SimConfig;

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
        stdout.contains("listed:2"),
        "the stored secret signs in:\n{stdout}\n{stderr}"
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
