//! What the `job_workload` and `stream` tests measure, and their metric
//! tables.

use super::{higher, lower, neither, read, table_names, LatencySummary, Metric};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Outcome counts of one job kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KindCounts {
    /// Jobs of this kind planned.
    pub jobs: u64,
    /// Ended with a success status.
    pub ok: u64,
    /// Ended with another terminal status, or could not be submitted or read.
    pub fail: u64,
    /// Not terminal by the deadline.
    pub timed_out: u64,
}

/// What a `job_workload` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobWorkloadMetrics {
    /// Jobs planned.
    pub jobs: u64,
    /// Jobs the target accepted (an id came back).
    pub submitted: u64,
    /// Ended with a success status.
    pub ok: u64,
    /// Did not succeed: failed status, submit error, read error or timeout.
    pub fail: u64,
    /// Not terminal by the deadline (included in `fail`).
    pub timed_out: u64,
    /// Submissions the target refused or that broke (included in `fail`).
    pub submit_errors: u64,
    /// Counts per job kind.
    pub by_kind: BTreeMap<String, KindCounts>,
    /// End-to-end latency, from submit to terminal status seen, of jobs that
    /// reached a terminal status.
    pub latency: LatencySummary,
    /// Highest queue backlog read from the target's queue metric while the
    /// test ran; absent when the plan names no queue metric or no sample
    /// could be read.
    pub queue_backlog_peak: Option<f64>,
    /// Queue metric samples read.
    pub queue_samples: u64,
    /// Wall time of the test, in milliseconds.
    pub duration_ms: f64,
}

/// The metrics of a `job_workload` test. Latency is from submit to the
/// terminal status seen, of jobs that reached one.
const JOB_WORKLOAD: &[Metric<JobWorkloadMetrics>] = &[
    neither("jobs", "Jobs planned", |m| Some(m.jobs as f64)),
    higher(
        "submitted",
        "Jobs the target accepted (an id came back)",
        |m| Some(m.submitted as f64),
    ),
    higher("ok", "Jobs that ended with a success status", |m| {
        Some(m.ok as f64)
    }),
    lower(
        "fail",
        "Jobs that did not succeed: failed status, submit or read error, or timeout",
        |m| Some(m.fail as f64),
    ),
    lower(
        "timed_out",
        "Jobs not terminal by the deadline (counted in fail)",
        |m| Some(m.timed_out as f64),
    ),
    lower(
        "submit_errors",
        "Submissions the target refused or that broke (counted in fail)",
        |m| Some(m.submit_errors as f64),
    ),
    lower(
        "queue_backlog_peak",
        "Highest queue backlog the target reported while the test ran",
        |m| m.queue_backlog_peak,
    ),
    neither("duration_ms", "Wall time of the test, in ms", |m| {
        Some(m.duration_ms)
    }),
    lower("min_ms", "Fastest job, in ms", |m| Some(m.latency.min_ms)),
    lower("mean_ms", "Mean job latency, in ms", |m| {
        Some(m.latency.mean_ms)
    }),
    lower("p50_ms", "Median job latency, in ms", |m| {
        Some(m.latency.p50_ms)
    }),
    lower("p90_ms", "90th percentile of job latency, in ms", |m| {
        Some(m.latency.p90_ms)
    }),
    lower("p95_ms", "95th percentile of job latency, in ms", |m| {
        Some(m.latency.p95_ms)
    }),
    lower("p99_ms", "99th percentile of job latency, in ms", |m| {
        Some(m.latency.p99_ms)
    }),
    lower("p999_ms", "99.9th percentile of job latency, in ms", |m| {
        Some(m.latency.p999_ms)
    }),
    lower("max_ms", "Slowest job, in ms", |m| Some(m.latency.max_ms)),
];

impl JobWorkloadMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        JOB_WORKLOAD
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(JOB_WORKLOAD)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(JOB_WORKLOAD, self, name)
    }
}

/// What a `stream` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamMetrics {
    /// Sessions opened.
    pub sessions: u64,
    /// Sessions that got at least one event and ended cleanly.
    pub sessions_ok: u64,
    /// Sessions that did not.
    pub sessions_failed: u64,
    /// Events received over all sessions.
    pub events: u64,
    /// Time from opening a session to its first event.
    pub first_event: LatencySummary,
    /// Export jobs planned.
    pub exports: u64,
    /// Exports that succeeded with an artifact that exists (and matches its
    /// reported sha256 when the plan can download it).
    pub exports_ok: u64,
    /// Exports that did not.
    pub exports_failed: u64,
    /// Successful exports whose artifact was missing or did not match its
    /// sha256 (included in `exports_failed`).
    pub bucket_failures: u64,
    /// Sessions plus exports that succeeded.
    pub ok: u64,
    /// Sessions plus exports that failed.
    pub fail: u64,
    /// Latency of sessions (open to clean end) and exports (submit to
    /// terminal status) together.
    pub latency: LatencySummary,
    /// Wall time of the test, in milliseconds.
    pub duration_ms: f64,
}

/// The metrics of a `stream` test. Latency counts sessions (open to clean
/// end) and exports (submit to terminal status) together.
const STREAM: &[Metric<StreamMetrics>] = &[
    neither("sessions", "Sessions opened", |m| Some(m.sessions as f64)),
    higher(
        "sessions_ok",
        "Sessions that got at least one event and ended cleanly",
        |m| Some(m.sessions_ok as f64),
    ),
    lower(
        "sessions_failed",
        "Sessions that got no event or did not end cleanly",
        |m| Some(m.sessions_failed as f64),
    ),
    neither("events", "Events received over all sessions", |m| {
        Some(m.events as f64)
    }),
    lower(
        "ttfe_p50_ms",
        "Median time from opening a session to its first event, in ms",
        |m| Some(m.first_event.p50_ms),
    ),
    lower(
        "ttfe_p95_ms",
        "95th percentile of the time to a session's first event, in ms",
        |m| Some(m.first_event.p95_ms),
    ),
    lower(
        "ttfe_max_ms",
        "Longest time to a session's first event, in ms",
        |m| Some(m.first_event.max_ms),
    ),
    neither("exports", "Export jobs planned", |m| Some(m.exports as f64)),
    higher(
        "exports_ok",
        "Exports that succeeded with an artifact that exists (and matches its sha256)",
        |m| Some(m.exports_ok as f64),
    ),
    lower("exports_failed", "Exports that did not", |m| {
        Some(m.exports_failed as f64)
    }),
    lower(
        "bucket_failures",
        "Successful exports whose artifact was missing or did not match its sha256",
        |m| Some(m.bucket_failures as f64),
    ),
    higher("ok", "Sessions plus exports that succeeded", |m| {
        Some(m.ok as f64)
    }),
    lower("fail", "Sessions plus exports that failed", |m| {
        Some(m.fail as f64)
    }),
    neither("duration_ms", "Wall time of the test, in ms", |m| {
        Some(m.duration_ms)
    }),
    lower("min_ms", "Fastest session or export, in ms", |m| {
        Some(m.latency.min_ms)
    }),
    lower(
        "mean_ms",
        "Mean latency of sessions and exports, in ms",
        |m| Some(m.latency.mean_ms),
    ),
    lower(
        "p50_ms",
        "Median latency of sessions and exports, in ms",
        |m| Some(m.latency.p50_ms),
    ),
    lower(
        "p90_ms",
        "90th percentile of sessions' and exports' latency, in ms",
        |m| Some(m.latency.p90_ms),
    ),
    lower(
        "p95_ms",
        "95th percentile of sessions' and exports' latency, in ms",
        |m| Some(m.latency.p95_ms),
    ),
    lower(
        "p99_ms",
        "99th percentile of sessions' and exports' latency, in ms",
        |m| Some(m.latency.p99_ms),
    ),
    lower(
        "p999_ms",
        "99.9th percentile of sessions' and exports' latency, in ms",
        |m| Some(m.latency.p999_ms),
    ),
    lower("max_ms", "Slowest session or export, in ms", |m| {
        Some(m.latency.max_ms)
    }),
];

impl StreamMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        STREAM
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(STREAM)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(STREAM, self, name)
    }
}
