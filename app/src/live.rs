//! The live view of a run, rebuilt from its numbered events: per-test
//! progress and latest figures, per-second windows for the charts, the
//! status and verdict, and an event log. Pure functions over data, so the
//! same code runs on the server (first render) and in the browser (each
//! event as it arrives), and is tested natively.

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
}

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
                self.log
                    .push(log(format!("{} tests planned", self.tests.len())));
            }
            "test_started" => {
                let id = data
                    .pointer("/test/id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                if let Some(test) = self.test_mut(id) {
                    test.state = "running".to_owned();
                    let text = format!("{} started: {}", test.id, test.title);
                    self.log.push(log(text));
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
