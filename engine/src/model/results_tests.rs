use super::{Tally, TestResult};
use crate::metrics::resilience::ChaosMetrics;
use crate::metrics::{AssertMetrics, StreamMetrics, TestMetrics};

fn test(status: &str, metrics: Option<TestMetrics>) -> TestResult {
    let mut test: TestResult = serde_json::from_value(serde_json::json!({
        "id": "T1", "title": "T1", "kind": "any", "status": status,
        "started_at_ms": 0, "finished_at_ms": 0, "parameters": {}, "metrics": null
    }))
    .expect("a test result");
    test.metrics = metrics;
    test
}

#[test]
fn tally_counts_operations_or_the_check_itself() {
    let stream = StreamMetrics {
        ok: 4,
        fail: 1,
        ..StreamMetrics::default()
    };
    let load = test("FAIL", Some(TestMetrics::Stream(stream)));
    assert_eq!(load.tally(), Some(Tally { ok: 4, failed: 1 }));
    let assert = TestMetrics::Assert(AssertMetrics {
        failed_checks: 2,
        ..AssertMetrics::default()
    });
    let failed = test("FAIL", Some(assert.clone())).tally();
    assert_eq!(failed, Some(Tally { ok: 0, failed: 1 }));
    assert_eq!(
        test("PASS", Some(assert)).tally().map(Tally::total),
        Some(1)
    );
    assert_eq!(test("ERROR", None).tally(), None);
}

#[test]
fn a_chaos_test_counts_stuck_runs_as_failures() {
    let chaos = ChaosMetrics {
        runs_started: 10,
        runs_completed: 5,
        runs_failed: 1,
        stuck: 4,
        ..ChaosMetrics::default()
    };
    let result = test("FAIL", Some(TestMetrics::Chaos(chaos)));
    assert_eq!(result.tally(), Some(Tally { ok: 5, failed: 5 }));
}

#[test]
fn a_chaos_test_counts_its_streams_and_submit_errors() {
    // 5 sessions planned: 2 clean, 1 on a job that failed, 1 that did not
    // reconnect, 1 that never ended (the test stopped); 3 runs, all
    // completed, 1 more not submitted. A stuck stream job is counted
    // through its session, not twice.
    let chaos = ChaosMetrics {
        runs_started: 3,
        runs_completed: 3,
        submit_errors: 1,
        streams: 5,
        streams_completed: 2,
        streams_failed_gracefully: 1,
        streams_not_reconnected: 1,
        stuck: 1,
        ..ChaosMetrics::default()
    };
    let result = test("FAIL", Some(TestMetrics::Chaos(chaos)));
    assert_eq!(result.tally(), Some(Tally { ok: 5, failed: 4 }));
    let clean = ChaosMetrics {
        streams: 5,
        streams_completed: 5,
        ..ChaosMetrics::default()
    };
    let streams_only = test("PASS", Some(TestMetrics::Chaos(clean))).tally();
    assert_eq!(streams_only, Some(Tally { ok: 5, failed: 0 }));
}
