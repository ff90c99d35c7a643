//! `GET /artifacts/{key}`: an object of the bucket, byte for byte as
//! stored, so a validator can compare it with the recorded sha256.

use super::error::ApiError;
use super::State;
use axum::body::Body;
use axum::extract::{Path, State as Extract};
use axum::http::header;
use axum::response::Response;

/// Streams the stored object, or 404.
pub async fn get(
    Extract(state): Extract<State>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = state.bucket.get(&key).await?.ok_or_else(|| {
        ApiError::not_found(format!("no object {key} in bucket {}", state.bucket.name()))
    })?;
    let kind = if key.ends_with(".json") {
        "application/json"
    } else if key.ends_with(".txt") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    };
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header("x-bucket", state.bucket.name())
        .body(Body::from(bytes))
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
