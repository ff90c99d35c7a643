//! The `tasks` shape's job endpoints (`--shape tasks`): a job service laid
//! out the way another team might have written it, over the same runs,
//! worker and fault switches as the `runs` shape.
//!
//! - `POST /api/v2/tasks` `{"type", "input"}`, idempotent by the
//!   `Idempotency-Key` header only: 202 `{"accepted": true}`, the task's
//!   address in `Location` (the body carries no id).
//! - `GET /api/v2/tasks/{id}`: `{"task": {...}}` with a numeric `phase`
//!   (0 queued, 1 running, 2 finished, 3 crashed).
//! - `GET /api/v2/tasks/{id}/outputs`: `{"items": [...]}`, every result row.
//! - `GET /api/v2/backlog`: `{"stats": {...}}`, the queue's counts.
//!
//! The checks and queries are the `runs` shape's ([`super::runs::submit`],
//! [`super::runs::find`], [`super::runs::results_of`]); only the layout
//! differs.

use super::error::ApiError;
use super::runs::{find, results_of, submit, Submission};
use super::State;
use crate::runs::{self, Run, RunKind, RunResult, RunStatus};
use axum::extract::{Path, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Where a task lives.
pub const PREFIX: &str = "/api/v2/tasks";

/// The body of `POST /api/v2/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    #[serde(rename = "type")]
    pub kind: RunKind,
    #[serde(default = "empty_object")]
    pub input: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// A status as the number this shape reports: 0 queued, 1 running,
/// 2 finished (success), 3 crashed (failed).
pub fn phase(status: RunStatus) -> u8 {
    match status {
        RunStatus::Queued => 0,
        RunStatus::Running => 1,
        RunStatus::Completed => 2,
        RunStatus::Failed => 3,
    }
}

/// `POST /api/v2/tasks`: 202 with `Location` for a new task and for a
/// repeated `Idempotency-Key` with the same type and input; 409 when the
/// key names a task with another type or input; 400 for a bad body or key.
pub async fn create(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Result<Json<NewTask>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?
                .to_owned(),
        ),
    };
    let submission = Submission {
        kind: new.kind,
        params: new.input,
        idempotency_key: key,
    };
    let done = submit(&state, submission, "task").await?;
    let location = format!("{PREFIX}/{}", done.run.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(json!({ "accepted": true })),
    )
        .into_response())
}

/// A run as this shape shows a task.
fn task(run: &Run) -> Value {
    let done = run.status.is_terminal();
    let ok = done.then_some(run.status == RunStatus::Completed);
    json!({
        "ref": run.id,
        "type": run.kind,
        "phase": phase(run.status),
        "done": done,
        "ok": ok,
        "attempts": run.attempts,
        "output": {
            "file": run.artifact_key,
            "digest": { "sha256": run.artifact_sha256 },
            "store": run.artifact_bucket,
        },
        "error": run.error,
    })
}

/// `GET /api/v2/tasks/{id}`: `{"task": {...}}`, 404 for an unknown id.
pub async fn get(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let run = find(&state, &id, "task").await?;
    Ok(Json(json!({ "task": task(&run) })))
}

/// A result row as this shape lists it.
fn item(row: &RunResult) -> Value {
    json!({
        "task": row.run_id,
        "attempt": row.attempt,
        "row": row.id,
        "worker": row.worker_id,
        "value": row.value,
        "recorded_at_ms": row.created_at_ms,
    })
}

/// `GET /api/v2/tasks/{id}/outputs`: `{"items": [...]}`, one item per
/// recorded result (so a duplicated result shows as a second item).
pub async fn outputs(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = results_of(&state, &id, "task").await?;
    let items: Vec<Value> = rows.iter().map(item).collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v2/backlog`: `{"stats": {waiting, active, finished, crashed,
/// oldest_waiting_ms}}`.
pub async fn backlog(Extract(state): Extract<State>) -> Result<Json<Value>, ApiError> {
    let m = runs::queue_metrics(&state.db).await?;
    Ok(Json(json!({
        "stats": {
            "waiting": m.queued,
            "active": m.running,
            "finished": m.completed,
            "crashed": m.failed,
            "oldest_waiting_ms": m.oldest_queued_age_ms,
        }
    })))
}
