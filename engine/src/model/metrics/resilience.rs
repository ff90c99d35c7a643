//! What the chaos, storage and health tests measure (the storage probe and
//! health figures are written in `probes.rs` and reached here), and the
//! proof a fault leaves in `results.json`: what was called, what it answered, and what
//! Shakedown itself observed of the service going away and coming back.
//!
//! Plain data (serde + JSON Schema); builds everywhere.

pub use super::probes::{DependencyStatus, HealthMetrics, RecordedAnswer, StorageProbeMetrics};

use super::windows::LoadThroughFault;
use super::{higher, lower, neither, read, table_names, Metric, MetricInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One probe of a service's health during a fault, for the recovery chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthPoint {
    /// Milliseconds since the fault was requested.
    pub at_ms: u64,
    /// Whether the health check passed.
    pub healthy: bool,
    /// Process id read from the answer, when the plan names a pointer.
    #[serde(default)]
    pub pid: Option<String>,
    /// Start time read from the answer, when the plan names a pointer.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The value at the service's `identity_pointer`, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// What the supervisor saw of a `process` restart (from the operating
/// system: the old process ended, a new one with another PID passed its
/// health check).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SupervisorObservation {
    /// PID before.
    pub old_pid: u32,
    /// PID after.
    pub new_pid: u32,
    /// How the old process ended.
    pub old_exit: String,
    /// The signal the stop began with.
    pub stop_signal: String,
    /// Whether SIGKILL was needed.
    pub killed: bool,
    /// From the request until the old process was gone.
    pub stop_ms: u64,
    /// From the request until the new process passed its health check.
    pub recovery_ms: u64,
    /// The supervisor's own health probes (every 100 ms).
    pub timeline: Vec<HealthPoint>,
}

/// The proof one fault left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultEvidence {
    /// The service in the plan.
    pub service: String,
    /// `process`, `command`, `http` or `railway`.
    pub method: String,
    /// What was called (command line, URL, mutation; never a secret).
    pub called: String,
    /// What it answered (exit status and output, HTTP status and body).
    pub answer: String,
    /// Whether the call itself succeeded (exit 0, expected status, ...).
    pub call_ok: bool,
    /// When the fault was requested (Unix milliseconds).
    pub requested_at_ms: i64,
    /// Whether Shakedown saw the service go away and come back. Never true
    /// on the call's word alone.
    pub restart_observed: bool,
    /// How it was seen (`pid 123 -> 456`, `health failed at 300 ms and
    /// passed again at 2100 ms`), or why it was not.
    pub observation: String,
    /// From the fault until the service's health check passed again, when
    /// that was seen.
    pub recovery_ms: Option<u64>,
    /// Identity before the fault (pid / start time from the health answer).
    #[serde(default)]
    pub identity_before: Option<String>,
    /// Identity after recovery.
    #[serde(default)]
    pub identity_after: Option<String>,
    /// Shakedown's probes of the service's health, at least every 100 ms,
    /// from the fault until recovery (or until it gave up).
    pub timeline: Vec<HealthPoint>,
    /// For `process`: what the supervisor saw.
    #[serde(default)]
    pub supervisor: Option<SupervisorObservation>,
    /// For a network fault (`method` = `network`): what was put on which
    /// link, when, what the proxy counted, and the proof of its removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFaultEvidence>,
}

impl FaultEvidence {
    /// Whether the fault is proven: a restart observed, or a network fault
    /// the proxy showed in place during its window (and, where it counts,
    /// counted on at least one connection) and whose removal was read back.
    pub fn proven(&self) -> bool {
        match &self.network {
            Some(n) => {
                n.removal_verified
                    && n.seen_in_effect != Some(false)
                    && n.connections_affected != Some(0)
            }
            None => self.restart_observed,
        }
    }
}

/// The proof a network fault left: what was injected where, the proxy's
/// own counters over its window, and its removal read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkFaultEvidence {
    /// The link in the plan.
    pub link: String,
    /// The proxy's name at the API.
    pub proxy: String,
    /// The proxy's API (no credentials).
    pub api: String,
    /// `latency`, `bandwidth`, `timeout`, `reset_peer`, `slow_close`,
    /// `limit_data` or `down`.
    pub toxic: String,
    /// The toxic's name at the proxy (none for `down`, which disables the
    /// proxy).
    #[serde(default)]
    pub toxic_name: Option<String>,
    /// `upstream` or `downstream`.
    pub direction: String,
    /// The toxic's attributes as sent (Toxiproxy's names: `latency`,
    /// `jitter`, `rate`, `timeout`, `delay`, `bytes`).
    pub attributes: std::collections::BTreeMap<String, u64>,
    /// Share of connections it acted on.
    pub toxicity: f64,
    /// The window the plan asked for, in ms (with `until`, the longest it
    /// could be held: the test's deadline).
    pub planned_ms: u64,
    /// What the fault was held for instead of a fixed window
    /// (`runs_settled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// With `until`: whether it was met before the bound (`false`: the
    /// fault was removed at the bound; unset when the run was aborted
    /// first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_met: Option<bool>,
    /// When the proxy accepted it (Unix milliseconds).
    pub injected_at_ms: i64,
    /// When its removal was answered (Unix milliseconds).
    #[serde(default)]
    pub removed_at_ms: Option<i64>,
    /// What the API answered when asked for it back during the window.
    pub seen_at_proxy: String,
    /// Whether that answer showed the fault in place (the toxic listed, the
    /// proxy disabled); `None` when the API could not be read then (and in
    /// evidence written before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_in_effect: Option<bool>,
    /// Connections the toxic acted on, by the proxy's own counter (the
    /// built-in proxy counts; a Toxiproxy does not).
    #[serde(default)]
    pub connections_affected: Option<u64>,
    /// `down`: the open connections the proxy closed when it went down,
    /// by its own counter (the built-in proxy counts; a Toxiproxy does
    /// not). New connections it refused are not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections_cut: Option<u64>,
    /// Connections the proxy accepted during the window.
    #[serde(default)]
    pub connections_accepted: Option<u64>,
    /// Bytes client → service during the window.
    #[serde(default)]
    pub bytes_upstream: Option<u64>,
    /// Bytes service → client during the window.
    #[serde(default)]
    pub bytes_downstream: Option<u64>,
    /// Connections to the service that failed during the window.
    #[serde(default)]
    pub upstream_connect_failures: Option<u64>,
    /// Whether the API, asked after the removal, showed it gone (the toxic
    /// not listed; the proxy enabled again).
    pub removal_verified: bool,
    /// What that read-back said.
    pub removal: String,
}

/// What a `chaos` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChaosMetrics {
    /// 1 when the restart was observed, else 0.
    pub restart_observed: u64,
    /// From the fault until the service's health passed again (0 when not observed).
    pub recovery_ms: f64,
    /// Runs submitted and accepted.
    pub runs_started: u64,
    /// Runs that ended with a success status.
    pub runs_completed: u64,
    /// Runs that ended with another terminal status (failed cleanly).
    pub runs_failed: u64,
    /// Runs not terminal by the deadline, or whose status could not be read.
    pub stuck: u64,
    /// Runs with more than one result.
    pub duplicates: u64,
    /// Runs that were not terminal at the fault and completed afterwards.
    pub runs_recovered: u64,
    /// Runs that could not be submitted.
    pub submit_errors: u64,
    /// Jobs in flight (not queued, not terminal) when the fault was injected.
    #[serde(default)]
    pub jobs_in_flight_at_fault: u64,
    /// SSE sessions that had their first event and not yet their last when
    /// the fault was injected.
    #[serde(default)]
    pub sessions_in_flight_at_fault: u64,
    /// Runs whose results could not be counted (the results pointer did
    /// not resolve to a number or a list).
    #[serde(default)]
    pub results_unreadable: u64,
    /// Completed runs whose artifact was checked.
    pub artifacts_checked: u64,
    /// Completed runs whose artifact was missing, unreadable, or whose
    /// sha256 differs from the one the API reports.
    pub corrupted: u64,
    /// Artifacts also read directly from the bucket.
    pub artifacts_in_bucket: u64,
    /// SSE sessions planned.
    pub streams: u64,
    /// Sessions whose first connection opened.
    pub streams_opened: u64,
    /// Sessions that reached their final event with every id once, in order.
    pub streams_completed: u64,
    /// Sessions whose connection broke at least once before the final event.
    pub streams_interrupted: u64,
    /// Interrupted sessions that resumed with Last-Event-ID with no gap and
    /// no repeat in the event ids and reached the final event.
    pub streams_reconnected: u64,
    /// Interrupted sessions that could not resume cleanly (a gap, a repeat,
    /// or no stream by the deadline).
    pub streams_not_reconnected: u64,
    /// Sessions that reached their last event cleanly while the job behind
    /// them ended in a failure status.
    pub streams_failed_gracefully: u64,
    /// Sessions that failed in any other way.
    pub streams_failed: u64,
    /// Event ids skipped over all sessions.
    pub event_gaps: u64,
    /// Event ids received more than once over all sessions.
    pub event_repeats: u64,
    /// Health checks made after recovery.
    pub health_checks_after: u64,
    /// Of those, the ones that passed.
    pub health_checks_after_ok: u64,
    /// From the start of the workload to the end of verification, in ms.
    pub duration_ms: f64,
    /// The background load through the fault, split into windows, when
    /// the test carries one (its metrics are `before.*`, `during.*`,
    /// `after.*` and the impact metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Box<LoadThroughFault>>,
}

/// The metrics of a `chaos` test.
const CHAOS: &[Metric<ChaosMetrics>] = &[
    higher(
        "restart_observed",
        "1 when Shakedown saw the service go away and come back, else 0",
        |m| Some(m.restart_observed as f64),
    ),
    lower(
        "recovery_ms",
        "From the fault until the service's health passed again, in ms (0 when not observed)",
        |m| Some(m.recovery_ms),
    ),
    neither("runs_started", "Runs submitted and accepted", |m| {
        Some(m.runs_started as f64)
    }),
    higher(
        "runs_completed",
        "Runs that ended with a success status",
        |m| Some(m.runs_completed as f64),
    ),
    lower(
        "runs_failed",
        "Runs that ended with another terminal status (failed cleanly)",
        |m| Some(m.runs_failed as f64),
    ),
    lower(
        "stuck",
        "Runs not terminal by the deadline, or whose status could not be read",
        |m| Some(m.stuck as f64),
    ),
    lower("duplicates", "Runs with more than one result", |m| {
        Some(m.duplicates as f64)
    }),
    higher(
        "runs_recovered",
        "Runs not terminal at the fault that completed afterwards",
        |m| Some(m.runs_recovered as f64),
    ),
    lower("submit_errors", "Runs that could not be submitted", |m| {
        Some(m.submit_errors as f64)
    }),
    neither(
        "jobs_in_flight_at_fault",
        "Jobs in flight (not queued, not terminal) when the fault was injected",
        |m| Some(m.jobs_in_flight_at_fault as f64),
    ),
    neither(
        "sessions_in_flight_at_fault",
        "SSE sessions past their first event and before their last at the fault",
        |m| Some(m.sessions_in_flight_at_fault as f64),
    ),
    lower(
        "results_unreadable",
        "Runs whose results pointer found neither a number nor a list",
        |m| Some(m.results_unreadable as f64),
    ),
    neither(
        "artifacts_checked",
        "Completed runs whose artifact was checked",
        |m| Some(m.artifacts_checked as f64),
    ),
    lower(
        "corrupted",
        "Completed runs whose artifact was missing, unreadable or not the reported sha256",
        |m| Some(m.corrupted as f64),
    ),
    neither(
        "artifacts_in_bucket",
        "Artifacts also read directly from the bucket",
        |m| Some(m.artifacts_in_bucket as f64),
    ),
    neither("streams", "SSE sessions planned", |m| {
        Some(m.streams as f64)
    }),
    higher(
        "streams_opened",
        "Sessions whose first connection opened",
        |m| Some(m.streams_opened as f64),
    ),
    higher(
        "streams_completed",
        "Sessions that reached their final event with every id once, in order",
        |m| Some(m.streams_completed as f64),
    ),
    neither(
        "streams_interrupted",
        "Sessions whose connection broke at least once before the final event",
        |m| Some(m.streams_interrupted as f64),
    ),
    higher(
        "streams_reconnected",
        "Interrupted sessions that resumed with no gap or repeat and reached the final event",
        |m| Some(m.streams_reconnected as f64),
    ),
    lower(
        "streams_not_reconnected",
        "Interrupted sessions that could not resume cleanly (a gap, a repeat, or no stream)",
        |m| Some(m.streams_not_reconnected as f64),
    ),
    neither(
        "streams_failed_gracefully",
        "Sessions that ended cleanly while the job behind them failed",
        |m| Some(m.streams_failed_gracefully as f64),
    ),
    lower(
        "streams_failed",
        "Sessions that failed in any other way",
        |m| Some(m.streams_failed as f64),
    ),
    lower("event_gaps", "Event ids skipped over all sessions", |m| {
        Some(m.event_gaps as f64)
    }),
    lower(
        "event_repeats",
        "Event ids received more than once over all sessions",
        |m| Some(m.event_repeats as f64),
    ),
    neither(
        "health_checks_after",
        "Health checks made after recovery",
        |m| Some(m.health_checks_after as f64),
    ),
    higher(
        "health_checks_after_ok",
        "Health checks after recovery that passed",
        |m| Some(m.health_checks_after_ok as f64),
    ),
    neither(
        "duration_ms",
        "From the start of the workload to the end of verification, in ms",
        |m| Some(m.duration_ms),
    ),
];

impl ChaosMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        CHAOS
    }

    /// Metric names criteria can use: the table's, then those of the load
    /// through the fault.
    pub fn names() -> Vec<&'static str> {
        let mut names = table_names(CHAOS);
        names.extend(LoadThroughFault::names());
        names
    }

    /// The value of a named metric; a metric of the load through the fault
    /// is missing when the test carried no background load.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(CHAOS, self, name).or_else(|| self.load.as_ref()?.metric(name))
    }

    /// What the named metric is and which way is better.
    pub fn info(name: &str) -> Option<MetricInfo> {
        super::info(CHAOS, name).or_else(|| LoadThroughFault::info(name))
    }
}
