//! The live view rebuilt from events stored as earlier versions wrote
//! them (kind word and JSON).

use super::*;
use engine::events::ProgressEvent;
use engine::metrics::resilience::{DependencyStatus, HealthMetrics};
use engine::metrics::{HttpLoadMetrics, TestMetrics};
use engine::results::{RunResults, TestStatus};
use engine::run_event::RunEvent;
use serde_json::{json, Value};

fn ev(seq: i64, kind: &str, data: Value) -> StoredEvent {
    StoredEvent {
        seq,
        at_ms: 1_000 * seq,
        kind: kind.into(),
        data: data.to_string(),
    }
}

fn window(second: u32) -> Value {
    json!({"second": second, "count": 10, "errors": 1, "p50_ms": 5.0, "p95_ms": 9.0, "p99_ms": 12.0, "max_ms": 20.0})
}

fn header(index: usize, id: &str, title: &str, kind: &str) -> Value {
    let (planned, duration_s) = match kind {
        "chaos" => (Value::Null, json!(5)),
        "http_load" => (json!(60), Value::Null),
        _ => (json!(1), Value::Null),
    };
    json!({"index": index, "id": id, "title": title, "kind": kind, "planned": planned, "duration_s": duration_s})
}

fn run_started(tests: Vec<Value>) -> Value {
    json!({"event": "run_started", "run_id": "r", "plan": "p", "environment": "e", "tests": tests})
}

fn test_started(test: Value) -> Value {
    json!({"event": "test_started", "test": test})
}

/// A test's result as the engine writes it; `extra` adds or replaces fields.
fn test_finished(id: &str, kind: &str, metrics: Option<TestMetrics>, extra: Value) -> Value {
    let mut result = json!({
        "id": id, "title": id, "kind": kind, "status": "PASS",
        "started_at_ms": 0, "finished_at_ms": 0, "parameters": {},
        "metrics": metrics, "windows": [], "histogram": null, "warnings": [],
        "error": null, "faults": []
    });
    if let (Some(result), Some(extra)) = (result.as_object_mut(), extra.as_object()) {
        result.extend(extra.clone());
    }
    json!({"event": "test_finished", "result": result})
}

fn status(status: &str, verdict: Value) -> Value {
    json!({"run_id": "r", "status": status, "verdict": verdict, "error": null})
}

fn load_metrics(ok: u64, fail: u64) -> TestMetrics {
    TestMetrics::HttpLoad(HttpLoadMetrics {
        requests: ok + fail,
        ok,
        fail,
        ..HttpLoadMetrics::default()
    })
}

fn events() -> Vec<StoredEvent> {
    let load = header(0, "L1", "Load", "http_load");
    vec![
        ev(1, "status", status("queued", Value::Null)),
        ev(2, "status", status("running", Value::Null)),
        ev(
            3,
            "run_started",
            run_started(vec![load.clone(), header(1, "G1", "Graph", "assert")]),
        ),
        ev(4, "test_started", test_started(load)),
        ev(
            5,
            "window",
            json!({"event": "window", "test_id": "L1", "window": window(0), "done": 30, "failed": 1}),
        ),
        ev(
            6,
            "window",
            json!({"event": "window", "test_id": "L1", "window": window(1), "done": 60, "failed": 2}),
        ),
        ev(
            7,
            "test_finished",
            test_finished("L1", "http_load", Some(load_metrics(58, 2)), json!({})),
        ),
        ev(
            8,
            "restart",
            json!({"message": "worker restarted: pid 10 → 11"}),
        ),
        ev(9, "status", status("finished", json!("NO-GO"))),
        ev(10, "end", json!({"run_id": "r"})),
    ]
}

#[test]
fn events_build_progress_figures_and_log() {
    let all = events();
    let partial = LiveRun::from_events(&all[..5]);
    assert_eq!(partial.status, Some(RunStatus::Running));
    assert_eq!(partial.tests.len(), 2);
    assert_eq!(partial.tests[0].state, TestState::Running);
    assert_eq!(partial.tests[0].progress(), Some(0.5));
    assert_eq!(partial.tests[1].state, TestState::Waiting);
    assert_eq!(partial.tests[0].last_window().unwrap().p95_ms, 9.0);

    let live = LiveRun::from_events(&all);
    assert_eq!(live.verdict, Some(Verdict::NoGo));
    assert_eq!(live.tests[0].windows.len(), 2);
    assert_eq!(live.tests[0].failed, 2);
    assert_eq!(live.tests[0].done, 60);
    assert_eq!(live.tests[0].state, TestState::Done(TestStatus::Pass));
    assert_eq!(live.tests[0].state.as_str(), "PASS");
    assert!(live.ended);
    let log: Vec<&str> = live.log.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        log,
        [
            "run queued",
            "run running",
            "2 tests planned",
            "L1 started: Load",
            "L1 finished: PASS",
            "worker restarted: pid 10 → 11",
            "run finished: NO-GO",
        ]
    );
}

#[test]
fn the_runs_results_log_each_criterion_and_set_each_tests_final_state() {
    let mut all = events();
    all.truncate(7);
    let results: RunResults = serde_json::from_value(json!({
        "schema_version": 1,
        "tool": {"name": "shakedown", "version": "0"},
        "run_id": "r",
        "plan": {"name": "p", "title": null, "file": "p.toml", "sha256": "00"},
        "environment": {"name": "e", "base_url": "http://localhost", "expected_bucket": null},
        "status": "finished", "verdict": "NO-GO",
        "started_at_ms": 0, "finished_at_ms": 1, "started_at": "", "finished_at": "",
        "tests": [
            test_finished("L1", "http_load", None, json!({"status": "FAIL"}))["result"],
            test_finished("G1", "assert", None, json!({"status": "ERROR"}))["result"],
        ],
        "criteria": [
            {"expr": "L1.p95_ms < 100", "group": null, "label": null, "test": "L1",
             "metric": "p95_ms", "actual": 9.5, "passed": true, "note": null},
            {"expr": "L1.fail == 0", "group": null, "label": null, "test": "L1",
             "metric": "fail", "actual": 2.0, "passed": false, "note": null},
        ],
        "error": null
    }))
    .unwrap();
    let finished = RunEvent::Progress(ProgressEvent::RunFinished {
        results: Box::new(results),
    });
    all.push(finished.stored(8, 8_000));
    let live = LiveRun::from_events(&all);
    let states: Vec<&str> = live.tests.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["FAIL", "ERROR"]);
    let log: Vec<&str> = live.log.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        log[log.len() - 2..],
        [
            "criterion L1.p95_ms < 100: held (actual 9.5)",
            "criterion L1.fail == 0: FAILED (actual 2)"
        ]
    );
}

#[test]
fn evidence_and_unreadable_events() {
    let all = vec![
        ev(
            1,
            "evidence",
            json!({"message": "evidence pack v1 written (9 files, manifest sha256 ab)", "version": 1, "manifest_sha256": "ab"}),
        ),
        StoredEvent {
            seq: 2,
            at_ms: 2_000,
            kind: "status".into(),
            data: "not json".into(),
        },
        ev(3, "status", json!({"status": "stuck"})),
    ];
    let live = LiveRun::from_events(&all);
    let log: Vec<&str> = live.log.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        log,
        ["evidence pack v1 written (9 files, manifest sha256 ab)"]
    );
    assert_eq!((live.last_seq, live.status), (3, None));
}

#[test]
fn chaos_and_health_results_build_the_recovery_timeline() {
    let fault = json!({
        "service": "worker", "method": "process", "called": "restart", "answer": "ok",
        "call_ok": true, "requested_at_ms": 5_000, "restart_observed": true,
        "observation": "pid 1 -> 2", "recovery_ms": 2_000,
        "timeline": [
            {"at_ms": 0, "healthy": true}, {"at_ms": 500, "healthy": false},
            {"at_ms": 2_000, "healthy": true}, {"at_ms": 2_100, "healthy": true}
        ]
    });
    let dependency = |name: &str, healthy: bool| DependencyStatus {
        name: name.into(),
        status: if healthy { "ok" } else { "down" }.into(),
        healthy,
        latency_ms: healthy.then_some(1.0),
    };
    let health = TestMetrics::Health(HealthMetrics {
        dependencies: vec![dependency("database", true), dependency("queue", false)],
        ..HealthMetrics::default()
    });
    let chaos = header(0, "C1", "Restart", "chaos");
    let all = vec![
        ev(
            3,
            "run_started",
            run_started(vec![chaos.clone(), header(1, "H1", "Health", "health")]),
        ),
        ev(4, "test_started", test_started(chaos)),
        ev(
            5,
            "test_finished",
            test_finished("C1", "chaos", None, json!({"faults": [fault]})),
        ),
        ev(
            6,
            "test_finished",
            test_finished(
                "H1",
                "health",
                Some(health),
                json!({"started_at_ms": 9_000, "finished_at_ms": 9_010}),
            ),
        ),
    ];
    let started = LiveRun::from_events(&all[..2]);
    assert!(started.recovery_expected);
    let only_start = started.recovery_chart().unwrap();
    assert_eq!(only_start.markers.len(), 1);
    assert_eq!(only_start.markers[0].label, "C1 started");
    assert_eq!(only_start.markers[0].x, 1.0);

    let live = LiveRun::from_events(&all);
    // A check counts as one operation, by its status.
    let health = &live.tests[1];
    assert_eq!((health.done, health.failed), (1, 0));
    let chart = live.recovery_chart().unwrap();
    let names: Vec<&str> = live.lanes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["worker", "database", "queue"]);
    let worker = &live.lanes[0].spans;
    assert_eq!(worker.len(), 3);
    assert_eq!((worker[1].start, worker[1].end), (2.5, 4.0));
    assert_eq!(worker[1].health, Health::Down);
    assert_eq!(live.lanes[2].spans[0].health, Health::Down);
    assert_eq!(
        (live.lanes[1].spans[0].start, live.lanes[1].spans[0].end),
        (6.0, 6.25)
    );
    let labels: Vec<&str> = chart.markers.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(
        labels,
        ["C1 started", "process worker", "worker recovered in 2.0 s"]
    );
    assert_eq!(
        chart.readout(3.0).unwrap().1,
        "3 s: worker down · database not probed · queue not probed"
    );
}

#[test]
fn a_run_without_chaos_or_health_tests_expects_no_recovery_timeline() {
    let live = LiveRun::from_events(&events());
    assert!(!live.recovery_expected);
    assert!(live.recovery_chart().is_none());
}

#[test]
fn replayed_events_are_not_counted_twice() {
    let all = events();
    let mut live = LiveRun::from_events(&all[..6]);
    // A reconnection replays from an older point: nothing doubles.
    for e in &all[3..] {
        live.apply(e);
    }
    assert_eq!(live, LiveRun::from_events(&all));
    assert_eq!(live.tests[0].windows.len(), 2);
}

/// A load test's whole-test figures: `count` operations over 500 ms.
fn short_load(count: u64, p95_ms: f64) -> TestMetrics {
    TestMetrics::HttpLoad(HttpLoadMetrics {
        requests: count,
        ok: count,
        latency: engine::metrics::LatencySummary {
            count,
            p50_ms: 20.0,
            p95_ms,
            ..Default::default()
        },
        ..HttpLoadMetrics::default()
    })
}

#[test]
fn a_test_shorter_than_a_second_shows_its_rate_and_latency_when_it_ends() {
    let load = header(0, "L1", "Load", "http_load");
    let all = vec![
        ev(3, "run_started", run_started(vec![load.clone()])),
        ev(4, "test_started", test_started(load)),
    ];
    let running = LiveRun::from_events(&all);
    // No second has ended yet: nothing measured to show.
    assert_eq!(running.tests[0].figures(), None);
    let mut all = all;
    all.push(ev(
        5,
        "test_finished",
        test_finished(
            "L1",
            "http_load",
            Some(short_load(60, 59.0)),
            json!({"started_at_ms": 1_000, "finished_at_ms": 1_500, "windows": [window(0)]}),
        ),
    ));
    let live = LiveRun::from_events(&all);
    let figures = live.tests[0].figures().unwrap();
    // The whole test's figures, not its one window's (p95 9 ms).
    assert_eq!(
        (figures.rate, figures.p50_ms, figures.p95_ms),
        (120.0, 20.0, 59.0)
    );
    assert_eq!(live.tests[0].windows.len(), 1);
    assert_eq!(live.tests[0].progress_text(), "60 / 60");
}

#[test]
fn a_second_reported_again_replaces_its_window() {
    let jobs = header(0, "L2", "Jobs", "job_workload");
    let second = |seq, done, p95: f64| {
        let mut w = window(0);
        w["p95_ms"] = json!(p95);
        ev(
            seq,
            "window",
            json!({"event": "window", "test_id": "L2", "window": w, "done": done, "failed": 0}),
        )
    };
    let all = vec![
        ev(3, "run_started", run_started(vec![jobs.clone()])),
        ev(4, "test_started", test_started(jobs)),
        second(5, 3, 900.0),
        second(6, 8, 1_400.0),
    ];
    let live = LiveRun::from_events(&all);
    let test = &live.tests[0];
    assert_eq!(test.windows.len(), 1);
    assert_eq!(test.figures().unwrap().p95_ms, 1_400.0);
    assert_eq!(test.done, 8);
}

#[test]
fn progress_says_what_each_kind_counts() {
    let mut chaos_header = header(0, "C1", "Restart", "chaos");
    chaos_header["planned"] = json!(4);
    let check = header(1, "G1", "Graph", "assert");
    let chaos_metrics = TestMetrics::Chaos(engine::metrics::resilience::ChaosMetrics {
        runs_started: 4,
        runs_completed: 4,
        ..Default::default()
    });
    let all = vec![
        ev(
            3,
            "run_started",
            run_started(vec![chaos_header.clone(), check.clone()]),
        ),
        ev(4, "test_started", test_started(chaos_header)),
    ];
    let running = LiveRun::from_events(&all);
    assert_eq!(running.tests[0].progress_text(), "4 runs under way");
    assert_eq!(running.tests[0].progress(), None);
    assert_eq!(running.tests[1].progress_text(), "");
    assert_eq!(running.tests[1].progress(), Some(0.0));
    let mut all = all;
    all.extend([
        ev(
            5,
            "test_finished",
            test_finished("C1", "chaos", Some(chaos_metrics), json!({})),
        ),
        ev(6, "test_started", test_started(check)),
    ]);
    let checking = LiveRun::from_events(&all);
    assert_eq!(checking.tests[0].progress_text(), "4 / 4 runs ended");
    assert_eq!(checking.tests[1].progress_text(), "checking");
    assert_eq!(checking.tests[1].progress(), None);
    all.push(ev(
        7,
        "test_finished",
        test_finished(
            "G1",
            "assert",
            Some(TestMetrics::Assert(Default::default())),
            json!({}),
        ),
    ));
    let done = LiveRun::from_events(&all);
    assert_eq!(done.tests[1].progress_text(), "done");
    assert_eq!(done.tests[1].progress(), Some(1.0));
    // Neither kind measures latency.
    assert_eq!(done.tests[0].figures(), None);
}

#[test]
fn tests_running_together_each_keep_their_own_row() {
    // L2 runs alongside L1 (both started before either finished); L2 ends
    // first while L1 still runs.
    let l1 = header(0, "L1", "Load one", "http_load");
    let l2 = header(1, "L2", "Load two", "http_load");
    let all = vec![
        ev(1, "run_started", run_started(vec![l1.clone(), l2.clone()])),
        ev(2, "test_started", test_started(l1)),
        ev(3, "test_started", test_started(l2)),
        ev(
            4,
            "window",
            json!({"event": "window", "test_id": "L2", "window": window(0), "done": 45, "failed": 0}),
        ),
        ev(
            5,
            "window",
            json!({"event": "window", "test_id": "L1", "window": window(0), "done": 15, "failed": 1}),
        ),
        ev(
            6,
            "test_finished",
            test_finished("L2", "http_load", Some(load_metrics(60, 0)), json!({})),
        ),
    ];
    let both = LiveRun::from_events(&all[..5]);
    let states: Vec<TestState> = both.tests.iter().map(|t| t.state).collect();
    assert_eq!(states, [TestState::Running, TestState::Running]);
    assert_eq!(both.tests[0].progress(), Some(0.25));
    assert_eq!(both.tests[1].progress(), Some(0.75));
    assert_eq!((both.tests[0].failed, both.tests[1].failed), (1, 0));

    let one_left = LiveRun::from_events(&all);
    assert_eq!(one_left.tests[0].state, TestState::Running);
    assert_eq!(one_left.tests[1].state, TestState::Done(TestStatus::Pass));
    assert_eq!(one_left.tests[0].done, 15);
}
