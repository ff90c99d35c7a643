//! Evaluating criteria over test results: PASS/WARN/FAIL/NO BASELINE per
//! criterion (a relative one against a baseline run), PASS/FAIL per test
//! and GO/NO-GO for the run.

use super::{parse, Expr, Op, Operand};
use crate::plan::{Criterion, CriterionLevel, Plan};
use crate::results::{Baseline, CriterionOutcome, CriterionResult, TestResult, TestStatus};
use crate::run::Verdict;

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
                    ));
                }
                Err(note) => {
                    return Holds::NoBaseline(format!(
                        "no baseline value: in baseline run {}, {note}",
                        baseline.reference.run_id
                    ));
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
            };
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
