//! A finished test and a finished run as the live page reads them from
//! the `test_finished` and `run_finished` events: a view of
//! [`TestResult`](crate::results::TestResult) and
//! [`RunResults`](crate::results::RunResults).

use crate::metrics::resilience::{ChaosMetrics, FaultEvidence};
use crate::metrics::windows::LoadThroughFault;
use crate::metrics::{LatencySummary, Window};
use crate::results::{chaos_tally, CriterionResult, Tally, TestStatus};
use serde::Deserialize;

/// What the live page reads of a finished test's result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FinishedTest {
    /// Its id in the plan.
    pub id: String,
    /// Its kind (`http_load`, ...).
    pub kind: String,
    /// PASS, FAIL, ERROR or ABORTED.
    pub status: TestStatus,
    /// Start, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// End, milliseconds since the Unix epoch.
    pub finished_at_ms: i64,
    /// What it measured, of what the page shows; absent when it could not start.
    pub metrics: Option<FinishedMetrics>,
    /// Per-second windows.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Why it could not run to the end.
    #[serde(default)]
    pub error: Option<String>,
    /// Chaos tests: each fault's proof, with the service's health timeline.
    #[serde(default)]
    pub faults: Vec<FaultEvidence>,
}

/// Of a test's metrics (`TestMetrics`, tagged by `kind`), what the live
/// page shows. Read by their `kind` first (`model::tag_first`): the kinds
/// give some fields the same name with other types (`ok` counts requests,
/// but is whether an assert passed).
#[derive(Debug, Clone, PartialEq)]
pub enum FinishedMetrics {
    /// `http_load`, `job_workload` and `stream`.
    Load(LoadFigures),
    /// `chaos`.
    Chaos(ChaosFigures),
    /// `health`.
    Health(HealthFigures),
    /// `assert` and `storage_probe`: nothing the page shows.
    Check,
}

/// [`FinishedMetrics`] read from its tag and the rest of its object.
#[derive(Deserialize)]
#[serde(remote = "FinishedMetrics")]
enum FinishedMetricsMirror {
    #[serde(rename = "http_load", alias = "job_workload", alias = "stream")]
    Load(LoadFigures),
    #[serde(rename = "chaos")]
    Chaos(ChaosFigures),
    #[serde(rename = "health")]
    Health(HealthFigures),
    #[serde(rename = "assert", alias = "storage_probe")]
    Check,
}

crate::model::tag_first::tag_first_deserialize!(
    FinishedMetrics via FinishedMetricsMirror,
    tag "kind",
    expecting "a test's metrics with their `kind`"
);

/// A load test's operation counts and latency.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoadFigures {
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that failed.
    pub fail: u64,
    /// The latency of all operations.
    pub latency: LatencySummary,
}

/// A chaos test's run and session counts, and its background load.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ChaosFigures {
    /// The background load through the fault, when it had one.
    pub load: Option<Box<LoadThroughFault>>,
    /// The workload's runs started.
    pub runs_started: u64,
    /// Runs that completed.
    pub runs_completed: u64,
    /// Runs that failed cleanly.
    pub runs_failed: u64,
    /// Runs that could not be submitted.
    pub submit_errors: u64,
    /// SSE sessions planned.
    pub streams: u64,
    /// Sessions that reached their last event cleanly.
    pub streams_completed: u64,
    /// Sessions whose job failed and that said so cleanly.
    pub streams_failed_gracefully: u64,
    /// Sessions that did not reconnect.
    pub streams_not_reconnected: u64,
    /// Sessions that broke.
    pub streams_failed: u64,
}

/// A health test's dependencies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HealthFigures {
    /// Each dependency the readiness answer reported.
    pub dependencies: Vec<DependencyHealth>,
}

/// One dependency a health test's readiness answer reported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DependencyHealth {
    /// Its name in the readiness answer (`database`).
    pub name: String,
    /// Whether its status was the healthy word.
    pub healthy: bool,
}

impl FinishedMetrics {
    /// The latency of the kinds that measure one (requests, jobs, or
    /// sessions and exports).
    pub fn latency(&self) -> Option<&LatencySummary> {
        match self {
            FinishedMetrics::Load(m) => Some(&m.latency),
            _ => None,
        }
    }

    /// A chaos test's background load through the fault.
    pub fn load_through_fault(&self) -> Option<&LoadThroughFault> {
        match self {
            FinishedMetrics::Chaos(m) => m.load.as_deref(),
            _ => None,
        }
    }
}

impl ChaosFigures {
    /// The counts as a chaos test's metrics, for [`chaos_tally`].
    fn as_metrics(&self) -> ChaosMetrics {
        ChaosMetrics {
            runs_started: self.runs_started,
            runs_completed: self.runs_completed,
            runs_failed: self.runs_failed,
            submit_errors: self.submit_errors,
            streams: self.streams,
            streams_completed: self.streams_completed,
            streams_failed_gracefully: self.streams_failed_gracefully,
            streams_not_reconnected: self.streams_not_reconnected,
            streams_failed: self.streams_failed,
            ..ChaosMetrics::default()
        }
    }
}

impl FinishedTest {
    /// Its operations as succeeded and failed, as
    /// [`TestResult::tally`](crate::results::TestResult::tally) counts them:
    /// the load kinds' counts, a chaos test's runs and sessions, a check's
    /// own status. `None` when it measured nothing.
    pub fn tally(&self) -> Option<Tally> {
        Some(match self.metrics.as_ref()? {
            FinishedMetrics::Load(m) => Tally {
                ok: m.ok,
                failed: m.fail,
            },
            FinishedMetrics::Chaos(m) => chaos_tally(&m.as_metrics()),
            FinishedMetrics::Health(_) | FinishedMetrics::Check => {
                let ok = u64::from(self.status == TestStatus::Pass);
                Tally { ok, failed: 1 - ok }
            }
        })
    }

    /// Its health test's dependencies (none for other kinds).
    pub fn dependencies(&self) -> &[DependencyHealth] {
        match &self.metrics {
            Some(FinishedMetrics::Health(m)) => &m.dependencies,
            _ => &[],
        }
    }
}

/// What the live page reads of a finished run's results.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FinishedRun {
    /// Each test's final status, in plan order.
    pub tests: Vec<FinalStatus>,
    /// Each criterion with its result.
    pub criteria: Vec<CriterionResult>,
}

/// A test's final status in a run's results.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FinalStatus {
    /// Its id in the plan.
    pub id: String,
    /// PASS, FAIL, ERROR or ABORTED.
    pub status: TestStatus,
}

#[cfg(test)]
#[path = "finished_tests.rs"]
mod tests;
