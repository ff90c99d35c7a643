//! Tests that run together (`alongside`, see [`crate::plan::parallel`]):
//! each names an earlier test of the group just before it, so a group's
//! members are consecutive and the plan's order is the order groups run
//! in.

use super::{root, Validator};
use crate::plan::parallel::groups;
use crate::plan::Plan;

impl Validator {
    /// Every `alongside` names an earlier test of the group right before
    /// its test.
    pub(super) fn alongside(&mut self, plan: &Plan) {
        let tests = &plan.tests;
        let ranges = groups(tests);
        for (i, test) in tests.iter().enumerate() {
            let Some(other) = test.alongside.as_deref() else {
                continue;
            };
            let path = root().key("tests").index(i).key("alongside");
            let Some(j) = tests.iter().position(|t| t.id == other) else {
                self.problem(
                    path,
                    format!("no test {other:?} in the plan to run alongside"),
                );
                continue;
            };
            if j == i {
                self.problem(path, format!("test {other:?} cannot run alongside itself"));
            } else if j > i {
                self.problem(
                    path,
                    format!(
                        "test {other:?} comes later in the plan: a test runs alongside an earlier one (move {:?} after {other:?})",
                        test.id
                    ),
                );
            } else if let Some(group) = ranges.iter().find(|r| r.contains(&j) && !r.contains(&i)) {
                let between: Vec<&str> =
                    tests[group.end..i].iter().map(|t| t.id.as_str()).collect();
                self.problem(
                    path,
                    format!(
                        "tests that run together must be next to each other in the plan: {} between {other:?} and {:?} {} not run with {other:?} (move {:?} up)",
                        quoted(&between),
                        test.id,
                        if between.len() == 1 { "does" } else { "do" },
                        test.id
                    ),
                );
            }
        }
    }
}

/// `"X"`, or `"X", "Y"`.
fn quoted(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
