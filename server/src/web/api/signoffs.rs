//! The JSON API behind `shakedown signoff` and the audit export:
//! `GET|POST /api/runs/{id}/signoffs` (read the sign-off block; sign with an
//! approver's session or API token) and `GET /api/audit.jsonl` (admins).

use crate::auth::require;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{header, Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::{ApprovalError, Role, SignRequest};
use engine::access_store::{AccessStore, Approvals};

fn refusal(e: ApprovalError) -> Response {
    (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(e),
    )
        .into_response()
}

/// `GET /api/runs/{id}/signoffs`.
pub async fn state(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&extensions, Role::Viewer) {
        return r.into_response();
    }
    match state.approvals.state(&id).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => refusal(e),
    }
}

/// `POST /api/runs/{id}/signoffs` with a JSON [`SignRequest`].
pub async fn sign(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    body: Result<Json<SignRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let who = match require(&extensions, Role::Approver) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let Json(request) = match body {
        Ok(b) => b,
        Err(e) => {
            return refusal(ApprovalError::status(
                400,
                format!("request body: {}", e.body_text()),
            ))
        }
    };
    match state.approvals.sign(&who, &id, request).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => refusal(e),
    }
}

/// `GET /api/audit.jsonl`: the newest 100,000 entries, oldest first, one
/// JSON object a line.
pub async fn export(State(state): State<AppState>, extensions: Extensions) -> Response {
    if let Err(r) = require(&extensions, Role::Admin) {
        return r.into_response();
    }
    match state.db.audit_log(100_000).await {
        Ok(entries) => {
            let mut out = String::new();
            for e in entries.iter().rev() {
                if let Ok(line) = serde_json::to_string(e) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            (
                [
                    (header::CONTENT_TYPE, "application/x-ndjson"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"shakedown-audit.jsonl\"",
                    ),
                ],
                out,
            )
                .into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
