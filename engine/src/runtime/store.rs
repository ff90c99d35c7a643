//! Where runs are kept: the interface the engine and the web app write and
//! read through, so neither depends on which database sits behind it.

use crate::launch::{EvidenceSummary, LaunchError, LaunchRequest, PlanChoice, PlanOutline};
use crate::run::{RunStatus, RunSummary, StoredEvent, Verdict};
use async_trait::async_trait;

/// A store that could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the statement.
    #[error("database error: {0}")]
    Database(String),
    /// A stored row holds a value this version cannot read.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// No run has that id.
    #[error("no run with id {0}")]
    NotFound(String),
    /// The write disagrees with what is stored (another event under a
    /// stored sequence number), or the thing exists already or no longer
    /// exists; said in full.
    #[error("{0}")]
    Conflict(String),
}

/// What a new run is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    /// The plan's name.
    pub plan: String,
    /// The environment it runs against.
    pub environment: String,
}

/// Narrows the runs list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this plan.
    pub plan: Option<String>,
    /// Only runs against this environment.
    pub environment: Option<String>,
    /// Only runs with this verdict.
    pub verdict: Option<Verdict>,
}

/// Reads and writes runs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Creates a queued run and returns it.
    async fn create_run(&self, run: NewRun) -> Result<RunSummary, StoreError>;
    /// Moves a run to another status; a terminal status records the end time
    /// and, for finished runs, the verdict.
    async fn set_status(
        &self,
        id: &str,
        status: RunStatus,
        verdict: Option<Verdict>,
    ) -> Result<RunSummary, StoreError>;
    /// Records a run that ran elsewhere (a headless `shakedown run`), with
    /// its own id, times, status and verdict; an existing row is left alone.
    async fn import_run(&self, run: &RunSummary) -> Result<(), StoreError>;
    /// One run.
    async fn get_run(&self, id: &str) -> Result<RunSummary, StoreError>;
    /// Runs matching the filter, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError>;
    /// Records the evidence pack written for a run: its version and the
    /// sha256 of its manifest (what the report and sign-offs are bound to).
    async fn record_evidence(
        &self,
        id: &str,
        version: u32,
        manifest_sha256: &str,
    ) -> Result<(), StoreError>;
    /// The run's newest recorded evidence: version and manifest sha256.
    async fn evidence_of(&self, id: &str) -> Result<Option<(u32, String)>, StoreError>;
    /// Records why a run could not finish normally (shown with the run).
    async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError>;
    /// Appends events to a run's log; their sequence numbers must follow
    /// the last stored one. Idempotent per sequence number: an event
    /// already stored (a retried batch) is not stored again, another event
    /// under a stored number is refused (`Conflict`); never duplicated.
    async fn append_events(&self, run_id: &str, events: &[StoredEvent]) -> Result<(), StoreError>;
    /// The run's events with a sequence number above `after`, in order, at
    /// most `limit` of them.
    async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Marks every run still queued or running as interrupted, with the
    /// reason, and returns them: called when the server starts, so no run
    /// stays `running` after the process that ran it died.
    async fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<RunSummary>, StoreError>;
    /// The run an approver pinned as the baseline of the plan in the
    /// environment, with who pinned it; none unless the store keeps pins.
    async fn pinned_baseline(
        &self,
        _plan: &str,
        _environment: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(None)
    }
}

/// Starts and stops runs for the web app (implemented by the server's
/// orchestrator).
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Reads and validates a plan without running it.
    fn outline(&self, plan: &PlanChoice) -> Result<PlanOutline, LaunchError>;
    /// Creates the run and starts it in the background (it queues while
    /// another run holds the same environment).
    async fn launch(&self, request: LaunchRequest) -> Result<RunSummary, LaunchError>;
    /// Asks a run in progress to stop; `false` when it is not running here.
    fn abort(&self, id: &str) -> bool;
    /// The run's newest evidence pack, verified file by file; `Ok(None)`
    /// when it has none.
    async fn evidence(&self, id: &str) -> Result<Option<EvidenceSummary>, String>;
}
