//! Load through the fault: a chaos test's background load split by the
//! fault's recorded times into three windows (before the fault, during it
//! until the service recovered, after recovery), and the impact metrics
//! read from them. Criteria name them as dotted paths
//! (`C1.during.error_rate`, `C1.back_to_baseline_ms`).
//!
//! Plain data (serde + JSON Schema); builds everywhere.

use super::{higher, lower, neither, read, table_names, ErrorCounts, Metric, MetricInfo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The background requests that started in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadWindow {
    /// Requests that started (intended start, in the open model) in the window.
    pub count: u64,
    /// Of those, the ones that failed.
    pub fail: u64,
    /// Failures by class.
    pub errors: ErrorCounts,
    /// `fail / count` (0 without requests).
    pub error_rate: f64,
    /// Requests per second over the window's length.
    pub rps: f64,
    /// The window's length in milliseconds.
    pub duration_ms: f64,
    /// Median latency, failures included.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl LoadWindow {
    /// `value` as a metric of this window: unset when no request started in
    /// it, so a criterion on an empty window fails as not measured instead
    /// of reading 0 errors and 0 ms as a perfect result.
    pub fn measured(&self, value: f64) -> Option<f64> {
        (self.count > 0).then_some(value)
    }
}

/// A chaos test's background load, split by the fault's times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadThroughFault {
    /// The fault, in ms since the load started.
    pub fault_at_ms: f64,
    /// Recovery (the service's health passed again), in ms since the load
    /// started; unset when recovery was not seen (then `during` runs to
    /// the end and `after` is empty).
    #[serde(default)]
    pub recovered_at_ms: Option<f64>,
    /// The end of the load, in ms since it started.
    pub end_ms: f64,
    /// From the start of the load to the fault (the baseline).
    pub before: LoadWindow,
    /// From the fault to recovery.
    pub during: LoadWindow,
    /// From recovery to the end of the load.
    pub after: LoadWindow,
    /// Requests started during recovery that failed.
    pub errors_during_recovery: u64,
    /// Slowest request started during recovery, in ms.
    pub worst_latency_during_recovery_ms: f64,
    /// A window after recovery is back to baseline when its p95 is at
    /// most this many times the baseline's p95 (and its error rate at most
    /// this many times the baseline's).
    pub baseline_tolerance: f64,
    /// Length of the sliding window `back_to_baseline_ms` looks at, in ms.
    pub baseline_window_ms: f64,
    /// From recovery until the first sliding window that is back to
    /// baseline begins; unset when none was (never back, or no baseline).
    #[serde(default)]
    pub back_to_baseline_ms: Option<f64>,
    /// How `back_to_baseline_ms` was found, or why it is missing.
    pub back_to_baseline_note: String,
    /// Samples not kept (over the memory cap); windows count only the
    /// kept ones.
    pub samples_dropped: u64,
    /// The load over time for its chart: each window cut into equal
    /// slices (none crosses the fault or recovery), at most about
    /// [`MAX_SLICES`] in all. Not a metric: criteria and diffs skip it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<LoadSlice>,
}

/// Most slices of [`LoadThroughFault::series`] (each window adds at most
/// one more where its length does not divide evenly).
pub const MAX_SLICES: usize = 120;

/// Which of the three windows a moment of the load is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the fault (the baseline).
    Before,
    /// From the fault to recovery.
    During,
    /// After recovery.
    After,
}

impl Phase {
    /// `before`, `during` or `after`, as window metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

/// A slice of the background load's time: the requests that started in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoadSlice {
    /// Its start, in ms since the load started.
    pub from_ms: f64,
    /// Its end.
    pub to_ms: f64,
    /// The window it is in.
    pub phase: Phase,
    /// Requests that started in it.
    pub count: u64,
    /// Of those, the ones that failed.
    pub fail: u64,
    /// 95th percentile latency of those requests; unset without any.
    #[serde(default)]
    pub p95_ms: Option<f64>,
}

impl LoadSlice {
    /// `fail / count`; unset without requests.
    pub fn error_rate(&self) -> Option<f64> {
        (self.count > 0).then(|| self.fail as f64 / self.count as f64)
    }
}

/// One window's entries: `$w` the field, `$label` the name prefix.
macro_rules! load_table {
    ($($w:ident => $label:literal, $what:literal;)*) => {
        [
            $(
                neither(concat!($label, ".count"), concat!("Background requests started ", $what), |m: &LoadThroughFault| Some(m.$w.count as f64)),
                lower(concat!($label, ".fail"), concat!("Background requests started ", $what, " that failed"), |m: &LoadThroughFault| m.$w.measured(m.$w.fail as f64)),
                lower(concat!($label, ".error_rate"), concat!("Share of the background requests started ", $what, " that failed (0 to 1)"), |m: &LoadThroughFault| m.$w.measured(m.$w.error_rate)),
                higher(concat!($label, ".rps"), concat!("Background requests per second ", $what), |m: &LoadThroughFault| m.$w.measured(m.$w.rps)),
                lower(concat!($label, ".p50_ms"), concat!("Median latency of the background requests ", $what, ", in ms"), |m: &LoadThroughFault| m.$w.measured(m.$w.p50_ms)),
                lower(concat!($label, ".p95_ms"), concat!("95th percentile latency of the background requests ", $what, ", in ms"), |m: &LoadThroughFault| m.$w.measured(m.$w.p95_ms)),
                lower(concat!($label, ".p99_ms"), concat!("99th percentile latency of the background requests ", $what, ", in ms"), |m: &LoadThroughFault| m.$w.measured(m.$w.p99_ms)),
                lower(concat!($label, ".max_ms"), concat!("Slowest background request ", $what, ", in ms"), |m: &LoadThroughFault| m.$w.measured(m.$w.max_ms)),
                lower(concat!($label, ".errors.connect"), concat!("Background requests ", $what, " that could not connect"), |m: &LoadThroughFault| m.$w.measured(m.$w.errors.connect as f64)),
                lower(concat!($label, ".errors.timeout"), concat!("Background requests ", $what, " with no complete answer in time"), |m: &LoadThroughFault| m.$w.measured(m.$w.errors.timeout as f64)),
                lower(concat!($label, ".errors.status"), concat!("Background requests ", $what, " answered with an unexpected status"), |m: &LoadThroughFault| m.$w.measured(m.$w.errors.status as f64)),
                lower(concat!($label, ".errors.check"), concat!("Background requests ", $what, " whose body check failed"), |m: &LoadThroughFault| m.$w.measured(m.$w.errors.check as f64)),
                lower(concat!($label, ".errors.protocol"), concat!("Background requests ", $what, " cut off or not valid HTTP"), |m: &LoadThroughFault| m.$w.measured(m.$w.errors.protocol as f64)),
            )*
            lower(
                "errors_during_recovery",
                "Background requests started between the fault and recovery that failed",
                |m: &LoadThroughFault| m.during.measured(m.errors_during_recovery as f64),
            ),
            lower(
                "worst_latency_during_recovery_ms",
                "Slowest background request started between the fault and recovery, in ms",
                |m: &LoadThroughFault| m.during.measured(m.worst_latency_during_recovery_ms),
            ),
            lower(
                "back_to_baseline_ms",
                "From recovery until the background load's p95 (and error rate) over a sliding window was back within the tolerance of the baseline, in ms; missing when it never was",
                |m: &LoadThroughFault| m.back_to_baseline_ms,
            ),
        ]
    };
}

/// The metrics of the load through the fault.
const LOAD: &[Metric<LoadThroughFault>] = &load_table! {
    before => "before", "before the fault (the baseline)";
    during => "during", "between the fault and recovery";
    after => "after", "after recovery";
};

impl LoadThroughFault {
    /// Every metric criteria can name, with what it means and which way is
    /// better.
    pub fn table() -> &'static [Metric<Self>] {
        LOAD
    }

    /// Metric names criteria can use.
    pub fn names() -> Vec<&'static str> {
        table_names(LOAD)
    }

    /// The value of a named metric.
    pub fn metric(&self, name: &str) -> Option<f64> {
        read(LOAD, self, name)
    }

    /// What the named metric is.
    pub fn info(name: &str) -> Option<MetricInfo> {
        super::info(LOAD, name)
    }

    /// The three windows with their names, in order.
    pub fn windows(&self) -> [(&'static str, &LoadWindow); 3] {
        [
            ("before", &self.before),
            ("during", &self.during),
            ("after", &self.after),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_window_measures_nothing_but_its_count() {
        let mut load = LoadThroughFault {
            before: LoadWindow {
                count: 20,
                p95_ms: 12.0,
                ..LoadWindow::default()
            },
            ..LoadThroughFault::default()
        };
        // No request started between the fault and recovery: no error
        // rate, latency or failure count to hold a criterion against.
        assert_eq!(load.metric("during.count"), Some(0.0));
        for name in [
            "during.error_rate",
            "during.fail",
            "during.p95_ms",
            "during.rps",
            "during.errors.connect",
            "errors_during_recovery",
            "worst_latency_during_recovery_ms",
        ] {
            assert_eq!(load.metric(name), None, "{name}");
        }
        assert_eq!(load.metric("before.p95_ms"), Some(12.0));
        load.during.count = 3;
        assert_eq!(load.metric("during.error_rate"), Some(0.0));
        assert_eq!(load.metric("errors_during_recovery"), Some(0.0));
    }
}
