//! `shakedown run examples/second-shape.toml` against the demo target in
//! its second shape (`shakedown-sut api --shape tasks`: ids in Location
//! headers, numeric states, opaque event ids and an id-less end event,
//! outputs as lists, readiness as named boolean checks, boot ids instead of
//! pids), with no `--demo`: Shakedown starts the plan's programs itself.
//! The clean target is GO; each fault switch (set through `SUT_FAULTS`,
//! which the programs inherit) is NO-GO with its anomaly named; a fault
//! after the workload ended is an ERROR.

mod common;

use common::plans::{chaos, example, fault_after_the_workload, keep, test, text_on_port};
use common::{build_sut, free_port};
use engine::metrics::resilience::HealthMetrics;
use engine::metrics::TestMetrics;
use engine::results::RunResults;
use engine::run::Verdict;
use std::process::Command;

/// The example's port, which each test moves to a free one.
const PORT: u16 = 8090;

fn part(ids: &[&str]) -> toml::Table {
    let mut plan = example("second-shape.toml");
    keep(&mut plan, ids);
    plan
}

/// Runs a plan (in a folder of its own, which holds the target's data)
/// with the given fault switches; returns its results and a log.
fn run(plan: &toml::Table, faults: &str, tag: &str) -> (RunResults, String) {
    build_sut();
    let dir = tempfile::Builder::new()
        .prefix(&format!("shape2-{tag}-"))
        .tempdir()
        .unwrap();
    let file = dir.path().join("plan.toml");
    std::fs::write(&file, text_on_port(plan, PORT, free_port())).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .current_dir(dir.path())
        .env("SUT_FAULTS", faults)
        // With `slow`, each expansion sleeps this long first: over L1's 2 s.
        .env("SUT_SLOW_MS", "2500")
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = std::fs::read_to_string(out.join("results.json")).unwrap_or_else(|e| {
        panic!("{tag}: no results.json ({e}); stdout {stdout} stderr {stderr}")
    });
    let results: RunResults = serde_json::from_str(&json).unwrap();
    (results, format!("{stdout}\n{stderr}\n{json}"))
}

#[test]
fn the_clean_target_is_go_on_every_test() {
    let plan = example("second-shape.toml");
    let (results, log) = run(&plan, "", "clean");
    assert_eq!(results.verdict, Some(Verdict::Go), "{log}");
    let c1 = chaos(&results, "C1");
    assert_eq!(c1.restart_observed, 1, "{log}");
    assert_eq!((c1.runs_completed, c1.stuck, c1.duplicates), (4, 0, 0));
    assert_eq!(c1.jobs_in_flight_at_fault, 4, "the crash landed mid-task");
    assert_eq!(c1.corrupted, 0);
    let fault = &test(&results, "C1").faults[0];
    assert!(
        fault.observation.contains("identity"),
        "seen through the worker id, not a pid: {}",
        fault.observation
    );
    let c2 = chaos(&results, "C2");
    assert_eq!(c2.sessions_in_flight_at_fault, 4, "{c2:?}");
    assert!(
        c2.streams_interrupted > 0 && c2.streams_reconnected == c2.streams_interrupted,
        "{c2:?}"
    );
    assert_eq!((c2.event_repeats, c2.stuck, c2.corrupted), (0, 0, 0));
    match &test(&results, "H1").metrics {
        Some(TestMetrics::Health(h)) => {
            assert_eq!(h.dependencies_healthy, 3, "{h:?}");
            let names: Vec<&str> = h.dependencies.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(names, ["db", "store", "workers"]);
            assert!(h.readiness_answer.is_some() && h.health_answer.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_crash_that_loses_tasks_leaves_them_stuck() {
    let (results, log) = run(&part(&["C1"]), "lose-on-restart", "lose");
    let m = chaos(&results, "C1");
    assert_eq!(m.restart_observed, 1, "{log}");
    assert!(m.jobs_in_flight_at_fault > 0 && m.stuck > 0, "{m:?}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn duplicate_outputs_are_counted_from_the_list() {
    let (results, log) = run(&part(&["C1"]), "duplicate-results", "dup");
    let m = chaos(&results, "C1");
    assert!(m.duplicates > 0, "{m:?} {log}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn corrupt_artifacts_are_counted() {
    let (results, log) = run(&part(&["C1", "L3"]), "corrupt-artifact", "corrupt");
    assert!(chaos(&results, "C1").corrupted > 0, "{log}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn a_watch_stream_that_replays_from_the_start_is_counted() {
    let (results, log) = run(&part(&["C2"]), "no-stream-resume", "replay");
    let m = chaos(&results, "C2");
    assert_eq!(m.restart_observed, 1, "{log}");
    assert!(
        m.streams_not_reconnected > 0 && m.event_repeats > 0,
        "{m:?}"
    );
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn the_wrong_bucket_fails_isolation() {
    let (results, log) = run(&part(&["H1"]), "wrong-bucket", "bucket");
    match &test(&results, "H1").metrics {
        Some(TestMetrics::Health(HealthMetrics {
            isolation_ok,
            bucket_match,
            ..
        })) => assert_eq!((*isolation_ok, *bucket_match), (0, 0), "{log}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn slow_expansions_and_a_corrupt_graph_fail_their_criteria() {
    let (results, log) = run(&part(&["L1", "G1"]), "slow,graph-corruption", "slow");
    let failed: Vec<&str> = results
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.expr.as_str())
        .collect();
    assert!(failed.contains(&"L1.p95_ms < 2000"), "{failed:?} {log}");
    assert!(
        failed.contains(&"G1.integrity_errors == 0"),
        "{failed:?} {log}"
    );
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn a_fault_after_the_workload_ended_is_an_error_not_a_pass() {
    let mut plan = part(&["C1"]);
    fault_after_the_workload(&mut plan, "C1");
    let (results, log) = run(&plan, "", "missed");
    let t = test(&results, "C1");
    assert!(
        t.error
            .as_deref()
            .is_some_and(|e| e.starts_with("the fault missed the workload: 0 of 4 jobs in flight")),
        "{log}"
    );
    assert!(t.faults.is_empty());
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}
