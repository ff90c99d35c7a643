//! What the `http_load` and `assert` tests measure, and their metric tables.

use super::{
    higher, lower, neither, read, status_keys, table_names, ErrorCounts, LatencySummary, Metric,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// The metrics of an `http_load` test. Latency counts every request, failed
/// ones included, from its intended send time in the open model.
const HTTP_LOAD: &[Metric<HttpLoadMetrics>] = &[
    neither(
        "requests",
        "Requests whose outcome is known (answered, failed or timed out)",
        |m| Some(m.requests as f64),
    ),
    higher(
        "ok",
        "Requests with an expected status whose checks passed",
        |m| Some(m.ok as f64),
    ),
    lower("fail", "Requests that failed, any class", |m| {
        Some(m.fail as f64)
    }),
    lower(
        "errors_connect",
        "Failed requests whose connection could not be opened",
        |m| Some(m.errors.connect as f64),
    ),
    lower(
        "errors_timeout",
        "Failed requests with no complete answer within the timeout",
        |m| Some(m.errors.timeout as f64),
    ),
    lower(
        "errors_status",
        "Failed requests answered with a status that was not expected",
        |m| Some(m.errors.status as f64),
    ),
    lower(
        "errors_check",
        "Failed requests with an expected status whose body check failed",
        |m| Some(m.errors.check as f64),
    ),
    lower(
        "errors_protocol",
        "Failed requests whose connection broke or whose answer was not valid HTTP",
        |m| Some(m.errors.protocol as f64),
    ),
    higher("rps", "Requests per second over the test's duration", |m| {
        Some(m.rps)
    }),
    neither(
        "duration_ms",
        "From the first request to the last answer, in ms",
        |m| Some(m.duration_ms),
    ),
    lower(
        "longest_gap_ms",
        "Longest time without an answer while requests were in flight, in ms",
        |m| Some(m.longest_gap_ms),
    ),
    lower(
        "late_sends",
        "Open model: requests sent late because every connection was busy",
        |m| Some(m.late_sends as f64),
    ),
    lower("min_ms", "Fastest request, in ms", |m| {
        Some(m.latency.min_ms)
    }),
    lower("mean_ms", "Mean request latency, in ms", |m| {
        Some(m.latency.mean_ms)
    }),
    lower("p50_ms", "Median request latency, in ms", |m| {
        Some(m.latency.p50_ms)
    }),
    lower("p90_ms", "90th percentile of request latency, in ms", |m| {
        Some(m.latency.p90_ms)
    }),
    lower("p95_ms", "95th percentile of request latency, in ms", |m| {
        Some(m.latency.p95_ms)
    }),
    lower("p99_ms", "99th percentile of request latency, in ms", |m| {
        Some(m.latency.p99_ms)
    }),
    lower(
        "p999_ms",
        "99.9th percentile of request latency, in ms",
        |m| Some(m.latency.p999_ms),
    ),
    lower("max_ms", "Slowest request, in ms", |m| {
        Some(m.latency.max_ms)
    }),
];

impl HttpLoadMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        HTTP_LOAD
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(HTTP_LOAD)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(HTTP_LOAD, self, name)
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

/// The metrics every `assert` test has; named checks add theirs.
const ASSERT: &[Metric<AssertMetrics>] = &[
    higher(
        "ok",
        "1 when the status was expected and every check passed, else 0",
        |m| Some(f64::from(u8::from(m.ok))),
    ),
    lower(
        "failed_checks",
        "Checks that failed (all of them when no usable answer came)",
        |m| Some(m.failed_checks as f64),
    ),
    lower("latency_ms", "Time to the complete answer, in ms", |m| {
        Some(m.latency_ms)
    }),
];

impl AssertMetrics {
    /// The metrics every assert test has, with what each means and which
    /// way is better; a named check's value is a metric too, outside it.
    pub fn table() -> &'static [Metric<Self>] {
        ASSERT
    }

    /// Metric names every assert test answers; named checks add theirs.
    pub fn names() -> Vec<&'static str> {
        table_names(ASSERT)
    }

    /// The value of a named metric, or of the named check of that name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(ASSERT, self, name).or_else(|| self.values.get(name).copied())
    }
}
