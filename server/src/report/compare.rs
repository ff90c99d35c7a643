//! Comparison of two runs of the same plan: each metric of each test with
//! the previous and current value, the change, and whether it got worse or
//! better, by the direction the metric's table gives it
//! ([`engine::metrics::Direction`]).

use super::values::{label, metrics_json, number, numbers};
use engine::metrics::{Direction, TestMetrics};
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
const NOISE: f64 = 0.10;

/// Which way is better for the metric at `path` in a test's metrics
/// (`latency.p95_ms`, `errors.connect`, `by_kind.export.fail`): the kind's
/// metric table knows it by the path with `_` for `.`, or by its last part.
/// Names the table does not hold (an assert test's named checks) are read
/// by their words.
fn direction(metrics: Option<&TestMetrics>, path: &str) -> Direction {
    let last = path.rsplit('.').next().unwrap_or(path);
    metrics
        .and_then(|m| m.info(&path.replace('.', "_")).or_else(|| m.info(last)))
        .map_or_else(|| direction_by_words(last), |info| info.direction)
}

/// The direction a metric's name suggests: latencies, failures and harm
/// (stuck, duplicates, corruption) are better lower; successes, throughput
/// and recoveries higher.
fn direction_by_words(n: &str) -> Direction {
    if n.ends_with("_ms") {
        return if matches!(n, "duration_ms" | "min_ms") {
            Direction::Neither
        } else {
            Direction::LowerIsBetter
        };
    }
    if n == "fail"
        || n.contains("error")
        || n.contains("stuck")
        || n.contains("duplicate")
        || n.contains("corrupt")
        || n.contains("timed_out")
        || n.contains("failures")
        || n.ends_with("_failed")
        || n == "late_sends"
    {
        return Direction::LowerIsBetter;
    }
    if n == "ok"
        || n == "rps"
        || n.ends_with("_ok")
        || n.ends_with("completed")
        || n.contains("recovered")
    {
        return Direction::HigherIsBetter;
    }
    Direction::Neither
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
            rows.extend(metric_rows(p, t));
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
            "| Metric | Previous | Current | Change |\n|--------|----------|---------|--------|\n",
        );
        for r in &self.rows {
            let mark = if r.regression {
                " **REGRESSION**"
            } else if r.improvement {
                " **IMPROVEMENT**"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} |",
                r.metric, r.previous, r.current, r.change, mark
            );
        }
        let _ = writeln!(out, "\n{}.", self.counts());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::direction;
    use engine::metrics::{AssertMetrics, Direction, HttpLoadMetrics, TestMetrics};

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
}
