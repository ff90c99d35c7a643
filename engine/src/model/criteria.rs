//! Criteria: one comparison per criterion, `TEST.metric OP value`
//! (`L1.fail == 0`, `L1.p95_ms < 2000`, `G1.ok == true`; a metric may be a
//! dotted path, `C1.during.p95_ms`; a text metric compares with a quoted
//! text, `C1.restart_method == "railway"`; a relative one with a baseline
//! run, `L1.p95_ms < baseline.L1.p95_ms * 1.2`), evaluated over test
//! results into PASS/WARN/FAIL/NO BASELINE per criterion, PASS/FAIL per
//! test and GO/NO-GO for the run.

use crate::metrics::{AssertMetrics, HttpLoadMetrics, JobWorkloadMetrics, StreamMetrics};
use crate::plan::{Criterion, CriterionLevel, Plan, TestKind, TestSpec};
use crate::results::{Baseline, CriterionOutcome, CriterionResult, TestResult, TestStatus};
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

/// Evaluates every criterion over the results, without a baseline run: a
/// relative criterion is NO BASELINE.
pub fn evaluate(criteria: &[Criterion], tests: &[TestResult]) -> Vec<CriterionResult> {
    evaluate_with(criteria, tests, None)
}

/// What one comparison came to.
enum Holds {
    /// It held or not, with the measured value and the value compared with.
    Measured {
        holds: bool,
        actual: Option<f64>,
        actual_text: Option<String>,
        expected: Option<f64>,
    },
    /// A relative comparison without a baseline run.
    NoBaseline(String),
    /// It could not be evaluated (unparsable, test missing, not measured).
    Unknown(String),
}

/// The value of `test.metric` in `tests`, number or text.
fn measured(tests: &[TestResult], test: &str, metric: &str) -> Result<Value, String> {
    let Some(result) = tests.iter().find(|t| t.id == test) else {
        return Err(format!("test {test} did not run"));
    };
    if let Some(text) = result.text_metric(metric) {
        return Ok(Value::Text(text));
    }
    result
        .metrics
        .as_ref()
        .and_then(|m| m.metric(metric))
        .map(Value::Number)
        .ok_or_else(|| {
            format!(
                "{test}.{metric} was not measured (test {})",
                result.status.as_str()
            )
        })
}

/// A measured value.
enum Value {
    Number(f64),
    Text(String),
}

/// Evaluates one expression.
fn compare(expr: &Expr, tests: &[TestResult], baseline: Option<&Baseline>) -> Holds {
    let actual = match measured(tests, &expr.test, &expr.metric) {
        Ok(value) => value,
        Err(note) => return Holds::Unknown(note),
    };
    let expected = match &expr.value {
        Operand::Number(n) => Value::Number(*n),
        Operand::Text(t) => Value::Text(t.clone()),
        Operand::Baseline {
            test,
            metric,
            factor,
        } => {
            let Some(baseline) = baseline else {
                return Holds::NoBaseline(format!(
                    "no baseline: no earlier GO run of this plan and environment, and none pinned, to compare baseline.{test}.{metric} with"
                ));
            };
            match measured(&baseline.tests, test, metric) {
                Ok(Value::Number(n)) => Value::Number(n * factor),
                Ok(Value::Text(_)) => {
                    return Holds::Unknown(format!(
                        "baseline.{test}.{metric} is text; only numbers can be scaled and ordered"
                    ))
                }
                Err(note) => {
                    return Holds::NoBaseline(format!(
                        "no baseline value: in baseline run {}, {note}",
                        baseline.reference.run_id
                    ))
                }
            }
        }
    };
    let relative = matches!(expr.value, Operand::Baseline { .. });
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => Holds::Measured {
            holds: expr.op.holds(a, e),
            actual: Some(a),
            actual_text: None,
            expected: relative.then_some(e),
        },
        (Value::Text(a), Value::Text(e)) if matches!(expr.op, Op::Eq | Op::Ne) => {
            let equal = a == e;
            Holds::Measured {
                holds: if expr.op == Op::Eq { equal } else { !equal },
                actual: None,
                actual_text: Some(a),
                expected: None,
            }
        }
        (Value::Text(a), _) => Holds::Unknown(format!(
            "{}.{} is text ({a:?}); compare it with == or != and a \"quoted text\"",
            expr.test, expr.metric
        )),
        (Value::Number(a), Value::Text(e)) => Holds::Unknown(format!(
            "{}.{} is a number ({a}), not text; it cannot equal {e:?}",
            expr.test, expr.metric
        )),
    }
}

/// Evaluates every criterion over the results. A criterion whose metric was
/// not measured (test missing, errored or aborted) fails; a relative one
/// without a `baseline` is NO BASELINE, which is not a pass. A criterion
/// whose `warn` condition does not hold, or of `level = "warn"` that does
/// not hold, is WARN: `passed` stays true, the run can be GO with warnings.
pub fn evaluate_with(
    criteria: &[Criterion],
    tests: &[TestResult],
    baseline: Option<&Baseline>,
) -> Vec<CriterionResult> {
    criteria
        .iter()
        .map(|criterion| evaluate_one(criterion, tests, baseline))
        .collect()
}

/// Every criterion of a finished run: the plan's own (relative ones against
/// `baseline`), then, only for a plan with `regressions_fail`, "no
/// regressions against the previous run" over `previous`.
pub fn evaluate_run(
    plan: &Plan,
    tests: &[TestResult],
    baseline: Option<&Baseline>,
    previous: Option<&crate::results::RunResults>,
) -> Vec<CriterionResult> {
    let mut results = evaluate_with(&plan.criteria, tests, baseline);
    if plan.plan.regressions_fail {
        results.push(crate::diff::regression_criterion(previous, tests));
    }
    results
}

/// One criterion over the results: parsed, compared, then its outcome at
/// its level.
fn evaluate_one(
    criterion: &Criterion,
    tests: &[TestResult],
    baseline: Option<&Baseline>,
) -> CriterionResult {
    let warn_level = criterion.level == Some(CriterionLevel::Warn);
    let base = unevaluated(criterion);
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
    match compare(&expr, tests, baseline) {
        Holds::Unknown(note) => not_held(base, note, missed(warn_level, CriterionOutcome::Fail)),
        Holds::NoBaseline(note) => {
            not_held(base, note, missed(warn_level, CriterionOutcome::NoBaseline))
        }
        Holds::Measured {
            holds,
            actual,
            actual_text,
            expected,
        } => {
            let (outcome, note) = if !holds {
                (missed(warn_level, CriterionOutcome::Fail), None)
            } else {
                held_outcome(criterion, tests, baseline)
            };
            CriterionResult {
                actual,
                actual_text,
                expected,
                passed: outcome != CriterionOutcome::Fail,
                outcome: Some(outcome),
                note,
                ..base
            }
        }
    }
}

/// A criterion's result before it is evaluated: a FAIL naming no test.
fn unevaluated(criterion: &Criterion) -> CriterionResult {
    CriterionResult {
        expr: criterion.expr.clone(),
        group: criterion.group.clone(),
        label: criterion.label.clone(),
        test: String::new(),
        metric: String::new(),
        actual: None,
        passed: false,
        note: None,
        outcome: Some(CriterionOutcome::Fail),
        actual_text: None,
        expected: None,
        warn_expr: criterion.warn.clone(),
    }
}

/// What a condition that does not hold comes to at this level.
fn missed(warn_level: bool, outcome: CriterionOutcome) -> CriterionOutcome {
    if warn_level {
        CriterionOutcome::Warn
    } else {
        outcome
    }
}

/// A criterion that could not be compared, with why.
fn not_held(base: CriterionResult, note: String, outcome: CriterionOutcome) -> CriterionResult {
    CriterionResult {
        note: Some(note),
        passed: outcome == CriterionOutcome::Warn,
        outcome: Some(outcome),
        ..base
    }
}

/// The outcome of a criterion whose condition holds: PASS, or WARN with a
/// note when its `warn` condition does not hold or cannot be evaluated.
fn held_outcome(
    criterion: &Criterion,
    tests: &[TestResult],
    baseline: Option<&Baseline>,
) -> (CriterionOutcome, Option<String>) {
    match warn_holds(criterion, tests, baseline) {
        None | Some(Ok(true)) => (CriterionOutcome::Pass, None),
        Some(Ok(false)) => (
            CriterionOutcome::Warn,
            criterion
                .warn
                .as_ref()
                .map(|w| format!("warning: {w} does not hold")),
        ),
        Some(Err(note)) => (CriterionOutcome::Warn, Some(format!("warning: {note}"))),
    }
}

/// Whether the criterion's `warn` condition holds; `None` when it has none,
/// an error (shown as the warning) when it cannot be evaluated.
fn warn_holds(
    criterion: &Criterion,
    tests: &[TestResult],
    baseline: Option<&Baseline>,
) -> Option<Result<bool, String>> {
    let warn = criterion.warn.as_ref()?;
    let expr = match parse(warn) {
        Ok(expr) => expr,
        Err(e) => return Some(Err(e)),
    };
    Some(match compare(&expr, tests, baseline) {
        Holds::Measured { holds, .. } => Ok(holds),
        Holds::NoBaseline(note) | Holds::Unknown(note) => Err(note),
    })
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
mod text_and_relative_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criteria_as_plans_write_them() {
        let e = parse("L1.p95_ms < 2000").unwrap();
        assert_eq!((e.test.as_str(), e.metric.as_str()), ("L1", "p95_ms"));
        assert_eq!((e.op, e.value), (Op::Lt, Operand::Number(2000.0)));
        assert_eq!(parse("C1.stuck==0").unwrap().op, Op::Eq);
        assert_eq!(parse("L1.fail <= 3").unwrap().op, Op::Le);
        assert_eq!(parse("G1.ok == true").unwrap().value, Operand::Number(1.0));
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
            warn: None,
            level: None,
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
