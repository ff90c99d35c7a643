//! The bound past which the agents still running a load are withdrawn
//! (every load has one, a rounds-only closed load too), and the shards
//! withdrawn on every way out of following them.

use super::{planned_s, run, END_MARGIN_S};
use crate::agents::{LoadAgents, ShardEnd, ShardOffer, ShardState, ShardStatus};
use crate::events::NullSink;
use crate::load::recorder::{Outcome, Sample};
use crate::load::snapshot::SnapshotTaker;
use crate::metrics::TestMetrics;
use crate::plan::{Environment, HttpLoadSpec};
use crate::run::now_ms;
use crate::runner::context::{TestContext, ABORTED_WARNING};
use crate::runner::target::Target;
use crate::store::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn spec(toml_text: &str) -> HttpLoadSpec {
    toml::from_str(&format!("path = \"/\"\n{toml_text}")).unwrap()
}

#[test]
fn a_load_bounded_by_its_rounds_has_a_hard_bound() {
    // 3 rounds of at most 2 s each plus the longest 500 ms pause: 7.5 s,
    // then the timeout and the margin.
    let rounds = spec("concurrency = 4\nrounds = 3\ntimeout_ms = 2000\nthink_time_ms = [100, 500]");
    assert_eq!(planned_s(&rounds), 8 + 2 + END_MARGIN_S);
    let plain = spec("concurrency = 4\nrounds = 10");
    assert_eq!(planned_s(&plain), 300 + 30 + END_MARGIN_S);
}

#[test]
fn a_timed_or_staged_load_is_bounded_by_its_length() {
    let open = spec("rate = 100\nduration_s = 20\ntimeout_ms = 1500");
    assert_eq!(planned_s(&open), 20 + 2 + END_MARGIN_S);
    let staged =
        spec("stages = [{ duration_s = 5, concurrency = 2 }, { duration_s = 7, concurrency = 4 }]");
    assert_eq!(planned_s(&staged), 12 + 30 + END_MARGIN_S);
}

/// A port whose agents are ready at once; once started, each shard is
/// done with `end`, or, without one, its snapshots cannot be read. It
/// notes what was withdrawn and pruned.
#[derive(Default)]
struct FakeAgents {
    end: Option<ShardEnd>,
    started: AtomicBool,
    withdrawn: std::sync::Mutex<Vec<i64>>,
    pruned: std::sync::Mutex<Vec<i64>>,
}

#[async_trait::async_trait]
impl LoadAgents for FakeAgents {
    async fn offer(&self, _: &str, shards: Vec<ShardOffer>) -> Result<Vec<i64>, StoreError> {
        Ok((1..=shards.len() as i64).collect())
    }
    async fn poll(&self, ids: &[i64], _: i64) -> Result<Vec<ShardStatus>, StoreError> {
        let ended = self
            .end
            .as_ref()
            .filter(|_| self.started.load(Ordering::SeqCst));
        let status = |id: i64| ShardStatus {
            id,
            state: ended.map_or(ShardState::Ready, |_| ShardState::Done),
            agent: Some(format!("a{id}")),
            ended_at_ms: ended.map(|_| now_ms()),
            end: ended.cloned(),
        };
        Ok(ids.iter().copied().map(status).collect())
    }
    async fn start(&self, ids: &[i64], _: i64) -> Result<u64, StoreError> {
        self.started.store(true, Ordering::SeqCst);
        Ok(ids.len() as u64)
    }
    async fn snapshots(&self, _: i64, _: i64) -> Result<Vec<(i64, String)>, StoreError> {
        match self.end {
            Some(_) => Ok(Vec::new()),
            None => Err(StoreError::Database("connection reset".to_owned())),
        }
    }
    async fn stop(&self, _: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn withdraw(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.withdrawn.lock().unwrap().extend_from_slice(ids);
        Ok(())
    }
    async fn prune(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.pruned.lock().unwrap().extend_from_slice(ids);
        Ok(())
    }
}

/// A snapshot of `requests` answered requests in second 0, as JSON.
fn tail_snapshot(requests: u64) -> String {
    let mut taker = SnapshotTaker::new();
    for i in 0..requests {
        taker.record(&Sample {
            start_us: 1_000 * i,
            latency_us: 500 + i,
            outcome: Outcome::Ok(200),
            late: false,
        });
    }
    serde_json::to_string(&taker.take().unwrap()).unwrap()
}

/// Agents that run until asked to stop; then each sends its last second
/// (`TAIL` requests) and its end, unless its shard was withdrawn first
/// (a withdrawn shard takes no snapshot). `silent` ones say nothing more
/// once asked to stop, until their shards are withdrawn: then the first
/// one's end (and its last second) is found to have landed just before,
/// and the others' shards are cancelled.
#[derive(Default)]
struct AbortedAgents {
    silent: bool,
    started: AtomicBool,
    stopped: AtomicBool,
    withdrawn: AtomicBool,
}

const TAIL: u64 = 7;

impl AbortedAgents {
    fn state(&self, id: i64) -> ShardState {
        let stopped = self.stopped.load(Ordering::SeqCst);
        match (self.silent, stopped, self.withdrawn.load(Ordering::SeqCst)) {
            (false, true, _) => ShardState::Done,
            (false, false, true) => ShardState::Cancelled,
            (true, _, true) if id == 1 => ShardState::Done,
            (true, _, true) => ShardState::Cancelled,
            (true, true, false) => ShardState::Stopping,
            _ if self.started.load(Ordering::SeqCst) => ShardState::Running,
            _ => ShardState::Ready,
        }
    }
}

#[async_trait::async_trait]
impl LoadAgents for AbortedAgents {
    async fn offer(&self, _: &str, shards: Vec<ShardOffer>) -> Result<Vec<i64>, StoreError> {
        Ok((1..=shards.len() as i64).collect())
    }
    async fn poll(&self, ids: &[i64], _: i64) -> Result<Vec<ShardStatus>, StoreError> {
        let status = |id: i64| ShardStatus {
            id,
            state: self.state(id),
            agent: Some(format!("a{id}")),
            ended_at_ms: self.state(id).is_final().then(now_ms),
            end: (self.state(id) == ShardState::Done).then(ShardEnd::default),
        };
        Ok(ids.iter().copied().map(status).collect())
    }
    async fn start(&self, ids: &[i64], _: i64) -> Result<u64, StoreError> {
        self.started.store(true, Ordering::SeqCst);
        Ok(ids.len() as u64)
    }
    async fn snapshots(&self, shard: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(if self.state(shard) == ShardState::Done && after < 0 {
            vec![(0, tail_snapshot(TAIL))]
        } else {
            Vec::new()
        })
    }
    async fn stop(&self, _: &[i64]) -> Result<(), StoreError> {
        if !self.withdrawn.load(Ordering::SeqCst) {
            self.stopped.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
    async fn withdraw(&self, _: &[i64]) -> Result<(), StoreError> {
        self.withdrawn.store(true, Ordering::SeqCst);
        Ok(())
    }
    async fn prune(&self, _: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test]
async fn on_an_abort_the_agents_last_second_is_merged_before_they_are_withdrawn() {
    let port = AbortedAgents::default();
    let load = spec("rate = 100\nduration_s = 5");
    let ctx = context();
    ctx.cancel.cancel();
    let outcome = run(&load, 2, &ctx, &port).await;
    let TestMetrics::HttpLoad(metrics) = &outcome.metrics else {
        panic!("{:?}", outcome.metrics)
    };
    assert_eq!(
        metrics.requests,
        2 * TAIL,
        "both agents' last second merged"
    );
    let rows: Vec<(&str, u64)> = outcome
        .agents
        .iter()
        .map(|a| (a.state.as_str(), a.requests))
        .collect();
    assert_eq!(rows, [("done", TAIL), ("done", TAIL)]);
    assert!(port.withdrawn.load(Ordering::SeqCst), "withdrawn after");
    assert!(outcome.warnings.iter().any(|w| w == ABORTED_WARNING));
}

#[tokio::test]
async fn after_the_abort_grace_the_shards_are_read_again_once_withdrawn() {
    // Waits out the abort's grace (10 s).
    let port = AbortedAgents {
        silent: true,
        ..AbortedAgents::default()
    };
    let ctx = context();
    ctx.cancel.cancel();
    let outcome = run(&spec("rate = 100\nduration_s = 5"), 2, &ctx, &port).await;
    let TestMetrics::HttpLoad(metrics) = &outcome.metrics else {
        panic!("{:?}", outcome.metrics)
    };
    assert_eq!(metrics.requests, TAIL, "the end that landed late is merged");
    let rows: Vec<(&str, u64)> = outcome
        .agents
        .iter()
        .map(|a| (a.state.as_str(), a.requests))
        .collect();
    assert_eq!(rows, [("done", TAIL), ("cancelled", 0)]);
    let missing: Vec<&String> = outcome
        .warnings
        .iter()
        .filter(|w| w.contains("its last second is missing"))
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", outcome.warnings);
    assert!(missing[0].contains("load agent a2 "), "{}", missing[0]);
}

fn context() -> TestContext {
    let environment: Environment =
        toml::from_str("base_url = \"http://127.0.0.1:9\"\nallowed_hosts = [\"127.0.0.1\"]")
            .unwrap();
    TestContext {
        test_id: "L1".to_owned(),
        target: Arc::new(Target::new("local", &environment).unwrap()),
        cancel: CancellationToken::new(),
        sink: Arc::new(NullSink),
        jobs: None,
        services: Arc::default(),
        supervisor: None,
        agents: None,
    }
}

#[tokio::test]
async fn the_shards_are_withdrawn_when_following_them_fails() {
    let port = FakeAgents::default();
    let load = spec("rate = 100\nduration_s = 5");
    let outcome = run(&load, 2, &context(), &port).await;
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.contains("cannot read agent a1's snapshots"),
        "{error}"
    );
    assert_eq!(*port.withdrawn.lock().unwrap(), [1, 2]);
    assert_eq!(*port.pruned.lock().unwrap(), [1, 2], "snapshots deleted");
}

#[tokio::test]
async fn an_agent_stopped_before_its_share_ended_is_an_error_unless_loss_is_allowed() {
    let port = || FakeAgents {
        end: Some(ShardEnd {
            stopped_early: true,
            ..ShardEnd::default()
        }),
        ..FakeAgents::default()
    };
    let load = spec("rate = 100\nduration_s = 5");
    let outcome = run(&load, 2, &context(), &port()).await;
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.contains("load agent a1 was stopped before its share ended"),
        "{error}"
    );
    assert!(error.contains("load agent a2 was stopped"), "{error}");
    let allowed = spec("rate = 100\nduration_s = 5\nallow_agent_loss = true");
    let outcome = run(&allowed, 2, &context(), &port()).await;
    assert_eq!(outcome.error, None);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("a1 was stopped")),
        "{:?}",
        outcome.warnings
    );
    // An agent that ran its share to the end is no error.
    let whole = FakeAgents {
        end: Some(ShardEnd::default()),
        ..FakeAgents::default()
    };
    let outcome = run(&load, 2, &context(), &whole).await;
    assert_eq!(outcome.error, None);
}

/// Agents that each measured `TAIL` requests, whose reports reached the
/// server 6 s after the common start. Agent `aN` reports the `N`th of
/// `reports` (the last one when there are fewer): its end on its wall
/// clock (ms after the start) and how long its load ran on its monotonic
/// clock, when it says.
struct LateReports {
    start_at_ms: std::sync::atomic::AtomicI64,
    reports: Vec<(i64, Option<u64>)>,
}

/// Reports received this long after the common start.
const RECEIVED_AFTER_MS: i64 = 6_000;

impl LateReports {
    fn new(reports: &[(i64, Option<u64>)]) -> Self {
        LateReports {
            start_at_ms: std::sync::atomic::AtomicI64::new(0),
            reports: reports.to_vec(),
        }
    }

    fn report(&self, id: i64, start: i64) -> ShardEnd {
        let index = usize::try_from(id - 1).unwrap_or(0);
        let (after_ms, ran_ms) = self.reports[index.min(self.reports.len() - 1)];
        ShardEnd {
            ended_at_ms: Some(start + after_ms),
            ran_ms,
            ..ShardEnd::default()
        }
    }
}

#[async_trait::async_trait]
impl LoadAgents for LateReports {
    async fn offer(&self, _: &str, shards: Vec<ShardOffer>) -> Result<Vec<i64>, StoreError> {
        Ok((1..=shards.len() as i64).collect())
    }
    async fn poll(&self, ids: &[i64], _: i64) -> Result<Vec<ShardStatus>, StoreError> {
        let start = self.start_at_ms.load(Ordering::SeqCst);
        let started = start > 0;
        let status = |id: i64| ShardStatus {
            id,
            state: if started {
                ShardState::Done
            } else {
                ShardState::Ready
            },
            agent: Some(format!("a{id}")),
            ended_at_ms: started.then_some(start + RECEIVED_AFTER_MS),
            end: started.then(|| self.report(id, start)),
        };
        Ok(ids.iter().copied().map(status).collect())
    }
    async fn start(&self, ids: &[i64], start_at_ms: i64) -> Result<u64, StoreError> {
        self.start_at_ms.store(start_at_ms, Ordering::SeqCst);
        Ok(ids.len() as u64)
    }
    async fn snapshots(&self, _: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(if after < 0 {
            vec![(0, tail_snapshot(TAIL))]
        } else {
            Vec::new()
        })
    }
    async fn stop(&self, _: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn withdraw(&self, _: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn prune(&self, _: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The test's length and rate when the agents report `reports`.
async fn length_with(reports: &[(i64, Option<u64>)]) -> (f64, f64) {
    let port = LateReports::new(reports);
    let outcome = run(&spec("rate = 100\nduration_s = 5"), 2, &context(), &port).await;
    let TestMetrics::HttpLoad(metrics) = &outcome.metrics else {
        panic!("{:?}", outcome.metrics)
    };
    assert_eq!(outcome.error, None);
    assert_eq!(metrics.requests, 2 * TAIL);
    (metrics.duration_ms, metrics.rps)
}

#[tokio::test]
async fn the_length_runs_to_the_agents_own_end_not_to_their_reports_arrival() {
    let (duration_ms, rps) = length_with(&[(1_500, None)]).await;
    assert_eq!(duration_ms, 1_500.0);
    assert_eq!(rps, (2 * TAIL) as f64 / 1.5);
}

#[tokio::test]
async fn an_agents_reported_end_is_held_to_when_the_server_received_it() {
    // One agent says its load ended at 9e15 ms: the test lasts until the
    // server received that report, not for centuries.
    let (duration_ms, _) = length_with(&[(9_000_000_000_000_000, None), (1_500, None)]).await;
    assert_eq!(duration_ms, RECEIVED_AFTER_MS as f64);
    let (duration_ms, _) = length_with(&[(1_500, Some(u64::MAX)), (1_500, None)]).await;
    assert_eq!(duration_ms, RECEIVED_AFTER_MS as f64);
}

#[tokio::test]
async fn the_length_is_the_agents_monotonic_measure_when_they_send_it() {
    // The first agent's wall clock was stepped 2.5 s forward during its
    // load; its monotonic measure says 1.5 s, as the other agent's.
    let (duration_ms, _) = length_with(&[(4_000, Some(1_500)), (1_500, Some(1_500))]).await;
    assert_eq!(duration_ms, 1_500.0);
}
