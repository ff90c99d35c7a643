//! The live view of a run, rebuilt from its numbered events: per-test
//! progress and latest figures, per-second windows for the charts, the
//! health lanes and fault markers of the recovery timeline, the status and
//! verdict, and an event log. Pure functions over data, so the
//! same code runs on the server (first render) and in the browser (each
//! event as it arrives), and is tested natively.

use crate::charts::{self, Chart, Health, Lane, Marker, MarkerKind, Span};
use engine::metrics::resilience::{DependencyStatus, FaultEvidence};
use engine::metrics::Window;
use engine::run::{RunStatus, StoredEvent, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// `waiting`, `running`, or the result's status (`PASS`, `FAIL`, …).
    pub state: String,
    /// Every second completed so far.
    pub windows: Vec<Window>,
}

impl LiveTest {
    /// Progress from 0 to 1, when it can be known.
    pub fn progress(&self) -> Option<f64> {
        if self.state != "waiting" && self.state != "running" {
            return Some(1.0);
        }
        if let Some(planned) = self.planned.filter(|p| *p > 0) {
            return Some((self.done as f64 / planned as f64).min(1.0));
        }
        let duration = f64::from(self.duration_s.filter(|d| *d > 0)?);
        Some((self.windows.len() as f64 / duration).min(1.0))
    }

    /// The most recent complete second.
    pub fn last_window(&self) -> Option<&Window> {
        self.windows.last()
    }
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
}

/// Test kinds whose results feed the recovery timeline.
const RECOVERY_KINDS: [&str; 2] = ["chaos", "health"];

/// Shortest span drawn for a health answer (a probe takes milliseconds,
/// too thin to see), in seconds.
const MIN_PROBE_SPAN_S: f64 = 0.25;

#[derive(Deserialize)]
struct Header {
    id: String,
    title: String,
    kind: String,
    planned: Option<u64>,
    duration_s: Option<u32>,
}

#[derive(Deserialize)]
struct StatusData {
    status: RunStatus,
    verdict: Option<Verdict>,
    error: Option<String>,
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
    fn add_recovery(&mut self, result: &serde_json::Value) {
        let faults: Vec<FaultEvidence> = result
            .get("faults")
            .cloned()
            .and_then(|f| serde_json::from_value(f).ok())
            .unwrap_or_default();
        if let Some(origin) = self.origin_ms {
            let (lanes, markers) = charts::fault_lanes(&faults, origin);
            for lane in lanes {
                self.add_spans(&lane.name, lane.spans);
            }
            self.markers.extend(markers);
        }
        let dependencies: Vec<DependencyStatus> = result
            .pointer("/metrics/dependencies")
            .cloned()
            .and_then(|d| serde_json::from_value(d).ok())
            .unwrap_or_default();
        let at = |name: &str| result.get(name).and_then(|v| v.as_i64());
        if let (Some(started), Some(finished)) = (at("started_at_ms"), at("finished_at_ms")) {
            let start = self.since_origin(started);
            let end = self.since_origin(finished).max(start + MIN_PROBE_SPAN_S);
            for d in dependencies {
                let health = if d.healthy { Health::Up } else { Health::Down };
                self.add_spans(&d.name, vec![Span { start, end, health }]);
            }
        }
    }

    /// The recovery timeline so far; `None` before anything is known.
    pub fn recovery_chart(&self) -> Option<Chart> {
        (!self.lanes.is_empty() || !self.markers.is_empty()).then(|| {
            charts::recovery_timeline(
                "Recovery timeline (health per service)",
                self.lanes.clone(),
                self.markers.clone(),
            )
        })
    }

    /// Applies one event; events at or below `last_seq` are ignored, so a
    /// replay after a reconnection never counts anything twice.
    pub fn apply(&mut self, event: &StoredEvent) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        let Ok(data) = serde_json::from_str::<serde_json::Value>(&event.data) else {
            return;
        };
        let log = |text: String| LogLine {
            seq: event.seq,
            at_ms: event.at_ms,
            text,
        };
        match event.kind.as_str() {
            "status" => {
                if let Ok(s) = serde_json::from_value::<StatusData>(data) {
                    self.status = Some(s.status);
                    self.verdict = s.verdict.or(self.verdict);
                    if s.error.is_some() {
                        self.error = s.error.clone();
                    }
                    let mut text = format!("run {}", s.status);
                    if let Some(v) = s.verdict {
                        text.push_str(&format!(": {v}"));
                    }
                    if let Some(e) = s.error {
                        text.push_str(&format!(" ({e})"));
                    }
                    self.log.push(log(text));
                }
            }
            "run_started" => {
                let headers: Vec<Header> = data
                    .get("tests")
                    .cloned()
                    .and_then(|t| serde_json::from_value(t).ok())
                    .unwrap_or_default();
                self.tests = headers
                    .into_iter()
                    .map(|h| LiveTest {
                        id: h.id,
                        title: h.title,
                        kind: h.kind,
                        planned: h.planned,
                        duration_s: h.duration_s,
                        state: "waiting".to_owned(),
                        ..LiveTest::default()
                    })
                    .collect();
                self.origin_ms = Some(event.at_ms);
                self.recovery_expected = self
                    .tests
                    .iter()
                    .any(|t| RECOVERY_KINDS.contains(&t.kind.as_str()));
                self.log
                    .push(log(format!("{} tests planned", self.tests.len())));
            }
            "test_started" => {
                let id = data
                    .pointer("/test/id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let x = self.since_origin(event.at_ms);
                if let Some(test) = self.test_mut(id) {
                    test.state = "running".to_owned();
                    let text = format!("{} started: {}", test.id, test.title);
                    let chaos = test.kind == "chaos";
                    let marker = Marker {
                        x,
                        label: format!("{} started", test.id),
                        kind: MarkerKind::Note,
                    };
                    self.log.push(log(text));
                    if chaos {
                        self.markers.push(marker);
                    }
                }
            }
            "window" => {
                let id = data
                    .get("test_id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let window = data
                    .get("window")
                    .cloned()
                    .and_then(|w| serde_json::from_value::<Window>(w).ok());
                let done = data.get("done").and_then(|v| v.as_u64());
                let failed = data.get("failed").and_then(|v| v.as_u64());
                if let Some(test) = self.test_mut(&id) {
                    if let Some(window) = window {
                        test.windows.push(window);
                    }
                    test.done = done.unwrap_or(test.done);
                    test.failed = failed.unwrap_or(test.failed);
                }
            }
            "test_finished" => {
                let id = data
                    .pointer("/result/id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let status = data
                    .pointer("/result/status")
                    .and_then(|v| v.as_str())
                    .unwrap_or("done")
                    .to_owned();
                let error = data
                    .pointer("/result/error")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                // The result has the final counts; windows only cover whole
                // seconds.
                let count = |name: &str| {
                    data.pointer(&format!("/result/metrics/{name}"))
                        .and_then(|v| v.as_u64())
                };
                let counts = count("ok").zip(count("fail"));
                let kind = data
                    .pointer("/result/kind")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                if RECOVERY_KINDS.contains(&kind) {
                    if let Some(result) = data.get("result") {
                        self.add_recovery(result);
                    }
                }
                if let Some(test) = self.test_mut(&id) {
                    test.state = status.clone();
                    if let Some((ok, fail)) = counts {
                        test.done = ok + fail;
                        test.failed = fail;
                    }
                    let mut text = format!("{id} finished: {status}");
                    if let Some(e) = error {
                        text.push_str(&format!(" ({e})"));
                    }
                    self.log.push(log(text));
                }
            }
            "run_finished" => {
                if let Some(criteria) = data.pointer("/results/criteria").and_then(|c| c.as_array())
                {
                    for c in criteria {
                        let expr = c.get("expr").and_then(|v| v.as_str()).unwrap_or_default();
                        let passed = c.get("passed").and_then(|v| v.as_bool()).unwrap_or(false);
                        let actual = c
                            .get("actual")
                            .and_then(|v| v.as_f64())
                            .map(|a| format!(" (actual {a})"))
                            .unwrap_or_default();
                        self.log.push(log(format!(
                            "criterion {expr}: {}{actual}",
                            if passed { "held" } else { "FAILED" }
                        )));
                    }
                }
                // Results carry the final status of each test.
                if let Some(tests) = data.pointer("/results/tests").and_then(|t| t.as_array()) {
                    for t in tests {
                        let id = t
                            .get("id")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        let status = t.get("status").and_then(|v| v.as_str()).map(str::to_owned);
                        if let (Some(test), Some(status)) = (self.test_mut(&id), status) {
                            test.state = status;
                        }
                    }
                }
            }
            "end" => self.ended = true,
            other => {
                // Kinds added later (restarts, health changes) still show.
                let text = data
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{other}: {data}"));
                self.log.push(log(text));
            }
        }
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
mod tests {
    use super::*;

    fn ev(seq: i64, kind: &str, data: serde_json::Value) -> StoredEvent {
        StoredEvent {
            seq,
            at_ms: 1_000 * seq,
            kind: kind.into(),
            data: data.to_string(),
        }
    }

    fn window(second: u32) -> serde_json::Value {
        serde_json::json!({"second": second, "count": 10, "errors": 1, "p50_ms": 5.0, "p95_ms": 9.0, "p99_ms": 12.0, "max_ms": 20.0})
    }

    fn events() -> Vec<StoredEvent> {
        vec![
            ev(
                1,
                "status",
                serde_json::json!({"status": "queued", "verdict": null, "error": null}),
            ),
            ev(
                2,
                "status",
                serde_json::json!({"status": "running", "verdict": null, "error": null}),
            ),
            ev(
                3,
                "run_started",
                serde_json::json!({"event": "run_started", "run_id": "r", "plan": "p", "environment": "e",
                "tests": [{"index": 0, "id": "L1", "title": "Load", "kind": "http_load", "planned": 60, "duration_s": null},
                          {"index": 1, "id": "G1", "title": "Graph", "kind": "assert", "planned": 1, "duration_s": null}]}),
            ),
            ev(
                4,
                "test_started",
                serde_json::json!({"test": {"index": 0, "id": "L1", "title": "Load", "kind": "http_load", "planned": 60, "duration_s": null}}),
            ),
            ev(
                5,
                "window",
                serde_json::json!({"test_id": "L1", "window": window(0), "done": 30, "failed": 1}),
            ),
            ev(
                6,
                "window",
                serde_json::json!({"test_id": "L1", "window": window(1), "done": 60, "failed": 2}),
            ),
            ev(
                7,
                "test_finished",
                serde_json::json!({"result": {"id": "L1", "status": "PASS", "metrics": {"kind": "http_load", "ok": 58, "fail": 2}}}),
            ),
            ev(
                8,
                "restart",
                serde_json::json!({"message": "worker restarted: pid 10 → 11"}),
            ),
            ev(
                9,
                "status",
                serde_json::json!({"status": "finished", "verdict": "NO-GO", "error": null}),
            ),
            ev(10, "end", serde_json::json!({})),
        ]
    }

    #[test]
    fn events_build_progress_figures_and_log() {
        let all = events();
        let partial = LiveRun::from_events(&all[..5]);
        assert_eq!(partial.status, Some(RunStatus::Running));
        assert_eq!(partial.tests.len(), 2);
        assert_eq!(partial.tests[0].state, "running");
        assert_eq!(partial.tests[0].progress(), Some(0.5));
        assert_eq!(partial.tests[1].state, "waiting");
        assert_eq!(partial.tests[0].last_window().unwrap().p95_ms, 9.0);

        let live = LiveRun::from_events(&all);
        assert_eq!(live.verdict, Some(Verdict::NoGo));
        assert_eq!(live.tests[0].windows.len(), 2);
        assert_eq!(live.tests[0].failed, 2);
        assert_eq!(live.tests[0].done, 60);
        assert_eq!(live.tests[0].state, "PASS");
        assert!(live.ended);
        assert!(live
            .log
            .iter()
            .any(|l| l.text == "worker restarted: pid 10 → 11"));
        assert!(live.log.iter().any(|l| l.text == "run finished: NO-GO"));
    }

    #[test]
    fn chaos_and_health_results_build_the_recovery_timeline() {
        let fault = serde_json::json!({
            "service": "worker", "method": "process", "called": "restart", "answer": "ok",
            "call_ok": true, "requested_at_ms": 5_000, "restart_observed": true,
            "observation": "pid 1 -> 2", "recovery_ms": 2_000,
            "timeline": [
                {"at_ms": 0, "healthy": true}, {"at_ms": 500, "healthy": false},
                {"at_ms": 2_000, "healthy": true}, {"at_ms": 2_100, "healthy": true}
            ]
        });
        let all = vec![
            ev(
                3,
                "run_started",
                serde_json::json!({"tests": [
                    {"index": 0, "id": "C1", "title": "Restart", "kind": "chaos", "planned": null, "duration_s": 5},
                    {"index": 1, "id": "H1", "title": "Health", "kind": "health", "planned": 1, "duration_s": null}]}),
            ),
            ev(
                4,
                "test_started",
                serde_json::json!({"test": {"index": 0, "id": "C1", "title": "Restart", "kind": "chaos", "planned": null, "duration_s": 5}}),
            ),
            ev(
                5,
                "test_finished",
                serde_json::json!({"result": {"id": "C1", "kind": "chaos", "status": "PASS", "faults": [fault]}}),
            ),
            ev(
                6,
                "test_finished",
                serde_json::json!({"result": {"id": "H1", "kind": "health", "status": "PASS",
                    "started_at_ms": 9_000, "finished_at_ms": 9_010,
                    "metrics": {"kind": "health", "dependencies": [
                        {"name": "database", "status": "ok", "healthy": true, "latency_ms": 1.0},
                        {"name": "queue", "status": "down", "healthy": false, "latency_ms": null}]}}}),
            ),
        ];
        let started = LiveRun::from_events(&all[..2]);
        assert!(started.recovery_expected);
        let only_start = started.recovery_chart().unwrap();
        assert_eq!(only_start.markers.len(), 1);
        assert_eq!(only_start.markers[0].label, "C1 started");
        assert_eq!(only_start.markers[0].x, 1.0);

        let live = LiveRun::from_events(&all);
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
}
