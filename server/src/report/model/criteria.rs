//! The criteria as the report shows them: grouped for the executive
//! summary, and one by one for the checklist.

use crate::report::values::number;
use engine::results::{CriterionResult, RunResults};
use serde::Serialize;
use std::collections::BTreeMap;

/// A criterion group in the executive summary.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// The group (or the criterion's label when it has none).
    pub group: String,
    /// `3/3` criteria held, or the single measured value.
    pub result: String,
    /// Whether every criterion in the group held.
    pub passed: bool,
    /// The group's criteria by label, `; `-separated.
    pub notes: String,
}

/// One criterion of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionRow {
    /// The expression as written.
    pub expr: String,
    /// The label, or the expression when it has none.
    pub label: String,
    /// The measured value (a number or a text metric's text), `—` when
    /// there is none.
    pub actual: String,
    pub passed: bool,
    /// PASS, WARN, FAIL or NO BASELINE.
    pub outcome: String,
    /// What a relative criterion compared with (`120`, from the baseline
    /// run), when it did.
    pub expected: Option<String>,
    /// Why it could not be evaluated.
    pub note: Option<String>,
}

/// A criterion's label, or its expression when it has none.
pub(super) fn shown(c: &CriterionResult) -> String {
    c.label.clone().unwrap_or_else(|| c.expr.clone())
}

/// A criterion's measured value as shown, `—` when there is none.
pub(super) fn actual(c: &CriterionResult) -> String {
    c.actual_text
        .clone()
        .or_else(|| c.actual.map(number))
        .unwrap_or_else(|| "—".to_owned())
}

pub(super) fn checklist(results: &RunResults) -> Vec<CriterionRow> {
    results
        .criteria
        .iter()
        .map(|c| CriterionRow {
            expr: c.expr.clone(),
            label: shown(c),
            actual: actual(c),
            passed: c.passed,
            outcome: c.outcome().as_str().to_owned(),
            expected: c.expected.map(number),
            note: c.note.clone(),
        })
        .collect()
}

/// One row per group (a criterion without a group is its own, under its
/// label), in the order the groups first appear.
pub(super) fn summary(results: &RunResults) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<String, Vec<&CriterionResult>> = BTreeMap::new();
    let mut order = Vec::new();
    for c in &results.criteria {
        let key = c.group.clone().unwrap_or_else(|| shown(c));
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(c);
    }
    order
        .into_iter()
        .filter_map(|g| groups.remove(&g).map(|cs| summary_row(g, &cs)))
        .collect()
}

fn summary_row(group: String, cs: &[&CriterionResult]) -> SummaryRow {
    let held = cs.iter().filter(|c| c.passed).count();
    let result = match cs {
        [one] => one.actual.map_or_else(
            || {
                if one.passed {
                    "MET".to_owned()
                } else {
                    "NOT MET".to_owned()
                }
            },
            number,
        ),
        _ => format!("{held}/{}", cs.len()),
    };
    SummaryRow {
        group,
        result,
        passed: held == cs.len(),
        notes: cs.iter().map(|c| shown(c)).collect::<Vec<_>>().join("; "),
    }
}
