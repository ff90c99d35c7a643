//! How the web server keeps its runs safe when it is told to stop or loses
//! its database: the settings (`--shutdown-grace-s`, `--event-buffer`) and
//! the graceful shutdown on SIGTERM or Ctrl-C (no new runs, running ones
//! get the grace period to finish, the rest end `interrupted`), and the
//! clean-up of network faults a crashed process left in place (its toxics
//! are recorded in the ledger under the data folder before they are
//! injected; see `engine::netfault::ledger`).

use crate::runs::orchestrator::Orchestrator;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Settings of `shakedown serve` and `shakedown demo` about stopping and
/// database outages.
#[derive(clap::Args, Debug, Clone)]
pub struct LifecycleArgs {
    /// On SIGTERM or Ctrl-C, how long running runs may take to finish
    /// before they are stopped and marked `interrupted` (seconds).
    #[arg(long, env = "SHAKEDOWN_SHUTDOWN_GRACE_S", default_value_t = 30)]
    pub shutdown_grace_s: u64,
    /// How many events a run may hold in memory while the database is
    /// unreachable; beyond that the run is stopped with the reason.
    #[arg(long, env = "SHAKEDOWN_EVENT_BUFFER", default_value_t = crate::runs::orchestrator::DEFAULT_EVENT_BUFFER)]
    pub event_buffer: usize,
}

impl LifecycleArgs {
    /// Gives the orchestrator its settings.
    pub fn apply(&self, orchestrator: &Orchestrator) {
        orchestrator.set_event_buffer(self.event_buffer);
    }

    /// The grace period as a duration.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }
}

/// Resolves once the server may stop serving: after SIGTERM or Ctrl-C,
/// when every run has finished or been interrupted. Until then the server
/// keeps answering (live pages, streams), but refuses new runs.
pub async fn drain_on_signal(orchestrator: Arc<Orchestrator>, grace: Duration) {
    let signal = signal().await;
    tracing::info!(
        "{signal}: refusing new runs; running ones have {} s to finish",
        grace.as_secs()
    );
    let reason = format!("server shut down ({signal}) before the run finished");
    let interrupted = orchestrator.shutdown(grace, &reason).await;
    if interrupted > 0 {
        tracing::warn!("{interrupted} run(s) interrupted by the shutdown");
    }
    tracing::info!("shutting down");
}

/// Waits for SIGTERM or Ctrl-C and names the one that came.
pub async fn signal() -> &'static str {
    let ctrl_c = async {
        // Without a handler, only SIGTERM can stop us.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    }
}

/// Makes `data_dir/netfaults` this process's ledger of network faults in
/// place, then removes every fault recorded there by a process that no
/// longer runs (a `shakedown serve` or `shakedown run` killed mid-fault).
/// Returns what was removed; what could not be is logged and kept for the
/// next start.
pub async fn clean_up_network_faults(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = data_dir.join("netfaults");
    engine::netfault::ledger::use_dir(&dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the network-fault ledger {}: {e}",
            dir.display()
        )
    })?;
    let (done, failed) = engine::netfault::ledger::clean_up(&dir).await;
    for what in &done {
        tracing::warn!("network fault left by a stopped run removed: {what}");
    }
    for what in &failed {
        tracing::error!("network fault left by a stopped run still in place: {what}");
    }
    Ok(done)
}
