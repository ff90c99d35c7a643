//! The live view of a run, rebuilt from its numbered events: per-test
//! progress and latest figures, per-second windows for the charts, the
//! health lanes and fault markers of the recovery timeline, the status and
//! verdict, and an event log. Each stored event is decoded into a typed
//! [`LiveEvent`] (the page's view of a `RunEvent`: a finished test's result
//! and a run's results read only as far as the page shows them) and handed
//! to the handler of its kind. Pure functions over
//! data, so the same code runs on the server (first render) and in the
//! browser (each event as it arrives), and is tested natively.

use crate::charts::{self, Band, Chart, Health, Lane, Marker, MarkerKind, Span};
use engine::events::TestHeader;
use engine::metrics::Window;
use engine::results::CriterionOutcome;
use engine::run::{RunStatus, StoredEvent, Verdict};
use engine::run_event::StatusChange;
use engine::view::finished::{FinishedRun, FinishedTest};
use engine::view::live_event::{LiveEvent, TestWindow};
use std::collections::BTreeMap;

mod live_test;

use live_test::summary;
pub use live_test::{Figures, LiveTest, Summary, TestState};

/// One line of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub seq: i64,
    pub at_ms: i64,
    pub text: String,
}

/// Everything the live page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveRun {
    pub status: Option<RunStatus>,
    pub verdict: Option<Verdict>,
    pub error: Option<String>,
    /// Tests in plan order.
    pub tests: Vec<LiveTest>,
    pub log: Vec<LogLine>,
    /// Sequence number of the last event applied.
    pub last_seq: i64,
    /// The stream's final event arrived.
    pub ended: bool,
    /// When the run started (Unix ms): the recovery timeline's zero.
    pub origin_ms: Option<i64>,
    /// The run has a chaos or health test, so a recovery timeline is due.
    pub recovery_expected: bool,
    /// Health per service seen so far: one lane per service.
    pub lanes: Vec<Lane>,
    /// Chaos tests started, faults injected, recoveries seen.
    pub markers: Vec<Marker>,
    /// Network faults' windows, from injection to removal.
    pub fault_bands: Vec<Band>,
}

/// Test kinds whose results feed the recovery timeline.
const RECOVERY_KINDS: [&str; 2] = ["chaos", "health"];

/// Shortest span drawn for a health answer (a probe takes milliseconds,
/// too thin to see), in seconds.
const MIN_PROBE_SPAN_S: f64 = 0.25;

/// Where an event sits in the stream: its number and when it was recorded.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    seq: i64,
    at_ms: i64,
}

impl LiveRun {
    /// Builds the view from events already stored.
    pub fn from_events(events: &[StoredEvent]) -> Self {
        let mut live = LiveRun::default();
        for event in events {
            live.apply(event);
        }
        live
    }

    /// Applies one event; events at or below `last_seq` are ignored, so a
    /// replay after a reconnection never counts anything twice. An event
    /// that cannot be read is skipped.
    pub fn apply(&mut self, event: &StoredEvent) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        let Ok(decoded) = LiveEvent::read(event) else {
            return;
        };
        let at = Stamp {
            seq: event.seq,
            at_ms: event.at_ms,
        };
        match decoded {
            LiveEvent::RunStarted(tests) => self.on_run_started(at, &tests),
            LiveEvent::TestStarted(test) => self.on_test_started(at, &test.id),
            LiveEvent::Window(second) => self.on_window(second),
            LiveEvent::LoadWindow(second) => {
                if let Some(test) = self.test_mut(&second.test_id) {
                    let fault_load = test.fault_load.get_or_insert_with(Default::default);
                    fault_load.put_window(second.load, second.window);
                }
            }
            LiveEvent::FaultTimes(times) => {
                if let Some(test) = self.test_mut(&times.test_id) {
                    let fault_load = test.fault_load.get_or_insert_with(Default::default);
                    fault_load.set_times(times.fault_at_ms, times.recovered_at_ms);
                }
            }
            LiveEvent::TestFinished(result) => self.on_test_finished(at, &result),
            LiveEvent::RunFinished(results) => self.on_run_finished(at, &results),
            LiveEvent::Status(change) => self.on_status(at, change),
            LiveEvent::Evidence(note) => self.log(at, note.message),
            LiveEvent::End => self.ended = true,
            // Kinds added later (restarts, health changes) still show.
            LiveEvent::Other(text) => self.log(at, text),
        }
    }

    fn on_window(&mut self, second: TestWindow) {
        if let Some(test) = self.test_mut(&second.test_id) {
            test.put_window(second.window);
            test.done = second.done;
            test.failed = second.failed;
        }
    }

    fn on_status(&mut self, at: Stamp, change: StatusChange) {
        self.status = Some(change.status);
        self.verdict = change.verdict.or(self.verdict);
        if change.error.is_some() {
            self.error.clone_from(&change.error);
        }
        let mut text = format!("run {}", change.status);
        if let Some(v) = change.verdict {
            text.push_str(&format!(": {v}"));
        }
        if let Some(e) = change.error {
            text.push_str(&format!(" ({e})"));
        }
        self.log(at, text);
    }

    fn on_run_started(&mut self, at: Stamp, tests: &[TestHeader]) {
        self.tests = tests.iter().map(LiveTest::waiting).collect();
        self.origin_ms = Some(at.at_ms);
        self.recovery_expected = self
            .tests
            .iter()
            .any(|t| RECOVERY_KINDS.contains(&t.kind.as_str()));
        let text = format!("{} tests planned", self.tests.len());
        self.log(at, text);
    }

    fn on_test_started(&mut self, at: Stamp, id: &str) {
        let x = self.since_origin(at.at_ms);
        let Some(test) = self.test_mut(id) else {
            return;
        };
        test.state = TestState::Running;
        let text = format!("{} started: {}", test.id, test.title);
        let chaos = test.kind == "chaos";
        let marker = Marker {
            x,
            label: format!("{} started", test.id),
            kind: MarkerKind::Note,
        };
        self.log(at, text);
        if chaos {
            self.markers.push(marker);
        }
    }

    fn on_test_finished(&mut self, at: Stamp, result: &FinishedTest) {
        if RECOVERY_KINDS.contains(&result.kind.as_str()) {
            self.add_recovery(result);
        }
        let Some(test) = self.test_mut(&result.id) else {
            return;
        };
        test.state = TestState::Done(result.status);
        // The result's counts and windows are final: a test shorter than
        // a second sent no window while it ran, and jobs report a second
        // only once its jobs have ended.
        if let Some(tally) = result.tally() {
            test.done = tally.total();
            test.failed = tally.failed;
        }
        if !result.windows.is_empty() {
            test.windows.clone_from(&result.windows);
        }
        test.summary = summary(result);
        if let Some(load) = result.metrics.as_ref().and_then(|m| m.load_through_fault()) {
            test.fault_load
                .get_or_insert_with(Default::default)
                .finish(load);
        }
        let mut text = format!("{} finished: {}", result.id, result.status.as_str());
        if let Some(e) = &result.error {
            text.push_str(&format!(" ({e})"));
        }
        self.log(at, text);
    }

    fn on_run_finished(&mut self, at: Stamp, results: &FinishedRun) {
        for c in &results.criteria {
            let actual = c
                .actual_text
                .clone()
                .or_else(|| c.actual.map(|a| a.to_string()))
                .map(|a| format!(" (actual {a})"))
                .unwrap_or_default();
            let held = match c.outcome() {
                CriterionOutcome::Pass => "held",
                CriterionOutcome::Warn => "held with a warning (WARN)",
                CriterionOutcome::Fail => "FAILED",
                CriterionOutcome::NoBaseline => "NO BASELINE to compare with",
            };
            self.log(at, format!("criterion {}: {held}{actual}", c.expr));
        }
        // Results carry the final status of each test.
        for result in &results.tests {
            if let Some(test) = self.test_mut(&result.id) {
                test.state = TestState::Done(result.status);
            }
        }
    }

    fn log(&mut self, at: Stamp, text: String) {
        self.log.push(LogLine {
            seq: at.seq,
            at_ms: at.at_ms,
            text,
        });
    }

    fn test_mut(&mut self, id: &str) -> Option<&mut LiveTest> {
        self.tests.iter_mut().find(|t| t.id == id)
    }

    /// Seconds since the run started.
    fn since_origin(&self, at_ms: i64) -> f64 {
        (at_ms - self.origin_ms.unwrap_or(at_ms)) as f64 / 1000.0
    }

    /// Adds spans to the service's lane (a new lane for a new service).
    fn add_spans(&mut self, name: &str, spans: Vec<Span>) {
        match self.lanes.iter_mut().find(|l| l.name == name) {
            Some(lane) => lane.spans.extend(spans),
            None => self.lanes.push(Lane {
                name: name.to_owned(),
                spans,
            }),
        }
    }

    /// What a finished chaos or health test adds to the recovery timeline:
    /// each fault's probes and markers, or each dependency's answer.
    fn add_recovery(&mut self, result: &FinishedTest) {
        if let Some(origin) = self.origin_ms {
            let (lanes, markers) = charts::fault_lanes(&result.faults, origin);
            for lane in lanes {
                self.add_spans(&lane.name, lane.spans);
            }
            self.markers.extend(markers);
            self.fault_bands
                .extend(charts::fault_bands(&result.faults, origin));
        }
        let dependencies = result.dependencies();
        if dependencies.is_empty() {
            return;
        }
        let start = self.since_origin(result.started_at_ms);
        let end = self
            .since_origin(result.finished_at_ms)
            .max(start + MIN_PROBE_SPAN_S);
        for d in dependencies {
            let health = if d.healthy { Health::Up } else { Health::Down };
            self.add_spans(&d.name, vec![Span { start, end, health }]);
        }
    }

    /// The recovery timeline so far; `None` before anything is known.
    pub fn recovery_chart(&self) -> Option<Chart> {
        (!self.lanes.is_empty() || !self.markers.is_empty()).then(|| {
            let mut chart = charts::recovery_timeline(
                "Recovery timeline (health per service)",
                self.lanes.clone(),
                self.markers.clone(),
            );
            chart.bands = self.fault_bands.clone();
            chart
        })
    }
}

/// Windows of every test, keyed by test id (for choosing a chart).
pub fn windows_by_test(live: &LiveRun) -> BTreeMap<String, Vec<Window>> {
    live.tests
        .iter()
        .map(|t| (t.id.clone(), t.windows.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
