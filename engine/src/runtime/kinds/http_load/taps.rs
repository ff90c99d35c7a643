//! What a load hands out besides its recorder's figures: every sample kept
//! for a caller that splits them by time (a chaos test's background load),
//! and an agent's per-second snapshots for the server to merge.

use crate::load::recorder::Sample;
use crate::load::snapshot::{Snapshot, SnapshotTaker};
use std::time::Instant;
use tokio::sync::mpsc;

/// Every sample of one load, kept beside its recorder for a caller that
/// splits them by time (a chaos test's background load, by the fault's
/// times).
#[derive(Debug, Default)]
pub struct Samples {
    /// When the load began; each sample's `start_us` counts from here.
    pub start: Option<Instant>,
    /// The samples kept, in arrival order (at most `cap`).
    pub kept: Vec<Sample>,
    /// Most samples kept; the rest are only counted in `dropped`.
    pub cap: usize,
    /// Samples beyond `cap`.
    pub dropped: u64,
}

impl Samples {
    /// An empty tap keeping at most `cap` samples.
    pub fn new(cap: usize) -> Samples {
        Samples {
            cap,
            ..Samples::default()
        }
    }

    pub(super) fn keep(&mut self, batch: &[Sample]) {
        let room = self.cap.saturating_sub(self.kept.len()).min(batch.len());
        self.kept.extend_from_slice(&batch[..room]);
        self.dropped += (batch.len() - room) as u64;
    }
}

/// An agent's snapshots: taken from every sample, sent once a second.
pub(super) struct Sharing {
    pub(super) taker: SnapshotTaker,
    pub(super) tx: mpsc::UnboundedSender<Snapshot>,
}

impl Sharing {
    pub(super) fn record(&mut self, s: &Sample, worker: Option<u32>) {
        self.taker.record(s);
        if let Some(worker) = worker {
            self.taker.mark_worker(s, worker);
        }
    }

    /// Sends what came since the last snapshot, if anything did.
    pub(super) fn send(&mut self) {
        if let Some(snapshot) = self.taker.take() {
            // The receiver outlives the load; if it went, nobody reads.
            let _ = self.tx.send(snapshot);
        }
    }
}
