//! The plan's criteria: each one parses, names a test of the plan and a
//! metric that test's kind measures.

use super::{root, Validator};
use crate::criteria;
use crate::plan::Plan;

impl Validator {
    /// Every criterion of the plan.
    pub(super) fn criteria(&mut self, plan: &Plan) {
        for (i, criterion) in plan.criteria.iter().enumerate() {
            let path = root().key("criteria").index(i).key("expr");
            let expr = match criteria::parse(&criterion.expr) {
                Ok(expr) => expr,
                Err(e) => {
                    self.problem(path, e);
                    continue;
                }
            };
            let Some(test) = plan.tests.iter().find(|t| t.id == expr.test) else {
                let known: Vec<&str> = plan.tests.iter().map(|t| t.id.as_str()).collect();
                self.problem(
                    path,
                    format!(
                        "no test with id {:?}; the plan's tests are: {}",
                        expr.test,
                        known.join(", ")
                    ),
                );
                continue;
            };
            let names = criteria::metric_names(test);
            if !names.contains(&expr.metric) {
                self.problem(
                    path,
                    format!(
                        "{} test {} has no metric {:?}; expected one of: {}",
                        test.kind.name(),
                        test.id,
                        expr.metric,
                        names.join(", ")
                    ),
                );
            }
        }
    }
}
