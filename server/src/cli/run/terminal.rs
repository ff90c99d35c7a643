//! What `shakedown run` shows on the terminal: a progress bar per test
//! while it runs, then the summary table with its notes and criteria.

use engine::events::{ProgressEvent, Sink};
use engine::metrics::TestMetrics;
use engine::results::{RunResults, TestResult};
use engine::run::RunStatus;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;

/// Progress bars, one per test, with a live line of rate, p50 and errors.
#[derive(Default)]
pub(super) struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Sink for Bars {
    fn emit(&self, event: &ProgressEvent) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            ProgressEvent::TestStarted { test } => {
                let bar = self.multi.add(ProgressBar::new(test.planned.unwrap_or(0)));
                let template = if test.planned.is_some() {
                    "{prefix:.bold} [{bar:30}] {pos}/{len} {elapsed} {msg}"
                } else {
                    "{prefix:.bold} {spinner} {pos} done {elapsed} {msg}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!("{} {}", test.id, test.kind));
                bars.insert(test.id.clone(), bar);
            }
            ProgressEvent::Window {
                test_id,
                window,
                done,
                failed,
            } => {
                if let Some(bar) = bars.get(test_id) {
                    bar.set_position(*done);
                    bar.set_message(format!(
                        "{}/s  p50 {:.1} ms  errors {failed}",
                        window.count, window.p50_ms
                    ));
                }
            }
            ProgressEvent::TestFinished { result } => {
                if let Some(bar) = bars.remove(&result.id) {
                    bar.finish_with_message(format!("done ({})", result.status.as_str()));
                }
            }
            ProgressEvent::RunStarted { .. }
            | ProgressEvent::RunFinished { .. }
            | ProgressEvent::LoadWindow { .. }
            | ProgressEvent::FaultTimes { .. } => {}
        }
    }
}

/// What the run printed at its end: a row per test, then warnings, errors,
/// restarts and anomalies, then the criteria and the verdict.
pub(super) fn summary_table(results: &RunResults) -> String {
    let mut rows = vec![[
        "test", "kind", "status", "count", "ok", "fail", "p50 ms", "p95 ms", "p99 ms", "max ms",
    ]
    .map(str::to_owned)];
    rows.extend(results.tests.iter().map(summary_row));
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&notes(results));
    out.push_str(&criteria(results));
    let verdict = match (results.status, results.verdict) {
        (RunStatus::Finished, Some(v)) => v.as_str().to_owned(),
        (status, _) => status.as_str().to_uppercase(),
    };
    out.push_str(&format!("\nverdict: {verdict}\n"));
    out
}

/// One test's row: its size (requests, jobs, checks, runs and streams,
/// dependencies), its [`TestResult::tally`] and its latency.
fn summary_row(test: &TestResult) -> [String; 10] {
    let (count, latency) = match &test.metrics {
        Some(TestMetrics::HttpLoad(m)) => (m.requests, Some(&m.latency)),
        Some(TestMetrics::JobWorkload(m)) => (m.jobs, Some(&m.latency)),
        Some(TestMetrics::Stream(m)) => (m.sessions + m.exports, Some(&m.latency)),
        Some(TestMetrics::Assert(m)) => (m.checks.len() as u64, None),
        Some(TestMetrics::Chaos(m)) => (m.runs_started + m.streams, None),
        Some(TestMetrics::StorageProbe(_)) => (1, None),
        Some(TestMetrics::Health(m)) => (m.dependencies_total, None),
        None => (0, None),
    };
    let tally = test.tally().unwrap_or_default();
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    [
        test.id.clone(),
        test.kind.clone(),
        test.status.as_str().to_owned(),
        count.to_string(),
        tally.ok.to_string(),
        tally.failed.to_string(),
        ms(latency.map(|l| l.p50_ms)),
        ms(latency.map(|l| l.p95_ms)),
        ms(latency.map(|l| l.p99_ms)),
        ms(latency.map(|l| l.max_ms)),
    ]
}

/// Each test's warnings, error and restarts, then the unplanned exits.
fn notes(results: &RunResults) -> String {
    let mut out = String::new();
    for test in &results.tests {
        for warning in &test.warnings {
            out.push_str(&format!("warning: {}: {warning}\n", test.id));
        }
        if let Some(error) = &test.error {
            out.push_str(&format!("error: {}: {error}\n", test.id));
        }
        for fault in &test.faults {
            if fault.network.is_some() {
                out.push_str(&format!(
                    "network fault: {}: {} -> proven {}, recovery {} ms\n",
                    test.id,
                    fault.observation,
                    fault.proven(),
                    fault.recovery_ms.map_or("-".to_owned(), |r| r.to_string())
                ));
                continue;
            }
            out.push_str(&format!(
                "restart: {}: {} via {} -> observed {} ({}), recovery {} ms\n",
                test.id,
                fault.service,
                fault.method,
                fault.restart_observed,
                fault.observation,
                fault.recovery_ms.map_or("-".to_owned(), |r| r.to_string())
            ));
        }
    }
    for exit in &results.unplanned_exits {
        out.push_str(&format!(
            "anomaly: {}{}\n",
            exit.test
                .as_deref()
                .map(|t| format!("{t}: "))
                .unwrap_or_default(),
            exit.describe()
        ));
    }
    out
}

/// Each criterion, PASS, WARN, FAIL or NO BASELINE, with its value, label
/// and note.
fn criteria(results: &RunResults) -> String {
    let mut out = String::from("\ncriteria:\n");
    for c in &results.criteria {
        let mark = c.outcome().as_str();
        let actual = c
            .actual_text
            .clone()
            .or_else(|| c.actual.map(|a| format!("{a}")))
            .unwrap_or_else(|| "not measured".to_owned());
        let label = c
            .label
            .as_deref()
            .map(|l| format!("  ({l})"))
            .unwrap_or_default();
        out.push_str(&format!("  [{mark}] {}  actual {actual}{label}\n", c.expr));
        if let Some(note) = &c.note {
            out.push_str(&format!("         {note}\n"));
        }
    }
    out
}
