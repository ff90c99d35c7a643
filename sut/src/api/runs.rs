//! Run endpoints: `POST /runs` (idempotent by key), `GET /runs/{id}`,
//! `GET /runs/{id}/results` (every result row, so duplicates show) and
//! `GET /metrics/queue`.

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

/// `POST /runs`: 201 with a new run; 200 with the existing run when the
/// idempotency key (body field or `Idempotency-Key` header) was seen
/// before; 409 when that run had another kind or params.
pub async fn create(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Result<Json<NewRun>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let Json(new) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    work::check_params(&new.params).map_err(ApiError::bad_request)?;
    let header_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let key = new.idempotency_key.or(header_key);
    if let Some(k) = &key {
        if k.is_empty() || k.len() > 200 {
            return Err(ApiError::bad_request(
                "idempotency_key must be 1-200 characters",
            ));
        }
    }
    let created = runs::create(&state.db, new.kind, &new.params, key.as_deref()).await?;
    if created.created {
        return Ok((StatusCode::CREATED, Json(created.run)));
    }
    if created.run.kind != new.kind || created.run.params != new.params {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "idempotency key already used by run {} with another kind or params",
                created.run.id
            ),
        ));
    }
    Ok((StatusCode::OK, Json(created.run)))
}

/// `GET /runs/{id}`.
pub async fn get(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    runs::get(&state.db, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no run {id}")))
}

/// `GET /runs/{id}/results`: `{run_id, count, results: [...]}`.
pub async fn results(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if runs::get(&state.db, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("no run {id}")));
    }
    let rows: Vec<RunResult> = runs::results(&state.db, &id).await?;
    Ok(Json(
        json!({ "run_id": id, "count": rows.len(), "results": rows }),
    ))
}

/// `GET /metrics/queue`.
pub async fn queue(Extract(state): Extract<State>) -> Result<Json<QueueMetrics>, ApiError> {
    Ok(Json(runs::queue_metrics(&state.db).await?))
}
