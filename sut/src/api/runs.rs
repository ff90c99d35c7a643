//! Run endpoints: `POST /runs` (idempotent by key), `GET /runs/{id}`,
//! `GET /runs/{id}/results` (every result row, so duplicates show) and
//! `GET /metrics/queue`. The checks behind creation and lookup
//! ([`submit`], [`find`], [`results_of`]) are shared with the `tasks` shape.

use super::error::ApiError;
use super::State;
use crate::runs::{self, QueueMetrics, Run, RunKind, RunResult};
use crate::work;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The body of `POST /runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    pub kind: RunKind,
    #[serde(default = "empty_object")]
    pub params: Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    json!({})
}

/// A creation request both shapes accept: kind, params and optional key.
pub struct Submission {
    pub kind: RunKind,
    pub params: Value,
    pub idempotency_key: Option<String>,
}

/// What [`submit`] did.
pub struct Submitted {
    pub run: Run,
    /// False when the idempotency key named an existing, identical run.
    pub created: bool,
}

/// Checks and creates a run, or finds the one an earlier request with the
/// same idempotency key created. 400 for bad params or key; 409 when the
/// key names a run of another kind or params (`noun` names it: run, task).
pub async fn submit(state: &State, new: Submission, noun: &str) -> Result<Submitted, ApiError> {
    work::check_params(&new.params).map_err(ApiError::bad_request)?;
    if let Some(k) = &new.idempotency_key {
        if k.is_empty() || k.len() > 200 {
            return Err(ApiError::bad_request(
                "idempotency_key must be 1-200 characters",
            ));
        }
    }
    let created = runs::create(
        &state.db,
        new.kind,
        &new.params,
        new.idempotency_key.as_deref(),
    )
    .await?;
    if !created.created && (created.run.kind != new.kind || created.run.params != new.params) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "idempotency key already used by {noun} {} with another kind or params",
                created.run.id
            ),
        ));
    }
    Ok(Submitted {
        run: created.run,
        created: created.created,
    })
}

/// `POST /runs`: 201 with a new run; 200 with the existing run when the
/// idempotency key (body field or `Idempotency-Key` header) was seen
/// before; 409 when that run had another kind or params.
pub async fn create(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Result<Json<NewRun>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let Json(new) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let header_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let submission = Submission {
        kind: new.kind,
        params: new.params,
        idempotency_key: new.idempotency_key.or(header_key),
    };
    let done = submit(&state, submission, "run").await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done.run)))
}

/// The run with this id, or 404 naming it as `noun`.
pub async fn find(state: &State, id: &str, noun: &str) -> Result<Run, ApiError> {
    runs::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no {noun} {id}")))
}

/// Every result row of the run (404 naming it as `noun` if there is none).
pub async fn results_of(state: &State, id: &str, noun: &str) -> Result<Vec<RunResult>, ApiError> {
    find(state, id, noun).await?;
    Ok(runs::results(&state.db, id).await?)
}

/// `GET /runs/{id}`.
pub async fn get(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    find(&state, &id, "run").await.map(Json)
}

/// `GET /runs/{id}/results`: `{run_id, count, results: [...]}`.
pub async fn results(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = results_of(&state, &id, "run").await?;
    Ok(Json(
        json!({ "run_id": id, "count": rows.len(), "results": rows }),
    ))
}

/// `GET /metrics/queue`.
pub async fn queue(Extract(state): Extract<State>) -> Result<Json<QueueMetrics>, ApiError> {
    Ok(Json(runs::queue_metrics(&state.db).await?))
}
