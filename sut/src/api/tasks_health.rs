//! The `tasks` shape's service endpoints: `GET /api/v2/about` (identity:
//! a boot id made at process start, never a pid) and `GET /api/v2/ready`
//! (readiness as an object of checks with booleans, 503 when not ready).
//! The probes are the `runs` shape's (`readiness`); only the layout
//! differs.

use super::health::rfc3339;
use super::readiness::{self, Probe};
use super::State;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// `GET /api/v2/about`: `{"service", "boot", "up_since"}`.
pub async fn about(Extract(state): Extract<State>) -> Json<Value> {
    Json(json!({
        "service": "tasks-api",
        "boot": state.boot.to_string(),
        "up_since": rfc3339(state.started_at),
    }))
}

/// One check: `ok`, `took_ms`, `error` when it failed, and `fields`.
fn check<T>(probe: &Probe<T>, fields: Value) -> Value {
    let mut check = json!({ "ok": probe.ok, "took_ms": probe.took_ms });
    if let Some(obj) = check.as_object_mut() {
        if let Some(error) = &probe.error {
            obj.insert("error".into(), json!(error));
        }
        if let Value::Object(fields) = fields {
            obj.extend(fields);
        }
    }
    check
}

/// `GET /api/v2/ready`: `{"ready", "checks": {"db", "store", "workers"}}`;
/// 200 when every check is ok, 503 otherwise.
pub async fn ready(Extract(state): Extract<State>) -> (StatusCode, Json<Value>) {
    let r = readiness::check_all(&state).await;
    let live = r.workers.value.as_ref();
    // `workers` is newest first.
    let newest = live
        .and_then(|l| l.workers.first())
        .map(|w| json!({ "worker": w.id, "since_ms": w.started_at_ms }));
    let checks = json!({
        "db": check(&r.database, json!({})),
        "store": check(&r.storage, json!({
            "bucket": state.bucket.name(),
            "dir": state.bucket.local_dir().map(|p| p.display().to_string()),
        })),
        "workers": check(&r.workers, json!({
            "alive": live.map_or(0, |l| l.workers_alive),
            "newest": newest,
        })),
    });
    let all = r.ready();
    let code = if all {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({ "ready": all, "checks": checks })))
}
