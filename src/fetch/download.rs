//! Downloading a result from its SAS link: streamed to disk (memory does not grow with the
//! payload), hashed on the way, checked against `Content-Length` and `Content-Range`, and
//! bounded in size, in total time and against stalls, so a hostile blob can neither fill
//! the disk nor hold lrx forever. Blob storage is not the MDE API: no bearer token, no rate
//! budget; the link itself was checked by the outbound policy when it arrived.

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::api::link::ResultLink;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// Blob storage refused the link (403): expired or invalid; a fresh link may work.
    Rejected,
    /// Worth another try: 5xx, a timeout, a connection cut mid-body.
    Retryable(String),
    Fatal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
    /// From `Content-Disposition` (`GetFile` results), unsanitised.
    pub file_name: Option<String>,
}

const MIB: u64 = 1024 * 1024;

/// How much a download may take. A `RunScript` transcript has no documented cap; a `GetFile`
/// result is the gzip of a file of up to 3 GB (contract §11), so a little more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// Largest payload that is not gzip (a script transcript).
    pub script_bytes: u64,
    /// Largest gzip payload (a `GetFile` result).
    pub file_bytes: u64,
    /// The whole download, first byte to last.
    pub deadline: Duration,
    /// At least `stall_bytes` must arrive in every `stall_window`.
    pub stall_window: Duration,
    pub stall_bytes: u64,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        Self {
            script_bytes: 1024 * MIB,
            file_bytes: 3 * 1024 * MIB + 64 * MIB,
            deadline: Duration::from_secs(30 * 60),
            stall_window: Duration::from_secs(30),
            stall_bytes: 4096,
        }
    }
}

fn disposition_file_name(header: &str) -> Option<String> {
    let (_, rest) = header.split_once("filename=")?;
    let name = rest.trim().trim_start_matches('"');
    let end = name.find('"').unwrap_or(name.len());
    let name = name[..end].trim_end_matches(';').trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// `bytes 0-99/100` → (0, 99, Some(100)).
fn content_range(header: &str) -> Option<(u64, u64, Option<u64>)> {
    let range = header.trim().strip_prefix("bytes ")?;
    let (span, total) = range.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?, total))
}

fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(MIB))
}

pub async fn download(
    http: &reqwest::Client,
    link: &ResultLink,
    destination: &Path,
    limits: DownloadLimits,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<Downloaded, DownloadError> {
    let started = tokio::time::Instant::now();
    if let Ok(outcome) = tokio::time::timeout(
        limits.deadline,
        download_within(http, link, destination, limits, started, progress),
    )
    .await
    {
        if outcome.is_err() {
            let _ = tokio::fs::remove_file(destination).await;
        }
        outcome
    } else {
        let _ = tokio::fs::remove_file(destination).await;
        Err(DownloadError::Fatal(format!(
            "the download did not finish within {} minutes (the limit); blob storage is too slow or holding the connection",
            limits.deadline.as_secs() / 60
        )))
    }
}

async fn download_within(
    http: &reqwest::Client,
    link: &ResultLink,
    destination: &Path,
    limits: DownloadLimits,
    started: tokio::time::Instant,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Downloaded, DownloadError> {
    let response = http
        .get(link.url.expose().clone())
        .send()
        .await
        .map_err(|e| {
            DownloadError::Retryable(format!(
                "the connection to blob storage failed: {}",
                crate::api::auth::error_chain(&e.without_url())
            ))
        })?;
    let status = response.status();
    if status == reqwest::StatusCode::FORBIDDEN {
        // Azure says AuthenticationFailed, Azurite AuthorizationFailure: treat all alike.
        return Err(DownloadError::Rejected);
    }
    if status.is_redirection() {
        let location =
            crate::api::policy::redirect_target(response.headers(), link.url.expose().as_str());
        return Err(DownloadError::Fatal(format!(
            "blob storage answered HTTP {status} with a redirect to {location}; lrx does not follow redirects from storage"
        )));
    }
    if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        return Err(DownloadError::Retryable(format!(
            "blob storage answered HTTP {status}"
        )));
    }
    let length = response.content_length();
    let total = match status {
        reqwest::StatusCode::OK => length,
        // lrx never asks for a range: a 206 is only the result if it covers all of it.
        reqwest::StatusCode::PARTIAL_CONTENT => {
            let range = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(content_range);
            match range {
                Some((0, last, Some(whole))) if last + 1 == whole => Some(whole),
                _ => {
                    return Err(DownloadError::Retryable(
                        "blob storage sent only part of the result (HTTP 206)".into(),
                    ));
                }
            }
        }
        status => {
            return Err(DownloadError::Fatal(format!(
                "blob storage answered HTTP {status}"
            )));
        }
    };
    let largest = limits.script_bytes.max(limits.file_bytes);
    if let Some(total) = total.filter(|t| *t > largest) {
        return Err(DownloadError::Fatal(format!(
            "the result is {} and lrx's limit is {}; raise max_result_mb or max_file_mb in config.toml if it is genuine",
            megabytes(total),
            megabytes(largest)
        )));
    }
    let file_name = response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name);
    let std_file = crate::files::create_private_new(destination).map_err(|e| {
        DownloadError::Fatal(format!("could not write {}: {e}", destination.display()))
    })?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    // The kind is known from the first bytes: gzip is a GetFile result.
    let mut limit = largest;
    let mut window_start = (tokio::time::Instant::now(), 0u64);
    let mut response = response;
    progress(0, total);
    loop {
        let chunk = match tokio::time::timeout(limits.stall_window, response.chunk()).await {
            Err(_) => None,
            Ok(Ok(chunk)) => Some(chunk),
            Ok(Err(error)) => {
                return Err(DownloadError::Retryable(format!(
                    "the download was cut off after {received} bytes: {}",
                    error.without_url()
                )));
            }
        };
        let Some(chunk) = chunk else {
            return Err(DownloadError::Retryable(format!(
                "blob storage stalled: nothing arrived for {} s after {received} bytes",
                limits.stall_window.as_secs()
            )));
        };
        let Some(chunk) = chunk else { break };
        if received == 0 && !chunk.is_empty() {
            limit = if chunk.starts_with(&[0x1f, 0x8b]) {
                limits.file_bytes
            } else {
                limits.script_bytes
            };
        }
        hasher.update(&chunk);
        received += chunk.len() as u64;
        if received > limit {
            return Err(DownloadError::Fatal(format!(
                "the result is larger than lrx's limit of {}; lrx stopped reading. Raise max_result_mb or max_file_mb in config.toml if it is genuine",
                megabytes(limit)
            )));
        }
        if total.is_some_and(|t| received > t) {
            return Err(DownloadError::Retryable(format!(
                "blob storage sent more than the {} bytes it announced",
                total.unwrap_or_default()
            )));
        }
        file.write_all(&chunk).await.map_err(|e| {
            DownloadError::Fatal(format!("could not write {}: {e}", destination.display()))
        })?;
        progress(received, total);
        // A trickle (a byte every few seconds) is a stall too.
        let now = tokio::time::Instant::now();
        if now - window_start.0 >= limits.stall_window {
            if received - window_start.1 < limits.stall_bytes {
                return Err(DownloadError::Retryable(format!(
                    "blob storage is trickling: {} bytes in the last {} s",
                    received - window_start.1,
                    (now - window_start.0).as_secs()
                )));
            }
            window_start = (now, received);
        }
    }
    file.flush()
        .await
        .map_err(|e| DownloadError::Fatal(e.to_string()))?;
    file.sync_all()
        .await
        .map_err(|e| DownloadError::Fatal(e.to_string()))?;
    if let Some(expected) = total.filter(|expected| *expected != received) {
        return Err(DownloadError::Retryable(format!(
            "the download was truncated: {received} of {expected} bytes"
        )));
    }
    tracing::debug!(
        bytes = received,
        seconds = started.elapsed().as_secs_f64(),
        "download complete"
    );
    Ok(Downloaded {
        size: received,
        sha256: hex::encode(hasher.finalize()),
        file_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_disposition_names() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"a.pf.gz\""),
            Some("a.pf.gz".into())
        );
        assert_eq!(
            disposition_file_name("attachment; filename=b.gz"),
            Some("b.gz".into())
        );
        assert_eq!(disposition_file_name("attachment"), None);
    }

    #[test]
    fn reads_content_ranges() {
        assert_eq!(content_range("bytes 0-99/100"), Some((0, 99, Some(100))));
        assert_eq!(content_range("bytes 0-49/*"), Some((0, 49, None)));
        assert_eq!(content_range("items 0-1/2"), None);
    }
}
