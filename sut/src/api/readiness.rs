//! Readiness probes shared by both API shapes: the database ping, the
//! bucket check and the workers' heartbeats, each timed and bounded by
//! [`CHECK_TIMEOUT`]. Each shape lays the outcome out its own way
//! (`/health/ready`: an array of dependencies; `/api/v2/ready`: an object
//! of checks).

use super::State;
use crate::workers::{self, Liveness};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long one dependency check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Milliseconds, rounded to a tenth.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The outcome of one timed check.
pub struct Probe<T> {
    pub ok: bool,
    pub took_ms: f64,
    /// What the check returned, when it answered.
    pub value: Option<T>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Runs a check, bounded by [`CHECK_TIMEOUT`], and times it.
pub async fn probe<F, T, E>(f: F) -> Probe<T>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, f).await;
    let took_ms = ms(start.elapsed());
    match outcome {
        Ok(Ok(v)) => Probe {
            ok: true,
            took_ms,
            value: Some(v),
            error: None,
        },
        Ok(Err(e)) => Probe {
            ok: false,
            took_ms,
            value: None,
            error: Some(crate::db::first_line(&e.to_string())),
        },
        Err(_) => Probe {
            ok: false,
            took_ms,
            value: None,
            error: Some(format!("no answer within {CHECK_TIMEOUT:?}")),
        },
    }
}

/// Every dependency the API needs to be ready.
pub struct Readiness {
    pub database: Probe<()>,
    pub storage: Probe<()>,
    /// Fails also when the query worked but no worker is alive.
    pub workers: Probe<Liveness>,
    /// The heartbeat age beyond which a worker is not alive.
    pub stale_ms: i64,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        self.database.ok && self.storage.ok && self.workers.ok
    }
}

/// Checks the database, the bucket and the workers at once.
pub async fn check_all(state: &State) -> Readiness {
    let stale_ms = i64::try_from(state.cfg.worker_stale_ms).unwrap_or(i64::MAX);
    let (database, storage, mut workers) = tokio::join!(
        probe(state.db.ping()),
        probe(state.bucket.check()),
        probe(workers::liveness(&state.db, stale_ms)),
    );
    let alive = workers.value.as_ref().map_or(0, |l| l.workers_alive);
    if alive <= 0 {
        workers.ok = false;
        workers
            .error
            .get_or_insert_with(|| "no worker heartbeat within the stale limit".into());
    }
    Readiness {
        database,
        storage,
        workers,
        stale_ms,
    }
}
