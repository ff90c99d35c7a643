//! Load agents' per-second snapshots merge exactly: three agents' shares
//! of one load, added up on the server, give the very histograms, counts,
//! windows and longest gap of one recorder fed every sample (#17).

use base64::Engine as _;
use engine::load::recorder::{Outcome, Recorder, Sample};
use engine::load::snapshot::{MergeError, Merger, SnapshotTaker};
use engine::rng::Rng;

const AGENTS: u32 = 3;
const WORKERS: u32 = 30;

/// A worker's requests back to back for `seconds`, with a heavy tail, a
/// mix of outcomes, and two stalls: one on agent 0's workers only
/// (2.0–2.9 s, the others keep answering) and one on every worker
/// (6.0–6.7 s).
fn samples(seed: u64, seconds: u64) -> Vec<(u32, Sample)> {
    let mut rng = Rng::new(seed);
    let mut all = Vec::new();
    for worker in 0..WORKERS {
        let mut t = rng.up_to(5_000);
        while t < seconds * 1_000_000 {
            let mut latency = 200 + (rng.unit().powi(4) * 50_000.0) as u64;
            if rng.chance(0.01) {
                latency += 200_000 + rng.up_to(700_000);
            }
            // Every request in flight during a stall answers at its end.
            let in_flight = |from: u64, to: u64| t < to && t + latency > from;
            let stalled_until = if in_flight(6_000_000, 6_700_000) {
                Some(6_700_000)
            } else if worker % AGENTS == 0 && in_flight(2_000_000, 2_900_000) {
                Some(2_900_000)
            } else {
                None
            };
            if let Some(until) = stalled_until {
                latency = latency.max(until - t);
            }
            let roll = rng.unit();
            let outcome = match roll {
                r if r < 0.95 => Outcome::Ok(200),
                r if r < 0.97 => Outcome::Status(503),
                r if r < 0.98 => Outcome::Check(200),
                r if r < 0.99 => Outcome::Timeout,
                r if r < 0.995 => Outcome::Connect,
                _ => Outcome::Protocol,
            };
            let late = rng.chance(0.03);
            all.push((
                worker,
                Sample {
                    start_us: t,
                    latency_us: latency,
                    outcome,
                    late,
                },
            ));
            t += latency + rng.up_to(2_000);
        }
    }
    // The order a recorder sees them: by completion.
    all.sort_by_key(|(w, s)| (s.start_us + s.latency_us, *w));
    all
}

struct Split {
    single: Recorder,
    merger: Merger,
    agents: Vec<Recorder>,
}

/// Feeds every sample to one recorder, and each to its worker's agent
/// (worker `w` is agent `w % 3`'s worker `w / 3`), whose snapshots are
/// taken every second and merged in a shuffled agent order, one of them
/// sent twice.
fn split(all: &[(u32, Sample)], closed: bool) -> Split {
    let mut single = Recorder::new();
    let mut agents: Vec<Recorder> = (0..AGENTS).map(|_| Recorder::new()).collect();
    let mut takers: Vec<SnapshotTaker> = (0..AGENTS).map(|_| SnapshotTaker::new()).collect();
    let mut merger = Merger::new();
    let mut next_tick = 1_000_000;
    let mut resent = 0;
    let tick = |takers: &mut Vec<SnapshotTaker>, merger: &mut Merger, resent: &mut u32| {
        for agent in [2, 0, 1] {
            if let Some(snapshot) = takers[agent].take() {
                // Through JSON, as it travels.
                let wire = serde_json::to_string(&snapshot).unwrap();
                let snapshot = serde_json::from_str(&wire).unwrap();
                let name = format!("agent-{agent}");
                assert_eq!(merger.add(&name, &snapshot), Ok(true));
                if agent == 1 && *resent == 0 {
                    assert_eq!(merger.add(&name, &snapshot), Ok(false), "a resent snapshot");
                    *resent += 1;
                }
            }
        }
    };
    for (worker, s) in all {
        while s.start_us + s.latency_us >= next_tick {
            tick(&mut takers, &mut merger, &mut resent);
            next_tick += 1_000_000;
        }
        let agent = (worker % AGENTS) as usize;
        single.record(s);
        agents[agent].record(s);
        takers[agent].record(s);
        if closed {
            single.mark_worker(s, *worker);
            agents[agent].mark_worker(s, worker / AGENTS);
            takers[agent].mark_worker(s, worker / AGENTS);
        }
    }
    tick(&mut takers, &mut merger, &mut resent);
    assert_eq!(resent, 1);
    Split {
        single,
        merger,
        agents,
    }
}

fn check_exact(all: &[(u32, Sample)], closed: bool) {
    let Split {
        mut single,
        merger,
        agents,
    } = split(all, closed);
    let merged = merger.counters();
    // The merged count is the sum of the agents' counts, and all of them.
    let agent_sum: u64 = agents.iter().map(|a| a.requests).sum();
    assert_eq!(merged.requests, agent_sum);
    assert_eq!(merged.requests, all.len() as u64);
    assert!(agents.iter().all(|a| a.requests > 0));
    // Counts equal those of one recorder.
    assert_eq!(merged.ok, single.ok);
    assert_eq!(merged.errors, single.errors);
    assert!(merged.errors.total() > 0 && merged.errors.protocol > 0);
    assert_eq!(merged.status_counts, single.status_counts);
    assert_eq!(merged.late_sends, single.late_sends);
    // The whole-test histogram is the same bucket for bucket, so are its
    // percentiles and maximum.
    assert!(*merger.histogram() == *single.histogram());
    let (m, s) = (
        merger.latency(),
        engine::load::recorder::summarize(single.histogram()),
    );
    assert_eq!(m, s);
    assert_eq!(
        (m.count, m.p50_ms, m.p99_ms, m.max_ms),
        (s.count, s.p50_ms, s.p99_ms, s.max_ms)
    );
    // Each agent alone has other percentiles: averaging theirs would not do.
    let p99s: Vec<f64> = agents
        .iter()
        .map(|a| engine::load::recorder::summarize(a.histogram()).p99_ms)
        .collect();
    assert!(
        p99s.iter().any(|p| *p != s.p99_ms),
        "{p99s:?} vs {}",
        s.p99_ms
    );
    // Live, a second is the same as the one recorder's.
    assert_eq!(merger.window(3), single.window(3));
    // Every second, workers included in the closed model.
    let windows = merger.windows();
    assert_eq!(windows, single.finish_windows());
    assert_eq!(windows.len(), 10);
    assert_eq!(windows[0].workers.is_some(), closed);
    if closed {
        assert_eq!(windows[1].workers, Some(WORKERS));
    }
    // The longest gap is the whole load's: agent 0's own stall at 2 s is
    // not one (the others answered), the stall of all at 6 s is.
    let gap = merger.longest_gap_ms();
    assert_eq!(gap, single.longest_gap_ms());
    assert!((400..=700).contains(&gap), "gap {gap}");
    assert!(
        agents[0].longest_gap_ms() >= 850,
        "{}",
        agents[0].longest_gap_ms()
    );
    let metrics = merger.metrics(std::time::Duration::from_secs(10));
    assert_eq!(metrics.requests, all.len() as u64);
    assert_eq!(metrics.latency, s);
    assert_eq!(metrics.longest_gap_ms, gap as f64);
    assert_eq!(metrics.fail, single.failed());
}

#[test]
fn open_model_shares_merge_exactly() {
    check_exact(&samples(17, 10), false);
}

#[test]
fn closed_model_shares_merge_exactly_with_their_workers() {
    check_exact(&samples(99, 10), true);
}

fn one(latency_us: u64) -> Sample {
    Sample {
        start_us: 10,
        latency_us,
        outcome: Outcome::Ok(200),
        late: false,
    }
}

#[test]
fn snapshots_that_cannot_merge_exactly_are_refused_whole() {
    let mut taker = SnapshotTaker::new();
    assert!(taker.take().is_none(), "nothing recorded, nothing to send");
    taker.record(&one(1_000));
    let first = taker.take().unwrap();
    taker.record(&one(2_000));
    let second = taker.take().unwrap();
    let mut merger = Merger::new();
    // Skipping a snapshot would lose its samples.
    assert_eq!(
        merger.add("a", &second),
        Err(MergeError::Missing {
            agent: "a".to_owned(),
            expected: 0,
            got: 1
        })
    );
    // Not base64, not a histogram, or a histogram of another precision.
    let mut bad = first.clone();
    bad.total = "%%%".to_owned();
    assert!(matches!(
        merger.add("a", &bad),
        Err(MergeError::Base64 { .. })
    ));
    bad.total = base64::engine::general_purpose::STANDARD.encode(b"not a histogram");
    assert!(matches!(
        merger.add("a", &bad),
        Err(MergeError::Histogram { .. })
    ));
    let mut coarse = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
    coarse.record(1_000).unwrap();
    let mut bad = first.clone();
    bad.total = engine::load::recorder::encode(&coarse).unwrap();
    let e = merger.add("a", &bad).unwrap_err();
    assert!(e.to_string().contains("has 2 significant figures"), "{e}");
    // A refused snapshot merged nothing, not even its good parts.
    assert_eq!(merger.counters().requests, 0);
    assert!(merger.windows().is_empty());
    assert_eq!(merger.add("a", &first), Ok(true));
    assert_eq!(merger.add("a", &second), Ok(true));
    assert_eq!(merger.counters().requests, 2);
    assert_eq!(
        merger.histogram().max(),
        merger.histogram().highest_equivalent(2_000)
    );
}
