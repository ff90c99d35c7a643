//! The criteria as the report shows them: grouped for the executive
//! summary, and one by one for the checklist (with WARN and NO BASELINE
//! named, and the baseline run a relative criterion compared with).

use crate::report::values::number;
use engine::results::{BaselineRef, CriterionOutcome, CriterionResult, RunResults};
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
    /// The group's worst outcome: FAIL, NO BASELINE, WARN or PASS, so a
    /// group with a warning does not read as a plain pass.
    pub outcome: String,
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

/// What the checklist says beside a criterion: its outcome when it is
/// neither PASS nor FAIL (WARN, NO BASELINE), the threshold a relative
/// criterion came to and the baseline run it came from, and why it could
/// not be evaluated.
fn note(c: &CriterionResult, baseline: Option<&BaselineRef>) -> Option<String> {
    let mut parts = Vec::new();
    let outcome = c.outcome();
    if matches!(
        outcome,
        CriterionOutcome::Warn | CriterionOutcome::NoBaseline
    ) {
        parts.push(outcome.as_str().to_owned());
    }
    if let (Some(expected), Some(b)) = (c.expected, baseline) {
        parts.push(format!(
            "compared with {} from baseline run {} of {} ({})",
            number(expected),
            b.run_id,
            b.started_at,
            b.chosen
        ));
    }
    parts.extend(c.note.clone());
    (!parts.is_empty()).then(|| parts.join(": "))
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
            note: note(c, results.baseline.as_ref()),
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
    let worst = cs
        .iter()
        .map(|c| c.outcome())
        .max_by_key(|o| severity(*o))
        .unwrap_or(CriterionOutcome::Pass);
    SummaryRow {
        group,
        result,
        passed: held == cs.len(),
        outcome: worst.as_str().to_owned(),
        notes: cs.iter().map(|c| shown(c)).collect::<Vec<_>>().join("; "),
    }
}

/// How much an outcome weighs in a group: the worst one names the group.
fn severity(outcome: CriterionOutcome) -> u8 {
    match outcome {
        CriterionOutcome::Pass => 0,
        CriterionOutcome::Warn => 1,
        CriterionOutcome::NoBaseline => 2,
        CriterionOutcome::Fail => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::{checklist, summary};
    use engine::results::RunResults;

    #[test]
    fn the_checklist_names_warn_no_baseline_and_the_baseline_run() {
        let results: RunResults = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "tool": {"name": "shakedown", "version": "0"},
            "run_id": "r2", "plan": {"name": "p", "title": null, "file": "p.toml", "sha256": ""},
            "environment": {"name": "e", "base_url": "http://127.0.0.1:9", "expected_bucket": null},
            "status": "finished", "verdict": "GO", "started_at_ms": 0, "finished_at_ms": 0,
            "started_at": "", "finished_at": "", "tests": [], "error": null,
            "baseline": {"run_id": "r1", "started_at": "2026-12-05T10:00:00Z",
                         "started_at_ms": 0, "verdict": "GO", "chosen": "last GO run"},
            "criteria": [
                {"expr": "L1.p95_ms < baseline.L1.p95_ms * 1.2", "group": null, "label": null,
                 "test": "L1", "metric": "p95_ms", "actual": 110.0, "passed": true, "note": null,
                 "outcome": "pass", "expected": 120.0},
                {"expr": "L1.p95_ms < 2000", "group": null, "label": null, "test": "L1",
                 "metric": "p95_ms", "actual": 1700.0, "passed": true,
                 "note": "warning: L1.p95_ms < 1500 does not hold", "outcome": "warn"},
                {"expr": "C1.restart_method == \"railway\"", "group": null, "label": null,
                 "test": "C1", "metric": "restart_method", "actual": null, "passed": false,
                 "note": null, "outcome": "fail", "actual_text": "process"},
                {"expr": "L1.fail == 0", "group": null, "label": null, "test": "L1",
                 "metric": "fail", "actual": 0.0, "passed": true, "note": null}
            ]
        }))
        .unwrap();
        let rows = checklist(&results);
        let relative = rows[0].note.clone().unwrap_or_default();
        assert!(
            relative.contains("compared with 120 from baseline run r1"),
            "{relative}"
        );
        assert!(relative.contains("last GO run"), "{relative}");
        assert_eq!(rows[1].outcome, "WARN");
        assert!(rows[1]
            .note
            .clone()
            .unwrap_or_default()
            .starts_with("WARN: warning"));
        assert_eq!(
            (rows[2].actual.as_str(), rows[2].outcome.as_str()),
            ("process", "FAIL")
        );
        // An old criterion without an outcome reads by `passed`.
        assert_eq!(
            (rows[3].outcome.as_str(), rows[3].note.clone()),
            ("PASS", None)
        );

        // The executive summary's rows carry the worst outcome of their
        // group: a warning is not shown as a plain pass.
        let outcomes: Vec<(bool, String)> = summary(&results)
            .into_iter()
            .map(|s| (s.passed, s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                (true, "PASS".to_owned()),
                (true, "WARN".to_owned()),
                (false, "FAIL".to_owned()),
                (true, "PASS".to_owned())
            ]
        );
        let mut grouped = results.clone();
        for c in &mut grouped.criteria {
            c.group = Some("Latency".into());
        }
        grouped.criteria.remove(2);
        let rows = summary(&grouped);
        assert_eq!(
            (rows.len(), rows[0].passed, rows[0].outcome.as_str()),
            (1, true, "WARN")
        );
    }
}
