//! Health endpoints: liveness (`/health`), readiness with each dependency's
//! status and latency (`/health/ready`), and a write/read/compare probe of
//! the bucket (`/health/storage-test`). The readiness probes themselves
//! live in `readiness`, shared with the `tasks` shape.

use super::readiness::{self, ms, Probe, CHECK_TIMEOUT};
use super::State;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Instant;

/// An instant as RFC 3339 text.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

/// One dependency as `/health/ready` lists it.
fn entry<T>(name: &str, probe: &Probe<T>, details: Value) -> Value {
    let mut entry = json!({
        "name": name,
        "status": if probe.ok { "healthy" } else { "unhealthy" },
        "latency_ms": probe.took_ms,
        "details": details,
    });
    if let (Some(error), Some(obj)) = (&probe.error, entry.as_object_mut()) {
        obj.insert("error".into(), json!(error));
    }
    entry
}

/// `GET /health/ready`: database, storage and worker heartbeat; 200 when
/// all are healthy, 503 otherwise.
pub async fn ready(Extract(state): Extract<State>) -> (StatusCode, Json<Value>) {
    let r = readiness::check_all(&state).await;
    let live = r.workers.value.as_ref();
    let database = entry(
        "database",
        &r.database,
        json!({ "backend": state.db.backend.name() }),
    );
    let storage = entry("storage", &r.storage, state.bucket.details());
    let worker = entry(
        "worker",
        &r.workers,
        json!({
            "workers_alive": live.map(|l| l.workers_alive),
            "last_heartbeat_age_ms": live.and_then(|l| l.last_heartbeat_age_ms),
            "stale_after_ms": r.stale_ms,
            "workers": live.map(|l| l.workers.clone()).unwrap_or_default(),
        }),
    );
    let all = r.ready();
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
            "dependencies": [database, storage, worker],
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
