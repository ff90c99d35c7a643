//! `POST /api/runs/{id}/baseline`: an approver pins a finished run as the
//! baseline of its plan in its environment, the run relative criteria
//! (`L1.p95_ms < baseline.L1.p95_ms * 1.2`) compare with from then on
//! instead of the last GO run. Approvers only, like sign-offs, and never
//! the run's own launcher; every pin is in the audit log
//! (`baseline_pinned`). The report page's button does the same
//! ([`engine::access_store::Approvals::pin_baseline`]).

use crate::auth::require;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::Role;
use engine::access_store::Approvals;

/// `POST /api/runs/{id}/baseline`.
pub async fn pin(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    let who = match require(&extensions, Role::Approver) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match state.approvals.pin_baseline(&who, &id).await {
        Ok(pin) => Json(pin).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let body = serde_json::json!({ "status": e.status, "message": e.message });
            (status, Json(body)).into_response()
        }
    }
}
