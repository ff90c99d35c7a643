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
    count_outcome, encode, longest_gap, new_histogram, set_bits, summarize, window_of, Outcome,
    Sample, MAX_US, SIGFIG_TOTAL, SIGFIG_WINDOW,
};
use crate::metrics::{ErrorCounts, HttpLoadMetrics, LatencySummary, Window};
use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why a snapshot could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A histogram that is not base64.
    #[error("agent {agent}, snapshot {seq}: {what} histogram is not base64")]
    Base64 {
        agent: String,
        seq: u64,
        what: String,
    },
    /// A histogram that is not an HdrHistogram V2 serialisation.
    #[error("agent {agent}, snapshot {seq}: {what} histogram cannot be read: {reason}")]
    Histogram {
        agent: String,
        seq: u64,
        what: String,
        reason: String,
    },
    /// A histogram of other bounds or precision: adding it would not be
    /// exact.
    #[error(
        "agent {agent}, snapshot {seq}: {what} histogram has {sigfig} significant figures up to {high} µs; expected {expected} up to {MAX_US}"
    )]
    Shape {
        agent: String,
        seq: u64,
        what: String,
        sigfig: u8,
        high: u64,
        expected: u8,
    },
    /// Snapshots skipped: the figures would miss what they held.
    #[error("agent {agent}: snapshot {got} arrived while {expected} was due; the ones between are missing")]
    Missing {
        agent: String,
        expected: u64,
        got: u64,
    },
}

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
        let second = u32::try_from(s.start_us / 1_000_000).unwrap_or(u32::MAX);
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
        let second = u32::try_from(s.start_us / 1_000_000).unwrap_or(u32::MAX);
        if let Some(window) = self.windows.get_mut(&second) {
            let word = (worker / 64) as usize;
            if window.workers.len() <= word {
                window.workers.resize(word + 1, 0);
            }
            window.workers[word] |= 1 << (worker % 64);
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

struct MergedWindow {
    histogram: Histogram<u64>,
    count: u64,
    errors: u64,
    /// Worker bits by agent (agents' workers are distinct).
    workers: BTreeMap<String, Vec<u64>>,
}

/// The server's side: every agent's snapshots of one load, added up.
pub struct Merger {
    total: Histogram<u64>,
    windows: BTreeMap<u32, MergedWindow>,
    counters: Counters,
    completions: Vec<u64>,
    waiting: Vec<u64>,
    last_completion_ms: u64,
    /// Next snapshot expected, by agent.
    next_seq: BTreeMap<String, u64>,
}

impl Default for Merger {
    fn default() -> Self {
        Merger::new()
    }
}

impl Merger {
    /// Nothing merged yet.
    pub fn new() -> Merger {
        Merger {
            total: new_histogram(SIGFIG_TOTAL),
            windows: BTreeMap::new(),
            counters: Counters::default(),
            completions: Vec::new(),
            waiting: Vec::new(),
            last_completion_ms: 0,
            next_seq: BTreeMap::new(),
        }
    }

    /// Adds `agent`'s snapshot. A snapshot already merged (sent again) is
    /// ignored and gives `Ok(false)`; a snapshot that skips some is
    /// refused, and so is one whose histograms cannot be added exactly.
    /// Nothing is merged unless all of it can be.
    pub fn add(&mut self, agent: &str, snapshot: &Snapshot) -> Result<bool, MergeError> {
        let next = self.next_seq.get(agent).copied().unwrap_or(0);
        if snapshot.seq < next {
            return Ok(false);
        }
        if snapshot.seq > next {
            return Err(MergeError::Missing {
                agent: agent.to_owned(),
                expected: next,
                got: snapshot.seq,
            });
        }
        let read =
            |what: String, text: &str, sigfig: u8| decode(agent, snapshot.seq, what, text, sigfig);
        let total = read("the total".to_owned(), &snapshot.total, SIGFIG_TOTAL)?;
        let windows = snapshot
            .windows
            .iter()
            .map(|w| {
                read(
                    format!("second {}'s", w.second),
                    &w.histogram,
                    SIGFIG_WINDOW,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Same bounds and precision, checked above: adding cannot fail.
        let _ = self.total.add(&total);
        for (w, histogram) in snapshot.windows.iter().zip(&windows) {
            let merged = self
                .windows
                .entry(w.second)
                .or_insert_with(|| MergedWindow {
                    histogram: new_histogram(SIGFIG_WINDOW),
                    count: 0,
                    errors: 0,
                    workers: BTreeMap::new(),
                });
            let _ = merged.histogram.add(histogram);
            merged.count += w.count;
            merged.errors += w.errors;
            if !w.workers.is_empty() {
                let bits = merged.workers.entry(agent.to_owned()).or_default();
                if bits.len() < w.workers.len() {
                    bits.resize(w.workers.len(), 0);
                }
                for (b, w) in bits.iter_mut().zip(&w.workers) {
                    *b |= w;
                }
            }
        }
        self.counters.add(&snapshot.counters);
        or_words(&mut self.completions, &snapshot.completions);
        or_words(&mut self.waiting, &snapshot.waiting);
        self.last_completion_ms = self.last_completion_ms.max(snapshot.last_completion_ms);
        self.next_seq.insert(agent.to_owned(), next + 1);
        Ok(true)
    }

    /// The counts so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The whole-test histogram so far.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// Percentiles of the whole test so far.
    pub fn latency(&self) -> LatencySummary {
        summarize(&self.total)
    }

    /// One second so far, for live progress.
    pub fn window(&self, second: u32) -> Option<Window> {
        self.windows.get(&second).map(|w| merged_window(second, w))
    }

    /// Every second, in order.
    pub fn windows(&self) -> Vec<Window> {
        self.windows
            .iter()
            .map(|(second, w)| merged_window(*second, w))
            .collect()
    }

    /// Longest time, in ms, during which some agent's request waited and
    /// no agent's answer arrived.
    pub fn longest_gap_ms(&self) -> u64 {
        longest_gap(&self.completions, &self.waiting, self.last_completion_ms)
    }

    /// The metrics of the merged load, over `elapsed` (from the common
    /// start to the last agent's end), as one process would give them.
    pub fn metrics(&self, elapsed: Duration) -> HttpLoadMetrics {
        let seconds = elapsed.as_secs_f64();
        HttpLoadMetrics {
            requests: self.counters.requests,
            ok: self.counters.ok,
            fail: self.counters.errors.total(),
            errors: self.counters.errors.clone(),
            status_counts: self.counters.status_counts.clone(),
            rps: if seconds > 0.0 {
                self.counters.requests as f64 / seconds
            } else {
                0.0
            },
            duration_ms: seconds * 1000.0,
            longest_gap_ms: self.longest_gap_ms() as f64,
            late_sends: self.counters.late_sends,
            latency: self.latency(),
        }
    }
}

fn merged_window(second: u32, w: &MergedWindow) -> Window {
    let workers = (!w.workers.is_empty()).then(|| {
        w.workers
            .values()
            .flat_map(|bits| bits.iter().map(|b| b.count_ones()))
            .sum()
    });
    window_of(second, &w.histogram, w.count, w.errors, workers)
}

fn or_words(bits: &mut Vec<u64>, words: &[(u32, u64)]) {
    // Past the longest measurable latency nothing is kept (as set_bits).
    let cap = (MAX_US / 1000 / 64 + 1) as usize;
    for &(index, word) in words {
        let i = index as usize;
        if i >= cap {
            continue;
        }
        if bits.len() <= i {
            bits.resize(i + 1, 0);
        }
        bits[i] |= word;
    }
}

fn decode(
    agent: &str,
    seq: u64,
    what: String,
    text: &str,
    sigfig: u8,
) -> Result<Histogram<u64>, MergeError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| MergeError::Base64 {
            agent: agent.to_owned(),
            seq,
            what: what.clone(),
        })?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| MergeError::Histogram {
            agent: agent.to_owned(),
            seq,
            what: what.clone(),
            reason: format!("{e:?}"),
        })?;
    if h.sigfig() != sigfig || h.low() != 1 || h.high() != MAX_US {
        return Err(MergeError::Shape {
            agent: agent.to_owned(),
            seq,
            what,
            sigfig: h.sigfig(),
            high: h.high(),
            expected: sigfig,
        });
    }
    Ok(h)
}
