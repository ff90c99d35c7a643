//! Tests that run together (`alongside`, see [`crate::plan::parallel`]):
//! each names an earlier test of the group just before it, so a group's
//! members are consecutive and the plan's order is the order groups run
//! in; and no two of them put a network fault on the same link.

use super::{root, Validator};
use crate::plan::parallel::groups;
use crate::plan::{ChaosFault, Plan, TestKind};
use std::ops::Range;

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
        for group in ranges {
            self.one_fault_per_link(plan, group);
        }
    }

    /// Two network faults on one proxy at once would overwrite each other
    /// (a `down` and a toxic on the same proxy) and the first removal would
    /// end the second's window: tests that run together fault different
    /// proxies (two link names for one proxy count as one).
    fn one_fault_per_link(&mut self, plan: &Plan, group: Range<usize>) {
        let tests = &plan.tests;
        let mut first_on: Vec<(&str, &str)> = Vec::new();
        for i in group {
            let TestKind::Chaos(spec) = &tests[i].kind else {
                continue;
            };
            let Some(ChaosFault::Network(fault)) = &spec.fault else {
                continue;
            };
            let clash = first_on
                .iter()
                .find(|(link, _)| same_proxy(plan, link, &fault.link));
            match clash {
                Some((link, other)) => self.problem(
                    root()
                        .key("tests")
                        .index(i)
                        .key("chaos")
                        .key("fault")
                        .key("network")
                        .key("link"),
                    format!(
                        "test {other:?}, which runs together with {:?}, puts a fault on {}: one fault per proxy at a time (run one after the other, or use another link)",
                        tests[i].id,
                        if *link == fault.link {
                            format!("link {link:?} too")
                        } else {
                            format!("link {link:?}, which names the same proxy as link {:?}", fault.link)
                        }
                    ),
                ),
                None => first_on.push((&fault.link, &tests[i].id)),
            }
        }
    }
}

/// Whether links `a` and `b` are one proxy: the same name, or the same
/// proxy in some environment's `network.links`.
fn same_proxy(plan: &Plan, a: &str, b: &str) -> bool {
    a == b
        || plan.environments.values().any(|env| {
            env.network.as_ref().is_some_and(
                |n| matches!((n.links.get(a), n.links.get(b)), (Some(x), Some(y)) if x == y),
            )
        })
}

/// `"X"`, or `"X", "Y"`.
fn quoted(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
