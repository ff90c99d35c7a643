//! Runs launched from the web app: each gets a row in the database, waits
//! its turn when another run holds the same environment, runs in the
//! engine with a sink that numbers its events, stores them and broadcasts
//! them to live pages, and can be aborted at any time (what was measured
//! until then is kept). When the server shuts down it refuses new runs,
//! gives running ones a grace period, then stops them as `interrupted`.

use crate::evidence::store::ObjectStore;
use crate::runs::event_writer::{self, persist, RunWriter, WriterConfig};
use engine::events::Sink;
use engine::launch::LaunchRequest;
use engine::plan::{LoadedPlan, PlanError};
use engine::run::{RunStatus, RunSummary, StoredEvent, Verdict};
use engine::runner::{run_plan_with, RunOptions};
use engine::store::{NewRun, RunStore, StoreError};
use engine::supervisor::Supervisor;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use super::event_writer::seal_interrupted;
use super::launch::{apply, within_caps};
use super::sink::EventSink;
pub use super::sink::END;

mod plans;
mod state;
use state::{lock, Ending, Launched, LiveRun, StopReason};

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The plan is not valid (every problem, with file, line and field).
    #[error("{0}")]
    Plan(#[from] PlanError),
    /// No such plan in the plans folder.
    #[error("no plan named {0:?} in the plans folder")]
    UnknownPlan(String),
    /// The environment is not in the plan, or an override is invalid.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The server is stopping (SIGTERM): it starts no new run.
    #[error("the server is shutting down; no new run can start (try again once it is back)")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a shut-down run may take to stop and record itself once told.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Default bound on the events a run holds while the database is away.
pub const DEFAULT_EVENT_BUFFER: usize = 100_000;

/// Starts, tracks and aborts runs.
pub struct Orchestrator {
    store: Arc<dyn RunStore>,
    evidence: Arc<dyn ObjectStore>,
    plans_dir: PathBuf,
    live: Mutex<HashMap<String, LiveRun>>,
    environments: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Set once a shutdown began: no new runs.
    closing: AtomicBool,
    /// Cancelled when the server stops for good: writers stop retrying.
    halt: CancellationToken,
    /// Events a run may hold while the database is unreachable.
    event_buffer: AtomicUsize,
    /// The server's caps on every run.
    caps: Mutex<engine::plan::Limits>,
    /// Whether plans pasted in the browser may run (off unless the
    /// server's `--allow-pasted-plans` says so).
    pasted_plans: AtomicBool,
    /// The supervisor `process` restarts go through (`shakedown demo`'s);
    /// without one, each run supervises the programs its plan names.
    supervisor: Mutex<Option<Arc<Supervisor>>>,
    /// Rings when any replica stored events of a run (readers of runs
    /// not live here tail the table).
    bell: super::tail::Bell,
    /// This replica's leases on its runs, when it shares the database
    /// with others (`shakedown serve`).
    ownership: Mutex<Option<Arc<super::ownership::Ownership>>>,
    /// The database load agents are coordinated through, when runs may
    /// split their loads across agents (`shakedown serve`).
    agents: Mutex<Option<crate::db::Db>>,
}

impl Orchestrator {
    pub fn new(
        store: Arc<dyn RunStore>,
        evidence: Arc<dyn ObjectStore>,
        plans_dir: PathBuf,
    ) -> Arc<Self> {
        Arc::new(Orchestrator {
            store,
            evidence,
            plans_dir,
            live: Mutex::new(HashMap::new()),
            environments: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            halt: CancellationToken::new(),
            event_buffer: AtomicUsize::new(DEFAULT_EVENT_BUFFER),
            caps: Mutex::new(engine::plan::Limits::default()),
            pasted_plans: AtomicBool::new(false),
            supervisor: Mutex::new(None),
            bell: super::tail::Bell::default(),
            ownership: Mutex::new(None),
            agents: Mutex::new(None),
        })
    }

    /// Lets plans pasted in the browser run (against a folder plan's
    /// environments), or not.
    pub fn allow_pasted_plans(&self, allowed: bool) {
        self.pasted_plans.store(allowed, Ordering::Relaxed);
    }

    /// Makes runs restart `process` services through `supervisor` (the
    /// one that already runs them) instead of starting their own.
    pub fn use_supervisor(&self, supervisor: Arc<Supervisor>) {
        *lock(&self.supervisor) = Some(supervisor);
    }

    /// Makes every run this process starts hold a lease as `ownership`
    /// says, renewed while it runs and released when it ends.
    pub fn use_ownership(&self, ownership: Arc<super::ownership::Ownership>) {
        *lock(&self.ownership) = Some(ownership);
    }

    /// Lets runs split their loads across load agents coordinated
    /// through `db`.
    pub fn use_agents(&self, db: crate::db::Db) {
        *lock(&self.agents) = Some(db);
    }

    /// The runs this process is running (or has queued).
    pub fn live_ids(&self) -> Vec<String> {
        lock(&self.live).keys().cloned().collect()
    }

    /// Stops a run here because it is no longer this process's (another
    /// replica marked it interrupted): it ends `interrupted` with `reason`.
    pub fn stop_lost(&self, id: &str, reason: &str) {
        if let Some(run) = lock(&self.live).get(id) {
            tracing::error!("run {id}: {reason}");
            run.stopped.set(reason);
            run.cancel.cancel();
        }
    }

    /// Sets the caps every run must stay within.
    pub fn set_caps(&self, caps: engine::plan::Limits) {
        *lock(&self.caps) = caps;
    }

    /// Sets how many events a run may hold while the database is
    /// unreachable (at least 1).
    pub fn set_event_buffer(&self, events: usize) {
        self.event_buffer.store(events.max(1), Ordering::Relaxed);
    }

    /// Stops the server's runs: refuses new ones at once, waits up to
    /// `grace` for running ones to finish, then stops the rest, which end
    /// `interrupted` with `reason` (what they measured kept, their
    /// evidence written). Returns how many were interrupted.
    pub async fn shutdown(&self, grace: Duration, reason: &str) -> usize {
        self.closing.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while self.live_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stopped: Vec<String> = {
            let live = lock(&self.live);
            for run in live.values() {
                run.stopped.set(reason);
                run.cancel.cancel();
            }
            live.keys().cloned().collect()
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.live_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for id in lock(&self.live).keys() {
            // The next start seals it as interrupted.
            tracing::error!("run {id} did not stop within {STOP_TIMEOUT:?} of the shutdown");
        }
        self.halt.cancel();
        stopped.len()
    }

    fn live_count(&self) -> usize {
        lock(&self.live).len()
    }

    /// Creates the run and starts it in the background; it queues while
    /// another run holds the same environment.
    pub async fn start(
        self: &Arc<Self>,
        request: &LaunchRequest,
    ) -> Result<RunSummary, StartError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(StartError::ShuttingDown);
        }
        let source = request.plan.as_ref().ok_or(StartError::Invalid {
            field: "plan",
            message: "choose a plan".to_owned(),
        })?;
        let mut loaded = self.load(source)?;
        apply(&mut loaded, request)?;
        let caps = *lock(&self.caps);
        within_caps(&loaded.plan, &caps)?;
        // The answer size cap is enforced while the run reads answers.
        loaded.plan.limits.max_answer_bytes = loaded.plan.limits.tightest(&caps).max_answer_bytes;
        let env_name = loaded
            .plan
            .environment(request.environment.as_deref().filter(|e| !e.is_empty()))
            .map_err(|message| StartError::Invalid {
                field: "environment",
                message,
            })?
            .0
            .to_owned();
        let run = self
            .store
            .create_run(NewRun {
                plan: loaded.plan.plan.name.clone(),
                environment: env_name.clone(),
            })
            .await?;
        let ownership = lock(&self.ownership).clone();
        if let Some(ownership) = ownership {
            // Unclaimed, the run is sealed by the replicas' sweep.
            ownership.claim(&run.id).await?;
        }
        let cancel = CancellationToken::new();
        let (events, _) = broadcast::channel(1024);
        let stopped = StopReason::default();
        {
            let mut live = lock(&self.live);
            // A shutdown that began while the run was being created stops
            // it at once; it still ends properly recorded.
            if self.closing.load(Ordering::SeqCst) {
                stopped.set("server shut down before the run started");
                cancel.cancel();
            }
            live.insert(
                run.id.clone(),
                LiveRun {
                    cancel: cancel.clone(),
                    events: events.clone(),
                    stopped: stopped.clone(),
                },
            );
        }
        let this = self.clone();
        let id = run.id.clone();
        let launched = Launched {
            env_name,
            tester: request.launched_by.clone(),
        };
        tokio::spawn(async move {
            this.drive(id, loaded, launched, cancel, events, stopped)
                .await;
        });
        Ok(run)
    }

    /// Asks a live run to stop; `false` when it is not running here.
    pub fn abort(&self, id: &str) -> bool {
        match lock(&self.live).get(id) {
            Some(run) => {
                run.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Live events of a run still in progress here.
    pub fn subscribe(&self, id: &str) -> Option<broadcast::Receiver<StoredEvent>> {
        lock(&self.live).get(id).map(|run| run.events.subscribe())
    }

    /// Cancelled once a shutdown has stopped the runs: streams of events
    /// end then, so the server's own graceful shutdown does not wait on
    /// them (a browser reconnects with `Last-Event-ID`, elsewhere).
    pub fn halted(&self) -> CancellationToken {
        self.halt.clone()
    }

    /// What wakes the readers of runs other replicas run.
    pub fn bell(&self) -> &super::tail::Bell {
        &self.bell
    }

    /// The store runs are kept in.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.store
    }

    /// Where evidence packs are written.
    pub fn evidence(&self) -> &Arc<dyn ObjectStore> {
        &self.evidence
    }

    fn environment_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.environments)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// A run from its queue to its end: waits for its environment, runs
    /// it, records how it ended, then closes its stream.
    async fn drive(
        self: Arc<Self>,
        id: String,
        loaded: LoadedPlan,
        launched: Launched,
        cancel: CancellationToken,
        events: broadcast::Sender<StoredEvent>,
        stopped: StopReason,
    ) {
        // Too many events held while the database is away stops the run.
        let overflow = {
            let (stopped, cancel) = (stopped.clone(), cancel.clone());
            move |reason: String| {
                stopped.set(&reason);
                cancel.cancel();
            }
        };
        let bound = self.event_buffer.load(Ordering::Relaxed);
        let (sink, writer) = event_writer::start(
            self.store.clone(),
            &id,
            events,
            WriterConfig::with_bound(bound),
            overflow,
            self.halt.clone(),
        );
        let sink = Arc::new(sink);
        sink.status(RunStatus::Queued, None, None);
        let env_lock = self.environment_lock(&launched.env_name);
        let ending = tokio::select! {
            _guard = env_lock.lock_owned() => {
                self.execute(&sink, &loaded, &launched, &cancel, &stopped).await
            }
            () = cancel.cancelled() => Ending {
                status: RunStatus::Aborted,
                verdict: None,
                error: Some("aborted while queued".to_owned()),
            },
        };
        self.finish(ending.stopped_by(&stopped), sink, writer).await;
    }

    /// Runs the plan once its environment is free; writes its evidence.
    async fn execute(
        &self,
        sink: &Arc<EventSink>,
        loaded: &LoadedPlan,
        launched: &Launched,
        cancel: &CancellationToken,
        stopped: &StopReason,
    ) -> Ending {
        let env_name = launched.env_name.as_str();
        let id = &sink.run_id;
        self.set_status(id, RunStatus::Running, None).await;
        sink.status(RunStatus::Running, None, None);
        // Under `shakedown demo`, `process` restarts go through the demo's
        // supervisor; otherwise the run supervises the programs its plan's
        // services name itself.
        let supervisor = lock(&self.supervisor).clone();
        let references = crate::runs::references::for_run(
            self.store.as_ref(),
            self.evidence.as_ref(),
            &loaded.plan,
            env_name,
            id,
        )
        .await;
        let options = RunOptions {
            supervisor,
            baseline: references.baseline.map(Arc::new),
            previous: references.previous.map(Arc::new),
            agents: lock(&self.agents).clone().map(|db| {
                Arc::new(super::agents::RunAgents::new(db, id.clone()))
                    as Arc<dyn engine::agents::LoadAgents>
            }),
        };
        let sink_dyn: Arc<dyn Sink> = sink.clone();
        match run_plan_with(loaded, Some(env_name), cancel.clone(), sink_dyn, options).await {
            Ok(mut results) => {
                results.run_id = id.clone();
                results.tester = launched.tester.clone();
                if let Some(reason) = stopped
                    .get()
                    .filter(|_| results.status == RunStatus::Aborted)
                {
                    results.status = RunStatus::Interrupted;
                    results.verdict = None;
                    results.error = Some(reason);
                }
                self.record_evidence(&results, sink).await;
                Ending {
                    status: results.status,
                    verdict: results.verdict,
                    error: results.error,
                }
            }
            // Cancelled while its programs were starting.
            Err(e @ engine::runner::RunError::Interrupted(_)) => Ending {
                status: RunStatus::Aborted,
                verdict: None,
                error: Some(e.to_string()),
            },
            // A run that cannot reach its environment is a NO-GO.
            Err(e) => Ending {
                status: RunStatus::Finished,
                verdict: Some(Verdict::NoGo),
                error: Some(e.to_string()),
            },
        }
    }

    /// Records how the run ended, closes its stream and waits for its
    /// events to be written.
    async fn finish(&self, ending: Ending, sink: Arc<EventSink>, writer: RunWriter) {
        let id = sink.run_id.clone();
        if let Some(error) = &ending.error {
            persist(&self.halt, &id, "its error", || {
                self.store.record_error(&id, error)
            })
            .await;
        }
        self.set_status(&id, ending.status, ending.verdict).await;
        sink.status(ending.status, ending.verdict, ending.error);
        sink.end();
        // The writer stops once every sender is gone.
        drop(sink);
        writer.finish().await;
        let ownership = lock(&self.ownership).clone();
        if let Some(ownership) = ownership {
            ownership.release(&id).await;
        }
        lock(&self.live).remove(&id);
    }

    /// Writes the run's evidence pack; the run's page links to its files.
    async fn record_evidence(&self, results: &engine::results::RunResults, sink: &EventSink) {
        match crate::evidence::record::store_run(self.evidence.as_ref(), results, None).await {
            Ok(written) => {
                persist(&self.halt, &results.run_id, "its evidence digest", || {
                    self.store.record_evidence(
                        &results.run_id,
                        written.version,
                        &written.manifest_digest,
                    )
                })
                .await;
                sink.evidence_written(&written);
            }
            Err(e) => {
                tracing::warn!("run {}: evidence not written: {e}", results.run_id);
                sink.evidence_failed(&e);
            }
        }
    }

    async fn set_status(&self, id: &str, status: RunStatus, verdict: Option<Verdict>) {
        persist(&self.halt, id, &format!("status {status}"), || {
            self.store.set_status(id, status, verdict)
        })
        .await;
    }
}
