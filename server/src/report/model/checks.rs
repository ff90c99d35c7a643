//! What the report lists as checks: integrity and storage (assert checks,
//! storage probes, criteria over integrity metrics) and the dependencies
//! health tests saw.

use super::criteria::{actual, shown};
use crate::report::values::{label, leaves, metrics_json, show};
use engine::results::RunResults;
use serde::Serialize;
use serde_json::Value;

/// An integrity or storage check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// The test it belongs to.
    pub test: String,
    /// What was checked.
    pub check: String,
    /// What was seen.
    pub actual: String,
    /// Whether it held (`None`: informational).
    pub passed: Option<bool>,
}

/// One dependency in a health answer.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyRow {
    /// The health test.
    pub test: String,
    pub name: String,
    /// Its status word as reported.
    pub status: String,
    /// `1.5 ms`, `—` when not reported.
    pub latency: String,
}

/// Metric names that make a criterion an integrity check.
const INTEGRITY_WORDS: [&str; 6] = [
    "corrupt",
    "stuck",
    "duplicate",
    "bucket",
    "integrity",
    "missing",
];

pub(super) fn integrity(results: &RunResults) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for t in &results.tests {
        let m = metrics_json(t);
        if let Some(checks) = m.get("checks").and_then(Value::as_array) {
            rows.extend(checks.iter().map(|c| assert_check(&t.id, c)));
        }
        if t.kind == "storage_probe" || m.get("write_ms").is_some() {
            for (k, v) in leaves(&m) {
                rows.push(CheckRow {
                    test: t.id.clone(),
                    check: label(&k),
                    actual: show(&v),
                    passed: None,
                });
            }
        }
    }
    for c in &results.criteria {
        let m = c.metric.to_ascii_lowercase();
        if INTEGRITY_WORDS.iter().any(|w| m.contains(w)) {
            rows.push(CheckRow {
                test: c.test.clone(),
                check: shown(c),
                actual: actual(c),
                passed: Some(c.passed),
            });
        }
    }
    rows
}

/// One check of an assert test, read from its JSON.
fn assert_check(test: &str, c: &Value) -> CheckRow {
    CheckRow {
        test: test.to_owned(),
        check: format!(
            "{} == {}",
            c.get("pointer").map(show).unwrap_or_default(),
            c.get("expected").map(|v| v.to_string()).unwrap_or_default()
        ),
        actual: c
            .get("actual")
            .map(|v| v.to_string())
            .unwrap_or_else(|| "—".into()),
        passed: c.get("passed").and_then(Value::as_bool),
    }
}

pub(super) fn dependencies(results: &RunResults) -> Vec<DependencyRow> {
    let mut rows = Vec::new();
    for t in &results.tests {
        let m = metrics_json(t);
        let Some(deps) = m.get("dependencies").and_then(Value::as_array) else {
            continue;
        };
        rows.extend(deps.iter().map(|d| {
            DependencyRow {
                test: t.id.clone(),
                name: d.get("name").map(show).unwrap_or_default(),
                status: d.get("status").map(show).unwrap_or_default(),
                latency: d
                    .get("latency_ms")
                    .and_then(Value::as_f64)
                    .map_or_else(|| "—".to_owned(), |ms| format!("{ms:.1} ms")),
            }
        }));
    }
    rows
}
