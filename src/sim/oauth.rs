//! The Entra ID token endpoints (v2 `scope`, v1 `resource`) and bearer-token checks.
//! Tokens are JWT-shaped (header.claims.signature) so clients that peek at `roles` or `exp`
//! see what they would see from Entra; they are HMAC-signed with the server's key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

/// Resources whose `.default` scope the simulated tenant accepts (contract §2.1, §2.3, §2.6).
pub const KNOWN_RESOURCES: &[&str] = &[
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "https://api.securitycenter.windows.com",
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
];

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub tid: String,
    pub appid: String,
    pub app_displayname: String,
    pub roles: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The token's serial number (Entra's unique token identifier), by which the tenant
    /// revokes every token issued so far.
    #[serde(default)]
    pub uti: String,
}

pub struct TokenRequest {
    pub tenant: String,
    pub v1: bool,
    pub form: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
}

pub struct Issuer<'a> {
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub app_name: &'a str,
    pub roles: &'a [String],
    pub token_ttl: chrono::Duration,
    pub key: &'a [u8],
    pub own_base: &'a str,
    /// The app's registered certificate, for client assertions.
    pub certificate: Option<&'a SimCertificate>,
    /// The serial number of the token this request would mint.
    pub serial: u64,
}

/// A certificate registered on the simulated app: its thumbprint and public key.
#[derive(Debug, Clone)]
pub struct SimCertificate {
    pub thumbprint_s256: String,
    pub public_key: rsa::RsaPublicKey,
}

impl SimCertificate {
    pub fn from_pem(certificate_pem: &str, public_key_pem: &str) -> Result<Self, String> {
        use rsa::pkcs8::DecodePublicKey as _;
        Ok(Self {
            thumbprint_s256: crate::api::assertion::thumbprint_s256(certificate_pem)
                .ok_or("no PEM certificate")?,
            public_key: rsa::RsaPublicKey::from_public_key_pem(public_key_pem)
                .map_err(|e| e.to_string())?,
        })
    }
}

/// Checks a client assertion as Entra does; the error is the AADSTS code and text.
fn verify_assertion(
    assertion: &str,
    certificate: &SimCertificate,
    audience: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), (u32, String)> {
    use rsa::signature::Verifier as _;
    let invalid = |text: &str| {
        (
            700_027,
            format!("Client assertion failed signature validation: {text}."),
        )
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(invalid("the assertion is not a JWT"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let header: serde_json::Value = decode(header)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("unreadable header"))?;
    let claims: serde_json::Value = decode(claims)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("unreadable claims"))?;
    let signature = decode(signature).ok_or_else(|| invalid("unreadable signature"))?;
    if header["x5t#S256"].as_str() != Some(certificate.thumbprint_s256.as_str()) {
        return Err((700_027, "The certificate with the identifier used in the client assertion is not registered on the application (x5t#S256).".into()));
    }
    let signed = assertion
        .rsplit_once('.')
        .map_or("", |(signed, _)| signed)
        .as_bytes();
    let valid = match header["alg"].as_str() {
        Some("PS256") => rsa::pss::Signature::try_from(signature.as_slice()).is_ok_and(|sig| {
            rsa::pss::VerifyingKey::<Sha256>::new(certificate.public_key.clone())
                .verify(signed, &sig)
                .is_ok()
        }),
        Some("RS256") => {
            rsa::pkcs1v15::Signature::try_from(signature.as_slice()).is_ok_and(|sig| {
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(certificate.public_key.clone())
                    .verify(signed, &sig)
                    .is_ok()
            })
        }
        _ => return Err(invalid("the algorithm must be PS256 or RS256")),
    };
    if !valid {
        return Err(invalid(
            "the signature does not match the registered certificate",
        ));
    }
    if claims["aud"].as_str() != Some(audience) {
        return Err((
            700_212,
            format!("The audience of the client assertion must be the token endpoint {audience}."),
        ));
    }
    if claims["iss"].as_str() != Some(client_id) || claims["sub"].as_str() != Some(client_id) {
        return Err((
            700_021,
            "The client assertion's iss and sub must be the application's client id.".into(),
        ));
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(i64::MAX);
    if exp <= now.timestamp() {
        return Err((
            700_024,
            "Client assertion is not within its valid time range (expired).".into(),
        ));
    }
    if nbf > now.timestamp() + 300 || exp - nbf > 3600 {
        return Err((
            700_024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    Ok(())
}

pub struct TokenError {
    pub status: u16,
    pub body: serde_json::Value,
}

fn entra_error(
    status: u16,
    error: &str,
    code: u32,
    description: &str,
    now: DateTime<Utc>,
    ids: (&str, &str),
) -> TokenError {
    TokenError {
        status,
        body: json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: {}",
                ids.0, ids.1, now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": ids.0,
            "correlation_id": ids.1,
        }),
    }
}

impl Issuer<'_> {
    pub fn issue(
        &self,
        request: &TokenRequest,
        now: DateTime<Utc>,
        ids: (&str, &str),
    ) -> Result<serde_json::Value, TokenError> {
        let field = |name: &str| {
            request
                .form
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        if request.tenant != self.tenant_id {
            return Err(entra_error(
                400,
                "invalid_request",
                90002,
                &format!(
                    "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                    request.tenant
                ),
                now,
                ids,
            ));
        }
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(other) => {
                return Err(entra_error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    &format!("The app requested an unsupported grant type '{other}'."),
                    now,
                    ids,
                ));
            }
            None => {
                return Err(entra_error(
                    400,
                    "invalid_request",
                    900_144,
                    "The request body must contain the following parameter: 'grant_type'.",
                    now,
                    ids,
                ));
            }
        }
        let (client_id, secret) = match &request.basic_auth {
            Some((id, secret)) => (Some(id.as_str()), Some(secret.as_str())),
            None => (field("client_id"), field("client_secret")),
        };
        let Some(client_id) = client_id else {
            return Err(entra_error(
                400,
                "invalid_request",
                900_144,
                "The request body must contain the following parameter: 'client_id'.",
                now,
                ids,
            ));
        };
        if client_id != self.client_id {
            return Err(entra_error(
                401,
                "unauthorized_client",
                700_016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory '{}'.",
                    self.tenant_id
                ),
                now,
                ids,
            ));
        }
        if let Some(assertion) = field("client_assertion") {
            let Some(certificate) = self.certificate else {
                return Err(entra_error(
                    401,
                    "invalid_client",
                    700_027,
                    "No certificate is registered on the application.",
                    now,
                    ids,
                ));
            };
            let audience = format!(
                "{}/{}/oauth2/v2.0/token",
                self.own_base.trim_end_matches('/'),
                self.tenant_id
            );
            if let Err((code, text)) =
                verify_assertion(assertion, certificate, &audience, self.client_id, now)
            {
                return Err(entra_error(401, "invalid_client", code, &text, now, ids));
            }
        } else if secret != Some(self.client_secret) {
            return Err(entra_error(
                401,
                "invalid_client",
                7_000_215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
                now,
                ids,
            ));
        }
        let resource = if request.v1 {
            field("resource").map(|r| r.trim_end_matches('/').to_string())
        } else {
            field("scope")
                .and_then(|s| s.strip_suffix("/.default"))
                .map(|r| r.trim_end_matches('/').to_string())
        };
        let Some(resource) = resource.filter(|r| self.accepts(r)) else {
            let (name, code) = if request.v1 {
                ("resource", 500_011)
            } else {
                ("scope", 70011)
            };
            return Err(entra_error(
                400,
                "invalid_scope",
                code,
                &format!(
                    "The provided value for the input parameter '{name}' is not valid. The scope must be the API's resource followed by /.default."
                ),
                now,
                ids,
            ));
        };
        let (token, expires_in) = self.mint(&resource, now);
        Ok(if request.v1 {
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in.to_string(),
                "ext_expires_in": expires_in.to_string(),
                "expires_on": (now.timestamp() + expires_in).to_string(),
                "not_before": now.timestamp().to_string(),
                "resource": resource,
                "access_token": token,
            })
        } else {
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in,
                "ext_expires_in": expires_in,
                "access_token": token,
            })
        })
    }

    /// A signed access token for `resource`, and its lifetime in seconds.
    pub fn mint(&self, resource: &str, now: DateTime<Utc>) -> (String, i64) {
        let expires_in = self.token_ttl.num_seconds();
        let claims = Claims {
            aud: resource.to_string(),
            iss: format!("https://sts.windows.net/{}/", self.tenant_id),
            tid: self.tenant_id.into(),
            appid: self.client_id.into(),
            app_displayname: self.app_name.into(),
            roles: self.roles.to_vec(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp() + expires_in,
            uti: self.serial.to_string(),
        };
        (encode(&claims, self.key), expires_in)
    }

    /// The resource a v2 `scope` names, if the tenant knows it.
    pub fn resource_of_scope(&self, scope: &str) -> Option<String> {
        let resource = scope
            .split_whitespace()
            .find_map(|s| s.strip_suffix("/.default"))
            .map(|r| r.trim_end_matches('/').to_string())?;
        self.accepts(&resource).then_some(resource)
    }

    pub fn entra_error(
        &self,
        status: u16,
        error: &str,
        code: u32,
        description: &str,
        now: DateTime<Utc>,
        ids: (&str, &str),
    ) -> TokenError {
        entra_error(status, error, code, description, now, ids)
    }

    fn accepts(&self, resource: &str) -> bool {
        KNOWN_RESOURCES.contains(&resource) || resource == self.own_base.trim_end_matches('/')
    }
}

fn sign(data: &str, key: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn encode(claims: &Claims, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"lrx-sim"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{header}.{body}");
    let signature = sign(&signed, key);
    format!("{signed}.{signature}")
}

#[derive(Debug, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    Malformed,
    Expired,
}

pub fn validate(
    authorization: Option<&str>,
    key: &[u8],
    now: DateTime<Utc>,
) -> Result<Claims, BearerError> {
    let header = authorization.ok_or(BearerError::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(BearerError::Malformed)?
        .trim();
    let mut parts = token.rsplitn(2, '.');
    let (Some(signature), Some(signed)) = (parts.next(), parts.next()) else {
        return Err(BearerError::Malformed);
    };
    if sign(signed, key) != signature {
        return Err(BearerError::Malformed);
    }
    let body = signed.split('.').nth(1).ok_or(BearerError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| BearerError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| BearerError::Malformed)?;
    if claims.exp <= now.timestamp() {
        return Err(BearerError::Expired);
    }
    Ok(claims)
}

/// `Authorization: Basic base64(id:secret)`, which Entra accepts for client credentials.
pub fn basic_auth(header: Option<&str>) -> Option<(String, String)> {
    let encoded = header?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}
