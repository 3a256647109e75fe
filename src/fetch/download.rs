//! Downloading a result from its SAS link: streamed to disk (memory does not grow with the
//! payload), hashed on the way, checked against `Content-Length`. Blob storage is not the
//! MDE API: no bearer token, no rate budget.

use std::path::Path;

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
    /// From `Content-Disposition` (GetFile results), unsanitised.
    pub file_name: Option<String>,
}

fn disposition_file_name(header: &str) -> Option<String> {
    let (_, rest) = header.split_once("filename=")?;
    let name = rest.trim().trim_start_matches('"');
    let end = name.find('"').unwrap_or(name.len());
    let name = name[..end].trim_end_matches(';').trim();
    (!name.is_empty()).then(|| name.to_string())
}

pub async fn download(
    http: &reqwest::Client,
    link: &ResultLink,
    destination: &Path,
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
    if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        return Err(DownloadError::Retryable(format!(
            "blob storage answered HTTP {status}"
        )));
    }
    if !status.is_success() {
        return Err(DownloadError::Fatal(format!(
            "blob storage answered HTTP {status}"
        )));
    }
    let total = response.content_length();
    let file_name = response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_file_name);
    let std_file = super::cache::private_file(destination).map_err(|e| {
        DownloadError::Fatal(format!("could not write {}: {e}", destination.display()))
    })?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut response = response;
    progress(0, total);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                received += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| {
                    DownloadError::Fatal(format!("could not write {}: {e}", destination.display()))
                })?;
                progress(received, total);
            }
            Ok(None) => break,
            Err(error) => {
                let _ = tokio::fs::remove_file(destination).await;
                return Err(DownloadError::Retryable(format!(
                    "the download was cut off after {received} bytes: {}",
                    error.without_url()
                )));
            }
        }
    }
    file.flush()
        .await
        .map_err(|e| DownloadError::Fatal(e.to_string()))?;
    file.sync_all()
        .await
        .map_err(|e| DownloadError::Fatal(e.to_string()))?;
    if let Some(expected) = total.filter(|expected| *expected != received) {
        let _ = tokio::fs::remove_file(destination).await;
        return Err(DownloadError::Retryable(format!(
            "the download was truncated: {received} of {expected} bytes"
        )));
    }
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
}
