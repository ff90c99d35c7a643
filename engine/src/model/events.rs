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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl ProgressEvent {
    /// Every event's kind, as its `event` tag spells it.
    pub const KINDS: [&'static str; 5] = [
        "run_started",
        "test_started",
        "window",
        "test_finished",
        "run_finished",
    ];

    /// Its kind: the `event` tag of its JSON (`run_started`, `window`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            ProgressEvent::RunStarted { .. } => "run_started",
            ProgressEvent::TestStarted { .. } => "test_started",
            ProgressEvent::Window { .. } => "window",
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
