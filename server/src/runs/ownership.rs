//! Run ownership across replicas: several `shakedown serve` processes may
//! share one PostgreSQL database. A run belongs to the replica that
//! started it, through a lease row (`run_leases`) its owner renews every
//! [`HEARTBEAT`]; the lease lasts [`LEASE_TTL`]. Every replica looks every
//! [`SWEEP`] for runs whose lease lapsed (their owner died) and marks them
//! interrupted with the reason naming the lost owner and its last
//! heartbeat, closing their stream as the start-up sealing does
//! ([`super::event_writer::seal_events`]). A lapse by the clocks is not
//! enough: the sweeping replica must also see the lease's heartbeat stay
//! unchanged for [`WATCH`] of its own time, through sweeps that all
//! reached the database. So an owner that is alive but could not reach
//! the database for a while (a failover longer than the lease), or whose
//! clock is behind, renews before anyone seals its runs. A run is so
//! marked within `LEASE_TTL + SWEEP + WATCH + SWEEP` (27 s) of its owner's
//! last heartbeat.
//!
//! A replica is named by `SHAKEDOWN_REPLICA_ID`, by default
//! `HOSTNAME:PORT`: a replica restarted under the same name seals the runs
//! it held at once, at start-up.

use super::event_writer::seal_events;
use super::orchestrator::Orchestrator;
use crate::db::{now_ms, Db, LapsedRun};
use engine::run::RunSummary;
use engine::store::{RunStore, StoreError};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a lease lasts without a heartbeat.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often the owner renews its leases.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// How often a replica looks for lapsed leases.
pub const SWEEP: Duration = Duration::from_secs(3);
/// How long a lapsed lease's heartbeat must be seen unchanged before its
/// run is sealed: two heartbeats of a live owner.
pub const WATCH: Duration = Duration::from_secs(6);

/// Why a run a replica left behind in its previous life is interrupted
/// (also the start-up reason of a single server).
pub const RESTART_REASON: &str =
    "Shakedown stopped while this run was in progress; what it measured until then is kept";

/// This replica's name: `SHAKEDOWN_REPLICA_ID`, else `HOSTNAME:PORT`.
pub fn replica_id(addr: SocketAddr) -> String {
    match std::env::var("SHAKEDOWN_REPLICA_ID") {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => format!("{}:{}", hostname(), addr.port()),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// This replica's leases.
pub struct Ownership {
    db: Db,
    replica: String,
    ttl: Duration,
    watch: Duration,
    /// Lapsed leases seen by the sweeps: the heartbeat seen, and since
    /// when (this process's time) it has been seen unchanged.
    seen: Mutex<HashMap<String, (Option<i64>, Instant)>>,
}

impl Ownership {
    pub fn new(db: Db, replica: String) -> Self {
        Ownership::with_ttl(db, replica, LEASE_TTL)
    }

    /// With another lease length (tests).
    pub fn with_ttl(db: Db, replica: String, ttl: Duration) -> Self {
        Ownership::with_times(db, replica, ttl, WATCH)
    }

    /// With another lease length and watch (tests).
    pub fn with_times(db: Db, replica: String, ttl: Duration, watch: Duration) -> Self {
        Ownership {
            db,
            replica,
            ttl,
            watch,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// This replica's name.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Takes a new run.
    pub async fn claim(&self, run_id: &str) -> Result<(), StoreError> {
        self.db
            .claim_lease(run_id, &self.replica, now_ms(), self.ttl_ms())
            .await
    }

    /// Renews a run's lease; `false` when another replica took the run.
    pub async fn renew(&self, run_id: &str) -> Result<bool, StoreError> {
        self.db
            .renew_lease(run_id, &self.replica, now_ms(), self.ttl_ms())
            .await
    }

    /// Gives up an ended run's lease.
    pub async fn release(&self, run_id: &str) {
        if let Err(e) = self.db.release_lease(run_id, &self.replica).await {
            // It lapses on its own; the run is over, so no one seals it.
            tracing::warn!("run {run_id}: cannot release its lease: {e}");
        }
    }

    /// Marks interrupted every unfinished run nobody keeps alive (except
    /// those in `running_here`) and closes its stream; at start-up, also
    /// the runs this replica held in its previous life. Returns them.
    pub async fn seal_lapsed(
        &self,
        store: &dyn RunStore,
        at_start: bool,
        running_here: &HashSet<String>,
    ) -> Result<Vec<RunSummary>, StoreError> {
        let now = now_ms();
        let restarted = at_start.then_some(self.replica.as_str());
        let lapsed = match self
            .db
            .lapsed_runs(now, now - self.ttl_ms(), restarted)
            .await
        {
            Ok(lapsed) => lapsed,
            Err(e) => {
                // What was watched was not watched without a break.
                self.seen_now().clear();
                return Err(e);
            }
        };
        let due = self.due(&lapsed, at_start);
        let mut sealed = Vec::new();
        for run in lapsed {
            if running_here.contains(&run.run_id) || !due.contains(&run.run_id) {
                continue;
            }
            let reason = self.reason(&run, at_start);
            if let Some(summary) = self
                .db
                .interrupt_lapsed(&run.run_id, &reason, now, restarted)
                .await?
            {
                seal_events(store, &run.run_id, &reason).await?;
                sealed.push(summary);
            }
        }
        Ok(sealed)
    }

    fn seen_now(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Option<i64>, Instant)>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which lapsed runs may be sealed now: at start-up, the ones this
    /// replica held and the ones no replica ever claimed; otherwise the
    /// ones whose heartbeat this replica has seen unchanged for
    /// [`WATCH`].
    fn due(&self, lapsed: &[LapsedRun], at_start: bool) -> HashSet<String> {
        let now = Instant::now();
        let mut seen = self.seen_now();
        seen.retain(|id, _| lapsed.iter().any(|r| &r.run_id == id));
        let mut due = HashSet::new();
        for run in lapsed {
            let mine_before = at_start
                && (run.owner.is_none() || run.owner.as_deref() == Some(self.replica.as_str()));
            let since = seen
                .entry(run.run_id.clone())
                .and_modify(|(beat, since)| {
                    if *beat != run.heartbeat_at_ms {
                        (*beat, *since) = (run.heartbeat_at_ms, now);
                    }
                })
                .or_insert((run.heartbeat_at_ms, now))
                .1;
            if mine_before || now.duration_since(since) >= self.watch {
                due.insert(run.run_id.clone());
            }
        }
        due
    }

    /// Why a lapsed run is interrupted.
    fn reason(&self, run: &LapsedRun, at_start: bool) -> String {
        match (&run.owner, run.heartbeat_at_ms) {
            (Some(owner), _) if at_start && *owner == self.replica => RESTART_REASON.to_owned(),
            (Some(owner), Some(beat)) => format!(
                "the server that ran it ({owner}) stopped heartbeating at {}; \
                 what it measured until then is kept",
                engine::results::rfc3339(beat)
            ),
            // From before leases existed: the server that ran it is gone.
            _ if at_start => RESTART_REASON.to_owned(),
            _ => format!(
                "no server claimed this run within {} s of its creation; \
                 what it measured until then is kept",
                self.ttl.as_secs()
            ),
        }
    }
}

/// The owner's side and every replica's watch, until the process ends:
/// renews the leases of the runs running here every [`HEARTBEAT`] (a run
/// another replica took as lapsed is stopped here), and seals lapsed runs
/// every [`SWEEP`].
pub fn keep(orchestrator: Arc<Orchestrator>, ownership: Arc<Ownership>) {
    let beats = {
        let (orchestrator, ownership) = (orchestrator.clone(), ownership.clone());
        async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for id in orchestrator.live_ids() {
                    match ownership.renew(&id).await {
                        Ok(true) => {}
                        Ok(false) => orchestrator.stop_lost(
                            &id,
                            "another server marked this run interrupted after its lease here \
                             lapsed (no heartbeat reached the database in time)",
                        ),
                        Err(e) => tracing::warn!("run {id}: heartbeat not recorded: {e}"),
                    }
                }
            }
        }
    };
    let sweeps = async move {
        let mut tick = tokio::time::interval(SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let here: HashSet<String> = orchestrator.live_ids().into_iter().collect();
            match ownership
                .seal_lapsed(orchestrator.store().as_ref(), false, &here)
                .await
            {
                Ok(sealed) => {
                    for run in sealed {
                        tracing::warn!(
                            "run {} ({} on {}) marked interrupted: {}",
                            run.id,
                            run.plan,
                            run.environment,
                            run.error.as_deref().unwrap_or_default()
                        );
                    }
                }
                Err(e) => tracing::warn!("cannot look for runs whose server stopped: {e}"),
            }
        }
    };
    tokio::spawn(beats);
    tokio::spawn(sweeps);
}

#[cfg(test)]
mod tests;
