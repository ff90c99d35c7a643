//! Health endpoints: liveness (`/health`), readiness with each dependency's
//! status and latency (`/health/ready`), and a write/read/compare probe of
//! the bucket (`/health/storage-test`).

use super::State;
use crate::workers;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long one dependency check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// `GET /health`: the process is up.
pub async fn health(Extract(state): Extract<State>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "role": "api",
        "version": env!("CARGO_PKG_VERSION"),
        "environment": state.cfg.environment,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "pid": std::process::id(),
        "started_at": rfc3339(state.started_at),
        "faults": state.faults.names(),
    }))
}

/// Times a check, bounded by `CHECK_TIMEOUT`, into a dependency entry.
async fn check<F, T, E>(
    name: &str,
    details: impl FnOnce(Option<&T>) -> Value,
    f: F,
) -> (bool, Value)
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, f).await;
    let latency_ms = ms(start.elapsed());
    let (ok, value, error) = match outcome {
        Ok(Ok(v)) => (true, Some(v), None),
        Ok(Err(e)) => (false, None, Some(crate::db::first_line(&e.to_string()))),
        Err(_) => (
            false,
            None,
            Some(format!("no answer within {CHECK_TIMEOUT:?}")),
        ),
    };
    let mut entry = json!({
        "name": name,
        "status": if ok { "healthy" } else { "unhealthy" },
        "latency_ms": latency_ms,
        "details": details(value.as_ref()),
    });
    if let (Some(error), Some(obj)) = (error, entry.as_object_mut()) {
        obj.insert("error".into(), json!(error));
    }
    (ok, entry)
}

/// `GET /health/ready`: database, storage and worker heartbeat; 200 when
/// all are healthy, 503 otherwise.
pub async fn ready(Extract(state): Extract<State>) -> (StatusCode, Json<Value>) {
    let stale_ms = state.cfg.worker_stale_ms as i64;
    let backend = state.db.backend.name();
    let (database, storage, worker) = tokio::join!(
        check(
            "database",
            |_: Option<&()>| json!({ "backend": backend }),
            state.db.ping()
        ),
        check(
            "storage",
            |_: Option<&()>| state.bucket.details(),
            state.bucket.check()
        ),
        async {
            let (_, mut entry) = check(
                "worker",
                |l: Option<&workers::Liveness>| {
                    json!({
                        "workers_alive": l.map(|l| l.workers_alive),
                        "last_heartbeat_age_ms": l.and_then(|l| l.last_heartbeat_age_ms),
                        "stale_after_ms": stale_ms,
                        "workers": l.map(|l| l.workers.clone()).unwrap_or_default(),
                    })
                },
                workers::liveness(&state.db, stale_ms),
            )
            .await;
            let alive = entry["details"]["workers_alive"].as_i64().unwrap_or(0) > 0;
            if !alive {
                if let Some(obj) = entry.as_object_mut() {
                    obj.insert("status".into(), json!("unhealthy"));
                    obj.entry("error")
                        .or_insert(json!("no worker heartbeat within the stale limit"));
                }
            }
            (alive, entry)
        }
    );
    let all = database.0 && storage.0 && worker.0;
    let code = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "status": if all { "ready" } else { "not_ready" },
            "environment": state.cfg.environment,
            "dependencies": [database.1, storage.1, worker.1],
        })),
    )
}

/// `GET /health/storage-test`: writes a test object, reads it back and
/// compares; 200 when the content matches, 503 otherwise. The object stays
/// in the bucket as evidence.
pub async fn storage_test(Extract(state): Extract<State>) -> (StatusCode, Json<Value>) {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let run_id = format!("storage-test-{tag}");
    let key = format!("smoke-tests/storage-test-{tag}.txt");
    let now = time::OffsetDateTime::now_utc();
    let content = format!(
        "shakedown-sut storage test {run_id} environment={} at={}\n",
        state.cfg.environment,
        rfc3339(now)
    )
    .into_bytes();
    let mut body = json!({
        "timestamp": rfc3339(now),
        "run_id": run_id,
        "environment": state.cfg.environment,
        "storage_backend": state.bucket.backend(),
        "storage_bucket": state.bucket.name(),
        "test_object_key": key,
    });
    let started = Instant::now();
    let written =
        tokio::time::timeout(CHECK_TIMEOUT, state.bucket.put(&key, content.clone())).await;
    let write_ms = ms(started.elapsed());
    let mut read_ms = None;
    let outcome: Result<bool, String> = match written {
        Err(_) => Err("write timed out".into()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Ok(Ok(())) => {
            let started = Instant::now();
            let read = tokio::time::timeout(CHECK_TIMEOUT, state.bucket.get(&key)).await;
            read_ms = Some(ms(started.elapsed()));
            match read {
                Err(_) => Err("read timed out".into()),
                Ok(Err(e)) => Err(format!("read failed: {e}")),
                Ok(Ok(None)) => Err("object missing right after the write".into()),
                Ok(Ok(Some(bytes))) => Ok(bytes == content),
            }
        }
    };
    let verified = matches!(outcome, Ok(true));
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "status".into(),
            json!(if verified { "success" } else { "failure" }),
        );
        obj.insert("write_latency_ms".into(), json!(write_ms));
        obj.insert("read_latency_ms".into(), json!(read_ms));
        obj.insert("content_verified".into(), json!(verified));
        match outcome {
            Err(e) => {
                obj.insert("error".into(), json!(e));
            }
            Ok(false) => {
                obj.insert("error".into(), json!("content read back differs"));
            }
            Ok(true) => {}
        }
    }
    let code = if verified {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
