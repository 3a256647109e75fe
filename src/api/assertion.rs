//! Certificate credentials: a client assertion JWT (RS256 or PS256, `x5t#S256` naming the
//! certificate, audience the token URL, a five-minute lifetime) signed with the app's private
//! key, sent instead of a secret (contract §2.2).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::auth::{AccessToken, BoxFuture, TokenSource};
use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Ps256,
    Rs256,
}

/// The DER bytes inside the first PEM block with this label.
pub fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// `x5t#S256`: the base64url SHA-256 of the certificate's DER.
pub fn thumbprint_s256(certificate_pem: &str) -> Option<String> {
    pem_der(certificate_pem, "CERTIFICATE").map(|der| URL_SAFE_NO_PAD.encode(Sha256::digest(der)))
}

pub struct CertificateCredential {
    pub token_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub algorithm: Algorithm,
    key: RsaPrivateKey,
    thumbprint: String,
}

impl CertificateCredential {
    /// Reads a PEM private key (PKCS#8, encrypted PKCS#8 with `passphrase`, or PKCS#1) and
    /// the PEM certificate.
    pub fn from_pem(
        key_pem: &str,
        certificate_pem: &str,
        passphrase: Option<&super::auth::Secret>,
        token_url: String,
        tenant_id: String,
        client_id: String,
        scope: String,
    ) -> Result<Self, String> {
        let key = if key_pem.contains("ENCRYPTED PRIVATE KEY") {
            let passphrase = passphrase.ok_or(
                "the private key is encrypted: store its passphrase with `lrx login --key-passphrase` (or set LRX_KEY_PASSPHRASE)",
            )?;
            RsaPrivateKey::from_pkcs8_encrypted_pem(key_pem, passphrase.expose().as_bytes())
                .map_err(|_| "the private key could not be decrypted: wrong passphrase, or an unsupported encryption".to_string())?
        } else {
            RsaPrivateKey::from_pkcs8_pem(key_pem)
                .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
                .map_err(|e| format!("the private key is not an RSA PEM key: {e}"))?
        };
        let thumbprint = thumbprint_s256(certificate_pem)
            .ok_or("the certificate file holds no PEM CERTIFICATE block")?;
        Ok(Self {
            token_url,
            tenant_id,
            client_id,
            scope,
            algorithm: Algorithm::Ps256,
            key,
            thumbprint,
        })
    }

    /// The signed assertion for one token request.
    pub fn assertion(&self, now: DateTime<Utc>) -> Result<String, String> {
        let alg = match self.algorithm {
            Algorithm::Ps256 => "PS256",
            Algorithm::Rs256 => "RS256",
        };
        let header = json!({"alg": alg, "typ": "JWT", "x5t#S256": self.thumbprint});
        let mut jti = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut jti);
        let claims = json!({
            "aud": self.token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": hex::encode(jti),
            "nbf": now.timestamp(),
            "iat": now.timestamp(),
            "exp": (now + Duration::minutes(5)).timestamp(),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = match self.algorithm {
            Algorithm::Ps256 => rsa::pss::BlindedSigningKey::<Sha256>::new(self.key.clone())
                .try_sign_with_rng(&mut rand_core::OsRng, signed.as_bytes())
                .map_err(|e| e.to_string())?
                .to_vec(),
            Algorithm::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone())
                .try_sign(signed.as_bytes())
                .map_err(|e| e.to_string())?
                .to_vec(),
        };
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

impl TokenSource for CertificateCredential {
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let requested_at = Utc::now();
            let assertion = self.assertion(requested_at).map_err(|e| {
                ApiError::Other(format!("could not sign the client assertion: {e}"))
            })?;
            let body = super::auth::request_token(
                http,
                &self.token_url,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", self.client_id.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                    ("scope", self.scope.as_str()),
                ],
            )
            .await?;
            super::auth::client_credentials_token(&body, requested_at)
        })
    }

    fn describe(&self) -> String {
        format!(
            "app {} in tenant {} (certificate)",
            self.client_id, self.tenant_id
        )
    }
}
