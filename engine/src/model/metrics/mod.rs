//! What each test kind measures, as plain numbers (no histograms here:
//! those live in the runtime and travel as serialised blobs).
//!
//! Each kind has one table of the metrics a criterion can name: the name,
//! what it means, which way is better, and how it is read from the kind's
//! measurements. The kind's `names()` and `metric()` both read that table,
//! so `shakedown check` rejects a criterion over a metric that does not
//! exist and a run answers every metric `check` accepts.

mod http;
mod jobs;
mod probes;
pub mod resilience;
pub mod windows;

pub use http::{AssertMetrics, CheckOutcome, HttpLoadMetrics};
pub use jobs::{JobWorkloadMetrics, KindCounts, StreamMetrics};

use resilience::{ChaosMetrics, HealthMetrics, StorageProbeMetrics};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which way a metric's change is good news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better (`ok`, `rps`, `runs_recovered`).
    HigherIsBetter,
    /// Less is better (`fail`, `p95_ms`, `stuck`).
    LowerIsBetter,
    /// Neither: a count of what was asked for or a wall time
    /// (`requests`, `duration_ms`).
    Neither,
}

/// What a metric is: the name criteria use, what it means, and which way
/// is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricInfo {
    /// The name in criteria and reports (`p95_ms`).
    pub name: &'static str,
    /// What it measures, in a sentence.
    pub description: &'static str,
    /// Which way is better.
    pub direction: Direction,
}

/// One entry of a kind's metric table: what the metric is and how it is
/// read from the kind's measurements (`M`).
#[derive(Debug)]
pub struct Metric<M> {
    /// Name, description and direction.
    pub info: MetricInfo,
    read: fn(&M) -> Option<f64>,
}

impl<M> Metric<M> {
    /// The metric's value in `metrics`; `None` when it was not measured.
    pub fn read(&self, metrics: &M) -> Option<f64> {
        (self.read)(metrics)
    }
}

/// One constructor of table entries per [`Direction`].
macro_rules! by_direction {
    ($($(#[$doc:meta])* $constructor:ident: $direction:ident;)*) => {$(
        $(#[$doc])*
        const fn $constructor<M>(
            name: &'static str,
            description: &'static str,
            read: fn(&M) -> Option<f64>,
        ) -> Metric<M> {
            entry(name, description, Direction::$direction, read)
        }
    )*};
}

by_direction! {
    /// A table entry for a metric where more is better.
    higher: HigherIsBetter;
    /// A table entry for a metric where less is better.
    lower: LowerIsBetter;
    /// A table entry for a metric that is neither better higher nor lower.
    neither: Neither;
}

const fn entry<M>(
    name: &'static str,
    description: &'static str,
    direction: Direction,
    read: fn(&M) -> Option<f64>,
) -> Metric<M> {
    Metric {
        info: MetricInfo {
            name,
            description,
            direction,
        },
        read,
    }
}

/// The names of a table's metrics, in table order.
fn table_names<M>(table: &[Metric<M>]) -> Vec<&'static str> {
    table.iter().map(|m| m.info.name).collect()
}

/// The table entry of that name.
fn find<'t, M>(table: &'t [Metric<M>], name: &str) -> Option<&'t Metric<M>> {
    table.iter().find(|m| m.info.name == name)
}

/// What the named metric of a table is.
fn info<M>(table: &[Metric<M>], name: &str) -> Option<MetricInfo> {
    find(table, name).map(|m| m.info)
}

/// The value of the named metric of `metrics`, read through its table.
fn read<M>(table: &[Metric<M>], metrics: &M, name: &str) -> Option<f64> {
    find(table, name).and_then(|m| m.read(metrics))
}

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
    /// Closed-model load: the workers that started a request in this
    /// second (how a ramp of workers went).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
}

/// [`TestMetrics`], the mirror serde reads it through, and
/// [`TestMetrics::metric`], from one list of kinds.
macro_rules! test_metrics {
    ($($(#[$doc:meta])* $kind:ident($metrics:ident),)*) => {
        /// The metrics of one test, by kind.
        ///
        /// Written with its `kind` tag first, as serde's derive writes it; read
        /// with `model::tag_first` (no buffered copy of the object).
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum TestMetrics {
            $($(#[$doc])* $kind($metrics),)*
        }

        /// [`TestMetrics`] read as an externally tagged enum from its tag and the
        /// rest of its object (see `model::tag_first`).
        #[derive(Deserialize)]
        #[serde(remote = "TestMetrics", rename_all = "snake_case")]
        enum TestMetricsMirror {
            $($kind($metrics),)*
        }

        impl TestMetrics {
            /// The value of a named metric.
            pub fn metric(&self, name: &str) -> Option<f64> {
                match self {
                    $(TestMetrics::$kind(m) => m.metric(name),)*
                }
            }
        }
    };
}

test_metrics! {
    /// See [`HttpLoadMetrics`].
    HttpLoad(HttpLoadMetrics),
    /// See [`JobWorkloadMetrics`].
    JobWorkload(JobWorkloadMetrics),
    /// See [`StreamMetrics`].
    Stream(StreamMetrics),
    /// See [`AssertMetrics`].
    Assert(AssertMetrics),
    /// See [`ChaosMetrics`].
    Chaos(ChaosMetrics),
    /// See [`StorageProbeMetrics`].
    StorageProbe(StorageProbeMetrics),
    /// See [`HealthMetrics`].
    Health(HealthMetrics),
}

crate::model::tag_first::tag_first_deserialize!(
    TestMetrics via TestMetricsMirror,
    tag "kind",
    expecting "a test's metrics with their `kind`"
);

impl TestMetrics {
    /// What the named metric is and which way is better; `None` for a
    /// name outside the kind's table (an assert test's named checks).
    pub fn info(&self, name: &str) -> Option<MetricInfo> {
        match self {
            TestMetrics::HttpLoad(_) => info(HttpLoadMetrics::table(), name),
            TestMetrics::JobWorkload(_) => info(JobWorkloadMetrics::table(), name),
            TestMetrics::Stream(_) => info(StreamMetrics::table(), name),
            TestMetrics::Assert(_) => info(AssertMetrics::table(), name),
            TestMetrics::Chaos(_) => ChaosMetrics::info(name),
            TestMetrics::StorageProbe(_) => info(StorageProbeMetrics::table(), name),
            TestMetrics::Health(_) => info(HealthMetrics::table(), name),
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
mod tests;
