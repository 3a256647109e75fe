//! Result links: SAS URLs whose signature is a secret (it grants read access to the result),
//! so they are never printed, logged or shown; and whose expiry is read from `se`.

use chrono::{DateTime, Duration, Utc};

/// A SAS URL. `Debug` and `Display` hide the query string.
#[derive(Clone, PartialEq, Eq)]
pub struct SasUrl(url::Url);

impl SasUrl {
    pub fn parse(text: &str) -> Option<Self> {
        url::Url::parse(text).ok().map(Self)
    }

    /// The full URL, for the one place that needs it: the download request.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// `se` (signed expiry), if present and readable.
    pub fn signed_expiry(&self) -> Option<DateTime<Utc>> {
        self.0
            .query_pairs()
            .find(|(name, _)| name == "se")
            .and_then(|(_, value)| DateTime::parse_from_rfc3339(&value).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// For logs and messages: no signature, no user name or password.
    pub fn redacted(&self) -> String {
        format!("{}?<signature hidden>", super::policy::shown(&self.0))
    }
}

impl std::fmt::Debug for SasUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for SasUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How long links are valid when `se` is missing (contract §9).
pub const DEFAULT_LINK_TTL_MINUTES: i64 = 30;
/// A link is not used this close to its expiry: a download that starts then may not finish.
pub const SAFETY_MARGIN_SECONDS: i64 = 30;

#[derive(Debug, Clone)]
pub struct ResultLink {
    pub url: SasUrl,
    /// In local clock terms: the service's `se`, shifted by the measured clock skew.
    pub expires_at: DateTime<Utc>,
}

impl ResultLink {
    /// `server_date` is the response's `Date` header: the difference to our clock is the skew.
    pub fn new(
        url: SasUrl,
        issued_locally: DateTime<Utc>,
        server_date: Option<DateTime<Utc>>,
    ) -> Self {
        let skew = server_date.map_or_else(Duration::zero, |server| server - issued_locally);
        let expires_at = url.signed_expiry().map_or_else(
            || issued_locally + Duration::minutes(DEFAULT_LINK_TTL_MINUTES),
            |se| se - skew,
        );
        Self { url, expires_at }
    }

    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        now + Duration::seconds(SAFETY_MARGIN_SECONDS) < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn expiry_comes_from_se_corrected_for_skew() {
        let url = SasUrl::parse("https://x.blob.core.windows.net/c/b?se=2026-11-26T12%3A30%3A00Z&sp=r&sv=2019-07-07&sr=b&sig=abc%3D").expect("url");
        // The server's clock runs 2 minutes ahead of ours.
        let link = ResultLink::new(
            url.clone(),
            at("2026-11-26T12:00:00Z"),
            Some(at("2026-11-26T12:02:00Z")),
        );
        assert_eq!(link.expires_at, at("2026-11-26T12:28:00Z"));
        assert!(link.usable_at(at("2026-11-26T12:27:00Z")));
        assert!(
            !link.usable_at(at("2026-11-26T12:27:45Z")),
            "inside the safety margin"
        );
        let no_se = SasUrl::parse("https://x/c/b?sig=abc").expect("url");
        let link = ResultLink::new(no_se, at("2026-11-26T12:00:00Z"), None);
        assert_eq!(link.expires_at, at("2026-11-26T12:30:00Z"));
    }

    #[test]
    fn the_signature_never_shows() {
        let url = SasUrl::parse("https://x/c/b?se=1&sig=SECRET").expect("url");
        assert!(!format!("{url} {url:?}").contains("SECRET"));
        let url = SasUrl::parse("https://user:hunter2@x/c/b?sig=SECRET").expect("url");
        assert!(!format!("{url} {url:?}").contains("hunter2"));
    }
}
