//! Certificate sign-in: a PS256 client assertion naming the certificate by `x5t#S256`,
//! checked by the simulated tenant against the certificate registered on the app; through
//! the real binary, and a key that does not belong to the certificate is refused.

use lrx::sim::SimConfig;
use lrx::sim::oauth::SimCertificate;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn registered() -> SimCertificate {
    let certificate =
        std::fs::read_to_string(format!("{DIR}/lrx-test-app.cert.pem")).expect("cert");
    let public_key = std::fs::read_to_string(format!("{DIR}/lrx-test-app.pub.pem")).expect("pub");
    SimCertificate::from_pem(&certificate, &public_key).expect("certificate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signs_in_and_a_foreign_key_is_refused() {
    lrx::install_crypto_provider();
    let sim = lrx::sim::start(SimConfig {
        certificate: Some(registered()),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let e = &sim.endpoints;
    let home = tempfile::tempdir().expect("tmp");
    let run = |key: &str| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args(["actions", "--json", "--limit", "2", "--auth", "certificate"])
            .args(e.cli_args())
            .env("LRX_CERTIFICATE", format!("{DIR}/lrx-test-app.cert.pem"))
            .env("LRX_PRIVATE_KEY", format!("{DIR}/{key}"))
            .output()
            .expect("lrx")
    };
    let ok = tokio::task::block_in_place(|| run("lrx-test-app.key.pem"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).lines().count(), 2);
    let encrypted = |passphrase: &str| {
        lrx::fixtures::isolated(env!("CARGO_BIN_EXE_lrx"), home.path())
            .args(["actions", "--json", "--limit", "1", "--auth", "certificate"])
            .args(e.cli_args())
            .env("LRX_CERTIFICATE", format!("{DIR}/lrx-test-app.cert.pem"))
            .env(
                "LRX_PRIVATE_KEY",
                format!("{DIR}/lrx-test-app.encrypted-key.pem"),
            )
            .env("LRX_KEY_PASSPHRASE", passphrase)
            .output()
            .expect("lrx")
    };
    let unlocked = tokio::task::block_in_place(|| encrypted("correct-horse"));
    assert!(
        unlocked.status.success(),
        "an encrypted key with its passphrase: {}",
        String::from_utf8_lossy(&unlocked.stderr)
    );
    let locked = tokio::task::block_in_place(|| encrypted("wrong"));
    assert_eq!(locked.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&locked.stderr).contains("could not be decrypted"));
    let foreign = tokio::task::block_in_place(|| run("other.key.pem"));
    assert_eq!(foreign.status.code(), Some(1));
    let message = String::from_utf8_lossy(&foreign.stderr);
    assert!(
        message.contains("AADSTS700027") && message.contains("signature"),
        "{message}"
    );
}

#[tokio::test]
async fn assertions_carry_what_entra_checks() {
    let key = std::fs::read_to_string(format!("{DIR}/lrx-test-app.key.pem")).expect("key");
    let certificate =
        std::fs::read_to_string(format!("{DIR}/lrx-test-app.cert.pem")).expect("cert");
    let credential = lrx::api::assertion::CertificateCredential::from_pem(
        &key,
        &certificate,
        None,
        "https://login.example/t/oauth2/v2.0/token".into(),
        "t".into(),
        "app".into(),
        "s/.default".into(),
    )
    .expect("credential");
    let now = chrono::Utc::now();
    let assertion = credential.assertion(now).expect("signed");
    use base64::Engine as _;
    let decode = |part: &str| -> serde_json::Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .expect("b64"),
        )
        .expect("json")
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    assert_eq!(header["alg"], "PS256");
    assert_eq!(
        header["x5t#S256"],
        lrx::api::assertion::thumbprint_s256(&certificate)
            .expect("thumbprint")
            .as_str()
    );
    assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
    assert_eq!(
        (claims["iss"].as_str(), claims["sub"].as_str()),
        (Some("app"), Some("app"))
    );
    assert!(claims["exp"].as_i64().expect("exp") - claims["nbf"].as_i64().expect("nbf") <= 600);
    assert_ne!(
        credential.assertion(now).expect("again"),
        assertion,
        "a fresh jti every time"
    );
    assert!(
        lrx::api::assertion::CertificateCredential::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
            &certificate,
            None,
            String::new(),
            String::new(),
            String::new(),
            String::new()
        )
        .is_err()
    );
}
