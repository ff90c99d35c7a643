//! The performance summary: latency per test, operations per category of
//! test (from each test's [`engine::results::Tally`]), and failed
//! operations by class.

use crate::report::values::{label, metrics_json, numbers};
use engine::results::{RunResults, Tally, TestResult};
use serde::Serialize;
use std::collections::BTreeMap;

/// Latency of one test.
#[derive(Debug, Clone, Serialize)]
pub struct PerfRow {
    /// The test's id.
    pub test: String,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// PASS, FAIL, ERROR or ABORTED.
    pub status: String,
}

/// Operations of one category of test, or the total.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsRow {
    /// `Load tests`, `Chaos tests`, `Checks`, or `Total`.
    pub category: String,
    /// Operations counted: succeeded plus failed.
    pub requests: u64,
    pub ok: u64,
    pub fail: u64,
}

impl TotalsRow {
    /// Whether this is the last row, the total over all categories.
    pub fn is_total(&self) -> bool {
        self.category == TOTAL
    }

    fn new(category: String, tally: Tally) -> TotalsRow {
        TotalsRow {
            category,
            requests: tally.total(),
            ok: tally.ok,
            fail: tally.failed,
        }
    }
}

/// The category of the last row.
const TOTAL: &str = "Total";

/// Failure classes besides the `errors.*` counts of HTTP load tests.
const FAILURE_CLASSES: [&str; 6] = [
    "timed_out",
    "submit_errors",
    "bucket_failures",
    "stuck",
    "duplicates",
    "corrupted",
];

/// A row for a test that measured a median or a 95th percentile.
pub(super) fn perf_row(t: &TestResult) -> Option<PerfRow> {
    let m = t.metrics.as_ref()?;
    let p50 = m.metric("p50_ms");
    let p95 = m.metric("p95_ms");
    if p50.is_none() && p95.is_none() {
        return None;
    }
    Some(PerfRow {
        test: t.id.clone(),
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: m.metric("p99_ms"),
        status: t.status.as_str().to_owned(),
    })
}

/// Category name of a test kind.
fn category(kind: &str) -> String {
    match kind {
        "http_load" | "job_workload" | "stream" => "Load tests".to_owned(),
        "chaos" => "Chaos tests".to_owned(),
        "storage_probe" | "health" | "assert" => "Checks".to_owned(),
        other => label(other),
    }
}

/// One row per category, in the order categories first appear, then the
/// total. Tests that measured nothing count for nothing.
pub(super) fn totals(results: &RunResults) -> Vec<TotalsRow> {
    let mut by: Vec<(String, Tally)> = Vec::new();
    for t in &results.tests {
        let Some(tally) = t.tally() else { continue };
        let cat = category(&t.kind);
        match by.iter_mut().find(|(c, _)| *c == cat) {
            Some((_, sum)) => *sum += tally,
            None => by.push((cat, tally)),
        }
    }
    let mut total = Tally::default();
    for (_, tally) in &by {
        total += *tally;
    }
    by.push((TOTAL.to_owned(), total));
    by.into_iter()
        .map(|(category, tally)| TotalsRow::new(category, tally))
        .collect()
}

pub(super) fn failures_by_class(results: &RunResults) -> Vec<(String, u64)> {
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &results.tests {
        for (k, v) in numbers(&metrics_json(t)) {
            let class = if let Some(c) = k.strip_prefix("errors.") {
                c.to_owned()
            } else if FAILURE_CLASSES.contains(&k.as_str()) {
                k.clone()
            } else {
                continue;
            };
            *classes.entry(class).or_default() += v as u64;
        }
    }
    classes.into_iter().collect()
}
