//! Running one claimed share: build the target from the shard's
//! environment (its secrets read from this agent's own environment, by the
//! same engine code as a local run) and make the share ready to send (its
//! request built, its host resolved, its client made: none of that is
//! counted in its load), say ready, wait for the common start
//! (on the server's clock, converted with this machine's offset from it),
//! run the share with `kinds::http_load::run_sharing`, send each snapshot
//! as it comes, then report done.

use super::api::{refused_with, Api, Claimed, Refused};
use anyhow::Context as _;
use engine::agents::{ShardEnd, ShardState, ShardTarget};
use engine::events::NullSink;
use engine::kinds::http_load::{make_ready, run_sharing, ReadyLoad, Samples};
use engine::load::snapshot::Snapshot;
use engine::plan::HttpLoadSpec;
use engine::runner::context::TestContext;
use engine::runner::target::Target;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the shard is read while waiting for the start.
const START_POLL: Duration = Duration::from_millis(100);
/// Longest wait for a readied share's start: the server starts its
/// shares within a minute of offering them, or withdraws them.
const START_WAIT: Duration = Duration::from_secs(90);
/// Most samples kept for `--samples-log`.
const SAMPLES_CAP: usize = 20_000_000;
/// Tries for a snapshot or a report the server could not take (network,
/// 5xx).
const TRIES: u32 = 5;

/// What the share needs from its shard.
struct Prepared {
    spec: HttpLoadSpec,
    ctx: TestContext,
    ready: ReadyLoad,
}

/// The share's target and its load made ready to send; why they cannot
/// be (a secret this agent lacks, a host that does not resolve).
async fn prepare(shard: &Claimed, cancel: CancellationToken) -> anyhow::Result<Prepared> {
    let spec: HttpLoadSpec =
        serde_json::from_value(shard.spec.clone()).context("the shard's spec is not readable")?;
    let target: ShardTarget = serde_json::from_value(shard.target.clone())
        .context("the shard's target is not readable")?;
    let built = Target::new(&target.name, &target.environment)
        .with_context(|| format!("cannot build target {}", target.name))?
        .with_answer_limit(target.answer_limit);
    let ctx = TestContext {
        test_id: shard.test_id.clone(),
        target: Arc::new(built),
        cancel,
        sink: Arc::new(NullSink),
        jobs: None,
        services: Arc::default(),
        supervisor: None,
        agents: None,
    };
    let ready = make_ready(&spec, &ctx)
        .await
        .map_err(|e| anyhow::anyhow!("cannot prepare the share's requests: {e}"))?;
    Ok(Prepared { spec, ctx, ready })
}

/// Runs a claimed share to its end (or until `cancel`: the server took it
/// back, or `stop`, this agent's own stop, which its report then says);
/// errors are the API's (the share's own errors go into its report).
pub async fn run(
    api: &Api,
    agent: i64,
    shard: &Claimed,
    stop: &CancellationToken,
    cancel: CancellationToken,
    samples_log: Option<&Path>,
) -> anyhow::Result<()> {
    // Prepared before saying ready: the share starts sending at the
    // common start itself. One that cannot be prepared still says ready
    // and reports why at the start, so the test fails at once naming it.
    let prepared = prepare(shard, cancel.clone()).await;
    api.ready(agent, shard.id).await?;
    let (local_start, offset_ms) = match wait_for_start(api, agent, shard.id, &cancel).await? {
        Start::At { at, offset_ms } => (at, offset_ms),
        // Aborted before the start: nothing measured, but the end is due.
        Start::Stopped => return report_done(api, agent, shard.id, &ShardEnd::default()).await,
        Start::Gone => return Ok(()),
    };
    let Prepared { spec, ctx, ready } = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            let end = ShardEnd {
                error: Some(format!("{e:#}")),
                ..ShardEnd::default()
            };
            return report_done(api, agent, shard.id, &end).await;
        }
    };
    tokio::time::sleep_until(local_start).await;
    tracing::info!(
        "shard {} (run {}, test {}, segment {}) started",
        shard.id,
        shard.run_id,
        shard.test_id,
        shard.segment
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let poster = tokio::spawn(post_snapshots(api.clone(), agent, shard.id, rx));
    let mut tap = samples_log.map(|_| Samples::new(SAMPLES_CAP));
    let outcome = run_sharing(&spec, &ctx, ready, tap.as_mut(), tx).await;
    // Its end on the server's clock, and its length on this machine's
    // monotonic clock (which a stepped wall clock does not move): the
    // test's length runs to it.
    let ended_at_ms = engine::run::now_ms() + offset_ms;
    let ran_ms = u64::try_from(local_start.elapsed().as_millis()).unwrap_or(u64::MAX);
    // This agent itself was told to stop (not the server withdrawing the
    // share): the load is short of the share's rest.
    let stopped_early = stop.is_cancelled();
    let posted = poster.await.unwrap_or(false);
    if let (Some(path), Some(tap)) = (samples_log, &tap) {
        write_samples(path, tap)?;
    }
    if !posted {
        tracing::warn!(
            "shard {}: the server no longer takes its snapshots",
            shard.id
        );
        return Ok(());
    }
    let end = ShardEnd {
        warnings: outcome.warnings,
        error: outcome.error,
        stopped_early,
        ended_at_ms: Some(ended_at_ms),
        ran_ms: Some(ran_ms),
    };
    report_done(api, agent, shard.id, &end).await
}

/// Reports the shard done, trying again while the server cannot take it;
/// a shard that ended meanwhile (withdrawn, lost) needs no report.
async fn report_done(api: &Api, agent: i64, id: i64, end: &ShardEnd) -> anyhow::Result<()> {
    let what = format!("shard {id}: done");
    match retried(&what, || api.done(agent, id, end)).await {
        Err(e) if refused_with(&e, 409) => Ok(()),
        other => other,
    }
}

/// `call` until it succeeds or the server refuses it for good (a 4xx), at
/// most [`TRIES`] times, waiting longer after each failure; `what` names
/// it in the log.
async fn retried<F, Fut>(what: &str, mut call: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match call().await {
            Err(e) if tries < TRIES && !refused_for_good(&e) => {
                tracing::warn!("{what} (try {tries}): {e:#}");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
            other => return other,
        }
    }
}

/// Whether the server refused a call in a way a retry will not change.
fn refused_for_good(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>().is_some_and(|r| r.status < 500)
}

/// How the wait for the common start ended.
enum Start {
    /// The share starts at local time `at`; the server's clock is
    /// `offset_ms` ahead of this machine's.
    At {
        at: tokio::time::Instant,
        offset_ms: i64,
    },
    /// The run was aborted before the start: the share only reports its
    /// end.
    Stopped,
    /// The shard was withdrawn or lost (or this agent stops, or
    /// [`START_WAIT`] passed) first.
    Gone,
}

/// Waits until the shard runs.
async fn wait_for_start(
    api: &Api,
    agent: i64,
    id: i64,
    cancel: &CancellationToken,
) -> anyhow::Result<Start> {
    let until = tokio::time::Instant::now() + START_WAIT;
    loop {
        // Cancelled (by this agent's stop, or its heartbeat seeing the
        // shard withdrawn, lost or asked to stop), the shard's state still
        // says whether its end is due.
        let asked = tokio::time::Instant::now();
        if asked >= until {
            tracing::warn!(
                "shard {id} did not start within {} s: giving it up",
                START_WAIT.as_secs()
            );
            return Ok(Start::Gone);
        }
        let asked_ms = engine::run::now_ms();
        let info = match api.shard(agent, id).await {
            Ok(info) => info,
            Err(_) if cancel.is_cancelled() => return Ok(Start::Gone),
            Err(e) => return Err(e),
        };
        let answered_ms = engine::run::now_ms();
        match (info.state, info.start_at_ms) {
            (ShardState::Running, Some(start_at_ms)) => {
                // The server read its clock about halfway through the call.
                let local_now_ms = asked_ms + (answered_ms - asked_ms) / 2;
                let offset_ms = info.now_ms - local_now_ms;
                let wait_ms = start_at_ms - offset_ms - asked_ms;
                let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
                return Ok(Start::At {
                    at: asked + wait,
                    offset_ms,
                });
            }
            (ShardState::Stopping, _) => return Ok(Start::Stopped),
            (state, _) if state.is_final() || cancel.is_cancelled() => return Ok(Start::Gone),
            _ => tokio::time::sleep(START_POLL).await,
        }
    }
}

/// Sends the snapshots in order as they come; `false` once the server
/// refuses them for good (the shard was lost or withdrawn).
async fn post_snapshots(
    api: Api,
    agent: i64,
    id: i64,
    mut rx: mpsc::UnboundedReceiver<Snapshot>,
) -> bool {
    let mut taken = true;
    while let Some(snapshot) = rx.recv().await {
        if !taken {
            continue;
        }
        let what = format!("shard {id}: snapshot {}", snapshot.seq);
        if let Err(e) = retried(&what, || api.snapshot(agent, id, &snapshot)).await {
            tracing::warn!("{what} not sent: {e:#}");
            taken = false;
        }
    }
    taken
}

/// Appends each kept sample's latency in microseconds, one a line.
fn write_samples(path: &Path, tap: &Samples) -> anyhow::Result<()> {
    use std::io::Write as _;
    if tap.dropped > 0 {
        anyhow::bail!(
            "--samples-log: {} samples past the {SAMPLES_CAP} kept",
            tap.dropped
        );
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for sample in &tap.kept {
        writeln!(out, "{}", sample.latency_us)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[path = "share_tests.rs"]
mod tests;
