//! `POST /api/runs/{id}/baseline`: an approver pins a finished run as the
//! baseline of its plan in its environment, the run relative criteria
//! (`L1.p95_ms < baseline.L1.p95_ms * 1.2`) compare with from then on
//! instead of the last GO run. Approvers only, like sign-offs; every pin is
//! in the audit log (`baseline_pinned`).

use crate::auth::require;
use crate::web::AppState;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::Role;
use engine::access_store::AccessStore;
use engine::store::StoreError;

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
    let pin = match state.db.pin_baseline(&id, &who.name).await {
        Ok(pin) => pin,
        Err(e) => {
            let status = match &e {
                StoreError::NotFound(_) => StatusCode::NOT_FOUND,
                StoreError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let body = serde_json::json!({ "status": status.as_u16(), "message": e.to_string() });
            return (status, Json(body)).into_response();
        }
    };
    let detail = format!("baseline of plan {} in {}", pin.plan, pin.environment);
    if let Err(e) = state
        .db
        .audit(&who.name, "baseline_pinned", &id, &detail, pin.pinned_at_ms)
        .await
    {
        tracing::warn!("baseline pin of run {id} not audited: {e}");
    }
    Json(pin).into_response()
}
