//! What the orchestrator keeps about each run besides the engine's own
//! state: why the server stopped it, where it runs and who launched it, and
//! how it ended.

use engine::run::{RunStatus, StoredEvent, Verdict};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Why something other than the user stopped a run (a shutdown, the
/// database gone for too long): the run ends `interrupted` with it.
#[derive(Clone, Default)]
pub(super) struct StopReason(Arc<Mutex<Option<String>>>);

impl StopReason {
    /// Records the reason; the first one stays.
    pub(super) fn set(&self, reason: &str) {
        lock(&self.0).get_or_insert_with(|| reason.to_owned());
    }

    pub(super) fn get(&self) -> Option<String> {
        lock(&self.0).clone()
    }
}

pub(super) struct LiveRun {
    pub(super) cancel: CancellationToken,
    pub(super) events: broadcast::Sender<StoredEvent>,
    pub(super) stopped: StopReason,
}

/// How a run ended.
pub(super) struct Ending {
    pub(super) status: RunStatus,
    pub(super) verdict: Option<Verdict>,
    pub(super) error: Option<String>,
}

impl Ending {
    /// Stopped by the server rather than by the user: interrupted.
    pub(super) fn stopped_by(self, stopped: &StopReason) -> Ending {
        match stopped.get() {
            Some(reason) if matches!(self.status, RunStatus::Aborted | RunStatus::Interrupted) => {
                Ending {
                    status: RunStatus::Interrupted,
                    verdict: None,
                    error: Some(reason),
                }
            }
            _ => self,
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where a launched run goes and who launched it.
pub(super) struct Launched {
    /// The environment's name in the plan.
    pub(super) env_name: String,
    /// The signed-in user or API token's owner who launched it, when known.
    pub(super) tester: Option<String>,
}
