//! The server's side of load agents' snapshots: the [`Merger`] adds every
//! agent's [`Snapshot`]s of one load into what one recorder fed every
//! sample would hold, refusing a snapshot that skips some or whose
//! histograms cannot be added exactly ([`MergeError`]).

use super::super::recorder::{
    longest_gap, new_histogram, summarize, window_of, MAX_US, SIGFIG_TOTAL, SIGFIG_WINDOW,
};
use super::{Counters, Snapshot};
use crate::metrics::{HttpLoadMetrics, LatencySummary, Window};
use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
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
