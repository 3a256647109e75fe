//! Where lrx may send requests, decided in one place. A bearer token goes only to the API
//! origin it was made for and a client secret only to the configured sign-in URL; a result
//! link is fetched only from the cloud's blob storage over HTTPS. Plain HTTP is accepted only on
//! loopback (the simulator, a test mock), so nothing secret crosses a network in cleartext.
//!
//! Redirects are never followed (the HTTP client is built here with redirects off), so a
//! check made on a URL holds for the request that is sent.

use std::time::Duration;

use url::{Host, Url};

use super::cloud::Cloud;

/// Scheme, host and port: what "the same place" means for credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match (self.scheme.as_str(), self.port) {
            ("https", Some(443)) | ("http", Some(80)) | (_, None) => Ok(()),
            (_, Some(port)) => write!(f, ":{port}"),
        }
    }
}

/// A URL as it may be shown: no user name or password, no query (SAS signatures and
/// `OData` filters live there), no fragment. `Url` serialises to ASCII, so the result is
/// safe on a terminal.
pub fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Where a redirect wanted to send lrx (relative to `from`), as it may be shown.
pub fn redirect_target(headers: &reqwest::header::HeaderMap, from: &str) -> String {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Url::parse(from).ok()?.join(v).ok())
        .map_or_else(|| "nowhere lrx could read".into(), |u| shown(&u))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why a URL was refused, with the URL as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lrx refused to {what} {url}: {reason}")]
pub struct Refusal {
    pub what: &'static str,
    pub url: String,
    pub reason: String,
}

/// Storage hosts of each cloud's result links (contract §9: `<account>.blob.core.…`).
/// GCC tenants have lived on both the commercial and the government storage.
pub fn storage_suffixes(cloud: Cloud) -> &'static [&'static str] {
    match cloud {
        Cloud::Commercial | Cloud::Legacy => &["blob.core.windows.net"],
        Cloud::Gcc => &["blob.core.windows.net", "blob.core.usgovcloudapi.net"],
        Cloud::GccHigh | Cloud::Dod => &["blob.core.usgovcloudapi.net"],
    }
}

/// A configured endpoint must be HTTPS unless it is on this machine.
fn endpoint(text: &str, what: &str) -> Result<(Url, Origin), String> {
    let url = Url::parse(text).map_err(|e| format!("the {what} '{text}' is not a URL: {e}"))?;
    let origin = Origin::of(&url).ok_or_else(|| format!("the {what} '{text}' has no host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "the {what} {} carries a user name or password; lrx sends its credentials itself",
            shown(&url)
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "the {what} {} is plain http: tokens and secrets would cross the network in cleartext. Use https (plain http is accepted only on loopback, such as the simulator)",
                shown(&url)
            ));
        }
        other => {
            return Err(format!(
                "the {what} {} uses '{other}'; lrx speaks https only",
                shown(&url)
            ));
        }
    }
    Ok((url, origin))
}

#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// As users give it, without `/api` (lrx appends `/api/...`).
    api_root: String,
    api: Origin,
    api_is_loopback: bool,
    storage_suffixes: &'static [&'static str],
    storage_origins: Vec<Origin>,
}

impl OutboundPolicy {
    /// `storage` names storage origins beyond the cloud's own (an emulator such as Azurite).
    pub fn new(
        api_root: &str,
        token_url: Option<&str>,
        cloud: Cloud,
        storage: &[String],
    ) -> Result<Self, String> {
        let (api_url, api) = endpoint(api_root, "API URL")?;
        // The sign-in host is checked here only: its URL comes from configuration, never
        // from an answer, and with redirects off nothing can move it.
        if let Some(url) = token_url {
            endpoint(url, "token URL")?;
        }
        let storage_origins = storage
            .iter()
            .map(|url| endpoint(url, "storage URL").map(|(_, origin)| origin))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            api_root: api_root
                .trim_end_matches('/')
                .trim_end_matches("/api")
                .to_string(),
            api,
            api_is_loopback: is_loopback(&api_url),
            storage_suffixes: storage_suffixes(cloud),
            storage_origins,
        })
    }

    /// For a client of an API root alone (tests, tools): the commercial cloud's storage.
    pub fn for_api(api_root: &str) -> Result<Self, String> {
        Self::new(api_root, None, Cloud::Commercial, &[])
    }

    /// Adds a storage origin (an emulator) that result links may point to.
    pub fn with_storage(mut self, storage: &str) -> Result<Self, String> {
        let (_, origin) = endpoint(storage, "storage URL")?;
        self.storage_origins.push(origin);
        Ok(self)
    }

    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    /// Every API request, and every `@odata.nextLink` before it is followed: the token
    /// goes to the API origin and nowhere else.
    pub fn check_api(&self, url: &Url) -> Result<(), Refusal> {
        let refuse = |reason: String| Refusal {
            what: "send the API token to",
            url: shown(url),
            reason,
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it carries a user name or password".into()));
        }
        match Origin::of(url) {
            Some(origin) if origin == self.api => Ok(()),
            _ => Err(refuse(format!(
                "it is not the API ({}); a token is only ever sent to the API it was made for",
                self.api
            ))),
        }
    }

    /// A result link from the service: HTTPS on the cloud's blob storage, or the
    /// simulator's own origin, or a storage origin configured explicitly.
    pub fn check_link(&self, url: &Url) -> Result<(), Refusal> {
        let refuse = |reason: String| Refusal {
            what: "download the result link",
            url: shown(url),
            reason,
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse(
                "it carries a user name or password, which blob storage links never do".into(),
            ));
        }
        let Some(origin) = Origin::of(url) else {
            return Err(refuse("it has no host".into()));
        };
        if (self.api_is_loopback && origin == self.api) || self.storage_origins.contains(&origin) {
            return Ok(());
        }
        let expected = self
            .storage_suffixes
            .iter()
            .map(|suffix| format!("https://*.{suffix}"))
            .collect::<Vec<_>>()
            .join(" or ");
        if url.scheme() != "https" {
            return Err(refuse(format!(
                "result links must be HTTPS on the cloud's blob storage ({expected})"
            )));
        }
        let on_storage = matches!(url.host(), Some(Host::Domain(_)))
            && url.port().is_none_or(|port| port == 443)
            && self.storage_suffixes.iter().any(|suffix| {
                origin
                    .host
                    .strip_suffix(suffix)
                    .and_then(|account| account.strip_suffix('.'))
                    .is_some_and(|account| !account.is_empty())
            });
        if on_storage {
            Ok(())
        } else {
            Err(refuse(format!(
                "it is not on the cloud's blob storage ({expected}); configure storage_url (or LRX_STORAGE_URL) only for a storage emulator you run"
            )))
        }
    }
}

/// Every request of one API call, sign-in included, must finish within this: a server that
/// trickles its answer cannot hold lrx forever.
pub const API_REQUEST_DEADLINE: Duration = Duration::from_secs(120);

/// The one HTTP client lrx uses: redirects off (a redirect would carry a 307 body with the
/// client secret, or a token, to wherever the server says), no cookies, bounded connects.
pub fn http_client() -> Result<reqwest::Client, String> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("lrx/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn production() -> OutboundPolicy {
        OutboundPolicy::new(
            "https://api.security.microsoft.com",
            Some("https://login.microsoftonline.com/t/oauth2/v2.0/token"),
            Cloud::Commercial,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tokens_go_only_to_the_api_origin() {
        let policy = production();
        assert!(
            policy
                .check_api(&url(
                    "https://api.security.microsoft.com/api/machineactions?$skip=10"
                ))
                .is_ok()
        );
        for elsewhere in [
            "https://evil.example/api/machineactions",
            "http://169.254.169.254/latest/meta-data",
            "http://api.security.microsoft.com/api/machineactions",
            "https://api.security.microsoft.com:8443/api/machineactions",
            "https://api.security.microsoft.com.evil.example/api/x",
            "https://user:pw@api.security.microsoft.com/api/x",
        ] {
            let refusal = policy.check_api(&url(elsewhere)).expect_err(elsewhere);
            assert!(!refusal.to_string().contains("pw@"), "{refusal}");
        }
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        for (api, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:9", true),
            ("http://[::1]:9", true),
            ("https://api.security.microsoft.com", true),
            ("http://api.security.microsoft.com", false),
            ("http://10.0.0.5", false),
            ("ftp://127.0.0.1", false),
            ("https://u:p@api.security.microsoft.com", false),
        ] {
            assert_eq!(OutboundPolicy::for_api(api).is_ok(), ok, "{api}");
        }
        let error = OutboundPolicy::new(
            "https://api.security.microsoft.com",
            Some("http://login.example/t/oauth2/v2.0/token"),
            Cloud::Commercial,
            &[],
        )
        .expect_err("cleartext sign-in");
        assert!(error.contains("cleartext"), "{error}");
    }

    #[test]
    fn links_must_be_https_on_the_clouds_storage() {
        let policy = production();
        assert!(
            policy
                .check_link(&url(
                    "https://acct1.blob.core.windows.net/investigation-actions-data/x?sig=s"
                ))
                .is_ok()
        );
        for hostile in [
            "http://169.254.169.254/metadata",
            "http://acct1.blob.core.windows.net/c/b?sig=s",
            "https://x.blob.core.windows.net.evil.example/c/b",
            "https://blob.core.windows.net/c/b",
            "https://evilblob.core.windows.net/c/b",
            "https://acct1.blob.core.windows.net:8443/c/b",
            "https://user:password@acct1.blob.core.windows.net/c/b",
            "https://127.0.0.1/c/b",
            "https://acct1.blob.core.usgovcloudapi.net/c/b",
        ] {
            let refusal = policy.check_link(&url(hostile)).expect_err(hostile);
            let text = refusal.to_string();
            assert!(
                !text.contains("sig=") && !text.contains("password@"),
                "{text}"
            );
        }
        let gov = OutboundPolicy::new(
            "https://api-gov.securitycenter.microsoft.us",
            None,
            Cloud::GccHigh,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            gov.check_link(&url("https://a.blob.core.usgovcloudapi.net/c/b"))
                .is_ok()
        );
        assert!(
            gov.check_link(&url("https://a.blob.core.windows.net/c/b"))
                .is_err()
        );
    }

    #[test]
    fn a_loopback_api_accepts_its_own_origin_and_configured_storage_only() {
        let policy = OutboundPolicy::for_api("http://127.0.0.1:4000")
            .and_then(|p| p.with_storage("http://127.0.0.1:10000"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            policy
                .check_link(&url("http://127.0.0.1:4000/blob/x?sig=s"))
                .is_ok()
        );
        assert!(
            policy
                .check_link(&url("http://127.0.0.1:10000/devstoreaccount1/c/b"))
                .is_ok()
        );
        assert!(
            policy
                .check_link(&url("http://127.0.0.1:4001/blob/x"))
                .is_err()
        );
        assert!(
            policy
                .check_link(&url("http://169.254.169.254/blob/x"))
                .is_err()
        );
        // A production API never takes links on its own origin.
        assert!(
            production()
                .check_link(&url("https://api.security.microsoft.com/blob/x"))
                .is_err()
        );
    }

    #[test]
    fn shown_urls_hide_credentials_and_queries() {
        assert_eq!(
            shown(&url("https://u:secret@h.example/p?sig=abc#f")),
            "https://h.example/p"
        );
    }
}
