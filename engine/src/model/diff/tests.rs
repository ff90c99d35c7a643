//! Directions of differences, text changes, and the regression criterion.

use super::*;
use crate::metrics::resilience::{ChaosMetrics, FaultEvidence};
use crate::metrics::{HttpLoadMetrics, LatencySummary};

fn test(id: &str, kind: &str, metrics: TestMetrics) -> TestResult {
    let mut t: TestResult = serde_json::from_value(serde_json::json!({
        "id": id, "title": id, "kind": kind, "status": "PASS",
        "started_at_ms": 0, "finished_at_ms": 0, "parameters": {}, "metrics": null
    }))
    .expect("a test result");
    t.metrics = Some(metrics);
    t
}

fn load(p95_ms: f64, fail: u64) -> TestResult {
    test(
        "L1",
        "http_load",
        TestMetrics::HttpLoad(HttpLoadMetrics {
            fail,
            latency: LatencySummary {
                p95_ms,
                ..LatencySummary::default()
            },
            ..HttpLoadMetrics::default()
        }),
    )
}

fn chaos(observed: u64, method: &str) -> TestResult {
    let mut t = test(
        "C1",
        "chaos",
        TestMetrics::Chaos(ChaosMetrics {
            restart_observed: observed,
            ..ChaosMetrics::default()
        }),
    );
    t.faults = vec![FaultEvidence {
        service: "worker".to_owned(),
        method: method.to_owned(),
        called: String::new(),
        answer: String::new(),
        call_ok: true,
        requested_at_ms: 0,
        restart_observed: observed == 1,
        observation: String::new(),
        recovery_ms: None,
        identity_before: None,
        identity_after: None,
        timeline: Vec::new(),
        supervisor: None,
        network: None,
    }];
    t
}

fn run(id: &str, tests: Vec<TestResult>) -> RunResults {
    let mut r: RunResults = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "tool": {"name": "shakedown", "version": "0"},
        "run_id": id, "plan": {"name": "p", "title": null, "file": "p.toml", "sha256": ""},
        "environment": {"name": "demo", "base_url": "http://127.0.0.1:1", "expected_bucket": null},
        "status": "finished", "verdict": "GO", "started_at_ms": 0, "finished_at_ms": 0,
        "started_at": "", "finished_at": "", "tests": [], "criteria": [], "error": null
    }))
    .expect("run results");
    r.tests = tests;
    r
}

fn change<'c>(changes: &'c [MetricChange], path: &str) -> &'c MetricChange {
    changes
        .iter()
        .find(|c| c.path == path)
        .unwrap_or_else(|| panic!("no change of {path} in {changes:?}"))
}

#[test]
fn worse_latency_is_a_regression_and_better_an_improvement() {
    let slower = test_changes(&load(100.0, 0), &load(150.0, 0));
    let p95 = change(&slower, "latency.p95_ms");
    assert!(p95.regression && !p95.improvement);
    let faster = test_changes(&load(150.0, 0), &load(100.0, 0));
    let p95 = change(&faster, "latency.p95_ms");
    assert!(p95.improvement && !p95.regression);
    // Within the noise threshold: a change, neither way.
    let noise = test_changes(&load(100.0, 0), &load(105.0, 0));
    let p95 = change(&noise, "latency.p95_ms");
    assert!(!p95.regression && !p95.improvement);
}

#[test]
fn restart_no_longer_observed_is_a_regression_and_a_new_method_a_change() {
    let changes = test_changes(&chaos(1, "simulated"), &chaos(0, "railway"));
    assert!(change(&changes, "restart_observed").regression);
    let method = change(&changes, "restart_method");
    assert_eq!(method.previous, DiffValue::Text("simulated".to_owned()));
    assert_eq!(method.current, DiffValue::Text("railway".to_owned()));
    assert!(!method.regression && !method.improvement);
}

#[test]
fn the_regression_criterion_fails_only_on_a_regression() {
    let previous = run("r1", vec![load(100.0, 0)]);
    let worse = regression_criterion(Some(&previous), &[load(100.0, 3)]);
    assert!(!worse.passed);
    assert_eq!(worse.outcome(), CriterionOutcome::Fail);
    assert_eq!(worse.actual, Some(1.0));
    assert!(worse.note.as_deref().unwrap_or("").contains("L1.fail"));
    let better = regression_criterion(Some(&previous), &[load(80.0, 0)]);
    assert!(better.passed);
    let first = regression_criterion(None, &[load(80.0, 0)]);
    assert!(first.passed);
    assert!(first
        .note
        .as_deref()
        .unwrap_or("")
        .contains("no previous run"));
}

#[test]
fn a_regression_fails_the_verdict_only_when_the_plan_says_so() {
    let plan = |regressions_fail: bool| -> crate::plan::Plan {
        toml::from_str(&format!(
            "[plan]\nname = \"p\"\nregressions_fail = {regressions_fail}\n\
             [[tests]]\nid = \"L1\"\n[tests.http_load]\npath = \"/\"\nrounds = 1\n\
             [[criteria]]\nexpr = \"L1.fail < 10\"\n"
        ))
        .expect("a plan")
    };
    let previous = run("r1", vec![load(100.0, 0)]);
    let verdict = |plan: &crate::plan::Plan| {
        let mut tests = vec![load(100.0, 3)];
        let criteria = crate::criteria::evaluate_run(plan, &tests, None, Some(&previous));
        let verdict = crate::criteria::decide(plan, &mut tests, &criteria, &[]);
        (criteria.len(), verdict)
    };
    // L1.fail went 0 -> 3: within the plan's own criterion, a regression.
    assert_eq!(verdict(&plan(false)), (1, crate::run::Verdict::Go));
    assert_eq!(verdict(&plan(true)), (2, crate::run::Verdict::NoGo));
}

#[test]
fn moments_and_lengths_in_the_load_through_the_fault_are_not_ranked() {
    for path in [
        "load.fault_at_ms",
        "load.recovered_at_ms",
        "load.end_ms",
        "load.baseline_window_ms",
    ] {
        assert_eq!(direction(None, path), Direction::Neither, "{path}");
    }
    assert_eq!(
        direction(None, "load.during.p95_ms"),
        Direction::LowerIsBetter
    );
}
