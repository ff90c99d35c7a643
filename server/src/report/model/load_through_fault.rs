//! "Load through the fault": for each chaos test that carried background
//! load, its requests before the fault (the baseline), during it until
//! recovery, and after, with the impact in a sentence (errors and worst
//! latency during recovery, time back to the baseline, or why it never
//! got back).

use engine::metrics::windows::{LoadThroughFault, LoadWindow};
use engine::metrics::TestMetrics;
use engine::results::RunResults;
use serde::Serialize;

/// The column headings of a test's table.
pub const COLUMNS: &[&str] = &[
    "Window",
    "Time",
    "Requests",
    "Rate",
    "P50",
    "P95",
    "P99",
    "Max",
    "Error rate",
    "Errors by class",
];

/// One chaos test's load through its fault.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFaultTable {
    /// The test's id.
    pub test: String,
    /// Errors and worst latency during recovery, and the time back to the
    /// baseline, in a sentence.
    pub impact: String,
    /// `before`, `during` and `after`, as cells under [`COLUMNS`].
    pub rows: Vec<Vec<String>>,
}

fn ms(value: f64) -> String {
    format!("{value:.1} ms")
}

/// "status 12, connect 3", or "none".
fn classes(w: &LoadWindow) -> String {
    let e = &w.errors;
    let parts: Vec<String> = [
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("status", e.status),
        ("check", e.check),
        ("protocol", e.protocol),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(class, n)| format!("{class} {n}"))
    .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

fn row(name: &str, w: &LoadWindow) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{:.1} s", w.duration_ms / 1000.0),
        w.count.to_string(),
        format!("{:.1}/s", w.rps),
        ms(w.p50_ms),
        ms(w.p95_ms),
        ms(w.p99_ms),
        ms(w.max_ms),
        format!("{:.2}%", w.error_rate * 100.0),
        classes(w),
    ]
}

fn impact(l: &LoadThroughFault) -> String {
    let back = match l.back_to_baseline_ms {
        Some(back) => format!(
            "back to baseline {back:.0} ms after recovery (p95 within {}× the baseline's)",
            l.baseline_tolerance
        ),
        None => format!("NOT back to baseline: {}", l.back_to_baseline_note),
    };
    format!(
        "{} failed requests and worst latency {} during recovery; {back}",
        l.errors_during_recovery,
        ms(l.worst_latency_during_recovery_ms)
    )
}

/// A table per chaos test with background load, in plan order.
pub fn tables(results: &RunResults) -> Vec<LoadFaultTable> {
    results
        .tests
        .iter()
        .filter_map(|t| match &t.metrics {
            Some(TestMetrics::Chaos(m)) => m.load.as_ref().map(|l| LoadFaultTable {
                test: t.id.clone(),
                impact: impact(l),
                rows: l.windows().iter().map(|(name, w)| row(name, w)).collect(),
            }),
            _ => None,
        })
        .collect()
}
