//! SAS-style result links on the simulator's own blob route, signed like Azure's (HMAC-SHA256
//! over the signed fields) and rejected with Azure's exact 403 when tampered or expired.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const CONTAINER_PATH: &str = "/blob/investigation-actions-data";
pub const SERVICE_VERSION: &str = "2019-07-07";

fn string_to_sign(path: &str, expiry: &str) -> String {
    format!("r\n\n{expiry}\n{path}\n\n{SERVICE_VERSION}\nb")
}

fn signature(key: &[u8], path: &str, expiry: &str) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(string_to_sign(path, expiry).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The blob path for a result: container, action, then an opaque 32-hex name as in real links.
pub fn blob_path(key: &[u8], action_id: &str, index: usize) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{action_id}/{index}").as_bytes());
    let name = hex::encode(&mac.finalize().into_bytes()[..16]);
    format!("{CONTAINER_PATH}/{action_id}/CustomPlaybookCommandOutput/{name}")
}

pub fn sign_url(base: &str, key: &[u8], path: &str, expiry: DateTime<Utc>) -> String {
    let se = expiry.to_rfc3339_opts(SecondsFormat::Secs, true);
    let sig = signature(key, path, &se);
    // Real links encode ':' and '=' but leave '/' in the signature as is (contract §9).
    let se_encoded = se.replace(':', "%3A");
    let sig_encoded = sig.replace('+', "%2B").replace('=', "%3D");
    format!("{base}{path}?se={se_encoded}&sp=r&sv={SERVICE_VERSION}&sr=b&sig={sig_encoded}")
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Tampered, missing or malformed fields.
    Signature(String),
    Expired {
        expiry: DateTime<Utc>,
    },
}

pub fn verify(key: &[u8], path: &str, query: &str, now: DateTime<Utc>) -> Result<(), Rejection> {
    let mut fields = std::collections::HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        fields.insert(name.into_owned(), value.into_owned());
    }
    let get = |name: &str| fields.get(name).map(String::as_str);
    let (Some(se), Some(sig)) = (get("se"), get("sig")) else {
        return Err(Rejection::Signature(
            "Signature fields not well formed.".into(),
        ));
    };
    if get("sp") != Some("r") || get("sr") != Some("b") || get("sv") != Some(SERVICE_VERSION) {
        return Err(Rejection::Signature(format!(
            "Signature did not match. String to sign used was {}",
            string_to_sign(path, se).replace('\n', "\\n")
        )));
    }
    let expected = signature(key, path, se);
    // `+` in an unencoded signature arrives as a space after form decoding.
    let presented = sig.replace(' ', "+");
    if !constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
        return Err(Rejection::Signature(format!(
            "Signature did not match. String to sign used was {}",
            string_to_sign(path, se).replace('\n', "\\n")
        )));
    }
    let expiry = DateTime::parse_from_rfc3339(se)
        .map_err(|_| Rejection::Signature("Signature fields not well formed.".into()))?
        .with_timezone(&Utc);
    if expiry <= now {
        return Err(Rejection::Expired { expiry });
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Azure's 403 body (contract §10.1), BOM included.
pub fn error_body(rejection: &Rejection, now: DateTime<Utc>, request_id: &str) -> String {
    let detail = match rejection {
        Rejection::Signature(detail) => detail.clone(),
        Rejection::Expired { expiry } => format!(
            "Signed expiry time [{}] must be after signed start time [{}]",
            expiry.format("%a, %d %b %Y %H:%M:%S GMT"),
            now.format("%a, %d %b %Y %H:%M:%S GMT")
        ),
    };
    format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.\nRequestId:{request_id}\nTime:{}</Message><AuthenticationErrorDetail>{}</AuthenticationErrorDetail></Error>",
        super::entity::ticks_time(now),
        xml_escape(&detail)
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn signed_links_verify_until_they_expire() {
        let key = b"k";
        let path = blob_path(key, "abc", 0);
        let url = sign_url(
            "http://h",
            key,
            &path,
            now() + chrono::Duration::minutes(30),
        );
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        assert!(url.contains("sp=r&sv=2019-07-07&sr=b&sig="));
        assert_eq!(verify(key, &path, query, now()), Ok(()));
        assert!(matches!(
            verify(key, &path, query, now() + chrono::Duration::minutes(31)),
            Err(Rejection::Expired { .. })
        ));
        let tampered = query.replace("se=2026-11-26T12", "se=2026-11-27T12");
        assert!(matches!(
            verify(key, &path, &tampered, now()),
            Err(Rejection::Signature(_))
        ));
        assert!(matches!(
            verify(key, "/other", query, now()),
            Err(Rejection::Signature(_))
        ));
    }
}
