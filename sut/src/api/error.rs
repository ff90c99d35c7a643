//! Errors as HTTP answers: `{"error": "..."}` with a status that says
//! whose fault it is (400/404/409 for the client, 503 while a dependency
//! is down, 500 otherwise).

use crate::bucket::BucketError;
use crate::db::{first_line, DbError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 404 for a missing thing.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    /// 400 for a bad request.
    pub fn bad_request(why: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, why)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        let status = if e.is_transient() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, first_line(&e.to_string()))
    }
}

impl From<BucketError> for ApiError {
    fn from(e: BucketError) -> ApiError {
        let status = match e {
            BucketError::InvalidKey(_) => StatusCode::BAD_REQUEST,
            BucketError::Unavailable { .. } | BucketError::Io { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            BucketError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}
