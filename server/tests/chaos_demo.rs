//! `shakedown run examples/step3.toml --demo` against the demo target, one
//! demo stack per fault switch (127.0.0.1 only): the matching part of the
//! example plan must find that switch's anomaly and say NO-GO, and the
//! clean target must be GO with every restart observed.

mod common;

use common::plans::{chaos, example, fault_after_the_workload, keep, run_plan, test, text_on_port};
use common::{build_sut, free_port};
use engine::metrics::resilience::HealthMetrics;
use engine::metrics::TestMetrics;
use engine::results::RunResults;
use engine::run::Verdict;

/// The example plan with only the tests named (and their criteria), on a
/// free port.
fn step3_part(ids: &[&str], port: u16) -> String {
    let mut plan = example("step3.toml");
    keep(&mut plan, ids);
    text_on_port(&plan, 8080, port)
}

/// Demos with fault switches run side by side (their anomalies do not
/// depend on how busy the machine is); the clean demo, whose latency
/// criteria do, runs alone.
static DEMOS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs a plan text with `--demo` and the given fault switches.
fn run(plan: &str, faults: &[&str], tag: &str) -> (RunResults, String) {
    let _shared = DEMOS.read().unwrap_or_else(|e| e.into_inner());
    results_of(run_demo(plan, faults, tag))
}

/// [`run`], with no other demo of this file running meanwhile.
fn run_alone(plan: &str, faults: &[&str], tag: &str) -> (RunResults, String) {
    let _alone = DEMOS.write().unwrap_or_else(|e| e.into_inner());
    results_of(run_demo(plan, faults, tag))
}

fn results_of((stdout, json): (String, String)) -> (RunResults, String) {
    let results: RunResults = serde_json::from_str(&json).unwrap();
    (results, format!("{stdout}\n{json}"))
}

/// Runs it and returns its output and results.json's text.
fn run_raw(plan: &str, faults: &[&str], tag: &str) -> (String, String) {
    let _shared = DEMOS.read().unwrap_or_else(|e| e.into_inner());
    run_demo(plan, faults, tag)
}

fn run_demo(plan: &str, faults: &[&str], tag: &str) -> (String, String) {
    build_sut();
    let run = run_plan(plan, Some(faults), &format!("chaos-{tag}"));
    (run.stdout, run.json)
}

#[test]
fn clean_demo_is_go_with_every_restart_observed() {
    let port = free_port();
    let (results, log) = run_alone(
        &step3_part(&["C1", "C2", "C3", "S1", "H1"], port),
        &[],
        "clean",
    );
    assert_eq!(results.verdict, Some(Verdict::Go), "{log}");
    for id in ["C1", "C2", "C3"] {
        let m = chaos(&results, id);
        assert_eq!(m.restart_observed, 1, "{id}");
        assert!(m.recovery_ms > 0.0, "{id}");
        let t = test(&results, id);
        assert_eq!(t.faults.len(), 1, "{id}");
        let fault = &t.faults[0];
        assert!(fault.restart_observed && fault.call_ok, "{id}: {fault:?}");
        assert!(fault
            .supervisor
            .as_ref()
            .is_some_and(|s| s.old_pid != s.new_pid));
        assert!(!fault.timeline.is_empty(), "{id}: no health timeline");
        // The probes end on the service healthy again (their spacing is
        // the machine's to keep, not this test's to time).
        assert!(
            fault.timeline.last().is_some_and(|p| p.healthy),
            "{id}: {:?}",
            fault.timeline
        );
    }
    let c1 = chaos(&results, "C1");
    assert_eq!((c1.runs_completed, c1.stuck, c1.duplicates), (4, 0, 0));
    assert_eq!(c1.jobs_in_flight_at_fault, 4, "the fault landed mid-run");
    assert!(
        c1.artifacts_checked == 4 && c1.artifacts_in_bucket == 4,
        "{c1:?}"
    );
    let c2 = chaos(&results, "C2");
    assert_eq!(
        c2.sessions_in_flight_at_fault, 4,
        "the fault landed mid-stream"
    );
    assert!(
        c2.streams_interrupted > 0 && c2.streams_reconnected == c2.streams_interrupted,
        "{c2:?}"
    );
    assert_eq!(c2.event_repeats + c2.event_gaps, 0);
    let c3 = chaos(&results, "C3");
    assert_eq!(c3.health_checks_after_ok, 30);
    // results.json itself carries the proof and the timeline.
    assert!(
        log.contains("\"faults\"") && log.contains("\"timeline\"") && log.contains("\"old_pid\"")
    );
}

#[test]
fn lose_on_restart_leaves_stuck_runs() {
    let (results, log) = run(
        &step3_part(&["C1"], free_port()),
        &["lose-on-restart"],
        "lose",
    );
    let m = chaos(&results, "C1");
    assert_eq!(m.restart_observed, 1, "{log}");
    assert!(m.stuck > 0, "{m:?}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn duplicate_results_are_counted() {
    let (results, log) = run(
        &step3_part(&["C1"], free_port()),
        &["duplicate-results"],
        "dup",
    );
    let m = chaos(&results, "C1");
    assert_eq!(m.restart_observed, 1, "{log}");
    assert!(m.duplicates > 0, "{m:?}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn corrupt_artifacts_are_counted() {
    let (results, log) = run(
        &step3_part(&["C1"], free_port()),
        &["corrupt-artifact"],
        "corrupt",
    );
    let m = chaos(&results, "C1");
    assert!(m.corrupted > 0, "{m:?} {log}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn streams_that_do_not_resume_are_counted() {
    let (results, log) = run(
        &step3_part(&["C2"], free_port()),
        &["no-stream-resume"],
        "noresume",
    );
    let m = chaos(&results, "C2");
    assert_eq!(m.restart_observed, 1, "{log}");
    assert!(
        m.streams_not_reconnected > 0 && m.event_repeats > 0,
        "{m:?}"
    );
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn wrong_bucket_fails_isolation_and_graph_corruption_fails_integrity() {
    let (results, log) = run(
        &step3_part(&["H1"], free_port()),
        &["wrong-bucket"],
        "bucket",
    );
    match &test(&results, "H1").metrics {
        Some(TestMetrics::Health(HealthMetrics {
            isolation_ok,
            bucket_match,
            ..
        })) => assert_eq!((*isolation_ok, *bucket_match), (0, 0), "{log}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(results.verdict, Some(Verdict::NoGo));

    // L1's expansions are what the switch corrupts (read as plain JSON).
    let (_, json) = run_raw(
        &step3_part(&["L1", "G1"], free_port()),
        &["graph-corruption"],
        "graph",
    );
    let results: serde_json::Value = serde_json::from_str(&json).unwrap();
    let g1 = results["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "G1")
        .unwrap();
    let errors = g1["metrics"]["values"]["integrity_errors"]
        .as_f64()
        .unwrap();
    assert!(errors > 0.0, "{g1}");
    assert_eq!(results["verdict"], "NO-GO");
}

#[test]
fn a_fault_after_the_workload_ended_is_an_error_not_a_pass() {
    let mut plan = example("step3.toml");
    keep(&mut plan, &["C1"]);
    fault_after_the_workload(&mut plan, "C1");
    let (results, log) = run(&text_on_port(&plan, 8080, free_port()), &[], "missed");
    let t = test(&results, "C1");
    assert!(
        t.error
            .as_deref()
            .is_some_and(|e| e.starts_with("the fault missed the workload: 0 of 4 jobs in flight")),
        "{log}"
    );
    assert!(t.faults.is_empty(), "no restart when nothing is in flight");
    assert_eq!(chaos(&results, "C1").jobs_in_flight_at_fault, 0);
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}

#[test]
fn a_command_that_restarts_nothing_is_not_observed() {
    let port = free_port();
    let plan = format!(
        r#"
[plan]
name = "noop-restart"
[environments.demo]
base_url = "http://127.0.0.1:{port}"
health_path = "/health"
[services.api]
health = "/health"
pid_pointer = "/pid"
started_at_pointer = "/started_at"
observe_timeout_s = 3
restart.command = {{ run = "true", timeout_s = 10 }}
[[tests]]
id = "C9"
[tests.chaos]
service = "api"
[[criteria]]
expr = "C9.restart_observed == 1"
"#
    );
    let (results, log) = run(&plan, &[], "noop");
    let t = test(&results, "C9");
    assert!(
        t.error
            .as_deref()
            .is_some_and(|e| e.starts_with("restart not observed")),
        "{log}"
    );
    let fault = &t.faults[0];
    assert!(fault.call_ok && !fault.restart_observed, "{fault:?}");
    assert!(fault.timeline.len() >= 20, "probed for 3 s every 100 ms");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
}
