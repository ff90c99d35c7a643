//! The live view of a run, rebuilt from its numbered events: per-test
//! progress and latest figures, per-second windows for the charts, the
//! health lanes and fault markers of the recovery timeline, the status and
//! verdict, and an event log. Each stored event is decoded into a typed
//! [`RunEvent`] and handed to the handler of its kind. Pure functions over
//! data, so the same code runs on the server (first render) and in the
//! browser (each event as it arrives), and is tested natively.

use crate::charts::{self, Band, Chart, Health, Lane, Marker, MarkerKind, Span};
use engine::events::{ProgressEvent, TestHeader};
use engine::metrics::{LatencySummary, TestMetrics, Window};
use engine::results::{CriterionOutcome, RunResults, TestResult, TestStatus};
use engine::run::{RunStatus, StoredEvent, Verdict};
use engine::run_event::{RunEvent, StatusChange};
use std::collections::BTreeMap;
use std::fmt;

/// Where a test is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TestState {
    /// Not started yet.
    #[default]
    Waiting,
    /// Running now.
    Running,
    /// Over, with its result's status.
    Done(TestStatus),
}

impl TestState {
    /// `waiting`, `running`, or the result's status (`PASS`, `FAIL`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TestState::Waiting => "waiting",
            TestState::Running => "running",
            TestState::Done(status) => status.as_str(),
        }
    }

    /// Whether the test is over.
    pub fn is_done(self) -> bool {
        matches!(self, TestState::Done(_))
    }
}

impl fmt::Display for TestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One test as the live page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveTest {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// Operations the test will do, when known in advance.
    pub planned: Option<u64>,
    /// Planned length in seconds, for duration-based tests.
    pub duration_s: Option<u32>,
    /// Operations finished so far.
    pub done: u64,
    /// Of those, failed.
    pub failed: u64,
    pub state: TestState,
    /// Every second seen so far, one window per second (a later report of
    /// a second replaces the earlier one).
    pub windows: Vec<Window>,
    /// The whole test's figures, once it has finished and measured any.
    pub summary: Option<Summary>,
    /// A chaos test's background load: its seconds and the fault's
    /// moments while it runs, its windows once it has ended.
    pub fault_load: Option<charts::FaultLoad>,
}

/// A finished test's figures over its whole length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Operations per second over the test's length.
    pub rate: f64,
    /// Latency of its operations (requests, jobs, sessions and exports).
    pub latency: LatencySummary,
}

/// Test kinds that check something once: no operation count to follow.
const CHECK_KINDS: [&str; 3] = ["assert", "storage_probe", "health"];

/// Rate, p50 and p95 as the tests table shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Operations per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
}

impl LiveTest {
    /// A test announced at the run's start.
    fn waiting(header: &TestHeader) -> Self {
        LiveTest {
            id: header.id.clone(),
            title: header.title.clone(),
            kind: header.kind.clone(),
            planned: header.planned,
            duration_s: header.duration_s,
            ..LiveTest::default()
        }
    }

    /// Progress from 0 to 1, when it can be known. Chaos tests and checks
    /// report nothing until they end, so theirs is unknown while they run.
    pub fn progress(&self) -> Option<f64> {
        if self.state.is_done() {
            return Some(1.0);
        }
        if self.is_check() || self.kind == "chaos" {
            return (self.state == TestState::Waiting).then_some(0.0);
        }
        if let Some(planned) = self.planned.filter(|p| *p > 0) {
            return Some((self.done as f64 / planned as f64).min(1.0));
        }
        let duration = f64::from(self.duration_s.filter(|d| *d > 0)?);
        Some((self.windows.len() as f64 / duration).min(1.0))
    }

    /// The most recent second.
    pub fn last_window(&self) -> Option<&Window> {
        self.windows.last()
    }

    /// Whether the test checks something once (assert, storage probe,
    /// health) rather than counting operations.
    pub fn is_check(&self) -> bool {
        CHECK_KINDS.contains(&self.kind.as_str())
    }

    /// What the Progress column says: operations done of those planned for
    /// load tests, runs ended of those started for chaos tests (known when
    /// the test ends), and only whether it is done for a check.
    pub fn progress_text(&self) -> String {
        if self.is_check() {
            return match self.state {
                TestState::Waiting => String::new(),
                TestState::Running => "checking".to_owned(),
                TestState::Done(_) => "done".to_owned(),
            };
        }
        if self.kind == "chaos" {
            let planned = self.planned.map(|p| format!(" / {p}")).unwrap_or_default();
            return match self.state {
                TestState::Waiting => String::new(),
                TestState::Running => match self.planned {
                    Some(p) => format!("{p} runs under way"),
                    None => "runs under way".to_owned(),
                },
                TestState::Done(_) => format!("{}{planned} runs ended", self.done),
            };
        }
        match (self.state, self.planned) {
            (TestState::Waiting, _) => String::new(),
            (_, Some(planned)) => format!("{} / {planned}", self.done),
            (_, None) if self.state.is_done() || self.done > 0 => self.done.to_string(),
            _ => String::new(),
        }
    }

    /// Rate, p50 and p95: the whole test's once it has finished, else its
    /// latest second's; `None` when it measured no latency.
    pub fn figures(&self) -> Option<Figures> {
        if let Some(s) = self.summary.as_ref().filter(|s| s.latency.count > 0) {
            return Some(Figures {
                rate: s.rate,
                p50_ms: s.latency.p50_ms,
                p95_ms: s.latency.p95_ms,
            });
        }
        self.last_window().filter(|w| w.count > 0).map(|w| Figures {
            rate: w.count as f64,
            p50_ms: w.p50_ms,
            p95_ms: w.p95_ms,
        })
    }

    /// Changes whenever anything the tests table shows of this test
    /// changes (the table's row key).
    pub fn row_key(&self) -> (String, &'static str, u64, u64, usize, u64, u64, bool) {
        let last = self.last_window();
        (
            self.id.clone(),
            self.state.as_str(),
            self.done,
            self.failed,
            self.windows.len(),
            last.map_or(0, |w| w.count),
            last.map_or(0, |w| w.p95_ms.to_bits()),
            self.summary.is_some(),
        )
    }

    /// Records a second's window, replacing an earlier report of the same
    /// second (jobs and streams report a second again as its operations
    /// end), keeping seconds in order.
    fn put_window(&mut self, window: Window) {
        match self
            .windows
            .binary_search_by_key(&window.second, |w| w.second)
        {
            Ok(i) => self.windows[i] = window,
            Err(i) => self.windows.insert(i, window),
        }
    }
}

/// A finished test's whole-length figures, for kinds that measure latency.
fn summary(result: &TestResult) -> Option<Summary> {
    let latency = charts::build::latency_of(result.metrics.as_ref())?;
    let seconds = (result.finished_at_ms - result.started_at_ms) as f64 / 1000.0;
    let total = result.tally().map_or(latency.count, |t| t.total());
    Some(Summary {
        rate: if seconds > 0.0 {
            total as f64 / seconds
        } else {
            0.0
        },
        latency: latency.clone(),
    })
}

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
        let Ok(decoded) = event.event() else {
            return;
        };
        let at = Stamp {
            seq: event.seq,
            at_ms: event.at_ms,
        };
        match decoded {
            RunEvent::Progress(progress) => self.on_progress(at, progress),
            RunEvent::Status(change) => self.on_status(at, change),
            RunEvent::Evidence(note) => self.log(at, note.message),
            RunEvent::End(_) => self.ended = true,
            // Kinds added later (restarts, health changes) still show.
            RunEvent::Other(other) => self.log(at, other.text()),
        }
    }

    fn on_progress(&mut self, at: Stamp, event: ProgressEvent) {
        match event {
            ProgressEvent::RunStarted { tests, .. } => self.on_run_started(at, &tests),
            ProgressEvent::TestStarted { test } => self.on_test_started(at, &test.id),
            ProgressEvent::Window {
                test_id,
                window,
                done,
                failed,
            } => {
                if let Some(test) = self.test_mut(&test_id) {
                    test.put_window(window);
                    test.done = done;
                    test.failed = failed;
                }
            }
            ProgressEvent::LoadWindow {
                test_id,
                load,
                window,
                ..
            } => {
                if let Some(test) = self.test_mut(&test_id) {
                    let fault_load = test.fault_load.get_or_insert_with(Default::default);
                    fault_load.put_window(load, window);
                }
            }
            ProgressEvent::FaultTimes {
                test_id,
                fault_at_ms,
                recovered_at_ms,
            } => {
                if let Some(test) = self.test_mut(&test_id) {
                    let fault_load = test.fault_load.get_or_insert_with(Default::default);
                    fault_load.set_times(fault_at_ms, recovered_at_ms);
                }
            }
            ProgressEvent::TestFinished { result } => self.on_test_finished(at, &result),
            ProgressEvent::RunFinished { results } => self.on_run_finished(at, &results),
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

    fn on_test_finished(&mut self, at: Stamp, result: &TestResult) {
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
        if let Some(load) = charts::fault_load::load_of(result.metrics.as_ref()) {
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

    fn on_run_finished(&mut self, at: Stamp, results: &RunResults) {
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
    fn add_recovery(&mut self, result: &TestResult) {
        if let Some(origin) = self.origin_ms {
            let (lanes, markers) = charts::fault_lanes(&result.faults, origin);
            for lane in lanes {
                self.add_spans(&lane.name, lane.spans);
            }
            self.markers.extend(markers);
            self.fault_bands
                .extend(charts::fault_bands(&result.faults, origin));
        }
        let Some(TestMetrics::Health(health)) = &result.metrics else {
            return;
        };
        let start = self.since_origin(result.started_at_ms);
        let end = self
            .since_origin(result.finished_at_ms)
            .max(start + MIN_PROBE_SPAN_S);
        for d in &health.dependencies {
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
