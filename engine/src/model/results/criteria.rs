//! A run's criteria as its results record them: each one's expression,
//! what was measured and how it came out (PASS, WARN, FAIL, NO BASELINE).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One criterion's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CriterionResult {
    /// The expression as written.
    pub expr: String,
    /// Its group in the executive summary.
    pub group: Option<String>,
    /// Its label.
    pub label: Option<String>,
    /// The test it names.
    pub test: String,
    /// The metric it names.
    pub metric: String,
    /// The measured value, when there is one.
    pub actual: Option<f64>,
    /// Whether it held.
    pub passed: bool,
    /// Why it could not be evaluated, when it could not.
    pub note: Option<String>,
    /// PASS, WARN, FAIL or NO BASELINE. Absent in files written before
    /// warning levels: read it with [`CriterionResult::outcome`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CriterionOutcome>,
    /// The measured value of a text metric (`railway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_text: Option<String>,
    /// The value it was compared with, when it came from the baseline run
    /// (`baseline.L1.p95_ms * 1.2` → the baseline's p95 times 1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    /// The criterion's warning condition, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_expr: Option<String>,
}

/// How one criterion came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOutcome {
    /// It held (and so did its warning condition, if any).
    Pass,
    /// It held but its warning condition did not, or a `level = "warn"`
    /// criterion did not hold: the run can still be GO, with warnings.
    Warn,
    /// It did not hold (or could not be measured): NO-GO.
    Fail,
    /// It compares with a baseline run and there is none for this plan and
    /// environment: not a pass, NO-GO (unless its level is `warn`).
    NoBaseline,
}

impl CriterionOutcome {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CriterionOutcome::Pass => "PASS",
            CriterionOutcome::Warn => "WARN",
            CriterionOutcome::Fail => "FAIL",
            CriterionOutcome::NoBaseline => "NO BASELINE",
        }
    }
}

impl CriterionResult {
    /// PASS, WARN, FAIL or NO BASELINE; for files written before warning
    /// levels, PASS or FAIL by `passed`.
    pub fn outcome(&self) -> CriterionOutcome {
        self.outcome.unwrap_or(if self.passed {
            CriterionOutcome::Pass
        } else {
            CriterionOutcome::Fail
        })
    }

    /// The measured value as text: the text metric's value, or the number.
    pub fn actual_shown(&self) -> Option<String> {
        self.actual_text.clone().or_else(|| {
            self.actual.map(|v| {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{}", v as i64)
                } else {
                    format!("{v:.2}")
                }
            })
        })
    }
}
