//! Criteria: one comparison per criterion, `TEST.metric OP value`
//! (`L1.fail == 0`, `L1.p95_ms < 2000`, `G1.ok == true`; a metric may be a
//! dotted path, `C1.during.p95_ms`; a text metric compares with a quoted
//! text, `C1.restart_method == "railway"`; a relative one with a baseline
//! run, `L1.p95_ms < baseline.L1.p95_ms * 1.2`), evaluated over test
//! results into PASS/WARN/FAIL/NO BASELINE per criterion, PASS/FAIL per
//! test and GO/NO-GO for the run (in `verdicts`).

use crate::metrics::{AssertMetrics, HttpLoadMetrics, JobWorkloadMetrics, StreamMetrics};
use crate::plan::{Criterion, TestKind, TestSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

mod verdicts;
pub use verdicts::{decide, evaluate, evaluate_run, evaluate_with};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Op {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Longest first, so `<=` is found before `<`.
    const ALL: [(&'static str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];

    /// Whether `left OP right` holds.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Eq => left == right,
            Op::Ne => left != right,
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(text, _)| text)
    }
}

/// The right side of a criterion.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A number; `true` and `false` are 1 and 0.
    Number(f64),
    /// A double-quoted text (`"railway"`), for text metrics.
    Text(String),
    /// A metric of the baseline run, times a factor
    /// (`baseline.L1.p95_ms * 1.2`).
    Baseline {
        /// The baseline's test id.
        test: String,
        /// Its metric.
        metric: String,
        /// What the baseline value is multiplied by (1 when not written).
        factor: f64,
    },
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Number(n) => write!(f, "{n}"),
            Operand::Text(t) => write!(f, "{t:?}"),
            Operand::Baseline {
                test,
                metric,
                factor,
            } if *factor == 1.0 => write!(f, "baseline.{test}.{metric}"),
            Operand::Baseline {
                test,
                metric,
                factor,
            } => write!(f, "baseline.{test}.{metric} * {factor}"),
        }
    }
}

/// A parsed criterion expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The test id (`L1`).
    pub test: String,
    /// The metric name (`p95_ms`).
    pub metric: String,
    /// The comparison operator.
    pub op: Op,
    /// The right-hand side.
    pub value: Operand,
}

impl Expr {
    /// The id of the test the criterion is over (`L1` in `L1.p95_ms < 2000`).
    pub fn test_id(&self) -> &str {
        &self.test
    }
}

impl Criterion {
    /// The id of the test this criterion is over, read by [`parse`]
    /// (`L1` for `L1.p95_ms < 2000`); `None` when the expression does not
    /// parse.
    pub fn test_id(&self) -> Option<String> {
        parse(&self.expr).ok().map(|expr| expr.test)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} {} {}",
            self.test,
            self.metric,
            self.op.as_str(),
            self.value
        )
    }
}

const EXPECTED: &str = "expected `TEST.metric OP value` with OP one of ==, !=, <, <=, >, >= and value a number, true, false, a \"quoted text\" or `baseline.TEST.metric [* factor]` (e.g. `L1.p95_ms < 2000`)";

/// Parses `TEST.metric OP value`.
pub fn parse(text: &str) -> Result<Expr, String> {
    let (at, op_text, op) = Op::ALL
        .iter()
        .filter_map(|(op_text, op)| text.find(op_text).map(|at| (at, *op_text, *op)))
        .min_by_key(|(at, op_text, _)| (*at, std::cmp::Reverse(op_text.len())))
        .ok_or_else(|| format!("{EXPECTED}, got {text:?}"))?;
    let left = text[..at].trim();
    let right = text[at + op_text.len()..].trim();
    let (test, metric) = metric_path(left)
        .ok_or_else(|| format!("{EXPECTED}; the left side {left:?} is not `TEST.metric`"))?;
    Ok(Expr {
        test: test.to_owned(),
        metric: metric.to_owned(),
        op,
        value: operand(right)?,
    })
}

/// `TEST.metric` (the metric may be dotted) as its test and metric.
fn metric_path(text: &str) -> Option<(&str, &str)> {
    text.split_once('.')
        .filter(|(t, m)| is_identifier(t) && m.split('.').all(is_identifier))
}

/// The right side: a number, `true`/`false`, a quoted text, or a baseline
/// metric with an optional factor.
fn operand(right: &str) -> Result<Operand, String> {
    if let Some(quoted) = right.strip_prefix('"') {
        let text = quoted
            .strip_suffix('"')
            .filter(|t| !t.contains('"'))
            .ok_or_else(|| {
                format!("{EXPECTED}; the right side {right:?} opens a quote it does not close")
            })?;
        return Ok(Operand::Text(text.to_owned()));
    }
    if let Some(rest) = right.strip_prefix("baseline.") {
        let (path, factor) = match rest.split_once('*') {
            Some((path, factor)) => {
                let factor = factor.trim();
                let factor = factor
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .ok_or_else(|| {
                        format!(
                            "{EXPECTED}; the factor {factor:?} after `*` is not a positive number"
                        )
                    })?;
                (path.trim(), factor)
            }
            None => (rest.trim(), 1.0),
        };
        let (test, metric) = metric_path(path)
            .ok_or_else(|| format!("{EXPECTED}; {right:?} does not name `baseline.TEST.metric`"))?;
        return Ok(Operand::Baseline {
            test: test.to_owned(),
            metric: metric.to_owned(),
            factor,
        });
    }
    match right {
        "true" => Ok(Operand::Number(1.0)),
        "false" => Ok(Operand::Number(0.0)),
        number => number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Operand::Number)
            .ok_or_else(|| {
                format!(
                    "{EXPECTED}; the right side {right:?} is not a number, true, false, a \"quoted text\" or a baseline metric"
                )
            }),
    }
}

/// A letter, then letters, digits or `_`.
pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Metric names a test of this spec answers.
pub fn metric_names(test: &TestSpec) -> Vec<String> {
    let fixed = match &test.kind {
        TestKind::HttpLoad(_) => HttpLoadMetrics::names(),
        TestKind::JobWorkload(_) => JobWorkloadMetrics::names(),
        TestKind::Stream(_) => StreamMetrics::names(),
        TestKind::Assert(_) => AssertMetrics::names(),
        TestKind::Chaos(_) => crate::metrics::resilience::ChaosMetrics::names(),
        TestKind::StorageProbe(_) => crate::metrics::resilience::StorageProbeMetrics::names(),
        TestKind::Health(_) => crate::metrics::resilience::HealthMetrics::names(),
    };
    let mut names: Vec<String> = fixed.into_iter().map(str::to_owned).collect();
    match &test.kind {
        TestKind::Assert(spec) => names.extend(spec.checks.iter().filter_map(|c| c.name.clone())),
        // The windows of the load through the fault exist only when the
        // chaos test carries background load.
        TestKind::Chaos(spec) if spec.background_load.is_empty() => {
            let windowed = crate::metrics::windows::LoadThroughFault::names();
            names.retain(|n| !windowed.contains(&n.as_str()));
        }
        _ => {}
    }
    names
}

/// The text metrics a test of this spec answers (`restart_method`):
/// compared with `==` and `!=` against a quoted text.
pub fn text_metric_names(test: &TestSpec) -> Vec<String> {
    crate::results::text_metric_names(test.kind.name())
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod text_and_relative_tests;

#[cfg(test)]
#[path = "criteria_tests.rs"]
mod tests;
