//! Comparison of two runs of the same plan: each metric of each test with
//! the previous and current value, the change, and whether it got worse.

use super::values::{label, metrics_json, number, numbers};
use engine::results::RunResults;
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
    /// `L1 p95 (ms)`.
    pub metric: String,
    /// Before.
    pub previous: String,
    /// Now.
    pub current: String,
    /// `+12.5%`, `-3`.
    pub change: String,
    /// Worse than before by more than the noise threshold.
    pub regression: bool,
}

/// Relative change under which a latency or throughput move is noise.
const NOISE: f64 = 0.10;

/// Whether a higher value of this metric is worse (`Some(true)`), better
/// (`Some(false)`), or neither.
fn higher_is_worse(name: &str) -> Option<bool> {
    let n = name.rsplit('.').next().unwrap_or(name);
    if n.ends_with("_ms") {
        return Some(!matches!(n, "duration_ms" | "min_ms"));
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
        return Some(true);
    }
    if n == "ok"
        || n == "rps"
        || n.ends_with("_ok")
        || n.ends_with("completed")
        || n.contains("recovered")
    {
        return Some(false);
    }
    None
}

/// Compares `previous` with `current`.
pub fn compare(previous: &RunResults, current: &RunResults) -> Comparison {
    let mut rows = Vec::new();
    let verdict = |r: &RunResults| {
        r.verdict.map_or("—".to_owned(), |v| {
            serde_json::to_value(v)
                .ok()
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
    };
    let (pv, cv) = (verdict(previous), verdict(current));
    if pv != cv {
        rows.push(DiffRow {
            metric: "Verdict".to_owned(),
            regression: cv == "NO-GO",
            change: format!("{pv} → {cv}"),
            previous: pv,
            current: cv,
        });
    }
    for t in &current.tests {
        let Some(p) = previous.tests.iter().find(|p| p.id == t.id) else {
            continue;
        };
        let before = numbers(&metrics_json(p));
        for (name, now) in numbers(&metrics_json(t)) {
            let Some(&(_, was)) = before.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if (now - was).abs() < 1e-9 {
                continue;
            }
            let relative = if was.abs() > 1e-9 {
                (now - was) / was.abs()
            } else {
                f64::INFINITY
            };
            let worse = match higher_is_worse(&name) {
                Some(true) => now > was,
                Some(false) => now < was,
                None => false,
            };
            let is_count = !name.ends_with("_ms") && !name.ends_with("rps");
            let regression = worse && (is_count || relative.abs() > NOISE);
            let change = if relative.is_finite() {
                format!("{:+.1}%", relative * 100.0)
            } else {
                format!("{:+}", number(now - was))
            };
            rows.push(DiffRow {
                metric: format!("{} {}", t.id, label(&name)),
                previous: number(was),
                current: number(now),
                change,
                regression,
            });
        }
    }
    let secs = |r: &RunResults| (r.finished_at_ms - r.started_at_ms) as f64 / 1000.0;
    rows.push(DiffRow {
        metric: "Total duration (s)".to_owned(),
        previous: format!("{:.1}", secs(previous)),
        current: format!("{:.1}", secs(current)),
        change: format!("{:+.1} s", secs(current) - secs(previous)),
        regression: false,
    });
    Comparison {
        previous_run: previous.run_id.clone(),
        current_run: current.run_id.clone(),
        rows,
    }
}

impl Comparison {
    /// Regressions found.
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regression).count()
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
            let mark = if r.regression { " **REGRESSION**" } else { "" };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} |",
                r.metric, r.previous, r.current, r.change, mark
            );
        }
        let _ = writeln!(out, "\n{} regression(s).", self.regressions());
        out
    }
}
