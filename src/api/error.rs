//! What can go wrong talking to the service, each with what to do about it.

use chrono::{DateTime, Local, Utc};

/// The call that failed: names it in messages and knows which permission it needs
/// (contract §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    SignIn,
    ListActions,
    GetAction,
    ResultLink,
    Download,
    Cancel,
    RunLiveResponse,
    LibraryFiles,
    Machines,
}

impl Operation {
    /// The API whose windows a call counts against; none for signing in and for downloads
    /// from storage, which the service does not count.
    pub fn api(self) -> Option<super::limits::Api> {
        use super::limits::Api;
        match self {
            Self::SignIn | Self::Download => None,
            Self::ListActions => Some(Api::ListActions),
            Self::GetAction => Some(Api::GetAction),
            Self::ResultLink => Some(Api::ResultLink),
            Self::Cancel => Some(Api::CancelAction),
            Self::RunLiveResponse => Some(Api::RunLiveResponse),
            Self::LibraryFiles => Some(Api::LibraryFiles),
            Self::Machines => Some(Api::Machines),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::SignIn => "signing in",
            Self::ListActions => "listing machine actions",
            Self::GetAction => "reading the machine action",
            Self::ResultLink => "GetLiveResponseResultDownloadLink",
            Self::Download => "downloading the result",
            Self::Cancel => "cancelling the machine action",
            Self::RunLiveResponse => "starting a live response session",
            Self::LibraryFiles => "listing the live response library",
            Self::Machines => "looking up machines",
        }
    }

    /// Whether asking twice can only do what asking once does. A POST that creates
    /// something is not: after a timeout or a 5xx it may already have happened, so it is
    /// never retried blindly (the caller looks before it asks again).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Self::RunLiveResponse | Self::Cancel)
    }

    pub fn permission_hint(self) -> &'static str {
        match self {
            Self::ListActions | Self::GetAction | Self::Machines => {
                "the app needs Machine.Read.All or Machine.ReadWrite.All (application), or the user needs Machine.Read and the 'View Data' role (delegated)"
            }
            Self::ResultLink => {
                "the app needs Machine.ReadWrite.All (application) or the user needs Machine.LiveResponse (delegated)"
            }
            Self::Cancel | Self::RunLiveResponse => {
                "the app or user needs Machine.LiveResponse, and live response must be enabled in the portal's advanced features; DisallowedOperation means the machine's device group has no automation level that allows live response (Settings > Endpoints > Device groups)"
            }
            Self::LibraryFiles => {
                "the app needs Library.Manage (application) to list the live response library; ask an admin, or give --script and let the run fail if the script is missing"
            }
            Self::SignIn | Self::Download => "check the app registration",
        }
    }
}

/// The service's own words about a failure (`error.code`, `message`, `target`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDetail {
    pub code: Option<String>,
    pub message: Option<String>,
    pub correlation_id: Option<String>,
}

impl ServiceDetail {
    /// Reads an MDE (`{"error":{...}}`) or Entra (`{"error":"...","error_description":...}`)
    /// error body; anything else (empty, HTML, XML) leaves the fields empty or carries a
    /// short excerpt.
    pub fn from_body(body: &[u8]) -> Self {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.trim().chars().take(200).collect();
            return Self {
                message: (!excerpt.is_empty()).then(|| crate::sanitize::line(&excerpt)),
                ..Self::default()
            };
        };
        let text = |value: &serde_json::Value| value.as_str().map(crate::sanitize::line);
        match &json["error"] {
            serde_json::Value::Object(error) => Self {
                code: error.get("code").and_then(text),
                message: error.get("message").and_then(text),
                correlation_id: error.get("target").and_then(text),
            },
            serde_json::Value::String(code) => Self {
                code: Some(crate::sanitize::line(code)),
                message: json.get("error_description").and_then(text),
                correlation_id: json.get("correlation_id").and_then(text),
            },
            _ => Self::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", describe_status(*operation, *status, detail))]
    Status {
        operation: Operation,
        status: u16,
        detail: ServiceDetail,
    },
    #[error("{} was throttled by the service (429) until {}; lrx waits and retries on its own — if this keeps happening, another tool is using the same app registration's budget{}", operation.describe(), local_time(*until), correlation(detail))]
    Throttled {
        operation: Operation,
        until: DateTime<Utc>,
        detail: ServiceDetail,
    },
    #[error("{} needs the service, and lrx is offline (--offline): only cached results and finished actions kept in the cache can be shown. Run without --offline to fetch it", operation.describe())]
    Offline { operation: Operation },
    #[error("{} failed: could not reach {host}: {reason}. Check the network, proxy and the API URL (--api-url / the cloud setting)", operation.describe())]
    Network {
        operation: Operation,
        host: String,
        reason: String,
    },
    #[error("{} failed: the TLS connection to {host} could not be verified: {reason}", operation.describe())]
    Tls {
        operation: Operation,
        host: String,
        reason: String,
    },
    #[error("{} returned a response lrx could not read: {reason}", operation.describe())]
    Decode {
        operation: Operation,
        reason: String,
    },
    #[error("no credentials: {0}")]
    MissingCredentials(String),
    #[error(
        "the result link expired or was rejected by blob storage twice in a row (HTTP 403); run the fetch again"
    )]
    LinkRejected,
    /// A URL the outbound policy does not allow (another origin, cleartext, userinfo).
    #[error(transparent)]
    Refused(#[from] super::policy::Refusal),
    #[error("{} failed: {host} answered HTTP {status} with a redirect to {location}; lrx never follows redirects, so a token or secret cannot be sent elsewhere. Check --api-url, --token-url and the cloud setting", operation.describe())]
    Redirected {
        operation: Operation,
        host: String,
        status: u16,
        location: String,
    },
    #[error("{} failed: {host} did not answer within {} s. Check the network and try again", operation.describe(), seconds)]
    Deadline {
        operation: Operation,
        host: String,
        seconds: u64,
    },
    #[error("{0}")]
    Other(String),
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Throttled { .. } => Some(429),
            _ => None,
        }
    }
}

fn local_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local).format("%H:%M:%S").to_string()
}

fn correlation(detail: &ServiceDetail) -> String {
    detail
        .correlation_id
        .as_deref()
        .map(|id| format!(" (correlation id {id})"))
        .unwrap_or_default()
}

fn describe_status(operation: Operation, status: u16, detail: &ServiceDetail) -> String {
    let what = operation.describe();
    let said = match (&detail.code, &detail.message) {
        (Some(code), Some(message)) if !message.is_empty() => format!(": {code}: {message}"),
        (Some(code), _) => format!(": {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    };
    let advice = match status {
        400 => "check the filter or arguments".to_string(),
        401 if operation == Operation::SignIn => {
            "check the tenant id, client id and secret (LRX_TENANT_ID, LRX_CLIENT_ID, LRX_CLIENT_SECRET)".to_string()
        }
        401 => "the token was refused; check the credentials and that the token is for the right cloud".to_string(),
        403 if detail.code.as_deref() == Some("DisallowedOperation") => {
            "the service refuses this on this machine: for live response, the machine's device group needs an automation remediation level (Settings > Endpoints > Device groups); a permission will not help".to_string()
        }
        403 => operation.permission_hint().to_string(),
        404 if operation == Operation::ResultLink => {
            "the command has no result (PutFile, failed or not finished yet)".to_string()
        }
        404 => "it does not exist, or it was started from the portal's device page (such sessions are not visible through the API)".to_string(),
        500..=599 => "the service had a problem; lrx retried, try again in a minute".to_string(),
        _ => "see the message above".to_string(),
    };
    format!(
        "{what} returned HTTP {status}{said}{}. What to do: {advice}",
        correlation(detail)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mde_entra_and_garbage_bodies() {
        let mde = ServiceDetail::from_body(
            br#"{"error":{"code":"Forbidden","message":"no","target":"43f4"}}"#,
        );
        assert_eq!(mde.code.as_deref(), Some("Forbidden"));
        assert_eq!(mde.correlation_id.as_deref(), Some("43f4"));
        let entra = ServiceDetail::from_body(br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret","correlation_id":"c1"}"#);
        assert_eq!(entra.code.as_deref(), Some("invalid_client"));
        assert!(ServiceDetail::from_body(b"").message.is_none());
        let html = ServiceDetail::from_body(b"<html>\x1b[2J oops</html>");
        assert!(html.message.is_some_and(|m| !m.contains('\x1b')));
    }

    #[test]
    fn forbidden_names_the_permission() {
        let error = ApiError::Status {
            operation: Operation::ResultLink,
            status: 403,
            detail: ServiceDetail::default(),
        };
        assert!(error.to_string().contains("Machine.ReadWrite.All"));
    }
}
