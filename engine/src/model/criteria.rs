//! Criteria: one comparison per criterion, `TEST.metric OP value`
//! (`L1.fail == 0`, `L1.p95_ms < 2000`, `G1.ok == true`; a metric may be a
//! dotted path, `C1.during.p95_ms`), evaluated over
//! test results into PASS/FAIL per test and GO/NO-GO for the run.

use crate::metrics::{AssertMetrics, HttpLoadMetrics, JobWorkloadMetrics, StreamMetrics};
use crate::plan::{Criterion, Plan, TestKind, TestSpec};
use crate::results::{CriterionResult, TestResult, TestStatus};
use crate::run::Verdict;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// A parsed criterion expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The test id (`L1`).
    pub test: String,
    /// The metric name (`p95_ms`).
    pub metric: String,
    /// The comparison operator.
    pub op: Op,
    /// The right-hand side; `true` and `false` are 1 and 0.
    pub value: f64,
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

/// Parses `TEST.metric OP value`.
pub fn parse(text: &str) -> Result<Expr, String> {
    let expected = "expected `TEST.metric OP value` with OP one of ==, !=, <, <=, >, >= (e.g. `L1.p95_ms < 2000`)";
    let (at, op_text, op) = Op::ALL
        .iter()
        .filter_map(|(op_text, op)| text.find(op_text).map(|at| (at, *op_text, *op)))
        .min_by_key(|(at, op_text, _)| (*at, std::cmp::Reverse(op_text.len())))
        .ok_or_else(|| format!("{expected}, got {text:?}"))?;
    let left = text[..at].trim();
    let right = text[at + op_text.len()..].trim();
    let (test, metric) = left
        .split_once('.')
        .filter(|(t, m)| is_identifier(t) && m.split('.').all(is_identifier))
        .ok_or_else(|| format!("{expected}; the left side {left:?} is not `TEST.metric`"))?;
    let value = match right {
        "true" => 1.0,
        "false" => 0.0,
        number => number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                format!("{expected}; the right side {right:?} is not a number, true or false")
            })?,
    };
    Ok(Expr {
        test: test.to_owned(),
        metric: metric.to_owned(),
        op,
        value,
    })
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
    if let TestKind::Assert(spec) = &test.kind {
        names.extend(spec.checks.iter().filter_map(|c| c.name.clone()));
    }
    names
}

/// Evaluates every criterion over the results. A criterion whose metric was
/// not measured (test missing, errored or aborted) fails.
pub fn evaluate(criteria: &[Criterion], tests: &[TestResult]) -> Vec<CriterionResult> {
    criteria
        .iter()
        .map(|criterion| {
            let base = CriterionResult {
                expr: criterion.expr.clone(),
                group: criterion.group.clone(),
                label: criterion.label.clone(),
                test: String::new(),
                metric: String::new(),
                actual: None,
                passed: false,
                note: None,
            };
            let expr = match parse(&criterion.expr) {
                Ok(expr) => expr,
                Err(e) => {
                    return CriterionResult {
                        note: Some(e),
                        ..base
                    }
                }
            };
            let base = CriterionResult {
                test: expr.test.clone(),
                metric: expr.metric.clone(),
                ..base
            };
            let Some(test) = tests.iter().find(|t| t.id == expr.test) else {
                return CriterionResult {
                    note: Some(format!("test {} did not run", expr.test)),
                    ..base
                };
            };
            let actual = test.metrics.as_ref().and_then(|m| m.metric(&expr.metric));
            match actual {
                Some(actual) => CriterionResult {
                    actual: Some(actual),
                    passed: expr.op.holds(actual, expr.value),
                    ..base
                },
                None => CriterionResult {
                    note: Some(format!(
                        "{}.{} was not measured (test {})",
                        expr.test,
                        expr.metric,
                        test.status.as_str()
                    )),
                    ..base
                },
            }
        })
        .collect()
}

/// Sets each finished test's PASS/FAIL from the criteria that name it
/// (a test with an error stays ERROR, an aborted one ABORTED), and returns
/// the run's verdict: GO only when every test passed, every criterion held
/// and no supervised process exited unasked during the run (a service that
/// crashed is an anomaly whatever the criteria say).
pub fn decide(
    plan: &Plan,
    tests: &mut [TestResult],
    criteria: &[CriterionResult],
    unplanned_exits: &[crate::results::UnplannedExit],
) -> Verdict {
    for test in tests.iter_mut() {
        if matches!(test.status, TestStatus::Pass | TestStatus::Fail) {
            let failed = criteria.iter().any(|c| c.test == test.id && !c.passed);
            test.status = if failed {
                TestStatus::Fail
            } else {
                TestStatus::Pass
            };
        }
    }
    let all_ran = plan
        .tests
        .iter()
        .all(|spec| tests.iter().any(|t| t.id == spec.id));
    let all_pass = tests.iter().all(|t| t.status == TestStatus::Pass);
    let all_hold = criteria.iter().all(|c| c.passed);
    if all_ran && all_pass && all_hold && unplanned_exits.is_empty() {
        Verdict::Go
    } else {
        Verdict::NoGo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criteria_as_plans_write_them() {
        let e = parse("L1.p95_ms < 2000").unwrap();
        assert_eq!((e.test.as_str(), e.metric.as_str()), ("L1", "p95_ms"));
        assert_eq!((e.op, e.value), (Op::Lt, 2000.0));
        assert_eq!(parse("C1.stuck==0").unwrap().op, Op::Eq);
        assert_eq!(parse("L1.fail <= 3").unwrap().op, Op::Le);
        assert_eq!(parse("G1.ok == true").unwrap().value, 1.0);
        let windowed = parse("C1.during.error_rate < 0.01").unwrap();
        assert_eq!(
            (windowed.test.as_str(), windowed.metric.as_str()),
            ("C1", "during.error_rate")
        );
    }

    #[test]
    fn a_criterion_names_its_test() {
        assert_eq!(parse("L1.p95_ms < 2000").unwrap().test_id(), "L1");
        let criterion = |expr: &str| Criterion {
            expr: expr.to_owned(),
            group: None,
            label: None,
        };
        assert_eq!(criterion(" C2.stuck == 0").test_id().as_deref(), Some("C2"));
        assert_eq!(criterion("C2.stuck").test_id(), None);
    }

    #[test]
    fn rejects_what_is_not_one_comparison() {
        assert!(parse("L1.fail").is_err());
        assert!(parse("fail == 0").is_err());
        assert!(parse("C1.during. == 0").is_err());
        assert!(parse("C1..p95_ms == 0").is_err());
        assert!(parse("L1.fail == zero").is_err());
        assert!(parse("L1.fail == 0 && L2.fail == 0").is_err());
    }

    #[test]
    fn operators_hold_as_written() {
        assert!(Op::Lt.holds(1.0, 2.0));
        assert!(!Op::Lt.holds(2.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0));
        assert!(Op::Ne.holds(1.0, 2.0));
    }
}
