//! A stored run event as the live page reads it: the same kinds and JSON
//! as [`RunEvent`](crate::run_event::RunEvent), with a finished test's
//! result and a finished run's results read as their
//! [views](super::finished), and an event of an unknown kind as its line
//! for the event log. The stored event's kind word says which it is, so
//! each kind's JSON is read straight into its own struct (its `event` tag
//! is skipped as an unknown field).

use super::finished::{FinishedRun, FinishedTest};
use crate::events::TestHeader;
use crate::metrics::Window;
use crate::run::StoredEvent;
use crate::run_event::{EvidenceNote, StatusChange, END, EVIDENCE, STATUS};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// Something the live page learns about a run.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// The run began; these tests will run in this order (`run_started`).
    RunStarted(Vec<TestHeader>),
    /// A test began (`test_started`).
    TestStarted(TestHeader),
    /// One second of a test is complete (`window`).
    Window(TestWindow),
    /// One second of a chaos test's background load (`load_window`).
    LoadWindow(LoadWindow),
    /// A chaos test's fault moments (`fault_times`).
    FaultTimes(FaultTimes),
    /// A test ended (`test_finished`).
    TestFinished(Box<FinishedTest>),
    /// The run ended (`run_finished`).
    RunFinished(Box<FinishedRun>),
    /// The run's status changed (`status`).
    Status(StatusChange),
    /// The run's evidence pack was written, or could not be (`evidence`).
    Evidence(EvidenceNote),
    /// The run's stream is over (`end`).
    End,
    /// A kind this version does not know: its `message`, else its kind and
    /// JSON.
    Other(String),
}

/// A second of a test, with its operation counts so far.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TestWindow {
    /// The test's id.
    pub test_id: String,
    /// The second's figures.
    pub window: Window,
    /// Operations finished so far in this test.
    pub done: u64,
    /// Of those, failed.
    pub failed: u64,
}

/// A second of one of a chaos test's background loads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoadWindow {
    /// The chaos test's id.
    pub test_id: String,
    /// Which of the test's background loads, from 0.
    pub load: usize,
    /// The second's figures.
    pub window: Window,
}

/// A chaos test's fault moments, in ms since its background load started.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaultTimes {
    /// The chaos test's id.
    pub test_id: String,
    /// The fault was requested.
    pub fault_at_ms: f64,
    /// The service's health passed again; unset until that is seen.
    pub recovered_at_ms: Option<f64>,
}

#[derive(Deserialize)]
struct RunStarted {
    tests: Vec<TestHeader>,
}

#[derive(Deserialize)]
struct TestStarted {
    test: TestHeader,
}

#[derive(Deserialize)]
struct TestFinished {
    result: Box<FinishedTest>,
}

#[derive(Deserialize)]
struct RunFinished {
    results: Box<FinishedRun>,
}

/// The `message` of an event of an unknown kind.
#[derive(Deserialize)]
struct Message {
    message: Option<String>,
}

impl LiveEvent {
    /// Reads a stored event; an error when its JSON does not read as its
    /// kind's.
    pub fn read(event: &StoredEvent) -> Result<LiveEvent, serde_json::Error> {
        let data = event.data.as_str();
        Ok(match event.kind.as_str() {
            "run_started" => LiveEvent::RunStarted(serde_json::from_str::<RunStarted>(data)?.tests),
            "test_started" => {
                LiveEvent::TestStarted(serde_json::from_str::<TestStarted>(data)?.test)
            }
            "window" => LiveEvent::Window(serde_json::from_str(data)?),
            "load_window" => LiveEvent::LoadWindow(serde_json::from_str(data)?),
            "fault_times" => LiveEvent::FaultTimes(serde_json::from_str(data)?),
            "test_finished" => {
                LiveEvent::TestFinished(serde_json::from_str::<TestFinished>(data)?.result)
            }
            "run_finished" => {
                LiveEvent::RunFinished(serde_json::from_str::<RunFinished>(data)?.results)
            }
            STATUS => LiveEvent::Status(serde_json::from_str(data)?),
            EVIDENCE => LiveEvent::Evidence(serde_json::from_str(data)?),
            END => LiveEvent::End,
            kind => {
                serde_json::from_str::<IgnoredAny>(data)?;
                let message = serde_json::from_str::<Message>(data).ok();
                match message.and_then(|m| m.message) {
                    Some(message) => LiveEvent::Other(message),
                    None => LiveEvent::Other(format!("{kind}: {data}")),
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "live_event_tests.rs"]
mod tests;
