//! The `chaos` test: start a workload (runs through the job protocol and/or
//! SSE sessions), restart a service or put a network fault on a link
//! (`faults::network`) at the chosen moment (after a delay or once enough
//! of the workload is in flight), then verify with a deadline
//! what happened to the work, and keep the restart's proof. A restart
//! Shakedown did not observe, a trigger that did not fire, or a fault that
//! found nothing in flight makes the test an error, so the run is NO-GO
//! whatever the other figures say.
//!
//! A chaos test may also carry background HTTP load (`background`): it
//! starts `baseline_s` before the workload, runs through the fault and
//! stops `after_s` after recovery; its requests are split into windows by
//! the fault's recorded times (`windows`).

pub mod background;
pub mod runs;
pub mod streams;
pub mod windows;

mod sessions;
mod trigger;

use crate::clients::bucket::Buckets;
use crate::clients::jobs::JobClient;
use crate::faults;
use crate::metrics::resilience::{ChaosMetrics, FaultEvidence, NetworkFaultEvidence};
use crate::metrics::TestMetrics;
use crate::plan::{AfterChecks, ChaosFault, ChaosSpec, HoldUntil, NetworkFault};
use crate::runner::context::{TestContext, TestOutcome};
use background::Background;
use sessions::{collect_sessions, start_sessions};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use streams::{SessionCounters, SessionEnd};
use tokio::task::JoinSet;
use trigger::await_trigger;

/// Verification deadline after the fault when the plan sets none.
const DEFAULT_DEADLINE_S: u32 = 60;
/// The fault happens at the latest this long after the workload started.
const TRIGGER_LIMIT: Duration = Duration::from_secs(60);

/// After recovery: `count` health checks of `path`, one every `interval_ms`
/// (100 ms unless the plan says), each counted and, when it passes, counted
/// as passed.
async fn after_checks(checks: &AfterChecks, ctx: &TestContext, metrics: &mut ChaosMetrics) {
    let every = Duration::from_millis(u64::from(checks.interval_ms.map_or(100, |i| i.get())));
    let Ok(url) = ctx.target.url(&checks.path) else {
        return;
    };
    for _ in 0..checks.count.get() {
        let ok = ctx
            .target
            .get(url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        metrics.health_checks_after += 1;
        metrics.health_checks_after_ok += u64::from(ok);
        tokio::time::sleep(every).await;
    }
}

/// The baseline: the background load alone, before any workload or fault
/// (the run's abort ends it early).
async fn hold_baseline(spec: &ChaosSpec, ctx: &TestContext) {
    tokio::select! {
        _ = tokio::time::sleep(background::baseline(spec)) => {}
        _ = ctx.cancel.cancelled() => {}
    }
}

/// Stops the background load, when there is one, keeping nothing.
fn abort(background: Option<Background>) {
    if let Some(background) = background {
        background.abort();
    }
}

/// Whether the test's fault is a network fault held `until` its runs
/// settle.
fn held_until_settled(spec: &ChaosSpec) -> bool {
    matches!(&spec.fault, Some(ChaosFault::Network(f)) if f.duration_s.is_none() && f.until.is_some())
}

fn failed(metrics: ChaosMetrics, error: String) -> (TestOutcome, Vec<FaultEvidence>) {
    let mut outcome = TestOutcome::new(TestMetrics::Chaos(metrics));
    outcome.error = Some(error);
    (outcome, Vec::new())
}

/// Runs the test; the evidence of the fault comes back beside the outcome.
pub async fn run(spec: &ChaosSpec, ctx: &TestContext) -> (TestOutcome, Vec<FaultEvidence>) {
    let background = background::start(spec, ctx);
    if background.is_some() {
        hold_baseline(spec, ctx).await;
    }
    let started = Instant::now();
    let mut test = Chaos::new(spec, ctx);
    if test.client.is_none() && (spec.jobs.is_some() || spec.streams.is_some()) {
        abort(background);
        return failed(
            test.metrics,
            "the chaos workload needs the plan's [jobs] table".to_owned(),
        );
    }
    let deadline_after = Duration::from_secs(u64::from(
        spec.deadline_s.map_or(DEFAULT_DEADLINE_S, |d| d.get()),
    ));
    let counters = Arc::new(SessionCounters::default());
    let until = started + TRIGGER_LIMIT + deadline_after;
    let (mut sessions, ids) = test.start_workload(&counters, until).await;
    let (fault_at, open_at_fault, evidence) = match test
        .fault(&ids, &counters, started, background.as_ref())
        .await
    {
        Ok(fault) => fault,
        Err(why) => {
            sessions.abort_all();
            abort(background);
            return failed(test.metrics, why);
        }
    };
    let recovered_at = evidence
        .recovery_ms
        .map(|ms| fault_at + Duration::from_millis(ms));
    let load_stop = background
        .as_ref()
        .map(|b| b.stop_after(fault_at, recovered_at));
    // Runs still open `deadline_s` after the fault are stuck; a fault held
    // until the runs settle may have used all of that time already.
    let deadline = if held_until_settled(spec) {
        fault_at + deadline_after
    } else {
        Instant::now() + deadline_after
    };
    test.settle(&mut sessions, ids, open_at_fault, deadline)
        .await;
    let load_error = test
        .finish_load(background, load_stop, fault_at, recovered_at)
        .await;
    test.metrics.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (mut outcome, evidence) = test.finish(evidence);
    if outcome.error.is_none() {
        outcome.error = load_error;
    }
    (outcome, evidence)
}

/// A chaos test under way: what its steps read, and what they measured.
struct Chaos<'a> {
    spec: &'a ChaosSpec,
    ctx: &'a TestContext,
    client: Option<JobClient<'a>>,
    metrics: ChaosMetrics,
    warnings: Vec<String>,
}

impl<'a> Chaos<'a> {
    /// The test before any step: nothing measured yet.
    fn new(spec: &'a ChaosSpec, ctx: &'a TestContext) -> Chaos<'a> {
        Chaos {
            spec,
            ctx,
            client: ctx.job_client(),
            metrics: ChaosMetrics::default(),
            warnings: Vec::new(),
        }
    }

    /// Submits the workload's runs; returns their ids.
    async fn submit(&mut self) -> Vec<String> {
        let (Some(mix), Some(client)) = (&self.spec.jobs, &self.client) else {
            return Vec::new();
        };
        let (submitted, errors) = runs::submit(client, mix, &self.ctx.test_id).await;
        self.metrics.runs_started = submitted.len() as u64;
        self.metrics.submit_errors = errors;
        submitted
    }

    /// Starts the workload: the SSE sessions first, so they are
    /// mid-stream when the fault comes (they stop by `until`), then the
    /// runs; returns the sessions and the runs' ids.
    async fn start_workload(
        &mut self,
        counters: &Arc<SessionCounters>,
        until: Instant,
    ) -> (JoinSet<SessionEnd>, Vec<String>) {
        let sessions = start_sessions(self.spec, self.ctx, counters, until);
        self.metrics.streams = self
            .spec
            .streams
            .as_ref()
            .map_or(0, |s| u64::from(s.sessions.get()));
        let ids = self.submit().await;
        (sessions, ids)
    }

    /// Waits for the trigger and injects the fault, telling the background
    /// load when; returns when it was injected, the runs open then and the
    /// fault's proof, or why there was no fault.
    async fn fault(
        &mut self,
        ids: &[String],
        counters: &SessionCounters,
        started: Instant,
        background: Option<&Background>,
    ) -> Result<(Instant, BTreeSet<String>, FaultEvidence), String> {
        let open_at_fault = self.await_fault(ids, counters, started).await?;
        let fault_at = Instant::now();
        if let Some(background) = background {
            background.fault_injected(fault_at);
        }
        let proof = self.inject(ids).await?;
        Ok((fault_at, open_at_fault, proof))
    }

    /// After the fault: collects the sessions and verifies the work by
    /// `deadline`, then runs the plan's health checks.
    async fn settle(
        &mut self,
        sessions: &mut JoinSet<SessionEnd>,
        ids: Vec<String>,
        open_at_fault: BTreeSet<String>,
        deadline: Instant,
    ) {
        let session_jobs =
            collect_sessions(sessions, deadline, &mut self.metrics, &mut self.warnings).await;
        self.verify(ids, open_at_fault, session_jobs, deadline)
            .await;
        if let Some(checks) = &self.spec.after_checks {
            after_checks(checks, self.ctx, &mut self.metrics).await;
        }
    }

    /// Waits for the background load, when there is one, to stop at
    /// `stop` and keeps its windows and warnings; returns why it could not
    /// run, if it could not.
    async fn finish_load(
        &mut self,
        background: Option<Background>,
        stop: Option<Instant>,
        fault_at: Instant,
        recovered_at: Option<Instant>,
    ) -> Option<String> {
        let (Some(background), Some(stop)) = (background, stop) else {
            return None;
        };
        match background.finish(fault_at, recovered_at, stop).await {
            Ok((load, warnings)) => {
                self.metrics.load = Some(Box::new(load));
                self.warnings.extend(warnings);
                None
            }
            Err(e) => Some(e),
        }
    }

    /// Waits for the fault's trigger and checks that the fault would hit
    /// the workload; returns the runs still open then, or why the fault
    /// must not be injected.
    async fn await_fault(
        &mut self,
        ids: &[String],
        counters: &SessionCounters,
        started: Instant,
    ) -> Result<BTreeSet<String>, String> {
        let client = self.client.as_ref();
        let (workload, not_fired) =
            match await_trigger(self.spec, self.ctx, client, ids, counters, started).await {
                Ok(workload) => (workload, None),
                Err((workload, why)) => (workload, Some(why)),
            };
        self.metrics.jobs_in_flight_at_fault = workload.jobs_in_flight;
        self.metrics.sessions_in_flight_at_fault = workload.sessions_in_flight;
        let has_workload = !ids.is_empty() || self.metrics.streams > 0;
        let miss = not_fired.or_else(|| {
            (has_workload && workload.in_flight() == 0).then(|| {
                format!(
                    "the fault missed the workload: {}",
                    workload.describe(ids.len(), self.metrics.streams)
                )
            })
        });
        match miss {
            Some(why) => Err(why),
            None => Ok(workload.open),
        }
    }

    /// Restarts the service; returns its proof.
    async fn inject(&mut self, ids: &[String]) -> Result<FaultEvidence, String> {
        if let Some(ChaosFault::Network(fault)) = &self.spec.fault {
            let hold = self.hold(fault, ids)?;
            let evidence =
                faults::network::inject(self.ctx, fault, self.spec.service.as_deref(), hold)
                    .await?;
            self.metrics.recovery_ms = evidence.recovery_ms.unwrap_or(0) as f64;
            return Ok(evidence);
        }
        let Some(service) = self.spec.service.as_deref() else {
            return Err("the chaos test names no service to restart".to_owned());
        };
        let evidence = faults::inject(self.ctx, service, self.spec.signal)
            .await
            .map_err(|e| format!("restart not observed: {e}"))?;
        self.metrics.restart_observed = u64::from(evidence.restart_observed);
        self.metrics.recovery_ms = evidence.recovery_ms.unwrap_or(0) as f64;
        Ok(evidence)
    }

    /// How long the network fault is held: its `duration_s`, or until its
    /// condition is met within the test's deadline.
    fn hold<'s>(
        &'s self,
        fault: &NetworkFault,
        ids: &'s [String],
    ) -> Result<faults::network::Hold<'s>, String> {
        let deadline = Duration::from_secs(u64::from(
            self.spec.deadline_s.map_or(DEFAULT_DEADLINE_S, |d| d.get()),
        ));
        match (fault.duration_s, fault.until) {
            (Some(window), _) => Ok(faults::network::Hold::For(Duration::from_secs(u64::from(
                window.get(),
            )))),
            (None, Some(until @ HoldUntil::RunsSettled)) => {
                if ids.is_empty() {
                    return Err(format!(
                        "until = \"runs_settled\" waits for the test's runs, and none was submitted ({} refused); no fault was injected",
                        self.metrics.submit_errors
                    ));
                }
                let client = self.client.as_ref().ok_or_else(|| {
                    "until = \"runs_settled\" needs the plan's [jobs] table; no fault was injected"
                        .to_owned()
                })?;
                Ok(faults::network::Hold::Until {
                    what: until.name(),
                    settled: Box::pin(runs::settled(client, ids)),
                    bound: deadline,
                })
            }
            (None, None) => Err(
                "the network fault has neither duration_s nor until; no fault was injected"
                    .to_owned(),
            ),
        }
    }

    /// Verifies the runs and the jobs behind the streams by the deadline:
    /// how they ended, duplicates, artifacts (also in the bucket, when the
    /// environment names one).
    async fn verify(
        &mut self,
        ids: Vec<String>,
        open_at_fault: BTreeSet<String>,
        session_jobs: Vec<String>,
        deadline: Instant,
    ) {
        let Some(client) = &self.client else {
            return;
        };
        let (spec, ctx) = (self.spec, self.ctx);
        let buckets = match &ctx.target.env.bucket {
            Some(access) => match Buckets::open(&ctx.target, access).await {
                Ok(b) => Some(b),
                Err(e) => {
                    self.warnings
                        .push(format!("artifacts not read from the bucket: {e}"));
                    None
                }
            },
            None => None,
        };
        let verify = |ids: Vec<String>, open: BTreeSet<String>| {
            let buckets = buckets.as_ref();
            async move {
                let mut counted = ChaosMetrics::default();
                let notes = runs::verify(
                    client,
                    spec,
                    &ids,
                    &open,
                    buckets,
                    ctx.target.env.expected_bucket.as_deref(),
                    deadline,
                    &ctx.cancel,
                    &mut counted,
                )
                .await;
                (counted, notes)
            }
        };
        let (runs, notes) = verify(ids, open_at_fault).await;
        add_run_counts(&mut self.metrics, &runs);
        self.warnings.extend(notes.into_iter().take(20));
        // The jobs behind the streams are verified like the others: their
        // anomalies count; their ends are the streams' figures.
        let open: BTreeSet<String> = session_jobs.iter().cloned().collect();
        let (streamed, notes) = verify(session_jobs, open).await;
        add_anomalies(&mut self.metrics, &streamed);
        self.warnings.extend(notes.into_iter().take(20));
    }

    /// The outcome: an error when the restart was not observed or
    /// duplicates could not be counted.
    fn finish(self, evidence: FaultEvidence) -> (TestOutcome, Vec<FaultEvidence>) {
        let unreadable = self.metrics.results_unreadable;
        let mut outcome = TestOutcome::new(TestMetrics::Chaos(self.metrics));
        outcome.warnings = self.warnings;
        let network = evidence.network.as_ref();
        outcome.warnings.extend(network.and_then(network_notes));
        if let Some(n) = network.filter(|n| !n.removal_verified) {
            outcome.error = Some(format!("the network fault was not removed: {}", n.removal));
        } else if let Some(n) = network.filter(|n| n.seen_in_effect == Some(false)) {
            outcome.error = Some(format!(
                "the network fault was not in place during its window: asked for it back, {} (a proxy that answered without applying it?)",
                n.seen_at_proxy
            ));
        } else if let Some(n) = network.filter(|n| n.connections_affected == Some(0)) {
            outcome.error = Some(format!(
                "the network fault took no effect: proxy {} counted no connection affected by the {} toxic during its window (nothing used link {}?)",
                n.proxy, n.toxic, n.link
            ));
        } else if network.is_none() && !evidence.restart_observed {
            outcome.error = Some(format!("restart not observed: {}", evidence.observation));
        } else if unreadable > 0 {
            outcome.error = Some(format!(
                "duplicates not checked for {unreadable} runs: the results answer did not fit the plan (see the warnings)"
            ));
        }
        (outcome, vec![evidence])
    }
}

/// What a reader of a network fault's figures should know: a fault held
/// `until` that was removed at its bound instead, or a `down` that found
/// no open connection to cut (refusals of new ones are not counted).
fn network_notes(n: &NetworkFaultEvidence) -> Option<String> {
    if let (Some(what), Some(false)) = (&n.until, n.until_met) {
        return Some(format!(
            "the network fault was held until {what}, which was not met within {} s: it was removed then",
            n.planned_ms / 1000
        ));
    }
    (n.connections_cut == Some(0)).then(|| {
        format!(
            "proxy {} had no open connection to cut when link {} went down; connections it refused are not counted, so the workload's own figures are the proof of its effect",
            n.proxy, n.link
        )
    })
}

/// Adds what went wrong with some jobs: stuck, duplicated, corrupted,
/// results unreadable, and the artifacts checked.
fn add_anomalies(m: &mut ChaosMetrics, other: &ChaosMetrics) {
    m.stuck += other.stuck;
    m.duplicates += other.duplicates;
    m.corrupted += other.corrupted;
    m.results_unreadable += other.results_unreadable;
    m.artifacts_checked += other.artifacts_checked;
    m.artifacts_in_bucket += other.artifacts_in_bucket;
}

/// Adds the workload's own jobs: how they ended, and their anomalies.
fn add_run_counts(m: &mut ChaosMetrics, runs: &ChaosMetrics) {
    m.runs_completed += runs.runs_completed;
    m.runs_failed += runs.runs_failed;
    m.runs_recovered += runs.runs_recovered;
    add_anomalies(m, runs);
}
