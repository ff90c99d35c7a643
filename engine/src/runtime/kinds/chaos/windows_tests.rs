//! Tests of the windows before, during and after a fault.

use super::*;

/// A request started at `at_ms` that took `ms`.
fn req(at_ms: u64, ms: u64, outcome: Outcome) -> Sample {
    Sample {
        start_us: at_ms * 1000,
        latency_us: ms * 1000,
        outcome,
        late: false,
    }
}

/// One request every 10 ms from `from` to `to` (ms), each taking `ms`.
fn steady(from: u64, to: u64, ms: u64, outcome: Outcome) -> Vec<Sample> {
    (from..to)
        .step_by(10)
        .map(|at| req(at, ms, outcome))
        .collect()
}

const TOLERANCE: Tolerance = Tolerance {
    factor: 1.5,
    window_ms: 1000.0,
};

#[test]
fn samples_split_at_the_fault_and_at_recovery() {
    // Baseline 0-2 s at 10 ms; fault at 2 s; down until 3 s (connect
    // errors, then 503s); slow (100 ms) until 4.5 s; baseline again.
    let mut samples = steady(0, 2000, 10, Outcome::Ok(200));
    samples.extend(steady(2000, 2500, 0, Outcome::Connect));
    samples.extend(steady(2500, 3000, 2, Outcome::Status(503)));
    samples.extend(steady(3000, 4500, 100, Outcome::Ok(200)));
    samples.extend(steady(4500, 8000, 10, Outcome::Ok(200)));
    samples.reverse(); // arrival order does not matter
    let times = Times {
        fault_ms: 2000.0,
        recovered_ms: Some(3000.0),
        end_ms: 8000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);

    assert_eq!((load.before.count, load.before.fail), (200, 0));
    assert_eq!(load.before.p95_ms, 10.0);
    assert_eq!(load.before.rps, 100.0);
    assert_eq!((load.during.count, load.during.fail), (100, 100));
    assert_eq!(load.during.errors.connect, 50);
    assert_eq!(load.during.errors.status, 50);
    assert_eq!(load.during.error_rate, 1.0);
    assert_eq!(load.during.duration_ms, 1000.0);
    assert_eq!(load.errors_during_recovery, 100);
    assert_eq!(load.worst_latency_during_recovery_ms, 2.0);
    assert_eq!((load.after.count, load.after.fail), (500, 0));
    assert_eq!(load.after.max_ms, 100.0);
    assert_eq!(load.after.duration_ms, 5000.0);
    // The first 1 s window with p95 <= 15 ms: from 4.5 s on (at 4.4 s
    // its first 10 requests still took 100 ms: p95 100 ms).
    assert_eq!(load.back_to_baseline_ms, Some(1500.0));
    assert!(load
        .back_to_baseline_note
        .starts_with("1500 ms after recovery"));
    assert_eq!(load.metric("during.error_rate"), Some(1.0));
    assert_eq!(load.metric("back_to_baseline_ms"), Some(1500.0));
    assert_eq!(load.metric("after.errors.connect"), Some(0.0));
}

#[test]
fn a_request_under_way_at_the_fault_counts_during_it_not_in_the_baseline() {
    // Intended at 1.99 s, sent late and refused after the fault at 2 s
    // (its latency runs from the intended start); one at 1.5 s still
    // waiting at the fault; one at 1.98 s done before it.
    let samples = [
        req(1990, 15, Outcome::Connect),
        req(1500, 800, Outcome::Timeout),
        req(1980, 20, Outcome::Ok(200)),
        req(2100, 1, Outcome::Connect),
    ];
    let times = Times {
        fault_ms: 2000.0,
        recovered_ms: Some(3000.0),
        end_ms: 4000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);
    assert_eq!((load.before.count, load.before.fail), (1, 0));
    assert_eq!((load.during.count, load.during.fail), (3, 3));
    assert_eq!(load.during.errors.timeout, 1);
    let before: u64 = load
        .series
        .iter()
        .filter(|s| s.phase == Phase::Before)
        .map(|s| s.fail)
        .sum();
    assert_eq!(before, 0);
}

#[test]
fn the_series_slices_each_window_apart_and_adds_up_to_it() {
    // Baseline 0-2 s; a 300 ms fault of 503s; 5.7 s after it.
    let mut samples = steady(0, 2000, 10, Outcome::Ok(200));
    samples.extend(steady(2000, 2300, 40, Outcome::Status(503)));
    samples.extend(steady(2300, 8000, 10, Outcome::Ok(200)));
    let times = Times {
        fault_ms: 2000.0,
        recovered_ms: Some(2300.0),
        end_ms: 8000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);
    let series = &load.series;
    // 8 s at 250 ms slices: 8 before, 2 (of 150 ms) during, 23 after.
    let of = |phase: Phase| series.iter().filter(move |s| s.phase == phase);
    assert_eq!(of(Phase::Before).count(), 8);
    assert_eq!(of(Phase::During).count(), 2);
    assert_eq!(of(Phase::After).count(), 23);
    for (phase, w) in [
        (Phase::Before, &load.before),
        (Phase::During, &load.during),
        (Phase::After, &load.after),
    ] {
        assert_eq!(
            of(phase).map(|s| s.count).sum::<u64>(),
            w.count,
            "{phase:?}"
        );
        assert_eq!(of(phase).map(|s| s.fail).sum::<u64>(), w.fail, "{phase:?}");
    }
    // No slice crosses the fault or recovery; they tile the load.
    assert_eq!(series[0].from_ms, 0.0);
    for pair in series.windows(2) {
        assert_eq!(pair[0].to_ms, pair[1].from_ms);
    }
    assert_eq!(series.last().unwrap().to_ms, 8000.0);
    let during: Vec<&LoadSlice> = of(Phase::During).collect();
    assert_eq!((during[0].from_ms, during[1].to_ms), (2000.0, 2300.0));
    assert_eq!(during[0].p95_ms, Some(40.0));
    assert_eq!(during[0].error_rate(), Some(1.0));
    assert_eq!(series[0].p95_ms, Some(10.0));
    assert_eq!(series[0].error_rate(), Some(0.0));
}

#[test]
fn a_long_load_keeps_its_series_bounded_and_an_empty_slice_unmeasured() {
    // 20 minutes, no recovery, one request a second.
    let samples: Vec<Sample> = (0..1200)
        .map(|s| req(s * 1000, 5, Outcome::Ok(200)))
        .collect();
    let times = Times {
        fault_ms: 600_000.0,
        recovered_ms: None,
        end_ms: 1_200_000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);
    assert_eq!(load.series.len(), 120);
    assert!(load.series.len() <= MAX_SLICES + 2);
    assert_eq!(load.series.iter().map(|s| s.count).sum::<u64>(), 1200);
    // A tenth of a second with no request measures nothing.
    let quiet = Times {
        fault_ms: 1000.0,
        recovered_ms: Some(1100.0),
        end_ms: 2000.0,
    };
    let sparse = [req(0, 5, Outcome::Ok(200)), req(1500, 5, Outcome::Ok(200))];
    let load = split(&sparse, quiet, TOLERANCE, 0);
    let during: Vec<&LoadSlice> = load
        .series
        .iter()
        .filter(|s| s.phase == Phase::During)
        .collect();
    assert_eq!(during.len(), 1);
    assert_eq!((during[0].count, during[0].p95_ms), (0, None));
    assert_eq!(during[0].error_rate(), None);
}

#[test]
fn a_load_that_never_comes_back_has_no_back_to_baseline() {
    let mut samples = steady(0, 1000, 10, Outcome::Ok(200));
    samples.extend(steady(1000, 5000, 50, Outcome::Ok(200)));
    let times = Times {
        fault_ms: 1000.0,
        recovered_ms: Some(1500.0),
        end_ms: 5000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);
    assert_eq!(load.back_to_baseline_ms, None);
    assert_eq!(load.metric("back_to_baseline_ms"), None);
    assert!(
        load.back_to_baseline_note
            .starts_with("never back to baseline"),
        "{}",
        load.back_to_baseline_note
    );
}

#[test]
fn errors_after_recovery_keep_the_load_off_its_baseline() {
    // Fast 503s after recovery are not "back": the error rate counts.
    let mut samples = steady(0, 1000, 10, Outcome::Ok(200));
    samples.extend(steady(1000, 3000, 1, Outcome::Status(503)));
    samples.extend(steady(3000, 6000, 10, Outcome::Ok(200)));
    let times = Times {
        fault_ms: 1000.0,
        recovered_ms: Some(1200.0),
        end_ms: 6000.0,
    };
    let load = split(&samples, times, TOLERANCE, 0);
    assert_eq!(load.after.fail, 180);
    assert_eq!(load.back_to_baseline_ms, Some(1800.0));
}

#[test]
fn without_recovery_or_baseline_the_metric_is_missing_and_says_why() {
    let samples = steady(0, 3000, 10, Outcome::Ok(200));
    let unrecovered = Times {
        fault_ms: 1000.0,
        recovered_ms: None,
        end_ms: 3000.0,
    };
    let load = split(&samples, unrecovered, TOLERANCE, 0);
    assert_eq!(load.during.count, 200);
    assert_eq!(load.after.count, 0);
    assert_eq!(load.back_to_baseline_ms, None);
    assert!(load.back_to_baseline_note.contains("recovery was not seen"));
    let no_baseline = Times {
        fault_ms: 0.0,
        recovered_ms: Some(500.0),
        end_ms: 3000.0,
    };
    let load = split(&samples, no_baseline, TOLERANCE, 0);
    assert_eq!(load.before.count, 0);
    assert_eq!(load.back_to_baseline_ms, None);
    assert!(load.back_to_baseline_note.contains("no baseline"));
}
