//! The `errors-during-restart` fault: the API refuses work (503) while a
//! restart is under way, though its health routes say it is fine: for
//! `--restart-errors-ms` after the API process starts, and while a worker
//! is draining before its restart. A load balancer that trusts the health
//! check sends users into those errors.

use super::error::ApiError;
use super::State;
use crate::db::now_ms;
use axum::extract::{Request, State as AxumState};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Whether a path is one of the health routes, which keep answering.
fn is_health(path: &str) -> bool {
    path.starts_with("/health") || path == "/api/v2/about" || path == "/api/v2/ready"
}

/// Whether a worker that is draining has beaten within the stale limit.
async fn worker_draining(state: &State) -> bool {
    let fresh = now_ms() - state.cfg.worker_stale_ms as i64;
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM workers WHERE state = 'draining' AND heartbeat_at_ms >= $1",
    )
    .bind(fresh)
    .fetch_one(&state.db.pool)
    .await
    .is_ok_and(|n| n > 0)
}

/// Answers 503 instead of the route while a restart is under way.
pub async fn refuse_during_restart(
    AxumState(state): AxumState<State>,
    request: Request,
    next: Next,
) -> Response {
    if is_health(request.uri().path()) {
        return next.run(request).await;
    }
    let warming = state.started.elapsed() < Duration::from_millis(state.cfg.restart_errors_ms);
    if warming || worker_draining(&state).await {
        let why = if warming {
            "the API is still starting"
        } else {
            "a worker is restarting"
        };
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    next.run(request).await
}
