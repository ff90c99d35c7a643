//! Load through the fault: `shakedown run` of examples/step3.toml's chaos
//! tests against the demo target (127.0.0.1 only), each carrying its
//! background load. The clean target is GO with before/during/after
//! windows that add up; the `slow` switch and the `errors-during-restart`
//! switch turn the during-fault and after-recovery criteria NO-GO, each
//! naming the metric that moved.
//!
//! One demo runs at a time: three demos with their background loads side by
//! side on a small machine measure each other, not the target.

mod common;

use common::plans::{chaos, example, failed_criteria, keep, run_plan, text_on_port};
use common::{build_sut, free_port};
use engine::metrics::windows::{LoadThroughFault, LoadWindow};
use engine::results::RunResults;
use engine::run::Verdict;
use std::path::PathBuf;

/// The example plan with only the tests named (and their criteria), on a
/// free port.
fn step3_part(ids: &[&str], port: u16) -> String {
    let mut plan = example("step3.toml");
    keep(&mut plan, ids);
    text_on_port(&plan, 8080, port)
}

/// Runs a plan text with `--demo` and the fault switches; returns the
/// results, the output folder (kept while `dir` lives) and a log for
/// failure messages.
/// Held while a demo runs (see the module's doc).
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(plan: &str, faults: &[&str], tag: &str) -> (RunResults, PathBuf, tempfile::TempDir, String) {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let run = run_plan(plan, Some(faults), &format!("ltf-{tag}"));
    let log = format!("{}\n{}", run.stdout, run.json);
    (run.results(), run.out, run.dir, log)
}

fn load(results: &RunResults, id: &str) -> LoadThroughFault {
    *chaos(results, id)
        .load
        .unwrap_or_else(|| panic!("{id} has no load through the fault"))
}

/// A window's figures agree with each other.
fn consistent(id: &str, name: &str, w: &LoadWindow) {
    assert_eq!(w.fail, w.errors.total(), "{id}.{name}: {w:?}");
    if w.count > 0 {
        let rate = w.fail as f64 / w.count as f64;
        assert!((w.error_rate - rate).abs() < 1e-9, "{id}.{name}: {w:?}");
        assert!(
            w.p50_ms <= w.p95_ms && w.p95_ms <= w.p99_ms && w.p99_ms <= w.max_ms,
            "{id}.{name}: {w:?}"
        );
        assert!(w.duration_ms > 0.0 && w.rps > 0.0, "{id}.{name}: {w:?}");
    }
}

/// The criteria of the run that did not hold, as `TEST.metric`.
#[test]
fn clean_demo_is_go_with_windows_before_during_and_after_each_fault() {
    let (results, out, _dir, log) =
        run(&step3_part(&["C1", "C2", "C3"], free_port()), &[], "clean");
    assert_eq!(
        results.verdict,
        Some(Verdict::Go),
        "{:?}\n{log}",
        failed_criteria(&results)
    );
    for id in ["C1", "C2", "C3"] {
        let l = load(&results, id);
        assert!(l.before.count > 0, "{id}: no baseline {l:?}");
        assert!(l.during.count > 0, "{id}: nothing during the fault {l:?}");
        assert!(l.after.count > 0, "{id}: nothing after recovery {l:?}");
        for (name, w) in l.windows() {
            consistent(id, name, w);
        }
        let recovered = l.recovered_at_ms.expect("recovery seen");
        assert!(l.fault_at_ms < recovered && recovered < l.end_ms, "{l:?}");
        assert_eq!(l.errors_during_recovery, l.during.fail);
        assert_eq!(l.worst_latency_during_recovery_ms, l.during.max_ms);
        assert!(
            l.back_to_baseline_ms.is_some(),
            "{id}: {}",
            l.back_to_baseline_note
        );
        assert_eq!(l.before.fail, 0, "{id}: errors before the fault {l:?}");
        assert_eq!(l.after.fail, 0, "{id}: errors after recovery {l:?}");
    }
    // The worker restart does not touch the API: no errors during it.
    assert_eq!(load(&results, "C1").during.fail, 0);
    // The API restart does: requests fail while it is down.
    assert!(load(&results, "C2").during.fail > 0, "{log}");
    // The report shows the windows.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Load through the fault"), "{report}");
    for row in ["| before |", "| during |", "| after |"] {
        assert!(report.contains(row), "{row} missing:\n{report}");
    }
}

#[test]
fn the_slow_switch_fails_the_during_fault_latency_criterion() {
    let (results, _out, _dir, log) = run(&step3_part(&["C1"], free_port()), &["slow"], "slow");
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    let failed = failed_criteria(&results);
    assert!(
        failed.contains(&"C1.during.p95_ms".to_owned()),
        "{failed:?}"
    );
    let l = load(&results, "C1");
    // The switch's 1.5 s delay is in every expansion, so in the window.
    assert!(l.during.count > 0 && l.during.p95_ms >= 1500.0, "{l:?}");
}

#[test]
fn errors_during_restart_fail_the_during_and_after_criteria() {
    let (results, _out, _dir, log) = run(
        &step3_part(&["C1", "C2"], free_port()),
        &["errors-during-restart"],
        "errors",
    );
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    let failed = failed_criteria(&results);
    // The API refuses work while the worker drains: during C1's fault.
    assert!(
        failed.contains(&"C1.during.error_rate".to_owned()),
        "{failed:?}"
    );
    let c1 = load(&results, "C1");
    assert!(c1.during.errors.status > 0, "{c1:?}");
    // And for 3 s after it starts, though its health passes: after C2's
    // recovery.
    assert!(
        failed.contains(&"C2.after.error_rate".to_owned()),
        "{failed:?}"
    );
    let c2 = load(&results, "C2");
    assert!(c2.after.errors.status > 0, "{c2:?}");
    assert!(
        c2.back_to_baseline_ms.is_none_or(|ms| ms >= 2000.0),
        "{c2:?}"
    );
}
