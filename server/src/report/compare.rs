//! Comparison of two runs of the same plan: each metric of each test with
//! the previous and current value, the change, and whether it got worse or
//! better, by the direction the metric's table gives it
//! ([`engine::metrics::Direction`], read by [`engine::diff::direction`]);
//! text metrics that changed (`simulated` → `railway`) as changes.

use super::values::{label, metrics_json, number, numbers};
use engine::diff::{direction, DiffValue};
use engine::metrics::Direction;
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

/// Relative change under which a latency or throughput move is noise.
const NOISE: f64 = engine::diff::NOISE;

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
            rows.extend(metric_rows(p, t));
            rows.extend(text_rows(p, t));
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

/// A row for each number of the test's metrics that changed since `before`.
/// Counts move on any change; latencies and throughput only beyond
/// [`NOISE`].
fn metric_rows(before: &TestResult, now: &TestResult) -> Vec<DiffRow> {
    let was_values = numbers(&metrics_json(before));
    let mut rows = Vec::new();
    for (name, now_value) in numbers(&metrics_json(now)) {
        let Some(&(_, was)) = was_values.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        if (now_value - was).abs() < 1e-9 {
            continue;
        }
        let relative = if was.abs() > 1e-9 {
            (now_value - was) / was.abs()
        } else {
            f64::INFINITY
        };
        let is_count = !name.ends_with("_ms") && !name.ends_with("rps");
        let beyond_noise = is_count || relative.abs() > NOISE;
        let (worse, better) = match direction(now.metrics.as_ref(), &name) {
            Direction::LowerIsBetter => (now_value > was, now_value < was),
            Direction::HigherIsBetter => (now_value < was, now_value > was),
            Direction::Neither => (false, false),
        };
        let change = if relative.is_finite() {
            format!("{:+.1}%", relative * 100.0)
        } else {
            format!("{:+}", number(now_value - was))
        };
        rows.push(DiffRow {
            metric: format!("{} {}", now.id, label(&name)),
            previous: number(was),
            current: number(now_value),
            change,
            regression: worse && beyond_noise,
            improvement: better && beyond_noise,
        });
    }
    rows
}

/// A row for each text metric of the test that changed since `before`
/// (`restart_method`: `simulated` → `railway`): a change, neither better
/// nor worse.
fn text_rows(before: &TestResult, now: &TestResult) -> Vec<DiffRow> {
    engine::diff::test_changes(before, now)
        .into_iter()
        .filter_map(|c| match (c.previous, c.current) {
            (DiffValue::Text(was), DiffValue::Text(is)) => Some(DiffRow {
                metric: format!("{} {}", now.id, c.path),
                change: format!("{was} → {is}"),
                previous: was,
                current: is,
                regression: false,
                improvement: false,
            }),
            _ => None,
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
    use super::{direction, metric_rows, text_rows};
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
        let text = text_rows(&before, &now);
        assert_eq!(text.len(), 1);
        assert_eq!(
            (text[0].previous.as_str(), text[0].current.as_str()),
            ("simulated", "railway")
        );
        assert_eq!(text[0].kind(), "change");
        let numbers = metric_rows(&before, &now);
        let observed = numbers
            .iter()
            .find(|r| r.metric.contains("Restart observed"))
            .expect("a restart_observed row");
        assert_eq!(observed.kind(), "regression");
    }
}
