//! Text and boolean criteria, relative criteria against a baseline run (and
//! without one), warning levels, and how plan checking reports misuse.

use super::*;
use crate::metrics::resilience::{ChaosMetrics, FaultEvidence};
use crate::metrics::{HttpLoadMetrics, LatencySummary, TestMetrics};
use crate::plan::{load_str, CriterionLevel};
use crate::results::{Baseline, CriterionOutcome, CriterionResult, RunResults, TestResult};

const STEP3: &str = include_str!("../../../../examples/step3.toml");

fn test(id: &str, kind: &str, metrics: TestMetrics) -> TestResult {
    let mut t: TestResult = serde_json::from_value(serde_json::json!({
        "id": id, "title": id, "kind": kind, "status": "PASS",
        "started_at_ms": 0, "finished_at_ms": 0, "parameters": {}, "metrics": null
    }))
    .expect("a test result");
    t.metrics = Some(metrics);
    t
}

fn load(p95_ms: f64) -> TestResult {
    test(
        "L1",
        "http_load",
        TestMetrics::HttpLoad(HttpLoadMetrics {
            latency: LatencySummary {
                p95_ms,
                ..LatencySummary::default()
            },
            ..HttpLoadMetrics::default()
        }),
    )
}

fn chaos(method: &str, observed: bool) -> TestResult {
    let mut t = test(
        "C1",
        "chaos",
        TestMetrics::Chaos(ChaosMetrics {
            restart_observed: u64::from(observed),
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
        restart_observed: observed,
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

fn criterion(expr: &str) -> Criterion {
    Criterion {
        expr: expr.to_owned(),
        group: None,
        label: None,
        warn: None,
        level: None,
    }
}

fn baseline_of(tests: Vec<TestResult>) -> Baseline {
    let mut r: RunResults = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "tool": {"name": "shakedown", "version": "0"},
        "run_id": "base-run", "plan": {"name": "p", "title": null, "file": "p.toml", "sha256": ""},
        "environment": {"name": "demo", "base_url": "http://127.0.0.1:1", "expected_bucket": null},
        "status": "finished", "verdict": "GO", "started_at_ms": 1000, "finished_at_ms": 2000,
        "started_at": "1970-01-01T00:00:01Z", "finished_at": "", "tests": [], "criteria": [], "error": null
    }))
    .expect("run results");
    r.tests = tests;
    Baseline::of(&r, "last GO run")
}

fn one(c: Criterion, tests: &[TestResult], baseline: Option<&Baseline>) -> CriterionResult {
    evaluate_with(&[c], tests, baseline).remove(0)
}

#[test]
fn parses_text_boolean_and_baseline_operands() {
    let text = parse(r#"C1.restart_method == "railway""#).unwrap();
    assert_eq!(text.value, Operand::Text("railway".to_owned()));
    assert_eq!(
        parse("C1.restart_observed == true").unwrap().value,
        Operand::Number(1.0)
    );
    let relative = parse("L1.p95_ms < baseline.L1.p95_ms * 1.2").unwrap();
    assert_eq!(
        relative.value,
        Operand::Baseline {
            test: "L1".to_owned(),
            metric: "p95_ms".to_owned(),
            factor: 1.2
        }
    );
    let plain = parse("C1.during.p95_ms <= baseline.C1.during.p95_ms").unwrap();
    assert!(matches!(plain.value, Operand::Baseline { factor, .. } if factor == 1.0));
    for bad in [
        r#"C1.restart_method == "railway"#,
        "L1.p95_ms < baseline.L1",
        "L1.p95_ms < baseline.L1.p95_ms * -2",
        "L1.p95_ms < baseline.L1.p95_ms * x",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains("expected `TEST.metric OP value`"), "{bad}: {e}");
    }
}

#[test]
fn text_criteria_compare_the_measured_text() {
    let tests = [chaos("railway", true)];
    let held = one(criterion(r#"C1.restart_method == "railway""#), &tests, None);
    assert!(held.passed);
    assert_eq!(held.outcome(), CriterionOutcome::Pass);
    assert_eq!(held.actual_text.as_deref(), Some("railway"));
    let other = [chaos("process", true)];
    let missed = one(criterion(r#"C1.restart_method == "railway""#), &other, None);
    assert!(!missed.passed);
    assert_eq!(missed.outcome(), CriterionOutcome::Fail);
    assert_eq!(missed.actual_text.as_deref(), Some("process"));
    assert!(one(criterion(r#"C1.restart_method != "railway""#), &other, None).passed);
    // Booleans are 1 and 0.
    assert!(one(criterion("C1.restart_observed == true"), &tests, None).passed);
    let unobserved = [chaos("railway", false)];
    assert!(!one(criterion("C1.restart_observed == true"), &unobserved, None).passed);
    // Ordering text fails with a reason, never a pass.
    let ordered = one(criterion(r#"C1.restart_method < "z""#), &tests, None);
    assert!(!ordered.passed);
    assert!(ordered.note.unwrap_or_default().contains("is text"));
}

#[test]
fn relative_criteria_use_the_baseline_runs_value() {
    let baseline = baseline_of(vec![load(100.0)]);
    let c = criterion("L1.p95_ms < baseline.L1.p95_ms * 1.2");
    let held = one(c.clone(), &[load(115.0)], Some(&baseline));
    assert!(held.passed);
    assert_eq!(held.expected, Some(120.0));
    assert_eq!(held.actual, Some(115.0));
    let missed = one(c, &[load(130.0)], Some(&baseline));
    assert!(!missed.passed);
    assert_eq!(missed.outcome(), CriterionOutcome::Fail);
    assert_eq!(missed.expected, Some(120.0));
}

#[test]
fn without_a_baseline_a_relative_criterion_is_no_baseline_and_the_run_no_go() {
    let plan = load_str(STEP3, "step3.toml").unwrap().plan;
    let c = criterion("L1.p95_ms < baseline.L1.p95_ms * 1.2");
    let mut tests = vec![load(10.0)];
    let results = evaluate(std::slice::from_ref(&c), &tests);
    assert!(!results[0].passed);
    assert_eq!(results[0].outcome(), CriterionOutcome::NoBaseline);
    assert!(results[0]
        .note
        .clone()
        .unwrap_or_default()
        .contains("no baseline"));
    assert_eq!(
        decide(&plan, &mut tests, &results, &[]),
        crate::run::Verdict::NoGo
    );
    // The baseline lacks the test: no baseline value, not a pass either.
    let empty = baseline_of(vec![]);
    let r = one(c.clone(), &tests, Some(&empty));
    assert_eq!(r.outcome(), CriterionOutcome::NoBaseline);
    // At level warn, a missing baseline warns instead.
    let warn = Criterion {
        level: Some(CriterionLevel::Warn),
        ..c
    };
    let r = one(warn, &tests, None);
    assert!(r.passed);
    assert_eq!(r.outcome(), CriterionOutcome::Warn);
}

#[test]
fn warn_conditions_and_levels_warn_without_failing() {
    let with_warn = Criterion {
        warn: Some("L1.p95_ms < 1500".to_owned()),
        ..criterion("L1.p95_ms < 2000")
    };
    let fast = one(with_warn.clone(), &[load(1000.0)], None);
    assert_eq!(
        (fast.passed, fast.outcome()),
        (true, CriterionOutcome::Pass)
    );
    let slowish = one(with_warn.clone(), &[load(1700.0)], None);
    assert_eq!(
        (slowish.passed, slowish.outcome()),
        (true, CriterionOutcome::Warn)
    );
    assert!(slowish
        .note
        .unwrap_or_default()
        .contains("L1.p95_ms < 1500"));
    let slow = one(with_warn, &[load(2500.0)], None);
    assert_eq!(
        (slow.passed, slow.outcome()),
        (false, CriterionOutcome::Fail)
    );

    let level = Criterion {
        level: Some(CriterionLevel::Warn),
        ..criterion("L1.p95_ms < 2000")
    };
    let slow = one(level, &[load(2500.0)], None);
    assert_eq!(
        (slow.passed, slow.outcome()),
        (true, CriterionOutcome::Warn)
    );
}

#[test]
fn old_results_without_outcomes_read_by_passed() {
    let old: CriterionResult = serde_json::from_value(serde_json::json!({
        "expr": "L1.fail == 0", "group": null, "label": null, "test": "L1",
        "metric": "fail", "actual": 3.0, "passed": false, "note": null
    }))
    .unwrap();
    assert_eq!(old.outcome(), CriterionOutcome::Fail);
    assert_eq!(old.actual_shown().as_deref(), Some("3"));
}

/// The plan check's messages for the criterion appended to step3.toml.
fn check(criterion_toml: &str) -> String {
    let text = format!("{STEP3}\n[[criteria]]\n{criterion_toml}\n");
    match load_str(&text, "step3.toml") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn plan_check_accepts_the_new_forms() {
    assert_eq!(check(r#"expr = 'C1.restart_method == "process"'"#), "");
    assert_eq!(check("expr = 'L1.p95_ms < baseline.L1.p95_ms * 1.2'"), "");
    assert_eq!(
        check("expr = 'L1.p95_ms < 2000'\nwarn = 'L1.p95_ms < 1500'"),
        ""
    );
    assert_eq!(check("expr = 'L1.p95_ms < 2000'\nlevel = 'warn'"), "");
}

#[test]
fn plan_check_names_file_line_and_field_of_misused_criteria() {
    let lines = STEP3.lines().count();
    let ordered = check(r#"expr = 'C1.restart_method < "railway"'"#);
    assert!(ordered.contains("step3.toml:"), "{ordered}");
    assert!(ordered.contains(&format!(":{}", lines + 3)), "{ordered}");
    assert!(ordered.contains("expr"), "{ordered}");
    assert!(
        ordered.contains("is text: compare it with == or !="),
        "{ordered}"
    );
    let number_vs_text = check(r#"expr = 'L1.p95_ms == "fast"'"#);
    assert!(number_vs_text.contains("is a number"), "{number_vs_text}");
    let text_vs_number = check("expr = 'C1.restart_method == 1'");
    assert!(text_vs_number.contains("quoted text"), "{text_vs_number}");
    let unknown = check("expr = 'L1.p95_ms < baseline.Z9.p95_ms'");
    assert!(unknown.contains("no test with id \"Z9\""), "{unknown}");
    let bad_warn = check("expr = 'L1.p95_ms < 2000'\nwarn = 'L1.nope < 1500'");
    assert!(bad_warn.contains("warn"), "{bad_warn}");
    assert!(bad_warn.contains("has no metric \"nope\""), "{bad_warn}");
    let bad_level = check("expr = 'L1.p95_ms < 2000'\nlevel = 'maybe'");
    assert!(bad_level.contains("level"), "{bad_level}");
}
