//! When a chaos test's fault happens: the workload in flight (jobs and SSE
//! sessions), read until the trigger fires or its time is up.

use super::streams::SessionCounters;
use super::{runs, TRIGGER_LIMIT};
use crate::clients::jobs::JobClient;
use crate::plan::{ChaosSpec, JobPhase};
use crate::runner::context::TestContext;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The workload as it stood when the trigger was decided.
#[derive(Debug, Default)]
pub(super) struct Workload {
    /// Jobs in flight.
    pub(super) jobs_in_flight: u64,
    /// Sessions between their first and last event.
    pub(super) sessions_in_flight: u64,
    /// Jobs not terminal (or unreadable): the ones the fault may hit.
    pub(super) open: BTreeSet<String>,
}

impl Workload {
    pub(super) fn in_flight(&self) -> u64 {
        self.jobs_in_flight + self.sessions_in_flight
    }

    /// "2 of 4 jobs and 0 of 2 sessions in flight".
    pub(super) fn describe(&self, jobs: usize, sessions: u64) -> String {
        let mut parts = Vec::new();
        if jobs > 0 {
            parts.push(format!("{} of {jobs} jobs", self.jobs_in_flight));
        }
        if sessions > 0 {
            parts.push(format!(
                "{} of {sessions} sessions",
                self.sessions_in_flight
            ));
        }
        format!("{} in flight", parts.join(" and "))
    }
}

/// Reads the workload now.
async fn measure(
    client: Option<&JobClient<'_>>,
    ids: &[String],
    counters: &SessionCounters,
) -> Workload {
    let mut workload = Workload {
        sessions_in_flight: counters.in_flight(),
        ..Workload::default()
    };
    if let (Some(client), false) = (client, ids.is_empty()) {
        let phases = runs::phases(client, ids).await;
        for (id, phase) in ids.iter().zip(phases) {
            if phase == Some(JobPhase::InFlight) {
                workload.jobs_in_flight += 1;
            }
            if !matches!(phase, Some(JobPhase::Terminal(_))) {
                workload.open.insert(id.clone());
            }
        }
    }
    workload
}

/// Waits for the moment of the fault: `fault_after_ms`, or enough of the
/// workload in flight. `Err` says why the fault must not be injected.
pub(super) async fn await_trigger(
    spec: &ChaosSpec,
    ctx: &TestContext,
    client: Option<&JobClient<'_>>,
    ids: &[String],
    counters: &SessionCounters,
    started: Instant,
) -> Result<Workload, (Workload, String)> {
    let wanted = spec.fault_after_started.map(|w| u64::from(w.get()));
    loop {
        let workload = measure(client, ids, counters).await;
        let elapsed = started.elapsed();
        let time_up = spec
            .fault_after_ms
            .is_some_and(|ms| elapsed >= Duration::from_millis(u64::from(ms)));
        let enough = wanted.is_some_and(|w| workload.in_flight() >= w);
        if time_up || enough || (wanted.is_none() && spec.fault_after_ms.is_none()) {
            return Ok(workload);
        }
        if ctx.cancel.is_cancelled() {
            return Err((workload, "aborted before the fault".to_owned()));
        }
        if elapsed >= TRIGGER_LIMIT {
            let why = format!(
                "the fault's trigger did not fire within {} s: it wanted {} in flight, and at most {} were; no fault was injected",
                TRIGGER_LIMIT.as_secs(),
                wanted.unwrap_or(0),
                workload.in_flight()
            );
            return Err((workload, why));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
