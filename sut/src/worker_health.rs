//! The worker's optional health endpoint (`--worker-health-listen`):
//! `GET /health` with the worker's id, pid, start time, uptime and the
//! runs it is working on, so a supervisor can prove a worker restart.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the endpoint reports.
pub struct WorkerStatus {
    pub worker_id: String,
    pub environment: String,
    pub started: Instant,
    pub started_at: time::OffsetDateTime,
    /// Runs in flight right now.
    pub in_flight: Box<dyn Fn() -> usize + Send + Sync>,
}

fn health(status: &WorkerStatus) -> Value {
    json!({
        "status": "healthy",
        "role": "worker",
        "version": env!("CARGO_PKG_VERSION"),
        "environment": status.environment,
        "worker_id": status.worker_id,
        "pid": std::process::id(),
        "started_at": status
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "uptime_seconds": status.started.elapsed().as_secs(),
        "in_flight": (status.in_flight)(),
    })
}

/// Binds the address (failing at start if it is taken).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, "worker health listening");
    Ok(listener)
}

/// Serves until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    status: Arc<WorkerStatus>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let app = Router::new().route(
        "/health",
        get(move || {
            let status = status.clone();
            async move { Json(health(&status)) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;
    Ok(())
}
