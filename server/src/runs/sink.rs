//! The engine's progress events on their way out of a web-launched run:
//! each is tagged with the database's run id and handed, in order, to the
//! run's event writer (which numbers, stores and broadcasts it).

use engine::events::{ProgressEvent, Sink};
use engine::run::{RunStatus, Verdict};
use tokio::sync::mpsc;

/// The event kind that closes a run's stream.
pub const END: &str = "end";

/// Numbers the engine's events and hands them to the writer.
pub struct EventSink {
    pub run_id: String,
    pub tx: mpsc::UnboundedSender<(String, serde_json::Value)>,
}

impl EventSink {
    pub fn send(&self, kind: &str, data: serde_json::Value) {
        // The writer outlives every sender; a closed channel only happens
        // while the run is being torn down.
        let _ = self.tx.send((kind.to_owned(), data));
    }

    pub fn status(&self, status: RunStatus, verdict: Option<Verdict>, error: Option<String>) {
        self.send(
            "status",
            serde_json::json!({ "run_id": self.run_id, "status": status, "verdict": verdict, "error": error }),
        );
    }
}

impl Sink for EventSink {
    fn emit(&self, event: &ProgressEvent) {
        let Ok(mut data) = serde_json::to_value(event) else {
            return;
        };
        let kind = data
            .get("event")
            .and_then(|k| k.as_str())
            .unwrap_or("event")
            .to_owned();
        // The engine numbers its own runs; the database's id is the one
        // users see, so events carry that one.
        if let Some(run_id) = data.get_mut("run_id") {
            *run_id = serde_json::Value::String(self.run_id.clone());
        }
        if let Some(run_id) = data.pointer_mut("/results/run_id") {
            *run_id = serde_json::Value::String(self.run_id.clone());
        }
        self.send(&kind, data);
    }
}
