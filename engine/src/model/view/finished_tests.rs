use super::*;
use crate::metrics::resilience::{DependencyStatus, HealthMetrics};
use crate::metrics::TestMetrics;
use crate::metrics::{AssertMetrics, HttpLoadMetrics, JobWorkloadMetrics, StreamMetrics};
use crate::results::{RunResults, TestResult};

fn latency(p95_ms: f64, count: u64) -> LatencySummary {
    LatencySummary {
        count,
        p50_ms: p95_ms / 2.0,
        p95_ms,
        max_ms: p95_ms * 2.0,
        ..LatencySummary::default()
    }
}

fn result(id: &str, kind: &str, status: TestStatus, metrics: Option<TestMetrics>) -> TestResult {
    serde_json::from_value::<TestResult>(serde_json::json!({
        "id": id, "title": format!("{id} title"), "kind": kind, "status": status,
        "started_at_ms": 1_000, "finished_at_ms": 4_500,
        "parameters": {"url": "/x", "rate": 5, "nested": {"a": [1, 2]}},
        "metrics": metrics, "histogram": "HISTFAAAAB", "warnings": ["w"],
        "error": (status == TestStatus::Error).then_some("it broke"),
        "windows": [{"second": 0, "count": 4, "errors": 1, "p50_ms": 1.0, "p95_ms": 2.0,
                     "p99_ms": 3.0, "max_ms": 4.0}],
        "faults": [],
    }))
    .expect("a test result")
}

fn each_kind() -> Vec<TestResult> {
    let chaos = ChaosMetrics {
        runs_started: 9,
        runs_completed: 5,
        runs_failed: 2,
        submit_errors: 1,
        streams: 6,
        streams_completed: 3,
        streams_failed_gracefully: 1,
        streams_not_reconnected: 1,
        streams_failed: 2,
        restart_observed: 1,
        load: Some(Box::new(LoadThroughFault {
            fault_at_ms: 3_000.0,
            end_ms: 9_000.0,
            ..LoadThroughFault::default()
        })),
        ..ChaosMetrics::default()
    };
    let health = HealthMetrics {
        dependencies: vec![
            DependencyStatus {
                name: "database".into(),
                status: "ok".into(),
                healthy: true,
                latency_ms: Some(1.5),
            },
            DependencyStatus {
                name: "bucket".into(),
                status: "down".into(),
                healthy: false,
                latency_ms: None,
            },
        ],
        ..HealthMetrics::default()
    };
    vec![
        result(
            "L1",
            "http_load",
            TestStatus::Pass,
            Some(TestMetrics::HttpLoad(HttpLoadMetrics {
                ok: 40,
                fail: 2,
                latency: latency(12.5, 42),
                ..HttpLoadMetrics::default()
            })),
        ),
        result(
            "S1",
            "stream",
            TestStatus::Fail,
            Some(TestMetrics::Stream(StreamMetrics {
                ok: 7,
                fail: 3,
                latency: latency(80.0, 10),
                ..StreamMetrics::default()
            })),
        ),
        result(
            "C1",
            "chaos",
            TestStatus::Pass,
            Some(TestMetrics::Chaos(chaos)),
        ),
        result(
            "H1",
            "health",
            TestStatus::Fail,
            Some(TestMetrics::Health(health)),
        ),
        result(
            "J1",
            "job_workload",
            TestStatus::Pass,
            Some(TestMetrics::JobWorkload(JobWorkloadMetrics {
                ok: 11,
                fail: 0,
                latency: latency(300.0, 11),
                ..JobWorkloadMetrics::default()
            })),
        ),
        // An assert's `ok` says whether it passed (a bool, where the load
        // kinds count operations).
        result(
            "A1",
            "assert",
            TestStatus::Pass,
            Some(TestMetrics::Assert(AssertMetrics {
                ok: true,
                latency_ms: 3.0,
                ..AssertMetrics::default()
            })),
        ),
        result("E1", "http_load", TestStatus::Error, None),
    ]
}

fn view_of(result: &TestResult) -> FinishedTest {
    let text = serde_json::to_string(result).expect("JSON");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", result.id))
}

#[test]
fn a_finished_test_reads_the_figures_of_its_result() {
    for result in each_kind() {
        let view = view_of(&result);
        assert_eq!(view.tally(), result.tally(), "{}", result.id);
        assert_eq!(
            (&view.id, &view.kind, view.status, &view.error),
            (&result.id, &result.kind, result.status, &result.error)
        );
        assert_eq!(
            (view.started_at_ms, view.finished_at_ms),
            (result.started_at_ms, result.finished_at_ms)
        );
        assert_eq!(
            (&view.windows, &view.faults),
            (&result.windows, &result.faults)
        );
        let full_latency = match &result.metrics {
            Some(TestMetrics::HttpLoad(m)) => Some(&m.latency),
            Some(TestMetrics::Stream(m)) => Some(&m.latency),
            Some(TestMetrics::JobWorkload(m)) => Some(&m.latency),
            _ => None,
        };
        let metrics = view.metrics.as_ref();
        assert_eq!(
            metrics.and_then(|m| m.latency()),
            full_latency,
            "{}",
            result.id
        );
        let full_load = match &result.metrics {
            Some(TestMetrics::Chaos(m)) => m.load.as_deref(),
            _ => None,
        };
        assert_eq!(metrics.and_then(|m| m.load_through_fault()), full_load);
        let full_dependencies: Vec<(String, bool)> = match &result.metrics {
            Some(TestMetrics::Health(m)) => m
                .dependencies
                .iter()
                .map(|d| (d.name.clone(), d.healthy))
                .collect(),
            _ => Vec::new(),
        };
        let dependencies: Vec<(String, bool)> = view
            .dependencies()
            .iter()
            .map(|d| (d.name.clone(), d.healthy))
            .collect();
        assert_eq!(dependencies, full_dependencies, "{}", result.id);
    }
}

#[test]
fn the_counts_are_those_of_each_kind() {
    let tallies: Vec<Option<(u64, u64)>> = each_kind()
        .iter()
        .map(|r| view_of(r).tally().map(|t| (t.ok, t.failed)))
        .collect();
    // Load: its counts; chaos: 5 runs and 3 sessions ended well; 2 runs
    // failed, 2 were stuck and 1 was not submitted; 7 sessions ended (more
    // than the 6 planned), 4 of them not completed; a failed health check:
    // one failure; jobs: their counts; a passed assert: one success; no
    // metrics: nothing.
    assert_eq!(
        tallies,
        [
            Some((40, 2)),
            Some((7, 3)),
            Some((8, 9)),
            Some((0, 1)),
            Some((11, 0)),
            Some((1, 0)),
            None
        ]
    );
}

#[test]
fn a_finished_run_reads_each_tests_final_status_and_the_criteria() {
    let mut results: RunResults = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "tool": {"name": "shakedown", "version": "0"},
        "run_id": "r1", "plan": {"name": "p", "title": null, "file": "p.toml", "sha256": ""},
        "environment": {"name": "demo", "base_url": "http://127.0.0.1:1", "expected_bucket": null},
        "status": "finished", "verdict": "NO-GO", "started_at_ms": 0, "finished_at_ms": 0,
        "started_at": "", "finished_at": "", "tests": [], "error": null,
        "criteria": [{"expr": "L1.p95_ms < 10", "group": null, "label": null, "test": "L1",
            "metric": "p95_ms", "actual": 12.5, "passed": false, "note": null}],
    }))
    .expect("run results");
    results.tests = each_kind();
    let text = serde_json::to_string(&results).expect("JSON");
    let view: FinishedRun = serde_json::from_str(&text).expect("a finished run");
    let statuses: Vec<(&str, TestStatus)> = view
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.status))
        .collect();
    let full: Vec<(&str, TestStatus)> = results
        .tests
        .iter()
        .map(|t| (t.id.as_str(), t.status))
        .collect();
    assert_eq!(statuses, full);
    assert_eq!(view.criteria, results.criteria);
}
