//! Progress events and the sink that receives them.
//!
//! The engine never knows who watches: the CLI passes a sink that draws
//! progress bars, the web app one that stores events and broadcasts them
//! over SSE. Events are plain data (serde), so the browser can read them.

use crate::metrics::Window;
use crate::results::{RunResults, TestResult};
use serde::{Deserialize, Serialize};

/// A test as announced before it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestHeader {
    /// Position in the plan, from 0.
    pub index: usize,
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// Operations it will do, when known in advance (requests, jobs).
    pub planned: Option<u64>,
    /// Its planned length in seconds, when it runs for a duration.
    pub duration_s: Option<u32>,
}

/// Something that happened during a run.
///
/// Written with its `event` tag first; read with `model::tag_first`
/// (no buffered copy of the event, whose results can be large).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProgressEvent {
    /// The run began; these tests will run in this order.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// The plan's name.
        plan: String,
        /// The environment's name.
        environment: String,
        /// The tests.
        tests: Vec<TestHeader>,
    },
    /// A test began.
    TestStarted {
        /// The test.
        test: TestHeader,
    },
    /// One second of a test is complete (live charts).
    Window {
        /// The test's id.
        test_id: String,
        /// The second's figures.
        window: Window,
        /// Operations finished so far in this test.
        done: u64,
        /// Of those, failed.
        failed: u64,
    },
    /// One second of a chaos test's background load (the live chart of the
    /// load through the fault). Its `second` counts from that load's start,
    /// which is the moment `FaultTimes` counts from, give or take the
    /// load's set-up.
    LoadWindow {
        /// The chaos test's id.
        test_id: String,
        /// Which of the test's background loads, from 0.
        load: usize,
        /// The second's figures.
        window: Window,
        /// Requests of that load finished so far (a second's window is
        /// sent once, and requests started in it may finish later).
        #[serde(default)]
        done: u64,
        /// Of those, failed.
        #[serde(default)]
        failed: u64,
    },
    /// A chaos test's fault moments, in ms since its background load
    /// started (the times its windows are split at): sent when the fault is
    /// injected, and again once recovery is seen.
    FaultTimes {
        /// The chaos test's id.
        test_id: String,
        /// The fault was requested.
        fault_at_ms: f64,
        /// The service's health passed again; unset until that is seen.
        recovered_at_ms: Option<f64>,
    },
    /// A test ended; its result (status is PASS until criteria say otherwise).
    TestFinished {
        /// The result.
        result: Box<TestResult>,
    },
    /// The run ended.
    RunFinished {
        /// Everything it produced.
        results: Box<RunResults>,
    },
}

/// [`ProgressEvent`] read from its tag and the rest of its object: the
/// same variants and fields (the compiler checks them against the enum).
#[derive(Deserialize)]
#[serde(remote = "ProgressEvent", rename_all = "snake_case")]
enum ProgressEventMirror {
    RunStarted {
        run_id: String,
        plan: String,
        environment: String,
        tests: Vec<TestHeader>,
    },
    TestStarted {
        test: TestHeader,
    },
    Window {
        test_id: String,
        window: Window,
        done: u64,
        failed: u64,
    },
    LoadWindow {
        test_id: String,
        load: usize,
        window: Window,
        #[serde(default)]
        done: u64,
        #[serde(default)]
        failed: u64,
    },
    FaultTimes {
        test_id: String,
        fault_at_ms: f64,
        recovered_at_ms: Option<f64>,
    },
    TestFinished {
        result: Box<TestResult>,
    },
    RunFinished {
        results: Box<RunResults>,
    },
}

crate::model::tag_first::tag_first_deserialize!(
    ProgressEvent via ProgressEventMirror,
    tag "event",
    expecting "a progress event with its `event` kind"
);

impl ProgressEvent {
    /// Every event's kind, as its `event` tag spells it.
    pub const KINDS: [&'static str; 7] = [
        "run_started",
        "test_started",
        "window",
        "load_window",
        "fault_times",
        "test_finished",
        "run_finished",
    ];

    /// Its kind: the `event` tag of its JSON (`run_started`, `window`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProgressEvent::RunStarted { .. } => "run_started",
            ProgressEvent::TestStarted { .. } => "test_started",
            ProgressEvent::Window { .. } => "window",
            ProgressEvent::LoadWindow { .. } => "load_window",
            ProgressEvent::FaultTimes { .. } => "fault_times",
            ProgressEvent::TestFinished { .. } => "test_finished",
            ProgressEvent::RunFinished { .. } => "run_finished",
        }
    }

    /// Puts `run_id` wherever the event names its run (the start and the
    /// results): the engine numbers its own runs, a server its own.
    pub fn set_run_id(&mut self, id: &str) {
        match self {
            ProgressEvent::RunStarted { run_id, .. } => id.clone_into(run_id),
            ProgressEvent::RunFinished { results } => id.clone_into(&mut results.run_id),
            ProgressEvent::TestStarted { .. }
            | ProgressEvent::Window { .. }
            | ProgressEvent::LoadWindow { .. }
            | ProgressEvent::FaultTimes { .. }
            | ProgressEvent::TestFinished { .. } => {}
        }
    }
}

/// Receives progress events. Called from the engine's tasks: keep it quick
/// and never block (hand events to a channel when they need slow work).
pub trait Sink: Send + Sync {
    /// One event.
    fn emit(&self, event: &ProgressEvent);
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn emit(&self, _: &ProgressEvent) {}
}

impl<F: Fn(&ProgressEvent) + Send + Sync> Sink for F {
    fn emit(&self, event: &ProgressEvent) {
        self(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_through_the_fault_events_are_tagged_by_their_kind_and_read_back() {
        let events = [
            ProgressEvent::LoadWindow {
                test_id: "C1".into(),
                load: 1,
                window: Window {
                    second: 3,
                    count: 20,
                    errors: 2,
                    p95_ms: 41.5,
                    ..Window::default()
                },
                done: 64,
                failed: 2,
            },
            ProgressEvent::FaultTimes {
                test_id: "C1".into(),
                fault_at_ms: 3012.5,
                recovered_at_ms: Some(4420.0),
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["event"], event.kind());
            assert!(ProgressEvent::KINDS.contains(&event.kind()));
            let back: ProgressEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
        // Stored before a load's totals were sent: they read as 0.
        let older: ProgressEvent = serde_json::from_value(serde_json::json!({
            "event": "load_window", "test_id": "C1", "load": 0,
            "window": serde_json::to_value(Window::default()).unwrap()
        }))
        .unwrap();
        assert!(matches!(
            older,
            ProgressEvent::LoadWindow {
                done: 0,
                failed: 0,
                ..
            }
        ));
        let injected: ProgressEvent = serde_json::from_str(
            r#"{"event":"fault_times","test_id":"C1","fault_at_ms":12.0,"recovered_at_ms":null}"#,
        )
        .unwrap();
        assert_eq!(
            injected,
            ProgressEvent::FaultTimes {
                test_id: "C1".into(),
                fault_at_ms: 12.0,
                recovered_at_ms: None,
            }
        );
    }
}
