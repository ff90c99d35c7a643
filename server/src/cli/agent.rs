//! `shakedown agent --server URL --token T [--name N]`: a load agent. It
//! registers with a Shakedown server (a token of an `agent` account, or an
//! operator's), heartbeats every second, claims shares of `http_load` tests
//! split across agents (`agents = N`) and runs each with the same engine
//! code as a local run, sending a snapshot of its figures every second
//! ([`share`]). It loops for more work until Ctrl-C or SIGTERM, which ends
//! the share it runs (what it measured is still sent).

mod api;
mod share;

use api::Api;
use engine::agents::ShardState;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the agent heartbeats (a shard's lease lasts a few of them).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How often an idle agent asks for work.
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// Wait between registration attempts while the server cannot be reached.
const REGISTER_RETRY: Duration = Duration::from_secs(2);

/// `shakedown agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The Shakedown server that hands out the work.
    #[arg(
        long,
        env = "SHAKEDOWN_SERVER",
        default_value = "http://127.0.0.1:3000"
    )]
    pub server: url::Url,
    /// An API token of an `agent` account (`shakedown user add NAME --role
    /// agent`, then `shakedown token add --user NAME`) or of an operator.
    #[arg(long, env = "SHAKEDOWN_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The name the runs' results give this agent (the host name unless
    /// set).
    #[arg(long)]
    pub name: Option<String>,
    /// Appends each sample's latency in microseconds to this file, one a
    /// line (for tests that check the merged figures).
    #[arg(long, hide = true)]
    pub samples_log: Option<PathBuf>,
}

/// The share this agent runs, and how to stop it.
type Current = Arc<Mutex<Option<(i64, CancellationToken)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `shakedown agent` until Ctrl-C or SIGTERM.
pub async fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => host_name(),
    };
    let token = args.token.trim().to_owned();
    anyhow::ensure!(!token.is_empty(), "--token: an API token is needed");
    let api = Api::new(args.server.clone(), token)?;
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            let signal = crate::runs::lifecycle::signal().await;
            tracing::info!("{signal}: stopping");
            stop.cancel();
        }
    });
    let Some(id) = register(&api, &name, &stop).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    tracing::info!("agent {name} registered with {} as agent {id}", args.server);
    let current: Current = Arc::default();
    // The heartbeat outlives a stop signal until the share in hand has
    // sent its last snapshot and its end: stopped with it, a share still
    // flushing would lapse and be reported lost instead of stopped.
    let beat_stop = CancellationToken::new();
    let beating = tokio::spawn(heartbeat(
        api.clone(),
        id,
        current.clone(),
        beat_stop.clone(),
    ));
    let worked = work(&api, id, &current, &stop, args.samples_log.as_deref()).await;
    beat_stop.cancel();
    stop.cancel();
    let _ = beating.await;
    worked.map(|()| ExitCode::SUCCESS)
}

/// Registers, retrying while the server cannot be reached; `None` when
/// stopped first.
async fn register(api: &Api, name: &str, stop: &CancellationToken) -> anyhow::Result<Option<i64>> {
    loop {
        match api.register(name).await {
            Ok(registered) => return Ok(Some(registered.id)),
            Err(e) if e.downcast_ref::<api::Refused>().is_some() => {
                return Err(e.context("the server refused the registration"));
            }
            Err(e) => tracing::warn!("{e:#}; trying again"),
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(REGISTER_RETRY) => {}
        }
    }
}

/// Claims shares and runs them, one at a time, until stopped.
async fn work(
    api: &Api,
    id: i64,
    current: &Current,
    stop: &CancellationToken,
    samples_log: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    while !stop.is_cancelled() {
        let claimed = match api.claim(id).await {
            Ok(claimed) => claimed,
            Err(e)
                if e.downcast_ref::<api::Refused>()
                    .is_some_and(|r| r.status == 403 || r.status == 401) =>
            {
                return Err(e.context("the server refuses this agent's token"));
            }
            Err(e) => {
                tracing::warn!("cannot ask for work: {e:#}");
                None
            }
        };
        let Some(shard) = claimed else {
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(CLAIM_EVERY) => {}
            }
            continue;
        };
        let cancel = stop.child_token();
        *lock(current) = Some((shard.id, cancel.clone()));
        if let Err(e) = share::run(api, id, &shard, stop, cancel, samples_log).await {
            tracing::error!("shard {}: {e:#}", shard.id);
        }
        *lock(current) = None;
    }
    Ok(())
}

/// Heartbeats every second until `stop` (cancelled once no share is in
/// hand), renewing only the share it works on (one it gave up on lapses
/// on the server); stops that share when the server asks it to (the run
/// was aborted: what it measured is still sent) or no longer counts it as
/// this agent's (lost or withdrawn).
async fn heartbeat(api: Api, id: i64, current: Current, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // Read before the call: a share claimed meanwhile may not be in
        // the answer yet.
        let running = lock(&current).clone();
        let working = running.as_ref().map(|(shard, _)| *shard);
        let beat = match api.heartbeat(id, working).await {
            Ok(beat) => beat,
            Err(e) => {
                tracing::warn!("heartbeat: {e:#}");
                continue;
            }
        };
        if let Some((shard, cancel)) = running {
            match beat.shards.iter().find(|s| s.id == shard) {
                None => {
                    tracing::warn!("shard {shard} is no longer this agent's: stopping it");
                    cancel.cancel();
                }
                Some(s) if s.state == ShardState::Stopping && !cancel.is_cancelled() => {
                    tracing::info!("shard {shard}: the run was aborted; sending what it measured");
                    cancel.cancel();
                }
                Some(_) => {}
            }
        } else if beat.waiting > 0 {
            tracing::debug!("{} shares wait for an agent", beat.waiting);
        }
    }
}

/// This machine's name, for an agent started without `--name`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "agent".to_owned())
        .chars()
        .take(100)
        .collect()
}
