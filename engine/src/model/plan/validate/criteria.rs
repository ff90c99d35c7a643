//! The plan's criteria: each one parses, names a test of the plan and a
//! metric that test's kind measures; a text metric is compared with `==`
//! or `!=` and a quoted text, a number with a number or a baseline metric
//! (`baseline.L1.p95_ms * 1.2`) of a test of the plan. A criterion's
//! `warn` condition is checked the same way.

use super::{root, Validator};
use crate::criteria::{self, Expr, Op, Operand};
use crate::plan::read::FieldPath;
use crate::plan::{Plan, TestKind, TestSpec};

/// Whether the named metric of a test is a number or text.
#[derive(PartialEq)]
enum Sort {
    Number,
    Text,
}

/// The sort of `test.metric`, or a message naming the metrics it has.
fn sort_of(plan: &Plan, test_id: &str, metric: &str, side: &str) -> Result<Sort, String> {
    let Some(test) = plan.tests.iter().find(|t| t.id == test_id) else {
        let known: Vec<&str> = plan.tests.iter().map(|t| t.id.as_str()).collect();
        return Err(format!(
            "{side}: no test with id {test_id:?}; the plan's tests are: {}",
            known.join(", ")
        ));
    };
    let numbers = criteria::metric_names(test);
    let texts = criteria::text_metric_names(test);
    if numbers.iter().any(|n| n == metric) {
        Ok(Sort::Number)
    } else if texts.iter().any(|n| n == metric) {
        Ok(Sort::Text)
    } else if matches!(&test.kind, TestKind::Chaos(spec) if spec.background_load.is_empty())
        && crate::metrics::windows::LoadThroughFault::names().contains(&metric)
    {
        Err(format!(
            "chaos test {} has no background_load, so {metric:?} (a window of the load through the fault) is never measured; add background_load = [...] to the test",
            test.id
        ))
    } else {
        Err(no_metric(test, metric, &numbers, &texts))
    }
}

fn no_metric(test: &TestSpec, metric: &str, numbers: &[String], texts: &[String]) -> String {
    let mut all: Vec<&str> = numbers.iter().map(String::as_str).collect();
    all.extend(texts.iter().map(String::as_str));
    format!(
        "{} test {} has no metric {:?}; expected one of: {}",
        test.kind.name(),
        test.id,
        metric,
        all.join(", ")
    )
}

/// Problems of one expression over the plan, `None` when it is sound.
fn check_expr(plan: &Plan, expr: &Expr) -> Option<String> {
    let left = match sort_of(plan, &expr.test, &expr.metric, "left side") {
        Ok(sort) => sort,
        Err(e) => return Some(e.trim_start_matches("left side: ").to_owned()),
    };
    let name = format!("{}.{}", expr.test, expr.metric);
    match (&left, &expr.value) {
        (Sort::Text, Operand::Text(_)) if !matches!(expr.op, Op::Eq | Op::Ne) => Some(format!(
            "{name} is text: compare it with == or !=, not {}",
            expr.op.as_str()
        )),
        (Sort::Text, Operand::Text(_)) => None,
        (Sort::Text, _) => Some(format!(
            "{name} is text: compare it with a \"quoted text\" (e.g. {name} == \"railway\")"
        )),
        (Sort::Number, Operand::Text(t)) => Some(format!(
            "{name} is a number: it cannot be compared with the text {t:?}"
        )),
        (Sort::Number, Operand::Number(_)) => None,
        (
            Sort::Number,
            Operand::Baseline {
                test,
                metric,
                factor: _,
            },
        ) => match sort_of(plan, test, metric, "baseline") {
            Ok(Sort::Number) => None,
            Ok(Sort::Text) => Some(format!(
                "baseline.{test}.{metric} is text; a baseline metric must be a number"
            )),
            Err(e) => Some(e),
        },
    }
}

impl Validator {
    /// Every criterion of the plan.
    pub(super) fn criteria(&mut self, plan: &Plan) {
        for (i, criterion) in plan.criteria.iter().enumerate() {
            let at = root().key("criteria").index(i);
            self.criterion_expr(plan, at.key("expr"), &criterion.expr);
            if let Some(warn) = &criterion.warn {
                self.criterion_expr(plan, at.key("warn"), warn);
            }
        }
    }

    fn criterion_expr(&mut self, plan: &Plan, path: FieldPath, text: &str) {
        match criteria::parse(text) {
            Ok(expr) => {
                if let Some(problem) = check_expr(plan, &expr) {
                    self.problem(path, problem);
                }
            }
            Err(e) => self.problem(path, e),
        }
    }
}
