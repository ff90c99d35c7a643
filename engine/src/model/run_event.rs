//! The events of a web-launched run, one typed protocol end to end: the
//! run's sink produces [`RunEvent`]s, the event writer numbers and stores
//! each as a [`StoredEvent`] (its kind word and its JSON), the server
//! streams those over SSE, and the live page decodes them back into
//! [`RunEvent`]s to match on.
//!
//! Each kind's JSON is the one earlier versions stored (the progress
//! events keep their `event` tag), so runs stored before still replay and
//! the stored and SSE formats stay as they were.

use crate::events::ProgressEvent;
use crate::run::{RunStatus, StoredEvent, Verdict};
use serde::{Deserialize, Serialize};

/// The kind of a [`RunEvent::Status`].
pub const STATUS: &str = "status";
/// The kind of a [`RunEvent::Evidence`].
pub const EVIDENCE: &str = "evidence";
/// The kind of a [`RunEvent::End`]: the last event of a run's stream.
pub const END: &str = "end";

/// Something a live page learns about a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The engine's progress (`run_started`, `test_started`, `window`,
    /// `test_finished`, `run_finished`), with the server's run id.
    Progress(ProgressEvent),
    /// The run's status changed (`status`).
    Status(StatusChange),
    /// The run's evidence pack was written, or could not be (`evidence`).
    Evidence(EvidenceNote),
    /// The run's stream is over (`end`).
    End(StreamEnd),
    /// A kind this version does not know, kept so the event log can still
    /// show it.
    Other(OtherEvent),
}

/// A run's new status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The run's id.
    #[serde(default)]
    pub run_id: String,
    /// Its status now.
    pub status: RunStatus,
    /// Its verdict, once it has one.
    pub verdict: Option<Verdict>,
    /// Why it stopped or could not run, when it did.
    pub error: Option<String>,
}

/// What became of the run's evidence pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceNote {
    /// One line for the event log.
    pub message: String,
    /// The pack's version, when it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// sha256 of its manifest, when it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

/// The end of a run's stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// The run's id.
    #[serde(default)]
    pub run_id: String,
}

/// An event of a kind this version does not know.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherEvent {
    /// Its kind word.
    pub kind: String,
    /// Its JSON.
    pub data: serde_json::Value,
}

impl OtherEvent {
    /// Its `message`, else its kind and JSON.
    pub fn text(&self) -> String {
        match self.data.get("message").and_then(|m| m.as_str()) {
            Some(message) => message.to_owned(),
            None => format!("{}: {}", self.kind, self.data),
        }
    }
}

impl RunEvent {
    /// A run's status changed.
    pub fn status(
        run_id: &str,
        status: RunStatus,
        verdict: Option<Verdict>,
        error: Option<String>,
    ) -> RunEvent {
        RunEvent::Status(StatusChange {
            run_id: run_id.to_owned(),
            status,
            verdict,
            error,
        })
    }

    /// A run's stream is over.
    pub fn end(run_id: &str) -> RunEvent {
        RunEvent::End(StreamEnd {
            run_id: run_id.to_owned(),
        })
    }

    /// Its kind word, as stored and streamed.
    pub fn kind(&self) -> &str {
        match self {
            RunEvent::Progress(event) => event.kind(),
            RunEvent::Status(_) => STATUS,
            RunEvent::Evidence(_) => EVIDENCE,
            RunEvent::End(_) => END,
            RunEvent::Other(other) => &other.kind,
        }
    }

    /// Its JSON, as stored and streamed.
    pub fn data(&self) -> String {
        let json = match self {
            RunEvent::Progress(event) => serde_json::to_string(event),
            RunEvent::Status(status) => serde_json::to_string(status),
            RunEvent::Evidence(note) => serde_json::to_string(note),
            RunEvent::End(end) => serde_json::to_string(end),
            RunEvent::Other(other) => Ok(other.data.to_string()),
        };
        // Plain data with string keys: serialising cannot fail.
        json.unwrap_or_default()
    }

    /// Reads an event back from its kind and JSON.
    pub fn decode(kind: &str, data: &str) -> Result<RunEvent, serde_json::Error> {
        Ok(match kind {
            STATUS => RunEvent::Status(serde_json::from_str(data)?),
            EVIDENCE => RunEvent::Evidence(serde_json::from_str(data)?),
            END => RunEvent::End(serde_json::from_str(data)?),
            kind if ProgressEvent::KINDS.contains(&kind) => {
                RunEvent::Progress(serde_json::from_str(data)?)
            }
            kind => RunEvent::Other(OtherEvent {
                kind: kind.to_owned(),
                data: serde_json::from_str(data)?,
            }),
        })
    }

    /// The event numbered `seq`, recorded at `at_ms`.
    pub fn stored(&self, seq: i64, at_ms: i64) -> StoredEvent {
        StoredEvent {
            seq,
            at_ms,
            kind: self.kind().to_owned(),
            data: self.data(),
        }
    }
}

impl StoredEvent {
    /// The event it holds.
    pub fn event(&self) -> Result<RunEvent, serde_json::Error> {
        RunEvent::decode(&self.kind, &self.data)
    }

    /// Whether it is the last event of its run's stream.
    pub fn is_end(&self) -> bool {
        self.kind == END
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::TestHeader;
    use crate::metrics::Window;
    use serde_json::{json, Value};

    fn header() -> TestHeader {
        TestHeader {
            index: 0,
            id: "L1".into(),
            title: "Load".into(),
            kind: "http_load".into(),
            planned: Some(60),
            duration_s: None,
        }
    }

    fn json_of(event: &RunEvent) -> Value {
        serde_json::from_str(&event.data()).unwrap()
    }

    #[test]
    fn each_kind_keeps_the_json_earlier_versions_stored() {
        let status = RunEvent::status("r1", RunStatus::Finished, Some(Verdict::NoGo), None);
        assert_eq!(status.kind(), "status");
        assert_eq!(
            json_of(&status),
            json!({"run_id": "r1", "status": "finished", "verdict": "NO-GO", "error": null})
        );
        assert_eq!(RunEvent::end("r1").kind(), "end");
        assert_eq!(json_of(&RunEvent::end("r1")), json!({"run_id": "r1"}));
        let written = RunEvent::Evidence(EvidenceNote {
            message: "evidence pack v1 written".into(),
            version: Some(1),
            manifest_sha256: Some("ab".into()),
        });
        assert_eq!(
            json_of(&written),
            json!({"message": "evidence pack v1 written", "version": 1, "manifest_sha256": "ab"})
        );
        let failed = RunEvent::Evidence(EvidenceNote {
            message: "evidence pack NOT written: disk full".into(),
            version: None,
            manifest_sha256: None,
        });
        assert_eq!(
            json_of(&failed),
            json!({"message": "evidence pack NOT written: disk full"})
        );
        let started = RunEvent::Progress(ProgressEvent::TestStarted { test: header() });
        assert_eq!(started.kind(), "test_started");
        assert_eq!(
            json_of(&started),
            json!({"event": "test_started", "test": {"index": 0, "id": "L1", "title": "Load",
                "kind": "http_load", "planned": 60, "duration_s": null}})
        );
    }

    #[test]
    fn progress_kinds_are_their_event_tags() {
        let events = [
            ProgressEvent::RunStarted {
                run_id: "r".into(),
                plan: "p".into(),
                environment: "e".into(),
                tests: vec![header()],
            },
            ProgressEvent::TestStarted { test: header() },
            ProgressEvent::Window {
                test_id: "L1".into(),
                window: Window::default(),
                done: 3,
                failed: 1,
            },
        ];
        for event in events {
            let data = serde_json::to_value(&event).unwrap();
            assert_eq!(data["event"], event.kind());
            assert!(ProgressEvent::KINDS.contains(&event.kind()));
        }
    }

    #[test]
    fn stored_events_read_back_as_the_same_event() {
        let events = [
            RunEvent::status("r1", RunStatus::Queued, None, None),
            RunEvent::Progress(ProgressEvent::Window {
                test_id: "L1".into(),
                window: Window::default(),
                done: 30,
                failed: 1,
            }),
            RunEvent::end("r1"),
        ];
        for (seq, event) in (1..).zip(events) {
            let stored = event.stored(seq, 1_000);
            assert_eq!((stored.seq, stored.kind.as_str()), (seq, event.kind()));
            assert_eq!(stored.event().unwrap(), event);
            assert_eq!(stored.is_end(), event.kind() == END);
        }
    }

    #[test]
    fn events_stored_by_earlier_versions_still_read() {
        // The engine's run id stays in stored progress events; unknown
        // fields are ignored.
        let window = RunEvent::decode(
            "window",
            r#"{"event":"window","test_id":"L1","window":{"second":0,"count":10,"errors":1,
               "p50_ms":5.0,"p95_ms":9.0,"p99_ms":12.0,"max_ms":20.0},"done":30,"failed":1}"#,
        )
        .unwrap();
        let RunEvent::Progress(ProgressEvent::Window { done, window, .. }) = window else {
            panic!("{window:?}");
        };
        assert_eq!((done, window.count, window.p95_ms), (30, 10, 9.0));
        let status = RunEvent::decode(
            "status",
            r#"{"status":"interrupted","verdict":null,"error":"restarted"}"#,
        )
        .unwrap();
        assert_eq!(
            status,
            RunEvent::status("", RunStatus::Interrupted, None, Some("restarted".into()))
        );
        assert_eq!(RunEvent::decode("end", "{}").unwrap(), RunEvent::end(""));
        assert!(RunEvent::decode("status", "not json").is_err());
    }

    #[test]
    fn unknown_kinds_keep_their_message() {
        let restart = RunEvent::decode("restart", r#"{"message":"worker restarted"}"#).unwrap();
        let RunEvent::Other(other) = &restart else {
            panic!("{restart:?}");
        };
        assert_eq!(other.text(), "worker restarted");
        assert_eq!(restart.kind(), "restart");
        let bare = RunEvent::decode("note", r#"{"n":1}"#).unwrap();
        let RunEvent::Other(other) = bare else {
            panic!()
        };
        assert_eq!(other.text(), r#"note: {"n":1}"#);
    }
}
