//! The events of a web-launched run on their way out: the engine's
//! progress, tagged with the database's run id, and the run's own status,
//! evidence and end events, handed in order to the run's event writer
//! (which numbers, stores and broadcasts them).

use crate::evidence::pack::WrittenPack;
use engine::events::{ProgressEvent, Sink};
use engine::run::{RunStatus, Verdict};
use engine::run_event::{EvidenceNote, RunEvent};
use tokio::sync::mpsc;

/// The event kind that closes a run's stream.
pub use engine::run_event::END;

/// Hands a run's events to its writer.
pub struct EventSink {
    pub run_id: String,
    pub tx: mpsc::UnboundedSender<RunEvent>,
}

impl EventSink {
    pub fn send(&self, event: RunEvent) {
        // The writer outlives every sender; a closed channel only happens
        // while the run is being torn down.
        let _ = self.tx.send(event);
    }

    pub fn status(&self, status: RunStatus, verdict: Option<Verdict>, error: Option<String>) {
        self.send(RunEvent::status(&self.run_id, status, verdict, error));
    }

    /// The run's evidence pack is written.
    pub fn evidence_written(&self, pack: &WrittenPack) {
        self.send(RunEvent::Evidence(EvidenceNote {
            message: format!(
                "evidence pack v{} written ({} files, manifest sha256 {})",
                pack.version,
                pack.manifest.files.len(),
                pack.manifest_digest
            ),
            version: Some(pack.version),
            manifest_sha256: Some(pack.manifest_digest.clone()),
        }));
    }

    /// The run's evidence pack could not be written.
    pub fn evidence_failed(&self, error: &dyn std::fmt::Display) {
        self.send(RunEvent::Evidence(EvidenceNote {
            message: format!("evidence pack NOT written: {error}"),
            version: None,
            manifest_sha256: None,
        }));
    }

    /// The run's last event.
    pub fn end(&self) {
        self.send(RunEvent::end(&self.run_id));
    }
}

impl Sink for EventSink {
    fn emit(&self, event: &ProgressEvent) {
        // The engine numbers its own runs; the database's id is the one
        // users see, so events carry that one.
        let mut event = event.clone();
        event.set_run_id(&self.run_id);
        self.send(RunEvent::Progress(event));
    }
}
