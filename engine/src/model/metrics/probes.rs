//! What the `storage_probe` and `health` tests measure, and their metric
//! tables (reached as `engine::metrics::resilience::NAME`).

use super::{higher, lower, neither, read, table_names, Metric};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// The metrics of a `storage_probe` test.
const STORAGE_PROBE: &[Metric<StorageProbeMetrics>] = &[
    higher("write_ok", "1 when the write succeeded", |m| {
        Some(m.write_ok as f64)
    }),
    higher(
        "read_ok",
        "1 when the object read back equals what was written",
        |m| Some(m.read_ok as f64),
    ),
    higher("deleted", "1 when the object was removed afterwards", |m| {
        Some(m.deleted as f64)
    }),
    higher(
        "ok",
        "1 when write, read-back comparison and removal all succeeded",
        |m| Some(m.ok as f64),
    ),
    lower("write_ms", "Time of the write, in ms", |m| Some(m.write_ms)),
    lower("read_ms", "Time of the read, in ms", |m| Some(m.read_ms)),
];

impl StorageProbeMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        STORAGE_PROBE
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(STORAGE_PROBE)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(STORAGE_PROBE, self, name)
    }
}

/// One dependency the readiness endpoint reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DependencyStatus {
    /// The dependency's name in the readiness answer (`database`).
    pub name: String,
    /// The status word the readiness answer gives it (`ok`, `down`).
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

/// The metrics of a `health` test.
const HEALTH: &[Metric<HealthMetrics>] = &[
    lower("latency_ms", "Time to the readiness answer, in ms", |m| {
        Some(m.latency_ms)
    }),
    neither(
        "dependencies_total",
        "Dependencies the readiness answer reports",
        |m| Some(m.dependencies_total as f64),
    ),
    higher(
        "dependencies_healthy",
        "Reported dependencies that are healthy",
        |m| Some(m.dependencies_healthy as f64),
    ),
    higher(
        "bucket_match",
        "1 when the bucket the target reports is the expected one",
        |m| Some(m.bucket_match as f64),
    ),
    neither("artifacts_checked", "Artifacts looked up", |m| {
        Some(m.artifacts_checked as f64)
    }),
    higher(
        "artifacts_in_expected_bucket",
        "Artifacts the run reports in the expected bucket that exist there",
        |m| Some(m.artifacts_in_expected_bucket as f64),
    ),
    higher(
        "isolation_ok",
        "1 when the bucket matches and every artifact looked up is in it",
        |m| Some(m.isolation_ok as f64),
    ),
];

impl HealthMetrics {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        HEALTH
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(HEALTH)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(HEALTH, self, name)
    }
}
