//! The API role: an axum server over the database and the bucket. Routes
//! live in one module per area; this one holds the shared state, the
//! router and the serve loop (graceful on SIGTERM, bounded so open event
//! streams cannot hold the process).

mod artifacts;
mod error;
mod health;
mod runs;
mod stream;
mod universe;

use crate::bucket::Bucket;
use crate::config::Config;
use crate::db::Db;
use crate::faults::Faults;
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
    /// Expansions this process has done (drives `graph-corruption`).
    pub expansions: AtomicU64,
}

/// Shared state handle.
pub type State = Arc<AppState>;

/// The API's routes.
pub fn router(state: State) -> Router {
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
        expansions: AtomicU64::new(0),
    });
    println!("listening on http://{addr}");
    tracing::info!(%addr, "api listening");
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
