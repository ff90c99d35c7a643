//! What the chaos, storage and health tests measure, and the proof a fault
//! leaves in `results.json`: what was called, what it answered, and what
//! Shakedown itself observed of the service going away and coming back.
//!
//! Plain data (serde + JSON Schema); builds everywhere.

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
}

impl ChaosMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        vec![
            "restart_observed",
            "recovery_ms",
            "runs_started",
            "runs_completed",
            "runs_failed",
            "stuck",
            "duplicates",
            "runs_recovered",
            "submit_errors",
            "jobs_in_flight_at_fault",
            "sessions_in_flight_at_fault",
            "results_unreadable",
            "artifacts_checked",
            "corrupted",
            "artifacts_in_bucket",
            "streams",
            "streams_opened",
            "streams_completed",
            "streams_interrupted",
            "streams_reconnected",
            "streams_not_reconnected",
            "streams_failed_gracefully",
            "streams_failed",
            "event_gaps",
            "event_repeats",
            "health_checks_after",
            "health_checks_after_ok",
            "duration_ms",
        ]
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "restart_observed" => self.restart_observed as f64,
            "recovery_ms" => self.recovery_ms,
            "runs_started" => self.runs_started as f64,
            "runs_completed" => self.runs_completed as f64,
            "runs_failed" => self.runs_failed as f64,
            "stuck" => self.stuck as f64,
            "duplicates" => self.duplicates as f64,
            "runs_recovered" => self.runs_recovered as f64,
            "submit_errors" => self.submit_errors as f64,
            "jobs_in_flight_at_fault" => self.jobs_in_flight_at_fault as f64,
            "sessions_in_flight_at_fault" => self.sessions_in_flight_at_fault as f64,
            "results_unreadable" => self.results_unreadable as f64,
            "artifacts_checked" => self.artifacts_checked as f64,
            "corrupted" => self.corrupted as f64,
            "artifacts_in_bucket" => self.artifacts_in_bucket as f64,
            "streams" => self.streams as f64,
            "streams_opened" => self.streams_opened as f64,
            "streams_completed" => self.streams_completed as f64,
            "streams_interrupted" => self.streams_interrupted as f64,
            "streams_reconnected" => self.streams_reconnected as f64,
            "streams_not_reconnected" => self.streams_not_reconnected as f64,
            "streams_failed_gracefully" => self.streams_failed_gracefully as f64,
            "streams_failed" => self.streams_failed as f64,
            "event_gaps" => self.event_gaps as f64,
            "event_repeats" => self.event_repeats as f64,
            "health_checks_after" => self.health_checks_after as f64,
            "health_checks_after_ok" => self.health_checks_after_ok as f64,
            "duration_ms" => self.duration_ms,
            _ => return None,
        })
    }
}

/// What a `storage_probe` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StorageProbeMetrics {
    /// The bucket probed.
    pub bucket: String,
    /// `local` or `s3`.
    pub backend: String,
    /// The probe object's key.
    pub key: String,
    /// 1 when the write succeeded.
    pub write_ok: u64,
    /// 1 when the object read back equals what was written.
    pub read_ok: u64,
    /// 1 when the object was removed afterwards.
    pub deleted: u64,
    /// 1 when write, read-back comparison and removal all succeeded.
    pub ok: u64,
    /// Time of the write, in ms.
    pub write_ms: f64,
    /// Time of the read, in ms.
    pub read_ms: f64,
}

impl StorageProbeMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        vec![
            "write_ok", "read_ok", "deleted", "ok", "write_ms", "read_ms",
        ]
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "write_ok" => self.write_ok as f64,
            "read_ok" => self.read_ok as f64,
            "deleted" => self.deleted as f64,
            "ok" => self.ok as f64,
            "write_ms" => self.write_ms,
            "read_ms" => self.read_ms,
            _ => return None,
        })
    }
}

/// One dependency the readiness endpoint reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DependencyStatus {
    /// Its name (`database`).
    pub name: String,
    /// Its status word as reported.
    pub status: String,
    /// Whether that is the healthy word.
    pub healthy: bool,
    /// Latency the target reports for it, in ms.
    pub latency_ms: Option<f64>,
}

/// An answer of the target kept as evidence: what was asked and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordedAnswer {
    /// `GET http://…/health`.
    pub request: String,
    /// The HTTP status.
    pub status: u16,
    /// The body: JSON when it parsed, else the text (clipped to 4 KiB).
    pub body: serde_json::Value,
}

/// What a `health` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthMetrics {
    /// HTTP status of the readiness answer.
    pub status: Option<u16>,
    /// Time to the readiness answer, in ms.
    pub latency_ms: f64,
    /// Each dependency.
    pub dependencies: Vec<DependencyStatus>,
    /// Dependencies reported.
    pub dependencies_total: u64,
    /// Of those, the healthy ones.
    pub dependencies_healthy: u64,
    /// The bucket the plan expects.
    pub expected_bucket: Option<String>,
    /// The bucket the target reports.
    pub reported_bucket: Option<String>,
    /// 1 when the reported bucket is the expected one.
    pub bucket_match: u64,
    /// Artifacts looked up.
    pub artifacts_checked: u64,
    /// Artifacts that the run reports in the expected bucket and that exist
    /// there (when the bucket is reachable).
    pub artifacts_in_expected_bucket: u64,
    /// 1 when the reported bucket matches and every artifact looked up is
    /// in the expected bucket (and at least one was, when artifacts were asked for).
    pub isolation_ok: u64,
    /// The readiness answer itself.
    #[serde(default)]
    pub readiness_answer: Option<RecordedAnswer>,
    /// The health (liveness) answer itself, when the environment has a
    /// `health_path`.
    #[serde(default)]
    pub health_answer: Option<RecordedAnswer>,
}

impl HealthMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        vec![
            "latency_ms",
            "dependencies_total",
            "dependencies_healthy",
            "bucket_match",
            "artifacts_checked",
            "artifacts_in_expected_bucket",
            "isolation_ok",
        ]
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "latency_ms" => self.latency_ms,
            "dependencies_total" => self.dependencies_total as f64,
            "dependencies_healthy" => self.dependencies_healthy as f64,
            "bucket_match" => self.bucket_match as f64,
            "artifacts_checked" => self.artifacts_checked as f64,
            "artifacts_in_expected_bucket" => self.artifacts_in_expected_bucket as f64,
            "isolation_ok" => self.isolation_ok as f64,
            _ => return None,
        })
    }
}
