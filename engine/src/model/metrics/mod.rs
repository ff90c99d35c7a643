//! What each test kind measures, as plain numbers (no histograms here:
//! those live in the runtime and travel as serialised blobs).
//!
//! Every metric a criterion can name is listed in the kind's `NAMES` and
//! answered by its `metric` method, so `shakedown check` can reject a
//! criterion over a metric that does not exist.

pub mod resilience;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Latency percentiles of a set of measurements, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    /// Measurements recorded.
    pub count: u64,
    /// Fastest.
    pub min_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The value of a percentile metric (`p95_ms`, `max_ms`, ...).
    fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "min_ms" => self.min_ms,
            "mean_ms" => self.mean_ms,
            "p50_ms" => self.p50_ms,
            "p90_ms" => self.p90_ms,
            "p95_ms" => self.p95_ms,
            "p99_ms" => self.p99_ms,
            "p999_ms" => self.p999_ms,
            "max_ms" => self.max_ms,
            _ => return None,
        })
    }
}

const LATENCY_NAMES: [&str; 8] = [
    "min_ms", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms",
];

/// Failed requests by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorCounts {
    /// The connection could not be opened.
    pub connect: u64,
    /// No complete answer within the timeout.
    pub timeout: u64,
    /// An answer with a status that was not expected.
    pub status: u64,
    /// An expected status, but a body check failed.
    pub check: u64,
    /// The connection broke or the answer was not valid HTTP.
    pub protocol: u64,
}

impl ErrorCounts {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.status + self.check + self.protocol
    }
}

/// One second of a test, for live charts and the latency-over-time chart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Window {
    /// Seconds since the test started (0 is the first second).
    pub second: u32,
    /// Operations that started (intended start, in the open model) in this second.
    pub count: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// Median latency of this second's operations.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// What an `http_load` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpLoadMetrics {
    /// Requests whose outcome is known (answered, failed or timed out).
    pub requests: u64,
    /// Requests with an expected status whose checks passed.
    pub ok: u64,
    /// Requests that failed, any class.
    pub fail: u64,
    /// Failures by class.
    pub errors: ErrorCounts,
    /// Answers by HTTP status code (JSON object keys are the codes as
    /// text; read back whether they are text or numbers).
    #[serde(deserialize_with = "status_keys")]
    pub status_counts: BTreeMap<u16, u64>,
    /// Latency of all requests, failed ones included; from the intended send
    /// time in the open model.
    pub latency: LatencySummary,
    /// Requests per second over the test's duration.
    pub rps: f64,
    /// From the first request to the last answer, in milliseconds.
    pub duration_ms: f64,
    /// Longest time in which no answer arrived although requests were in
    /// flight, in milliseconds: how long the target stalled at worst.
    pub longest_gap_ms: f64,
    /// Open model: requests sent later than intended because every
    /// connection was busy (their wait is part of their latency).
    pub late_sends: u64,
}

impl HttpLoadMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        let mut names = vec![
            "requests",
            "ok",
            "fail",
            "errors_connect",
            "errors_timeout",
            "errors_status",
            "errors_check",
            "errors_protocol",
            "rps",
            "duration_ms",
            "longest_gap_ms",
            "late_sends",
        ];
        names.extend(LATENCY_NAMES);
        names
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "requests" => self.requests as f64,
            "ok" => self.ok as f64,
            "fail" => self.fail as f64,
            "errors_connect" => self.errors.connect as f64,
            "errors_timeout" => self.errors.timeout as f64,
            "errors_status" => self.errors.status as f64,
            "errors_check" => self.errors.check as f64,
            "errors_protocol" => self.errors.protocol as f64,
            "rps" => self.rps,
            "duration_ms" => self.duration_ms,
            "longest_gap_ms" => self.longest_gap_ms,
            "late_sends" => self.late_sends as f64,
            other => return self.latency.metric(other),
        })
    }
}

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

impl JobWorkloadMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        let mut names = vec![
            "jobs",
            "submitted",
            "ok",
            "fail",
            "timed_out",
            "submit_errors",
            "queue_backlog_peak",
            "duration_ms",
        ];
        names.extend(LATENCY_NAMES);
        names
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "jobs" => self.jobs as f64,
            "submitted" => self.submitted as f64,
            "ok" => self.ok as f64,
            "fail" => self.fail as f64,
            "timed_out" => self.timed_out as f64,
            "submit_errors" => self.submit_errors as f64,
            "queue_backlog_peak" => return self.queue_backlog_peak,
            "duration_ms" => self.duration_ms,
            other => return self.latency.metric(other),
        })
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

impl StreamMetrics {
    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        let mut names = vec![
            "sessions",
            "sessions_ok",
            "sessions_failed",
            "events",
            "ttfe_p50_ms",
            "ttfe_p95_ms",
            "ttfe_max_ms",
            "exports",
            "exports_ok",
            "exports_failed",
            "bucket_failures",
            "ok",
            "fail",
            "duration_ms",
        ];
        names.extend(LATENCY_NAMES);
        names
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "sessions" => self.sessions as f64,
            "sessions_ok" => self.sessions_ok as f64,
            "sessions_failed" => self.sessions_failed as f64,
            "events" => self.events as f64,
            "ttfe_p50_ms" => self.first_event.p50_ms,
            "ttfe_p95_ms" => self.first_event.p95_ms,
            "ttfe_max_ms" => self.first_event.max_ms,
            "exports" => self.exports as f64,
            "exports_ok" => self.exports_ok as f64,
            "exports_failed" => self.exports_failed as f64,
            "bucket_failures" => self.bucket_failures as f64,
            "ok" => self.ok as f64,
            "fail" => self.fail as f64,
            "duration_ms" => self.duration_ms,
            other => return self.latency.metric(other),
        })
    }
}

/// One check of an `assert` test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOutcome {
    /// JSON pointer checked.
    pub pointer: String,
    /// Value expected there.
    pub expected: serde_json::Value,
    /// Value found; absent when the pointer matched nothing.
    pub actual: Option<serde_json::Value>,
    /// Whether they were equal.
    pub passed: bool,
}

/// What an `assert` test measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssertMetrics {
    /// HTTP status of the answer, when one came.
    pub status: Option<u16>,
    /// Whether the status was expected and every check passed.
    pub ok: bool,
    /// Checks that failed (all of them when no usable answer came).
    pub failed_checks: u64,
    /// Each check.
    pub checks: Vec<CheckOutcome>,
    /// Named checks' values (numbers, and booleans as 1 or 0).
    pub values: BTreeMap<String, f64>,
    /// Time to the complete answer, in milliseconds.
    pub latency_ms: f64,
}

impl AssertMetrics {
    /// Metric names every assert test answers; named checks add theirs.
    pub fn names() -> Vec<&'static str> {
        vec!["ok", "failed_checks", "latency_ms"]
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "ok" => f64::from(u8::from(self.ok)),
            "failed_checks" => self.failed_checks as f64,
            "latency_ms" => self.latency_ms,
            other => return self.values.get(other).copied(),
        })
    }
}

/// The metrics of one test, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TestMetrics {
    /// See [`HttpLoadMetrics`].
    HttpLoad(HttpLoadMetrics),
    /// See [`JobWorkloadMetrics`].
    JobWorkload(JobWorkloadMetrics),
    /// See [`StreamMetrics`].
    Stream(StreamMetrics),
    /// See [`AssertMetrics`].
    Assert(AssertMetrics),
    /// See [`crate::metrics::resilience::ChaosMetrics`].
    Chaos(crate::metrics::resilience::ChaosMetrics),
    /// See [`crate::metrics::resilience::StorageProbeMetrics`].
    StorageProbe(crate::metrics::resilience::StorageProbeMetrics),
    /// See [`crate::metrics::resilience::HealthMetrics`].
    Health(crate::metrics::resilience::HealthMetrics),
}

impl TestMetrics {
    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        match self {
            TestMetrics::HttpLoad(m) => m.metric(name),
            TestMetrics::JobWorkload(m) => m.metric(name),
            TestMetrics::Stream(m) => m.metric(name),
            TestMetrics::Assert(m) => m.metric(name),
            TestMetrics::Chaos(m) => m.metric(name),
            TestMetrics::StorageProbe(m) => m.metric(name),
            TestMetrics::Health(m) => m.metric(name),
        }
    }
}

/// Reads status counts whose keys are numbers written as text: inside the
/// tagged [`TestMetrics`], serde hands the keys over as strings, which a
/// plain `u16` key does not accept.
fn status_keys<'de, D>(deserializer: D) -> Result<BTreeMap<u16, u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: BTreeMap<String, u64> = Deserialize::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(code, count)| {
            code.trim()
                .parse::<u16>()
                .map(|code| (code, count))
                .map_err(|_| {
                    serde::de::Error::custom(format!("status code {code:?} is not a number"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_read_back_inside_the_tagged_metrics() {
        let mut load = HttpLoadMetrics::default();
        load.status_counts.insert(200, 2);
        load.status_counts.insert(503, 1);
        let metrics = TestMetrics::HttpLoad(load.clone());
        let text = serde_json::to_string(&metrics).expect("serialised");
        assert!(text.contains(r#""200":2"#), "{text}");
        let back: TestMetrics = serde_json::from_str(&text).expect("read back");
        assert_eq!(back, metrics);
        let bad = text.replace(r#""200""#, r#""ok""#);
        let e = serde_json::from_str::<TestMetrics>(&bad).expect_err("not a code");
        assert!(e.to_string().contains("\"ok\" is not a number"), "{e}");
    }
}
