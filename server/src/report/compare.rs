//! Comparison of two runs of the same plan: each metric of each test with
//! the previous and current value, the change, and whether it got worse or
//! better, by the direction the metric's table gives it
//! ([`engine::metrics::Direction`], read by [`engine::diff::direction`]);
//! text metrics that changed (`simulated` → `railway`) as changes.

use super::values::{label, number};
use engine::diff::DiffValue;
use engine::results::{RunResults, TestResult};
use serde::Serialize;
use std::fmt::Write as _;

/// The differences between a previous and a current run.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The previous run's id.
    pub previous_run: String,
    /// The current run's id.
    pub current_run: String,
    /// One row per metric whose value changed, plus verdict and duration.
    pub rows: Vec<DiffRow>,
}

/// One compared metric.
#[derive(Debug, Clone, Serialize)]
pub struct DiffRow {
    /// `L1 Latency p95 (ms)`.
    pub metric: String,
    /// Before.
    pub previous: String,
    /// Now.
    pub current: String,
    /// `+12.5%`, `-3`.
    pub change: String,
    /// Worse than before by more than the noise threshold.
    pub regression: bool,
    /// Better than before by more than the noise threshold.
    pub improvement: bool,
}

/// Compares `previous` with `current`.
pub fn compare(previous: &RunResults, current: &RunResults) -> Comparison {
    let mut rows = Vec::new();
    let verdict = |r: &RunResults| r.verdict.map_or("—".to_owned(), |v| v.as_str().to_owned());
    let (pv, cv) = (verdict(previous), verdict(current));
    if pv != cv {
        rows.push(DiffRow {
            metric: "Verdict".to_owned(),
            regression: cv == "NO-GO",
            improvement: cv == "GO",
            change: format!("{pv} → {cv}"),
            previous: pv,
            current: cv,
        });
    }
    for t in &current.tests {
        if let Some(p) = previous.tests.iter().find(|p| p.id == t.id) {
            rows.extend(test_rows(p, t));
        }
    }
    let secs = |r: &RunResults| (r.finished_at_ms - r.started_at_ms) as f64 / 1000.0;
    rows.push(DiffRow {
        metric: "Total duration (s)".to_owned(),
        previous: format!("{:.1}", secs(previous)),
        current: format!("{:.1}", secs(current)),
        change: format!("{:+.1} s", secs(current) - secs(previous)),
        regression: false,
        improvement: false,
    });
    Comparison {
        previous_run: previous.run_id.clone(),
        current_run: current.run_id.clone(),
        rows,
    }
}

/// A row for each metric of the test that changed since `before`, as
/// [`engine::diff::test_changes`] finds them: numbers (counts on any
/// change; latencies and throughput only beyond [`engine::diff::NOISE`]) with their
/// relative or absolute change, then texts (`restart_method`:
/// `simulated` → `railway`), a change neither better nor worse.
fn test_rows(before: &TestResult, now: &TestResult) -> Vec<DiffRow> {
    engine::diff::test_changes(before, now)
        .into_iter()
        .map(|c| {
            let (previous, current, change, metric) = match (c.previous, c.current) {
                (DiffValue::Number(was), DiffValue::Number(is)) => {
                    let change = if was.abs() > 1e-9 {
                        format!("{:+.1}%", (is - was) / was.abs() * 100.0)
                    } else {
                        format!("{:+}", number(is - was))
                    };
                    (number(was), number(is), change, label(&c.path))
                }
                (was, is) => {
                    let text = |v: DiffValue| match v {
                        DiffValue::Text(t) => t,
                        DiffValue::Number(n) => number(n),
                    };
                    let (was, is) = (text(was), text(is));
                    (was.clone(), is.clone(), format!("{was} → {is}"), c.path)
                }
            };
            DiffRow {
                metric: format!("{} {metric}", now.id),
                previous,
                current,
                change,
                regression: c.regression,
                improvement: c.improvement,
            }
        })
        .collect()
}

impl DiffRow {
    /// `regression`, `improvement`, or `change` (neither: a text that
    /// changed, a metric with no better direction, a move within noise).
    pub fn kind(&self) -> &'static str {
        if self.regression {
            "regression"
        } else if self.improvement {
            "improvement"
        } else {
            "change"
        }
    }
}

impl Comparison {
    /// Regressions found.
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regression).count()
    }

    /// Improvements found.
    pub fn improvements(&self) -> usize {
        self.rows.iter().filter(|r| r.improvement).count()
    }

    /// `2 regression(s), 1 improvement(s)`.
    pub fn counts(&self) -> String {
        format!(
            "{} regression(s), {} improvement(s)",
            self.regressions(),
            self.improvements()
        )
    }

    /// The comparison as a Markdown table (also what `shakedown diff` prints).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Previous run: `{}` · current run: `{}`\n",
            self.previous_run, self.current_run
        );
        out.push_str(
            "| Metric | Previous | Now | Change | Improvement or regression |\n|--------|----------|-----|--------|---------------------------|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | **{}** | {} | {} |",
                r.metric,
                r.previous,
                r.current,
                r.change,
                r.kind()
            );
        }
        let _ = writeln!(out, "\n{}.", self.counts());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_rows;
    use engine::diff::direction;
    use engine::metrics::{AssertMetrics, Direction, HttpLoadMetrics, TestMetrics};
    use engine::results::TestResult;

    #[test]
    fn directions_come_from_the_kind_table_then_the_name() {
        let load = TestMetrics::HttpLoad(HttpLoadMetrics::default());
        let load = Some(&load);
        assert_eq!(direction(load, "latency.p95_ms"), Direction::LowerIsBetter);
        assert_eq!(direction(load, "errors.connect"), Direction::LowerIsBetter);
        assert_eq!(direction(load, "rps"), Direction::HigherIsBetter);
        assert_eq!(direction(load, "duration_ms"), Direction::Neither);
        assert_eq!(direction(load, "status_counts.200"), Direction::Neither);
        // An assert test's named checks are not in its table.
        let assert = TestMetrics::Assert(AssertMetrics::default());
        let named = direction(Some(&assert), "values.integrity_errors");
        assert_eq!(named, Direction::LowerIsBetter);
    }

    #[test]
    fn a_changed_restart_method_is_a_change_and_a_lost_restart_a_regression() {
        let chaos = |observed: u64, method: &str| -> TestResult {
            let mut t: TestResult = serde_json::from_value(serde_json::json!({
                "id": "C1", "title": "C1", "kind": "chaos", "status": "PASS",
                "started_at_ms": 0, "finished_at_ms": 0, "parameters": {},
                "metrics": null,
                "faults": [{ "service": "worker", "method": method, "called": "", "answer": "",
                  "call_ok": true, "requested_at_ms": 0, "restart_observed": observed == 1,
                  "observation": "", "recovery_ms": null, "timeline": [] }]
            }))
            .expect("a chaos test result");
            t.metrics = Some(TestMetrics::Chaos(
                engine::metrics::resilience::ChaosMetrics {
                    restart_observed: observed,
                    ..Default::default()
                },
            ));
            t
        };
        let before = chaos(1, "simulated");
        let now = chaos(0, "railway");
        let rows = test_rows(&before, &now);
        let text: Vec<_> = rows.iter().filter(|r| r.change.contains('→')).collect();
        assert_eq!(text.len(), 1);
        assert_eq!(
            (text[0].previous.as_str(), text[0].current.as_str()),
            ("simulated", "railway")
        );
        assert_eq!(text[0].kind(), "change");
        let observed = rows
            .iter()
            .find(|r| r.metric.contains("Restart observed"))
            .expect("a restart_observed row");
        assert_eq!(observed.kind(), "regression");
    }
}
