//! The simulated storage account: result payloads behind SAS links, checked as Azure does.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::dataset::{Outcome, ResultSpec};
use super::payload;
use super::sas;
use super::server::{Request, SimServer, find_action};
use super::timeline::{self};

pub(super) fn blob(server: &SimServer, request: &Request) -> Response {
    let now = server.now();
    let request_id = format!("{}000000", &server.correlation_id()[..30]);
    if let Err(rejection) = sas::verify(&server.key, &request.path, &request.query, now) {
        let body = sas::error_body(&rejection, now, &request_id);
        return (
            StatusCode::FORBIDDEN,
            [
                (header::CONTENT_TYPE, "application/xml".to_string()),
                (
                    header::HeaderName::from_static("x-ms-error-code"),
                    "AuthenticationFailed".to_string(),
                ),
                (
                    header::HeaderName::from_static("x-ms-request-id"),
                    request_id,
                ),
            ],
            body,
        )
            .into_response();
    }
    let located = server
        .blobs
        .lock()
        .ok()
        .and_then(|blobs| blobs.get(&request.path).cloned());
    let Some((action_id, index)) = located else {
        return blob_not_found(&request_id);
    };
    let Ok(data) = server.data.read() else {
        return blob_not_found(&request_id);
    };
    let Some(action) = find_action(&data, &action_id) else {
        return blob_not_found(&request_id);
    };
    let view = timeline::evaluate(action, now);
    let ran_at = view.commands[index].end.unwrap_or(now);
    let spec = match &action.commands[index].outcome {
        Outcome::Completed(spec) => spec.clone(),
        _ => ResultSpec::None,
    };
    let Some(blob) = payload::render(action, index, &data.machines[action.machine], ran_at, &spec)
    else {
        return blob_not_found(&request_id);
    };
    drop(data);
    server
        .downloads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let length = blob.bytes.len();
    let body = if server.chance(server.config.faults.truncated_blobs) {
        // Announce the full length, send half, then drop the connection, as a flaky
        // network path does.
        let half = Bytes::from(blob.bytes).slice(..length / 2);
        let stream = futures_util::stream::iter(vec![
            Ok::<Bytes, std::io::Error>(half),
            Err(std::io::Error::other(
                "connection reset by the simulated network",
            )),
        ]);
        Body::from_stream(stream)
    } else {
        Body::from(blob.bytes)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(blob.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    headers.insert(
        "x-ms-version",
        HeaderValue::from_static(sas::SERVICE_VERSION),
    );
    if let Some(value) = blob
        .file_name
        .and_then(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

pub(super) fn blob_not_found(request_id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (header::HeaderName::from_static("x-ms-error-code"), "BlobNotFound".to_string()),
        ],
        format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.\nRequestId:{request_id}</Message></Error>"),
    )
        .into_response()
}
