//! The aggregation side of a load test: one task owns the histograms and
//! counters; workers send it batches of compact samples.
//!
//! Latency is recorded in microseconds into HDR histograms: one for the
//! whole test and one per second (by start time, the intended start in the
//! open model) that is summarised and dropped once no sample can still
//! arrive for it. Completions are also marked on a millisecond bitmap to
//! find the longest time in which nothing answered.

use crate::metrics::{ErrorCounts, LatencySummary, Window};
use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency a histogram holds, in microseconds (one hour); longer
/// values are clamped.
pub(crate) const MAX_US: u64 = 3_600_000_000;
/// Significant figures of the whole-test histogram.
pub(crate) const SIGFIG_TOTAL: u8 = 3;
/// Significant figures of the per-second histograms (smaller, many of them).
pub(crate) const SIGFIG_WINDOW: u8 = 2;

/// Why a request failed, or that it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Expected status, checks passed.
    Ok(u16),
    /// Unexpected status.
    Status(u16),
    /// Expected status, a body check failed.
    Check(u16),
    /// Could not connect.
    Connect,
    /// No complete answer in time.
    Timeout,
    /// Broken connection or invalid HTTP.
    Protocol,
}

impl Outcome {
    /// Whether the request counts as a success.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Start (intended start in the open model) since the test began, µs.
    pub start_us: u64,
    /// From start to the complete answer (or the error), µs.
    pub latency_us: u64,
    pub outcome: Outcome,
    /// Open model: sent more than a millisecond after its intended time.
    pub late: bool,
}

/// A batch from one worker.
pub type Batch = Vec<Sample>;

/// A duration in whole microseconds, the unit of a [`Sample`] (saturating
/// at `u64::MAX`).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub(crate) fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("constant histogram bounds are valid")
}

/// Percentiles of a histogram in milliseconds.
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    LatencySummary {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: h.mean() / 1000.0,
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// A histogram as base64 of its V2 deflate serialisation.
pub fn encode(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

struct WindowAcc {
    histogram: Histogram<u64>,
    count: u64,
    errors: u64,
    /// Bit per worker that started a request in this second (closed-model
    /// load only; empty otherwise).
    workers: Vec<u64>,
}

/// Everything measured so far in one load test.
pub struct Recorder {
    total: Histogram<u64>,
    open_windows: BTreeMap<u32, WindowAcc>,
    closed_windows: BTreeMap<u32, Window>,
    /// Bit per millisecond: some answer completed in it.
    completions: Vec<u64>,
    /// Bit per millisecond: some request was waiting for its answer in it
    /// (a worker thinking, or a ramp with no worker, waits for nothing).
    waiting: Vec<u64>,
    last_completion_ms: u64,
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

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            total: new_histogram(SIGFIG_TOTAL),
            open_windows: BTreeMap::new(),
            closed_windows: BTreeMap::new(),
            completions: Vec::new(),
            waiting: Vec::new(),
            last_completion_ms: 0,
            requests: 0,
            ok: 0,
            errors: ErrorCounts::default(),
            status_counts: BTreeMap::new(),
            late_sends: 0,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, s: &Sample) {
        self.requests += 1;
        let latency = s.latency_us.clamp(1, MAX_US);
        self.total.saturating_record(latency);
        let second = second_of(s);
        let window = self
            .open_windows
            .entry(second)
            .or_insert_with(|| WindowAcc {
                histogram: new_histogram(SIGFIG_WINDOW),
                count: 0,
                errors: 0,
                workers: Vec::new(),
            });
        window.histogram.saturating_record(latency);
        window.count += 1;
        count_outcome(
            s.outcome,
            &mut self.ok,
            &mut self.errors,
            &mut self.status_counts,
        );
        if !s.outcome.is_ok() {
            window.errors += 1;
        }
        if s.late {
            self.late_sends += 1;
        }
        let done_ms = (s.start_us + s.latency_us) / 1000;
        set_bits(&mut self.completions, done_ms, done_ms + 1);
        set_bits(&mut self.waiting, s.start_us / 1000, done_ms);
        self.last_completion_ms = self.last_completion_ms.max(done_ms);
    }

    /// Notes that `worker` started the request of `s` (recorded already):
    /// each window then counts the workers that were active in it.
    pub fn mark_worker(&mut self, s: &Sample, worker: u32) {
        if let Some(window) = self.open_windows.get_mut(&second_of(s)) {
            set_worker(&mut window.workers, worker);
        }
    }

    /// Failed requests so far.
    pub fn failed(&self) -> u64 {
        self.errors.total()
    }

    /// Summary of one second so far, for live progress.
    pub fn window(&self, second: u32) -> Option<Window> {
        if let Some(closed) = self.closed_windows.get(&second) {
            return Some(closed.clone());
        }
        self.open_windows
            .get(&second)
            .map(|acc| window_summary(second, acc))
    }

    /// Median latency of the test so far, in milliseconds.
    pub fn p50_ms(&self) -> f64 {
        if self.total.is_empty() {
            0.0
        } else {
            self.total.value_at_quantile(0.5) as f64 / 1000.0
        }
    }

    /// Summarises and frees the windows before `second`.
    pub fn close_windows_before(&mut self, second: u32) {
        let later = self.open_windows.split_off(&second);
        for (s, acc) in std::mem::replace(&mut self.open_windows, later) {
            self.closed_windows.insert(s, window_summary(s, &acc));
        }
    }

    /// Longest time, in ms, during which requests were waiting for their
    /// answers and none arrived: a stall of the target. Time when nothing
    /// was waiting (think time, a ramp at zero workers) is no stall.
    pub fn longest_gap_ms(&self) -> u64 {
        longest_gap(&self.completions, &self.waiting, self.last_completion_ms)
    }

    /// The whole-test histogram.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// Every window, summarised, in order.
    pub fn finish_windows(&mut self) -> Vec<Window> {
        for (s, acc) in std::mem::take(&mut self.open_windows) {
            self.closed_windows.insert(s, window_summary(s, &acc));
        }
        self.closed_windows.values().cloned().collect()
    }
}

fn window_summary(second: u32, acc: &WindowAcc) -> Window {
    let workers =
        (!acc.workers.is_empty()).then(|| acc.workers.iter().map(|w| w.count_ones()).sum());
    window_of(second, &acc.histogram, acc.count, acc.errors, workers)
}

/// Counts one answer: an ok, or a failure of its class; its status, when
/// it had one. (The recorder and an agent's snapshot count alike.)
pub(crate) fn count_outcome(
    outcome: Outcome,
    ok: &mut u64,
    errors: &mut ErrorCounts,
    status_counts: &mut BTreeMap<u16, u64>,
) {
    match outcome {
        Outcome::Ok(code) => {
            *ok += 1;
            *status_counts.entry(code).or_default() += 1;
        }
        Outcome::Status(code) => {
            errors.status += 1;
            *status_counts.entry(code).or_default() += 1;
        }
        Outcome::Check(code) => {
            errors.check += 1;
            *status_counts.entry(code).or_default() += 1;
        }
        Outcome::Connect => errors.connect += 1,
        Outcome::Timeout => errors.timeout += 1,
        Outcome::Protocol => errors.protocol += 1,
    }
}

/// The summary of one second from its histogram and counts.
pub(crate) fn window_of(
    second: u32,
    histogram: &Histogram<u64>,
    count: u64,
    errors: u64,
    workers: Option<u32>,
) -> Window {
    let summary = summarize(histogram);
    Window {
        second,
        count,
        errors,
        p50_ms: summary.p50_ms,
        p95_ms: summary.p95_ms,
        p99_ms: summary.p99_ms,
        max_ms: summary.max_ms,
        workers,
    }
}

/// Longest run of milliseconds up to `last_ms` in which something was
/// waiting (`waiting`) and nothing completed (`completions`).
pub(crate) fn longest_gap(completions: &[u64], waiting: &[u64], last_ms: u64) -> u64 {
    let mut longest = 0;
    let mut run = 0;
    for ms in 0..=last_ms {
        if bit(completions, ms) || !bit(waiting, ms) {
            longest = longest.max(run);
            run = 0;
        } else {
            run += 1;
        }
    }
    longest.max(run)
}

/// Sets the bits `from..to` of a bit-per-millisecond set, growing it; times
/// past the longest measurable latency are not kept.
pub(crate) fn set_bits(bits: &mut Vec<u64>, from: u64, to: u64) {
    let to = to.min(MAX_US / 1000);
    if from >= to {
        return;
    }
    let last_word = usize::try_from((to - 1) / 64).unwrap_or(usize::MAX);
    if bits.len() <= last_word {
        bits.resize(last_word + 1, 0);
    }
    let mut ms = from;
    while ms < to {
        let word = (ms / 64) as usize;
        let lo = ms % 64;
        let hi = (to - word as u64 * 64).min(64);
        let mask = if hi - lo == 64 {
            u64::MAX
        } else {
            ((1u64 << (hi - lo)) - 1) << lo
        };
        bits[word] |= mask;
        ms = (word as u64 + 1) * 64;
    }
}

/// The second of the test a sample counts in (that of its start).
pub(crate) fn second_of(s: &Sample) -> u32 {
    u32::try_from(s.start_us / 1_000_000).unwrap_or(u32::MAX)
}

/// Sets `worker`'s bit in a window's bit-per-worker set, growing it.
pub(crate) fn set_worker(workers: &mut Vec<u64>, worker: u32) {
    let word = (worker / 64) as usize;
    if workers.len() <= word {
        workers.resize(word + 1, 0);
    }
    workers[word] |= 1 << (worker % 64);
}

/// Whether millisecond `ms` is set.
pub(crate) fn bit(bits: &[u64], ms: u64) -> bool {
    bits.get((ms / 64) as usize)
        .is_some_and(|w| w & (1 << (ms % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start_ms: u64, latency_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            start_us: start_ms * 1000,
            latency_us: latency_ms * 1000,
            outcome,
            late: false,
        }
    }

    #[test]
    fn counts_by_class_and_status() {
        let mut r = Recorder::new();
        r.record(&sample(0, 5, Outcome::Ok(200)));
        r.record(&sample(1, 5, Outcome::Status(503)));
        r.record(&sample(2, 5, Outcome::Check(200)));
        r.record(&sample(3, 5, Outcome::Timeout));
        r.record(&sample(1500, 5, Outcome::Connect));
        assert_eq!((r.requests, r.ok, r.failed()), (5, 1, 4));
        assert_eq!(r.status_counts.get(&200), Some(&2));
        assert_eq!(r.status_counts.get(&503), Some(&1));
        let windows = r.finish_windows();
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[0].count, windows[0].errors), (4, 3));
        assert_eq!((windows[1].second, windows[1].count), (1, 1));
    }

    #[test]
    fn windows_count_the_workers_that_sent_in_them() {
        let mut r = Recorder::new();
        for (start_ms, worker) in [(10, 0), (20, 0), (30, 1), (1100, 70), (1200, 1)] {
            let s = sample(start_ms, 1, Outcome::Ok(200));
            r.record(&s);
            r.mark_worker(&s, worker);
        }
        r.record(&sample(2500, 1, Outcome::Ok(200)));
        let windows = r.finish_windows();
        let workers: Vec<Option<u32>> = windows.iter().map(|w| w.workers).collect();
        assert_eq!(workers, [Some(2), Some(2), None]);
    }

    #[test]
    fn the_longest_gap_is_found() {
        let mut r = Recorder::new();
        for i in 0..100 {
            r.record(&sample(i, 1, Outcome::Ok(200)));
        }
        r.record(&sample(100, 900, Outcome::Ok(200)));
        let gap = r.longest_gap_ms();
        assert!((895..=900).contains(&gap), "gap {gap}");
    }

    #[test]
    fn time_with_nothing_waiting_is_no_gap() {
        // One worker thinking 2 s between 5 ms requests, and a ramp with
        // no worker for 3 s: nothing waited, no stall.
        let mut r = Recorder::new();
        for start in [0, 2005, 4010, 7010] {
            r.record(&sample(start, 5, Outcome::Ok(200)));
        }
        assert!(r.longest_gap_ms() <= 5, "gap {}", r.longest_gap_ms());
        // A request waiting 700 ms after a long idle is a 700 ms stall.
        r.record(&sample(9000, 700, Outcome::Ok(200)));
        let gap = r.longest_gap_ms();
        assert!((695..=700).contains(&gap), "gap {gap}");
    }

    #[test]
    fn bit_ranges_cross_words() {
        let mut bits = Vec::new();
        set_bits(&mut bits, 60, 130);
        let set: Vec<u64> = (0..200).filter(|&ms| bit(&bits, ms)).collect();
        assert_eq!(set, (60..130).collect::<Vec<_>>());
        set_bits(&mut bits, 128, 192);
        assert!(bit(&bits, 191) && !bit(&bits, 192) && bits.len() == 3);
    }

    #[test]
    fn histograms_round_trip_through_base64() {
        let mut r = Recorder::new();
        r.record(&sample(0, 12, Outcome::Ok(200)));
        let text = encode(r.histogram()).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let back: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(summarize(&back).max_ms.round(), 12.0);
    }
}
