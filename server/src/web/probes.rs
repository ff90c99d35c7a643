//! `/healthz` (the process answers) and `/readyz` (its database and evidence
//! directory work), each dependency with its status and latency. `/readyz`
//! is public: anyone gets only each dependency's name, status and latency;
//! an admin (logged in, or local mode) also gets what is behind it
//! (backend, folder, bucket endpoint) and why it fails.

use crate::web::AppState;
use axum::extract::State;
use axum::http::{Extensions, StatusCode};
use axum::Json;
use engine::access::{Principal, Role};
use serde::Serialize;
use std::time::Instant;

/// Liveness: answers as long as the process serves requests, with its
/// pid (how a restart of Shakedown itself is proved).
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
    }))
}

/// One dependency's state.
#[derive(Debug, Serialize)]
pub struct Dependency {
    /// `database` or `evidence`.
    pub name: &'static str,
    /// `ok` or `failing`.
    pub status: &'static str,
    /// How long the probe took.
    pub latency_ms: f64,
    /// What is behind it (backend or folder); admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why it fails, when it does; admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The readiness answer.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready` when every dependency is ok.
    pub status: &'static str,
    pub dependencies: Vec<Dependency>,
}

/// Longest a store probe may take before it counts as failing.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Readiness: probes every dependency; 503 when any fails.
pub async fn readyz(
    State(state): State<AppState>,
    extensions: Extensions,
) -> (StatusCode, Json<Readiness>) {
    let admin = extensions
        .get::<Principal>()
        .is_some_and(|p| p.can(Role::Admin));
    let started = Instant::now();
    let database = state.db.ping().await;
    let database = dependency(
        "database",
        state.db.backend().name().to_owned(),
        started,
        database.map_err(|e| e.to_string()),
    );
    let started = Instant::now();
    let evidence =
        match tokio::time::timeout(PROBE_TIMEOUT, state.orchestrator.evidence().probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(crate::evidence::EvidenceError::Store { reason, .. })) => Err(reason),
            Ok(Err(other)) => Err(other.to_string()),
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
    let evidence = dependency(
        "evidence",
        state.orchestrator.evidence().describe(),
        started,
        evidence,
    );
    let mut dependencies = vec![database, evidence];
    let ready = dependencies.iter().all(|d| d.error.is_none());
    if !admin {
        for d in &mut dependencies {
            d.detail = None;
            d.error = None;
        }
    }
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ready { "ready" } else { "not_ready" };
    (
        code,
        Json(Readiness {
            status,
            dependencies,
        }),
    )
}

fn dependency(
    name: &'static str,
    detail: String,
    started: Instant,
    outcome: Result<(), String>,
) -> Dependency {
    Dependency {
        name,
        status: if outcome.is_ok() { "ok" } else { "failing" },
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        detail: Some(detail),
        error: outcome.err(),
    }
}
