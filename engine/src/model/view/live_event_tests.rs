use super::*;
use crate::events::ProgressEvent;
use crate::results::TestStatus;
use crate::run::{RunStatus, Verdict};
use crate::run_event::{OtherEvent, RunEvent};

fn header() -> TestHeader {
    serde_json::from_str(
        r#"{"index": 0, "id": "L1", "title": "Load", "kind": "http_load", "planned": 60,
            "duration_s": null}"#,
    )
    .expect("a test header")
}

fn live(event: RunEvent) -> LiveEvent {
    LiveEvent::read(&event.stored(1, 1_000)).expect("a live event")
}

fn window(second: u32) -> Window {
    Window {
        second,
        count: 10,
        errors: 1,
        p95_ms: 9.0,
        ..Window::default()
    }
}

#[test]
fn each_kind_reads_as_the_run_event_it_stores() {
    let started = ProgressEvent::RunStarted {
        run_id: "r".into(),
        plan: "p".into(),
        environment: "e".into(),
        tests: vec![header()],
    };
    assert_eq!(
        live(RunEvent::Progress(started)),
        LiveEvent::RunStarted(vec![header()])
    );
    let test_started = ProgressEvent::TestStarted { test: header() };
    assert_eq!(
        live(RunEvent::Progress(test_started)),
        LiveEvent::TestStarted(header())
    );
    let second = ProgressEvent::Window {
        test_id: "L1".into(),
        window: window(3),
        done: 30,
        failed: 1,
    };
    assert_eq!(
        live(RunEvent::Progress(second)),
        LiveEvent::Window(TestWindow {
            test_id: "L1".into(),
            window: window(3),
            done: 30,
            failed: 1,
        })
    );
    let load = ProgressEvent::LoadWindow {
        test_id: "C1".into(),
        load: 1,
        window: window(2),
        done: 64,
        failed: 2,
    };
    assert_eq!(
        live(RunEvent::Progress(load)),
        LiveEvent::LoadWindow(LoadWindow {
            test_id: "C1".into(),
            load: 1,
            window: window(2),
        })
    );
    let times = ProgressEvent::FaultTimes {
        test_id: "C1".into(),
        fault_at_ms: 3012.5,
        recovered_at_ms: Some(4420.0),
    };
    assert_eq!(
        live(RunEvent::Progress(times)),
        LiveEvent::FaultTimes(FaultTimes {
            test_id: "C1".into(),
            fault_at_ms: 3012.5,
            recovered_at_ms: Some(4420.0),
        })
    );
    let status = RunEvent::status("r1", RunStatus::Finished, Some(Verdict::Go), None);
    let RunEvent::Status(change) = status.clone() else {
        unreachable!()
    };
    assert_eq!(live(status), LiveEvent::Status(change));
    assert_eq!(live(RunEvent::end("r1")), LiveEvent::End);
}

#[test]
fn a_finished_test_and_run_read_as_their_views() {
    let data = r#"{"event":"test_finished","result":{"id":"L1","title":"Load","kind":"http_load",
        "status":"FAIL","started_at_ms":1000,"finished_at_ms":3000,"parameters":{"rate":5},
        "metrics":{"kind":"http_load","ok":8,"fail":2},"windows":[],"error":null,"faults":[]}}"#;
    let stored = StoredEvent {
        seq: 4,
        at_ms: 3_000,
        kind: "test_finished".into(),
        data: data.into(),
    };
    let LiveEvent::TestFinished(test) = LiveEvent::read(&stored).unwrap() else {
        panic!("not a finished test")
    };
    assert_eq!((test.id.as_str(), test.status), ("L1", TestStatus::Fail));
    assert_eq!(test.tally().map(|t| (t.ok, t.failed)), Some((8, 2)));
    let stored = StoredEvent {
        kind: "run_finished".into(),
        data: r#"{"event":"run_finished","results":{"run_id":"r","tests":[{"id":"L1",
            "status":"PASS"}],"criteria":[]}}"#
            .into(),
        ..stored
    };
    let LiveEvent::RunFinished(run) = LiveEvent::read(&stored).unwrap() else {
        panic!("not a finished run")
    };
    assert_eq!(run.tests[0].status, TestStatus::Pass);
}

#[test]
fn unknown_kinds_show_their_message_else_their_json() {
    let restart = RunEvent::Other(OtherEvent {
        kind: "restart".into(),
        data: serde_json::json!({"message": "worker restarted"}),
    });
    assert_eq!(live(restart), LiveEvent::Other("worker restarted".into()));
    let note = RunEvent::Other(OtherEvent {
        kind: "note".into(),
        data: serde_json::json!({"n": 1}),
    });
    let RunEvent::Other(other) = &note else {
        unreachable!()
    };
    let text = other.text();
    assert_eq!(live(note), LiveEvent::Other(text));
    let bad = StoredEvent {
        seq: 1,
        at_ms: 0,
        kind: "note".into(),
        data: "not json".into(),
    };
    assert!(LiveEvent::read(&bad).is_err());
    let bad = StoredEvent {
        kind: "window".into(),
        data: r#"{"event":"window","test_id":"L1"}"#.into(),
        ..bad
    };
    assert!(LiveEvent::read(&bad).is_err());
}
