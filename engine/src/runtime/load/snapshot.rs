//! Per-second snapshots of a load agent's measurements, and their exact
//! merge on the server.
//!
//! An agent feeds every sample to a [`SnapshotTaker`] beside its
//! [`Recorder`](super::recorder::Recorder) and, once a second, takes a
//! [`Snapshot`]: what it recorded since the previous one, as HdrHistogram
//! V2 serialisations (base64, like a result's `histogram`) of the
//! whole-test histogram and of each second's (by start time), the counters,
//! and the milliseconds in which answers completed or requests waited.
//! Everything in a snapshot is a sum or a union, so the [`Merger`] adds the
//! agents' snapshots into exactly what one recorder fed every sample would
//! hold: the same histograms bucket for bucket, hence the same percentiles,
//! counts, windows and longest gap.

use super::recorder::{
    count_outcome, encode, new_histogram, second_of, set_bits, set_worker, Outcome, Sample, MAX_US,
    SIGFIG_TOTAL, SIGFIG_WINDOW,
};
use crate::metrics::ErrorCounts;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod merge;
pub use merge::{MergeError, Merger};

/// Counts that add up across agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests recorded, answered or not.
    pub requests: u64,
    /// Requests with the expected status whose checks passed.
    pub ok: u64,
    /// Failures by class.
    pub errors: ErrorCounts,
    /// Answers by status.
    pub status_counts: BTreeMap<u16, u64>,
    /// Open model: late sends.
    pub late_sends: u64,
}

impl Counters {
    fn record(&mut self, outcome: Outcome, late: bool) {
        self.requests += 1;
        count_outcome(
            outcome,
            &mut self.ok,
            &mut self.errors,
            &mut self.status_counts,
        );
        if late {
            self.late_sends += 1;
        }
    }

    fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.errors.connect += other.errors.connect;
        self.errors.timeout += other.errors.timeout;
        self.errors.status += other.errors.status;
        self.errors.check += other.errors.check;
        self.errors.protocol += other.errors.protocol;
        for (code, n) in &other.status_counts {
            *self.status_counts.entry(*code).or_default() += n;
        }
        self.late_sends += other.late_sends;
    }
}

/// What one second (by start time) gained since the previous snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    /// Seconds since the test started.
    pub second: u32,
    /// Latency of the samples, µs, HdrHistogram V2 (deflate), base64.
    pub histogram: String,
    /// Samples.
    pub count: u64,
    /// Of those, the failed ones.
    pub errors: u64,
    /// Closed model: bit per worker of this agent that started a request
    /// in the second (empty in the open model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<u64>,
}

/// What an agent recorded between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// 0 for the first snapshot of the load, then one more each time.
    pub seq: u64,
    /// Latency of every sample since the previous snapshot, µs, in the
    /// whole-test histogram's precision; HdrHistogram V2 (deflate), base64.
    pub total: String,
    /// The seconds that gained samples.
    pub windows: Vec<WindowSnapshot>,
    /// Counts of those samples.
    pub counters: Counters,
    /// Words (index, bits) of the bit-per-millisecond set of completions.
    pub completions: Vec<(u32, u64)>,
    /// Words (index, bits) of the bit-per-millisecond set of waiting time.
    pub waiting: Vec<(u32, u64)>,
    /// Latest completion so far, ms since the test started.
    pub last_completion_ms: u64,
}

struct WindowDelta {
    histogram: Histogram<u64>,
    count: u64,
    errors: u64,
    workers: Vec<u64>,
}

/// A bit-per-millisecond set and the words changed since it was last
/// drained.
#[derive(Default)]
struct BitDelta {
    bits: Vec<u64>,
    touched: Option<(usize, usize)>,
}

impl BitDelta {
    fn set(&mut self, from: u64, to: u64) {
        set_bits(&mut self.bits, from, to);
        let to = to.min(MAX_US / 1000);
        if from >= to {
            return;
        }
        let lo = usize::try_from(from / 64).unwrap_or(usize::MAX);
        let hi = usize::try_from((to - 1) / 64).unwrap_or(usize::MAX);
        self.touched = Some(match self.touched {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }

    /// The changed non-zero words, cleared.
    fn drain(&mut self) -> Vec<(u32, u64)> {
        let Some((lo, hi)) = self.touched.take() else {
            return Vec::new();
        };
        let hi = hi.min(self.bits.len().saturating_sub(1));
        let mut words = Vec::new();
        for i in lo..=hi {
            let word = std::mem::take(&mut self.bits[i]);
            if word != 0 {
                words.push((u32::try_from(i).unwrap_or(u32::MAX), word));
            }
        }
        words
    }
}

/// [`encode`] (V2 deflate, as a result's `histogram`). Writing to memory
/// fails only for a histogram too large to describe, which the constant
/// bounds rule out; an empty text would then be refused by the merge
/// rather than give wrong figures.
fn encode_v2(h: &Histogram<u64>) -> String {
    encode(h).unwrap_or_default()
}

/// The agent's side: fed every sample, gives a [`Snapshot`] of what came
/// since the previous one.
pub struct SnapshotTaker {
    seq: u64,
    total: Histogram<u64>,
    windows: BTreeMap<u32, WindowDelta>,
    counters: Counters,
    completions: BitDelta,
    waiting: BitDelta,
    last_completion_ms: u64,
    dirty: bool,
}

impl Default for SnapshotTaker {
    fn default() -> Self {
        SnapshotTaker::new()
    }
}

impl SnapshotTaker {
    /// Nothing recorded yet.
    pub fn new() -> SnapshotTaker {
        SnapshotTaker {
            seq: 0,
            total: new_histogram(SIGFIG_TOTAL),
            windows: BTreeMap::new(),
            counters: Counters::default(),
            completions: BitDelta::default(),
            waiting: BitDelta::default(),
            last_completion_ms: 0,
            dirty: false,
        }
    }

    /// Records one sample, as [`Recorder::record`](super::recorder::Recorder::record) does.
    pub fn record(&mut self, s: &Sample) {
        self.dirty = true;
        let latency = s.latency_us.clamp(1, MAX_US);
        self.total.saturating_record(latency);
        let second = second_of(s);
        let window = self.windows.entry(second).or_insert_with(|| WindowDelta {
            histogram: new_histogram(SIGFIG_WINDOW),
            count: 0,
            errors: 0,
            workers: Vec::new(),
        });
        window.histogram.saturating_record(latency);
        window.count += 1;
        if !s.outcome.is_ok() {
            window.errors += 1;
        }
        self.counters.record(s.outcome, s.late);
        let done_ms = (s.start_us + s.latency_us) / 1000;
        self.completions.set(done_ms, done_ms + 1);
        self.waiting.set(s.start_us / 1000, done_ms);
        self.last_completion_ms = self.last_completion_ms.max(done_ms);
    }

    /// Notes that this agent's `worker` started the request of `s`
    /// (recorded already).
    pub fn mark_worker(&mut self, s: &Sample, worker: u32) {
        if let Some(window) = self.windows.get_mut(&second_of(s)) {
            set_worker(&mut window.workers, worker);
        }
    }

    /// What was recorded since the previous snapshot, or `None` when
    /// nothing was.
    pub fn take(&mut self) -> Option<Snapshot> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let total = encode_v2(&self.total);
        self.total.reset();
        let windows = std::mem::take(&mut self.windows)
            .into_iter()
            .map(|(second, w)| WindowSnapshot {
                second,
                histogram: encode_v2(&w.histogram),
                count: w.count,
                errors: w.errors,
                workers: w.workers,
            })
            .collect();
        let snapshot = Snapshot {
            seq: self.seq,
            total,
            windows,
            counters: std::mem::take(&mut self.counters),
            completions: self.completions.drain(),
            waiting: self.waiting.drain(),
            last_completion_ms: self.last_completion_ms,
        };
        self.seq += 1;
        Some(snapshot)
    }
}
