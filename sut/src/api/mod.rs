//! The API role: an axum server over the database and the bucket. Routes
//! live in one module per area; this one holds the shared state, the
//! routers of the two shapes (`--shape runs`, the default, and
//! `--shape tasks`) and the serve loop (graceful on SIGTERM, bounded so
//! open event streams cannot hold the process).

mod artifacts;
mod error;
mod health;
mod readiness;
mod restart_errors;
mod runs;
mod stream;
mod tasks;
mod tasks_health;
mod tasks_watch;
mod universe;

use crate::bucket::Bucket;
use crate::config::{Config, Shape};
use crate::db::Db;
use crate::faults::{Fault, Faults};
use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every handler sees.
pub struct AppState {
    pub cfg: Config,
    pub faults: Faults,
    pub db: Db,
    pub bucket: Bucket,
    pub started: Instant,
    pub started_at: time::OffsetDateTime,
    /// This process's identity, made at start (`/api/v2/about`).
    pub boot: uuid::Uuid,
    /// Expansions this process has done (drives `graph-corruption`).
    pub expansions: AtomicU64,
}

/// Shared state handle.
pub type State = Arc<AppState>;

/// The routes of the configured shape.
pub fn router(state: State) -> Router {
    let routes = match state.cfg.shape {
        Shape::Runs => runs_router(state.clone()),
        Shape::Tasks => tasks_router(state.clone()),
    };
    if state.faults.on(Fault::ErrorsDuringRestart) {
        routes.layer(axum::middleware::from_fn_with_state(
            state,
            restart_errors::refuse_during_restart,
        ))
    } else {
        routes
    }
}

/// The `runs` shape.
fn runs_router(state: State) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/health/storage-test", get(health::storage_test))
        .route("/runs", post(runs::create))
        .route("/runs/{id}", get(runs::get))
        .route("/runs/{id}/results", get(runs::results))
        .route("/runs/{id}/events", get(stream::events))
        .route("/metrics/queue", get(runs::queue))
        .route("/universe/nodes/{id}/expand", post(universe::expand))
        .route("/universe/integrity", get(universe::integrity))
        .route("/artifacts/{*key}", get(artifacts::get))
        .with_state(state)
}

/// The `tasks` shape: the same work under `/api/v2`, laid out differently
/// (see `tasks`, `tasks_watch`, `tasks_health`).
fn tasks_router(state: State) -> Router {
    Router::new()
        .route("/api/v2/about", get(tasks_health::about))
        .route("/api/v2/ready", get(tasks_health::ready))
        .route("/api/v2/tasks", post(tasks::create))
        .route("/api/v2/tasks/{id}", get(tasks::get))
        .route("/api/v2/tasks/{id}/outputs", get(tasks::outputs))
        .route("/api/v2/tasks/{id}/watch", get(tasks_watch::watch))
        .route("/api/v2/backlog", get(tasks::backlog))
        .route("/api/v2/files/{*key}", get(artifacts::get))
        .route("/api/v2/nodes/{id}/expand", post(universe::expand))
        .route("/api/v2/graph/check", get(universe::integrity))
        .with_state(state)
}

/// Serves until SIGTERM/SIGINT; then stops accepting, and exits after at
/// most two seconds even if event streams are still open.
pub async fn serve(cfg: Config, faults: Faults, db: Db, bucket: Bucket) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        cfg,
        faults,
        db,
        bucket,
        started: Instant::now(),
        started_at: time::OffsetDateTime::now_utc(),
        boot: uuid::Uuid::new_v4(),
        expansions: AtomicU64::new(0),
    });
    let shape = state.cfg.shape;
    println!("listening on http://{addr}");
    tracing::info!(%addr, ?shape, boot = %state.boot, "api listening");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        let _ = stop_rx.changed().await;
    });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        done = &mut server => return Ok(done??),
        _ = crate::shutdown::signal() => {}
    }
    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(2), &mut server).await {
        Ok(done) => done??,
        Err(_) => tracing::info!("closing the connections still open"),
    }
    tracing::info!("api stopped");
    Ok(())
}
