//! Metric by metric differences between two runs of the same plan: each
//! number of each test's metrics with its previous and current value and
//! whether it got worse or better, by the direction the kind's metric table
//! gives it ([`Direction`]); text metrics that changed (`simulated` →
//! `railway`) as plain changes. The report's "Key differences" section and
//! `shakedown diff` show these; a plan with `regressions_fail` makes the
//! regressions count against the verdict ([`regression_criterion`]).

use crate::metrics::{Direction, TestMetrics};
use crate::results::{CriterionOutcome, CriterionResult, RunResults, TestResult, TEXT_METRICS};
use serde_json::Value;

/// Relative change under which a latency or throughput move is noise.
pub const NOISE: f64 = 0.10;

/// A metric's value in one run.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffValue {
    /// A number.
    Number(f64),
    /// A text (`railway`).
    Text(String),
}

/// One metric of one test that differs between two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChange {
    /// The test id (`L1`).
    pub test: String,
    /// The metric's path in the test's metrics (`latency.p95_ms`).
    pub path: String,
    /// Before.
    pub previous: DiffValue,
    /// Now.
    pub current: DiffValue,
    /// Worse than before (by the metric's direction, beyond noise).
    pub regression: bool,
    /// Better than before (by the metric's direction, beyond noise).
    pub improvement: bool,
}

/// Which way is better for the metric at `path` in a test's metrics
/// (`latency.p95_ms`, `errors.connect`, `by_kind.export.fail`): the kind's
/// metric table knows it by the path with `_` for `.`, or by its last part.
/// Names the table does not hold (an assert test's named checks) are read
/// by their words.
pub fn direction(metrics: Option<&TestMetrics>, path: &str) -> Direction {
    let last = path.rsplit('.').next().unwrap_or(path);
    metrics
        .and_then(|m| m.info(&path.replace('.', "_")).or_else(|| m.info(last)))
        .map_or_else(|| direction_by_words(last), |info| info.direction)
}

/// The direction a metric's name suggests: latencies, failures and harm
/// (stuck, duplicates, corruption) are better lower; successes, throughput
/// and recoveries higher.
fn direction_by_words(n: &str) -> Direction {
    if n.ends_with("_ms") {
        // Lengths and moments (`fault_at_ms`, `end_ms`, a window's length)
        // are neither better nor worse.
        return if matches!(n, "duration_ms" | "min_ms" | "end_ms")
            || n.ends_with("_at_ms")
            || n.ends_with("window_ms")
        {
            Direction::Neither
        } else {
            Direction::LowerIsBetter
        };
    }
    if n == "fail"
        || n.contains("error")
        || n.contains("stuck")
        || n.contains("duplicate")
        || n.contains("corrupt")
        || n.contains("timed_out")
        || n.contains("failures")
        || n.ends_with("_failed")
        || n == "late_sends"
    {
        return Direction::LowerIsBetter;
    }
    if n == "ok"
        || n == "rps"
        || n.ends_with("_ok")
        || n.ends_with("completed")
        || n.contains("recovered")
        || n.contains("observed")
    {
        return Direction::HigherIsBetter;
    }
    Direction::Neither
}

/// A test's metrics as JSON (`null` when it measured nothing).
pub fn metrics_json(test: &TestResult) -> Value {
    test.metrics
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(Value::Null)
}

/// The numeric leaves of [`leaves`], as `(dotted.path, value)`.
pub fn numbers(value: &Value) -> Vec<(String, f64)> {
    leaves(value)
        .into_iter()
        .filter_map(|(k, v)| v.as_f64().map(|n| (k, n)))
        .collect()
}

/// Every scalar leaf of a JSON object as `(dotted.path, value)`, in order:
/// the paths a test's metrics are named by (`latency.p95_ms`). The
/// top-level `kind` tag, lists (per-check outcomes, dependencies) and nulls
/// are left out.
pub fn leaves(value: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "kind" && prefix.is_empty() {
                    continue;
                }
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&name, v, out);
            }
        }
        Value::Array(_) | Value::Null => {}
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// What changed in a test since `before`: every number that moved (counts
/// on any change; latencies and throughput flagged only beyond [`NOISE`]),
/// then every text metric that changed.
pub fn test_changes(before: &TestResult, now: &TestResult) -> Vec<MetricChange> {
    let was_values = numbers(&metrics_json(before));
    let mut changes = Vec::new();
    for (path, now_value) in numbers(&metrics_json(now)) {
        let Some(&(_, was)) = was_values.iter().find(|(n, _)| *n == path) else {
            continue;
        };
        if (now_value - was).abs() < 1e-9 {
            continue;
        }
        let relative = if was.abs() > 1e-9 {
            (now_value - was) / was.abs()
        } else {
            f64::INFINITY
        };
        let is_count = !path.ends_with("_ms") && !path.ends_with("rps");
        let beyond_noise = is_count || relative.abs() > NOISE;
        let (worse, better) = match direction(now.metrics.as_ref(), &path) {
            Direction::LowerIsBetter => (now_value > was, now_value < was),
            Direction::HigherIsBetter => (now_value < was, now_value > was),
            Direction::Neither => (false, false),
        };
        changes.push(MetricChange {
            test: now.id.clone(),
            path,
            previous: DiffValue::Number(was),
            current: DiffValue::Number(now_value),
            regression: worse && beyond_noise,
            improvement: better && beyond_noise,
        });
    }
    for (kind, name, _) in TEXT_METRICS {
        if now.kind != *kind {
            continue;
        }
        if let (Some(was), Some(is)) = (before.text_metric(name), now.text_metric(name)) {
            if was != is {
                changes.push(MetricChange {
                    test: now.id.clone(),
                    path: (*name).to_owned(),
                    previous: DiffValue::Text(was),
                    current: DiffValue::Text(is),
                    regression: false,
                    improvement: false,
                });
            }
        }
    }
    changes
}

/// Every change of every test that ran in both.
pub fn changes(previous: &[TestResult], current: &[TestResult]) -> Vec<MetricChange> {
    current
        .iter()
        .filter_map(|t| previous.iter().find(|p| p.id == t.id).map(|p| (p, t)))
        .flat_map(|(p, t)| test_changes(p, t))
        .collect()
}

/// The criterion a plan with `regressions_fail` adds: no metric got worse
/// than in the previous run of the plan and environment. It holds when
/// there is no previous run (nothing can have regressed), and says so.
pub fn regression_criterion(
    previous: Option<&RunResults>,
    tests: &[TestResult],
) -> CriterionResult {
    let expr = "no regressions against the previous run".to_owned();
    let base = CriterionResult {
        expr: expr.clone(),
        group: Some("Regressions".to_owned()),
        label: Some(expr),
        test: String::new(),
        metric: "regressions".to_owned(),
        actual: None,
        passed: true,
        note: None,
        outcome: Some(CriterionOutcome::Pass),
        actual_text: None,
        expected: None,
        warn_expr: None,
    };
    let Some(previous) = previous else {
        return CriterionResult {
            note: Some("no previous run of this plan and environment to compare with".to_owned()),
            ..base
        };
    };
    let regressed: Vec<String> = changes(&previous.tests, tests)
        .into_iter()
        .filter(|c| c.regression)
        .map(|c| format!("{}.{}", c.test, c.path))
        .collect();
    let held = regressed.is_empty();
    let mut note = format!("previous run {} ({})", previous.run_id, previous.started_at);
    if !held {
        note.push_str(&format!("; regressed: {}", regressed.join(", ")));
    }
    CriterionResult {
        actual: Some(regressed.len() as f64),
        passed: held,
        outcome: Some(if held {
            CriterionOutcome::Pass
        } else {
            CriterionOutcome::Fail
        }),
        note: Some(note),
        ..base
    }
}

#[cfg(test)]
mod tests;
