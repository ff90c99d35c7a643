//! Splits a background load's recorded samples by the fault's recorded
//! times into the windows before, during and after the fault, and finds
//! how long after recovery the load was back to its baseline, and cuts
//! each window into slices for the chart of the load over time. Pure: the
//! same samples and times always give the same figures.

use crate::load::recorder::{Outcome, Sample};
use crate::metrics::windows::{LoadSlice, LoadThroughFault, LoadWindow, Phase, MAX_SLICES};
use crate::metrics::ErrorCounts;

/// How far the sliding window moves at each step, in ms.
const STEP_MS: f64 = 100.0;
/// Slice lengths of the series, in ms: the shortest that keeps the whole
/// load within [`MAX_SLICES`] slices (a slice much under 250 ms holds too
/// few requests for its p95 to mean much).
const SLICE_LADDER_MS: [f64; 9] = [
    250.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0, 300_000.0,
];

/// The fault's times, in ms since the load started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    /// The fault was requested.
    pub fault_ms: f64,
    /// The service's health passed again, when that was seen.
    pub recovered_ms: Option<f64>,
    /// The load stopped.
    pub end_ms: f64,
}

/// How "back to baseline" is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Allowed ratio to the baseline's p95 and error rate.
    pub factor: f64,
    /// Length of the sliding window, in ms.
    pub window_ms: f64,
}

fn start_ms(s: &Sample) -> f64 {
    s.start_us as f64 / 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures of the samples of one window, `duration_ms` long.
pub fn window(samples: &[&Sample], duration_ms: f64) -> LoadWindow {
    let mut latencies: Vec<f64> = samples
        .iter()
        .map(|s| s.latency_us as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let mut errors = ErrorCounts::default();
    for s in samples {
        match s.outcome {
            Outcome::Ok(_) => {}
            Outcome::Status(_) => errors.status += 1,
            Outcome::Check(_) => errors.check += 1,
            Outcome::Connect => errors.connect += 1,
            Outcome::Timeout => errors.timeout += 1,
            Outcome::Protocol => errors.protocol += 1,
        }
    }
    let count = samples.len() as u64;
    let fail = errors.total();
    LoadWindow {
        count,
        fail,
        errors,
        error_rate: if count > 0 {
            fail as f64 / count as f64
        } else {
            0.0
        },
        rps: if duration_ms > 0.0 {
            count as f64 / (duration_ms / 1000.0)
        } else {
            0.0
        },
        duration_ms,
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    }
}

/// `s` placed on the timeline: at its start, unless it was still under
/// way when the fault was requested, then at the fault. The window before
/// the fault is the baseline, so it holds only requests that finished
/// before it; one intended earlier but sent late (the open model keeps
/// its intended start) or still waiting when the fault came counts with
/// the fault's.
fn placed(s: &Sample, fault_ms: f64) -> Sample {
    let fault_us = (fault_ms * 1000.0) as u64;
    if s.start_us < fault_us && s.start_us.saturating_add(s.latency_us) > fault_us {
        Sample {
            start_us: fault_us,
            ..*s
        }
    } else {
        *s
    }
}

/// The windows of `samples` (started at `start_us` since the load began),
/// split at the fault and at recovery, with the impact metrics. A request
/// under way when the fault was requested counts in the window during it.
pub fn split(
    samples: &[Sample],
    times: Times,
    tolerance: Tolerance,
    dropped: u64,
) -> LoadThroughFault {
    let placed: Vec<Sample> = samples.iter().map(|s| placed(s, times.fault_ms)).collect();
    let mut sorted: Vec<&Sample> = placed.iter().collect();
    sorted.sort_by_key(|s| s.start_us);
    let recovered = times.recovered_ms.unwrap_or(f64::INFINITY);
    let at = |ms: f64| sorted.partition_point(|s| start_ms(s) < ms);
    let (fault_i, recovered_i) = (at(times.fault_ms), at(recovered));
    let during_end = times.recovered_ms.unwrap_or(times.end_ms);
    let before = window(&sorted[..fault_i], times.fault_ms);
    let during = window(
        &sorted[fault_i..recovered_i],
        (during_end - times.fault_ms).max(0.0),
    );
    let after = window(
        &sorted[recovered_i..],
        times
            .recovered_ms
            .map_or(0.0, |r| (times.end_ms - r).max(0.0)),
    );
    let (back, note) = back_to_baseline(&sorted[recovered_i..], &before, times, tolerance);
    let series = series(&sorted, times);
    LoadThroughFault {
        fault_at_ms: times.fault_ms,
        recovered_at_ms: times.recovered_ms,
        end_ms: times.end_ms,
        errors_during_recovery: during.fail,
        worst_latency_during_recovery_ms: during.max_ms,
        before,
        during,
        after,
        baseline_tolerance: tolerance.factor,
        baseline_window_ms: tolerance.window_ms,
        back_to_baseline_ms: back,
        back_to_baseline_note: note,
        samples_dropped: dropped,
        series,
    }
}

/// The slice length for a load `end_ms` long.
fn slice_ms(end_ms: f64) -> f64 {
    SLICE_LADDER_MS
        .into_iter()
        .find(|ms| end_ms / ms <= MAX_SLICES as f64)
        .unwrap_or(SLICE_LADDER_MS[SLICE_LADDER_MS.len() - 1])
}

/// Each window of `sorted` (by start) cut into equal slices about
/// [`slice_ms`] long, at least one per window that lasted at all; a slice
/// never crosses the fault or recovery, so a short window keeps slices of
/// its own. The last window's last slice also takes requests that started
/// after `end_ms` (the windows count them too).
pub fn series(sorted: &[&Sample], times: Times) -> Vec<LoadSlice> {
    let width = slice_ms(times.end_ms);
    let at = |ms: f64| sorted.partition_point(|s| start_ms(s) < ms);
    let during_end = times.recovered_ms.unwrap_or(times.end_ms);
    let mut phases = vec![
        (Phase::Before, 0.0, times.fault_ms),
        (Phase::During, times.fault_ms, during_end),
    ];
    if let Some(recovered) = times.recovered_ms {
        phases.push((Phase::After, recovered, times.end_ms));
    }
    let last_phase = phases.len() - 1;
    let mut out = Vec::new();
    for (p, &(phase, from, to)) in phases.iter().enumerate() {
        let length = to - from;
        if length.is_nan() || length <= 0.0 {
            continue;
        }
        let n = (length / width).ceil().max(1.0) as usize;
        let step = length / n as f64;
        for k in 0..n {
            let lo = from + step * k as f64;
            let hi = if k + 1 == n {
                to
            } else {
                from + step * (k + 1) as f64
            };
            let end_i = if p == last_phase && k + 1 == n {
                sorted.len()
            } else {
                at(hi)
            };
            let start_i = at(lo).min(end_i);
            let w = window(&sorted[start_i..end_i], hi - lo);
            out.push(LoadSlice {
                from_ms: lo,
                to_ms: hi,
                phase,
                count: w.count,
                fail: w.fail,
                p95_ms: w.measured(w.p95_ms),
            });
        }
    }
    out
}

/// From recovery until the first sliding window (of `window_ms`, moved by
/// 100 ms, wholly before the end of the load) whose requests have a p95 and
/// an error rate within `factor` times the baseline's; `None` with the
/// reason when there is none. `after` is sorted by start.
fn back_to_baseline(
    after: &[&Sample],
    baseline: &LoadWindow,
    times: Times,
    tolerance: Tolerance,
) -> (Option<f64>, String) {
    let Some(recovered) = times.recovered_ms else {
        return (
            None,
            "recovery was not seen, so there is no time to count from".to_owned(),
        );
    };
    if baseline.count == 0 {
        return (
            None,
            "no baseline: no background request finished before the fault".to_owned(),
        );
    }
    let p95_limit = baseline.p95_ms * tolerance.factor;
    let error_limit = baseline.error_rate * tolerance.factor;
    let mut from = recovered;
    while from + tolerance.window_ms <= times.end_ms {
        let lo = after.partition_point(|s| start_ms(s) < from);
        let hi = after.partition_point(|s| start_ms(s) < from + tolerance.window_ms);
        let w = window(&after[lo..hi], tolerance.window_ms);
        if w.count > 0 && w.p95_ms <= p95_limit && w.error_rate <= error_limit {
            let back = from - recovered;
            return (
                Some(back),
                format!(
                    "{back:.0} ms after recovery: the {:.0} ms from then had p95 {:.1} ms (limit {p95_limit:.1} ms, {}× the baseline's {:.1} ms) and error rate {:.3} (limit {error_limit:.3})",
                    tolerance.window_ms, w.p95_ms, tolerance.factor, baseline.p95_ms, w.error_rate
                ),
            );
        }
        from += STEP_MS;
    }
    (
        None,
        format!(
            "never back to baseline: no {:.0} ms window in the {:.0} ms after recovery had p95 within {}× the baseline's {:.1} ms and error rate within {}× the baseline's {:.3}",
            tolerance.window_ms,
            (times.end_ms - recovered).max(0.0),
            tolerance.factor,
            baseline.p95_ms,
            tolerance.factor,
            baseline.error_rate
        ),
    )
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
