//! An `http_load` test on load agents (`agents = N`): the load is split by
//! execution segments (`SegmentSequence::even(N)`, each agent's share from
//! `Segment::share`), the shares are offered through the server's
//! [`LoadAgents`] port, and once every share is claimed and ready one start
//! time is set for all of them. Each agent then runs its share with the
//! same engine code as a local run and sends a snapshot a second; they are
//! merged exactly ([`Merger`]) into the live windows and, at the end, into
//! the test's outcome, so criteria see the whole load as one recorder would
//! have. An agent that stops heartbeating while it runs is lost: what it
//! sent stays merged, and the test is an error unless the plan allows the
//! loss. On an abort the agents are asked to stop, and what they measured
//! up to then (their last second too) is merged before their shards are
//! withdrawn.

use crate::agents::{LoadAgents, ShardEnd, ShardOffer, ShardState, ShardStatus, ShardTarget};
use crate::load::recorder::encode;
use crate::load::snapshot::{Merger, Snapshot};
use crate::metrics::{HttpLoadMetrics, TestMetrics};
use crate::plan::{HttpLoadSpec, ThinkTime};
use crate::results::AgentShare;
use crate::run::now_ms;
use crate::runner::context::{TestContext, TestOutcome, ABORTED_WARNING};
use crate::segments::{Segment, SegmentSequence};
use notes::{loss, lost_after_s, stopped, withdrawn_on_abort};
use std::time::{Duration, Instant};

/// How long the shares wait for agents to claim them and get ready.
const READY_WAIT: Duration = Duration::from_secs(60);
/// The common start is this long after every agent said it is ready, so
/// each has heard of it before it comes.
const START_MARGIN_MS: i64 = 2_000;
/// How often the shards and their snapshots are read.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// A second's live window is sent this many seconds after it began (the
/// agents send their snapshots once a second).
const LIVE_LAG_S: i64 = 3;
/// Past its planned length (and its request timeout), a load gets this
/// long before the agents still running it are withdrawn.
const END_MARGIN_S: u64 = 30;
/// After an abort, how long the agents asked to stop get to send their
/// last snapshot and their end before their shards are withdrawn.
const ABORT_GRACE_MS: i64 = 10_000;

/// One agent's share and what became of it.
struct Part {
    id: i64,
    segment: Segment,
    share: HttpLoadSpec,
    status: Option<ShardStatus>,
    last_seq: i64,
    requests: u64,
    failed: u64,
}

impl Part {
    fn state(&self) -> ShardState {
        self.status
            .as_ref()
            .map_or(ShardState::Waiting, |s| s.state)
    }

    fn agent(&self) -> String {
        self.status
            .as_ref()
            .and_then(|s| s.agent.clone())
            .unwrap_or_else(|| "(none)".to_owned())
    }

    /// The merger's name for its agent: the shard, since two agents may
    /// share a name.
    fn key(&self) -> String {
        format!("shard {}", self.id)
    }
}

fn failed(error: String) -> TestOutcome {
    TestOutcome {
        error: Some(error),
        ..TestOutcome::new(TestMetrics::HttpLoad(HttpLoadMetrics::default()))
    }
}

/// Runs `spec` on `n` agents through `port`.
pub(super) async fn run(
    spec: &HttpLoadSpec,
    n: u32,
    ctx: &TestContext,
    port: &dyn LoadAgents,
) -> TestOutcome {
    let (sequence, mut parts) = match split(spec, n) {
        Ok(split) => split,
        Err(e) => return failed(e),
    };
    let target = ShardTarget {
        name: ctx.target.name.clone(),
        environment: ctx.target.env.clone(),
        answer_limit: ctx.target.answer_limit,
    };
    let offers = match offers(&sequence, &parts, &target) {
        Ok(offers) => offers,
        Err(e) => return failed(e),
    };
    let ids = match port.offer(&ctx.test_id, offers).await {
        Ok(ids) if ids.len() == parts.len() => ids,
        Ok(ids) => return failed(format!("{} shards stored for {}", ids.len(), parts.len())),
        Err(e) => return failed(format!("cannot offer the load to agents: {e}")),
    };
    for (part, id) in parts.iter_mut().zip(&ids) {
        part.id = *id;
    }
    if let Err(e) = wait_ready(port, &mut parts, ctx).await {
        let _ = port.withdraw(&ids).await;
        return failed(e);
    }
    let start_at_ms = now_ms() + START_MARGIN_MS;
    match port.start(&ids, start_at_ms).await {
        Ok(started) if started == ids.len() as u64 => {}
        Ok(started) => {
            let _ = port.withdraw(&ids).await;
            return failed(format!(
                "only {started} of {} agents could be started: the others went away after saying they were ready",
                ids.len()
            ));
        }
        Err(e) => {
            let _ = port.withdraw(&ids).await;
            return failed(format!("cannot start the agents: {e}"));
        }
    }
    let mut merger = Merger::new();
    let followed = follow(port, &mut parts, &mut merger, ctx, spec, start_at_ms).await;
    // Every way out of `follow` (its end, an abort, the bound, a shard or
    // snapshot that could not be read) ends here: whatever still runs is
    // withdrawn, so no agent keeps loading the target into the next test.
    if let Err(e) = port.withdraw(&ids).await {
        tracing::warn!("cannot withdraw the agents' shards: {e}");
    }
    // Read once more after the withdrawal: an end that landed since the
    // last read (and its snapshots) is merged, and a shard withdrawn now
    // shows as such.
    let settled = settle(port, &mut parts, &mut merger).await;
    let followed = followed.and(settled);
    let outcome = outcome(spec, &parts, &merger, start_at_ms, followed, ctx);
    // Merged: the stored snapshots are no longer needed.
    if let Err(e) = port.prune(&ids).await {
        tracing::warn!("cannot delete the agents' snapshots: {e}");
    }
    outcome
}

/// The sequence and each agent's share (shares that would send nothing
/// are left out).
fn split(spec: &HttpLoadSpec, n: u32) -> Result<(SegmentSequence, Vec<Part>), String> {
    let sequence = SegmentSequence::even(n as usize).map_err(|e| format!("agents = {n}: {e}"))?;
    let parts: Vec<Part> = sequence
        .segments()
        .into_iter()
        .filter_map(|segment| {
            let mut share = segment.share(spec)?;
            share.agents = None;
            share.allow_agent_loss = false;
            Some(Part {
                id: 0,
                segment,
                share,
                status: None,
                last_seq: -1,
                requests: 0,
                failed: 0,
            })
        })
        .collect();
    if parts.is_empty() {
        return Err(format!(
            "agents = {n}: no share of this load sends anything"
        ));
    }
    Ok((sequence, parts))
}

fn offers(
    sequence: &SegmentSequence,
    parts: &[Part],
    target: &ShardTarget,
) -> Result<Vec<ShardOffer>, String> {
    let target = serde_json::to_value(target).map_err(|e| e.to_string())?;
    parts
        .iter()
        .map(|part| {
            Ok(ShardOffer {
                segment: part.segment.to_string(),
                sequence: sequence.to_string(),
                spec: serde_json::to_value(&part.share).map_err(|e| e.to_string())?,
                target: target.clone(),
            })
        })
        .collect()
}

/// Reads the shards into the parts; how many are in `state`.
async fn refresh(port: &dyn LoadAgents, parts: &mut [Part]) -> Result<(), String> {
    let ids: Vec<i64> = parts.iter().map(|p| p.id).collect();
    let statuses = port
        .poll(&ids, now_ms())
        .await
        .map_err(|e| format!("cannot read the agents' shards: {e}"))?;
    for status in statuses {
        if let Some(part) = parts.iter_mut().find(|p| p.id == status.id) {
            part.status = Some(status);
        }
    }
    Ok(())
}

/// Waits until every share is claimed and ready, at most [`READY_WAIT`].
async fn wait_ready(
    port: &dyn LoadAgents,
    parts: &mut [Part],
    ctx: &TestContext,
) -> Result<(), String> {
    let until = Instant::now() + READY_WAIT;
    loop {
        refresh(port, parts).await?;
        let count = |state: ShardState| parts.iter().filter(|p| p.state() == state).count();
        let ready = count(ShardState::Ready);
        if ready == parts.len() {
            return Ok(());
        }
        if ctx.cancel.is_cancelled() {
            return Err(format!(
                "{ABORTED_WARNING}: aborted while waiting for load agents"
            ));
        }
        if Instant::now() >= until {
            return Err(format!(
                "{ready} of {} load agents were ready within {} s ({} more had claimed a share): \
                 start `shakedown agent --server URL --token T` processes (an agent or operator token) \
                 before the test",
                parts.len(),
                READY_WAIT.as_secs(),
                count(ShardState::Claimed)
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Reads the shards and merges their snapshots until every one has ended
/// (on an abort, the agents are asked to stop and get [`ABORT_GRACE_MS`]
/// to send what they measured); `Err` when the figures could not be
/// merged or the load overran its bound.
async fn follow(
    port: &dyn LoadAgents,
    parts: &mut [Part],
    merger: &mut Merger,
    ctx: &TestContext,
    spec: &HttpLoadSpec,
    start_at_ms: i64,
) -> Result<(), String> {
    let ids: Vec<i64> = parts.iter().map(|p| p.id).collect();
    let bound_ms = start_at_ms + i64::try_from(planned_s(spec) * 1000).unwrap_or(i64::MAX / 2);
    let mut next_live: i64 = 0;
    let mut stopping_since: Option<i64> = None;
    loop {
        settle(port, parts, merger).await?;
        let now = now_ms();
        while (next_live + LIVE_LAG_S) * 1000 <= now - start_at_ms {
            if let Some(window) = u32::try_from(next_live).ok().and_then(|s| merger.window(s)) {
                let counters = merger.counters();
                ctx.window(window, counters.requests, counters.errors.total());
            }
            next_live += 1;
        }
        if parts.iter().all(|p| p.state().is_final()) {
            return Ok(());
        }
        if let Some(at) = stopping_since {
            if now - at >= ABORT_GRACE_MS {
                return Ok(());
            }
        } else if ctx.cancel.is_cancelled() {
            // Asked to stop, not withdrawn: an agent still sends its last
            // second and its end, merged here before the shards are
            // withdrawn.
            port.stop(&ids)
                .await
                .map_err(|e| format!("cannot stop the agents: {e}"))?;
            stopping_since = Some(now);
        } else if now > bound_ms {
            return Err(format!(
                "the agents were still running {} s past the load's planned length; they were withdrawn",
                END_MARGIN_S
            ));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Reads the shards and merges their snapshots one last time.
async fn settle(
    port: &dyn LoadAgents,
    parts: &mut [Part],
    merger: &mut Merger,
) -> Result<(), String> {
    refresh(port, parts).await?;
    for part in parts.iter_mut() {
        drain(port, part, merger).await?;
    }
    Ok(())
}

/// The load's planned length plus its request timeout and a margin, in
/// seconds. A load bounded by its count only (closed model, `rounds`)
/// lasts at most its rounds one after another, each its timeout and the
/// longest pause.
fn planned_s(spec: &HttpLoadSpec) -> u64 {
    let staged: u64 = spec
        .stages
        .iter()
        .map(|s| u64::from(s.duration_s.get()))
        .sum();
    let timeout_ms = u64::from(spec.timeout_ms.map_or(30_000, |t| t.get()));
    let length = match (staged, spec.rounds, spec.rate) {
        (0, Some(rounds), None) => {
            let pause_ms = match spec.think_time_ms {
                Some(ThinkTime::Fixed(ms)) => ms,
                Some(ThinkTime::Range(lo, hi)) => lo.max(hi),
                None => 0,
            };
            (u64::from(rounds.get()) * (timeout_ms + u64::from(pause_ms))).div_ceil(1000)
        }
        (0, _, _) => spec.duration_s.map_or(1, |d| u64::from(d.get())),
        (staged, _, _) => staged,
    };
    length + timeout_ms.div_ceil(1000) + END_MARGIN_S
}

/// Merges the part's snapshots that arrived since the last read.
async fn drain(port: &dyn LoadAgents, part: &mut Part, merger: &mut Merger) -> Result<(), String> {
    let rows = port
        .snapshots(part.id, part.last_seq)
        .await
        .map_err(|e| format!("cannot read agent {}'s snapshots: {e}", part.agent()))?;
    for (seq, json) in rows {
        let snapshot: Snapshot = serde_json::from_str(&json).map_err(|e| {
            format!(
                "agent {}: snapshot {seq} is not readable: {e}",
                part.agent()
            )
        })?;
        let merged = merger
            .add(&part.key(), &snapshot)
            .map_err(|e| format!("agent {}: {e}", part.agent()))?;
        if merged {
            part.requests += snapshot.counters.requests;
            part.failed += snapshot.counters.errors.total();
        }
        part.last_seq = seq;
    }
    Ok(())
}

/// When a share's load ended (server clock): as its agent measured it
/// (its load's length on its monotonic clock from the common start, or,
/// from an older agent, its wall clock's end), so the test's length (and
/// its rate) does not count the time its report took to reach the server
/// and be read; otherwise when the server saw it end (a lost agent's last
/// heartbeat, a withdrawal). What an agent reports is held between the
/// common start and when the server received its end: a stepped clock or
/// a lying agent cannot stretch the test.
fn ended_at_ms(part: &Part, start_at_ms: i64) -> Option<i64> {
    let status = part.status.as_ref()?;
    let end = status.end.as_ref();
    let reported = end
        .and_then(|end| end.ran_ms)
        .map(|ran| start_at_ms.saturating_add(i64::try_from(ran).unwrap_or(i64::MAX)))
        .or_else(|| end.and_then(|end| end.ended_at_ms))
        .filter(|&at| at > start_at_ms);
    match (reported, status.ended_at_ms) {
        (Some(at), Some(received)) => Some(at.min(received.max(start_at_ms))),
        (Some(at), None) => Some(at.min(now_ms().max(start_at_ms))),
        (None, seen) => seen,
    }
}

/// The test's outcome from the merged figures.
fn outcome(
    spec: &HttpLoadSpec,
    parts: &[Part],
    merger: &Merger,
    start_at_ms: i64,
    followed: Result<(), String>,
    ctx: &TestContext,
) -> TestOutcome {
    let ended = parts
        .iter()
        .filter_map(|p| ended_at_ms(p, start_at_ms))
        .max()
        .unwrap_or_else(now_ms);
    let elapsed = Duration::from_millis(u64::try_from(ended - start_at_ms).unwrap_or(0));
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    if let Err(e) = followed {
        errors.push(e);
    }
    for part in parts {
        let end = part.status.as_ref().and_then(|s| s.end.clone());
        let ShardEnd {
            warnings: w,
            error,
            stopped_early,
            ..
        } = end.unwrap_or_default();
        // An agent's share ends aborted when the run was (said once,
        // below) or the agent was stopped (said as a loss).
        warnings.extend(
            w.into_iter()
                .filter(|w| w != ABORTED_WARNING)
                .map(|w| format!("agent {}: {w}", part.agent())),
        );
        errors.extend(error.map(|e| format!("agent {}: {e}", part.agent())));
        let short = match part.state() {
            ShardState::Lost => Some(loss(part, spec, start_at_ms)),
            _ if stopped_early => Some(stopped(part, spec)),
            _ => None,
        };
        if let Some(text) = short {
            if spec.allow_agent_loss {
                warnings.push(format!("{text} (allowed by allow_agent_loss)"));
            } else {
                errors.push(text);
            }
        }
    }
    if ctx.cancel.is_cancelled() {
        warnings.push(ABORTED_WARNING.to_owned());
        warnings.extend(parts.iter().filter_map(withdrawn_on_abort));
    }
    TestOutcome {
        metrics: TestMetrics::HttpLoad(merger.metrics(elapsed)),
        windows: merger.windows(),
        histogram: encode(merger.histogram()),
        warnings,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        agents: parts.iter().map(|p| share_row(p, start_at_ms)).collect(),
    }
}

fn share_row(part: &Part, start_at_ms: i64) -> AgentShare {
    let stopped_early = part
        .status
        .as_ref()
        .and_then(|s| s.end.as_ref())
        .is_some_and(|end| end.stopped_early);
    let state = match part.state() {
        ShardState::Done if stopped_early => "stopped",
        state => state.as_str(),
    };
    AgentShare {
        agent: part.agent(),
        segment: part.segment.to_string(),
        workers: part.share.peak_workers(),
        rate: part.share.rate.map(|r| r.get()),
        requests: part.requests,
        failed: part.failed,
        state: state.to_owned(),
        lost_after_s: lost_after_s(part, start_at_ms),
    }
}

#[path = "agents_notes.rs"]
mod notes;

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
