//! The worker role: claims runs under a lease, heartbeats (which renews
//! its leases), works through each run's steps emitting progress events,
//! stores the REP in the bucket and completes the run exactly once.
//! SIGTERM: stop claiming, let in-flight runs finish for a grace period,
//! put the rest back in the queue, exit. A database write that fails while
//! a run is worked (a connection lost, the database restarting) is retried
//! for a while (`DB_PATIENCE`), unless `lose-on-db-error` is on.

use crate::bucket::Bucket;
use crate::config::Config;
use crate::db::{first_line, now_ms, retrying, Db, DbError};
use crate::faults::{Fault, Faults};
use crate::runs::{self, Artifact, Claim};
use crate::work::{self, Pace, RepContext};
use crate::worker_health::{self, WorkerStatus};
use crate::{events, shutdown, workers};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How long a worker keeps retrying one database write before it gives
/// the run up to its lease (another claim will finish it).
const DB_PATIENCE: Duration = Duration::from_secs(60);

struct Worker {
    cfg: Config,
    faults: Faults,
    db: Db,
    bucket: Bucket,
    id: String,
    in_flight: Mutex<HashMap<String, Claim>>,
}

/// Runs the worker until SIGTERM or SIGINT.
pub async fn run(cfg: Config, faults: Faults, db: Db, bucket: Bucket) -> anyhow::Result<()> {
    let id = cfg.worker_id.clone().unwrap_or_else(|| {
        format!(
            "worker-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    });
    tracing::info!(worker_id = %id, concurrency = cfg.concurrency, lease_ms = cfg.lease_ms, "worker started");
    let worker = Arc::new(Worker {
        cfg,
        faults,
        db,
        bucket,
        id,
        in_flight: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown::signal().await;
        let _ = stop_tx.send(true);
    });
    let started_at_ms = now_ms();
    if let Some(addr) = worker.cfg.worker_health_listen {
        serve_health(&worker, addr, stop.clone()).await?;
    }
    let heart = tokio::spawn(heartbeat(worker.clone(), started_at_ms, stop.clone()));
    let mut tasks = claim_loop(worker.clone(), stop.clone()).await;

    if worker.faults.on(Fault::LoseOnRestart) {
        // The defect: in-flight runs are neither finished nor released.
        tracing::warn!(
            runs = tasks.len(),
            "shutting down without finishing or releasing in-flight runs"
        );
        tasks.abort_all();
        heart.abort();
        return Ok(());
    }
    drain(&worker, tasks).await;
    heart.abort();
    if let Err(e) = workers::beat(&worker.db, &worker.id, started_at_ms, "stopped").await {
        tracing::warn!(error = %e, "could not record the stop");
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Serves the worker's own health endpoint until told to stop.
async fn serve_health(
    worker: &Arc<Worker>,
    addr: std::net::SocketAddr,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let w = worker.clone();
    let status = Arc::new(WorkerStatus {
        worker_id: worker.id.clone(),
        environment: worker.cfg.environment.clone(),
        started: Instant::now(),
        started_at: time::OffsetDateTime::now_utc(),
        in_flight: Box::new(move || lock(&w.in_flight).len()),
    });
    let listener = worker_health::bind(addr).await?;
    tokio::spawn(async move {
        if let Err(e) = worker_health::serve(listener, status, stop).await {
            tracing::warn!(error = %e, "worker health server stopped");
        }
    });
    Ok(())
}

/// Lets in-flight runs finish for the grace period, then puts the rest
/// back in the queue.
async fn drain(worker: &Worker, mut tasks: JoinSet<()>) {
    let grace = Duration::from_millis(worker.cfg.shutdown_grace_ms);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    let leftover: Vec<Claim> = lock(&worker.in_flight).drain().map(|(_, c)| c).collect();
    for claim in &leftover {
        match retrying("release", Duration::from_secs(5), || {
            runs::release(&worker.db, claim)
        })
        .await
        {
            Ok(true) => tracing::info!(run_id = %claim.run.id, "released back to the queue"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(run_id = %claim.run.id, error = %e, "could not release; its lease will expire")
            }
        }
    }
}

impl Worker {
    /// How long a write for a run is retried: [`DB_PATIENCE`], or not at
    /// all with `lose-on-db-error`.
    fn patience(&self) -> Duration {
        if self.faults.on(Fault::LoseOnDbError) {
            Duration::ZERO
        } else {
            DB_PATIENCE
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Beats every third of a lease: records liveness and renews leases.
async fn heartbeat(worker: Arc<Worker>, started_at_ms: i64, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis((worker.cfg.lease_ms / 3).max(100));
    // Woken early once, when the stop comes (so a draining worker says so
    // at once); after that the signal's sender is gone and `changed()`
    // would answer at once forever, so only the timer paces the beats.
    let mut watching = true;
    loop {
        // With `errors-during-restart` a stopping worker says it drains,
        // and the API refuses work meanwhile.
        let state = if *stop.borrow() && worker.faults.on(Fault::ErrorsDuringRestart) {
            "draining"
        } else {
            "running"
        };
        if let Err(e) = workers::beat(&worker.db, &worker.id, started_at_ms, state).await {
            tracing::warn!(error = %first_line(&e.to_string()), "heartbeat failed");
        }
        if let Err(e) = runs::renew_leases(&worker.db, &worker.id, worker.cfg.lease_ms as i64).await
        {
            tracing::warn!(error = %first_line(&e.to_string()), "lease renewal failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = stop.changed(), if watching => {
                watching = changed.is_ok() && !*stop.borrow();
            }
        }
    }
}

/// Claims runs while slots are free, until told to stop. Returns the
/// tasks still working.
async fn claim_loop(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) -> JoinSet<()> {
    let slots = Arc::new(Semaphore::new(worker.cfg.concurrency as usize));
    let mut tasks = JoinSet::new();
    let poll = Duration::from_millis(worker.cfg.poll_ms.max(10));
    let mut backoff = poll;
    loop {
        if *stop.borrow() {
            return tasks;
        }
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return tasks,
            },
            _ = stop.changed() => return tasks,
        };
        // Both defects forget runs: neither takes back a run whose lease
        // ran out (with lose-on-db-error, the leases of the runs it dropped
        // run out while the database link is down).
        let only_queued =
            worker.faults.on(Fault::LoseOnRestart) || worker.faults.on(Fault::LoseOnDbError);
        match runs::claim(
            &worker.db,
            &worker.id,
            worker.cfg.lease_ms as i64,
            only_queued,
        )
        .await
        {
            Ok(Some(claim)) => {
                backoff = poll;
                tracing::info!(run_id = %claim.run.id, attempt = claim.attempt, "claimed");
                lock(&worker.in_flight).insert(claim.run.id.clone(), claim.clone());
                let w = worker.clone();
                tasks.spawn(async move {
                    let run_id = claim.run.id.clone();
                    process(&w, &claim).await;
                    lock(&w.in_flight).remove(&run_id);
                    drop(permit);
                });
                continue;
            }
            Ok(None) => backoff = poll,
            Err(e) => {
                tracing::warn!(error = %first_line(&e.to_string()), "claim failed; retrying in {backoff:?}");
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        drop(permit);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Works one claimed run to its end, or until the lease is lost.
async fn process(worker: &Worker, claim: &Claim) {
    match try_process(worker, claim).await {
        Ok(Outcome::Completed) => {
            tracing::info!(run_id = %claim.run.id, attempt = claim.attempt, "completed")
        }
        Ok(Outcome::Failed) => {
            tracing::info!(run_id = %claim.run.id, attempt = claim.attempt, "failed")
        }
        Ok(Outcome::LeaseLost) => {
            tracing::warn!(run_id = %claim.run.id, attempt = claim.attempt, "lease lost to another worker; abandoned")
        }
        Err(e) if worker.faults.on(Fault::LoseOnDbError) => {
            // The defect: the run is neither failed nor released, and the
            // heartbeat renews the leases of every run this worker holds.
            tracing::warn!(run_id = %claim.run.id, error = %e, "database error: run dropped, neither retried nor released")
        }
        Err(e) => {
            tracing::warn!(run_id = %claim.run.id, error = %e, "gave up on this attempt; the lease will expire")
        }
    }
}

enum Outcome {
    Completed,
    Failed,
    LeaseLost,
}

async fn try_process(worker: &Worker, claim: &Claim) -> Result<Outcome, DbError> {
    let db = &worker.db;
    if claim.attempt > worker.cfg.max_attempts {
        let error = format!("gave up after {} attempts", worker.cfg.max_attempts);
        return give_up(db, claim, &error, worker.patience()).await;
    }
    let run = &claim.run;
    let pace = Pace::of(
        &run.params,
        Pace {
            steps: worker.cfg.run_steps,
            step_ms: worker.cfg.step_ms,
        },
    );
    let claimed = json!({ "status": "running", "attempt": claim.attempt, "worker_id": claim.worker_id, "steps": pace.steps });
    let patience = worker.patience();
    if !retrying("event", patience, || {
        events::append_fenced(db, claim, "claimed", &claimed)
    })
    .await?
    {
        return Ok(Outcome::LeaseLost);
    }
    let computation = work::compute(run.kind, &run.params, pace.steps);
    let early_result = worker.faults.on(Fault::DuplicateResults);
    if early_result {
        // The defect: the result is recorded as soon as it is known, keyed
        // by attempt, before the run is done; a re-claim records it again.
        let key = format!("{}#{}", run.id, claim.attempt);
        retrying("result", patience, || {
            runs::insert_result(&db.pool, claim, &key, &computation.result)
        })
        .await?;
    }
    if !work_steps(db, claim, &computation, pace, patience).await? {
        return Ok(Outcome::LeaseLost);
    }
    let key = format!("reps/{}/attempt-{}.json", run.id, claim.attempt);
    let rep = work::render_rep(
        &RepContext {
            run_id: &run.id,
            kind: run.kind,
            params: &run.params,
            attempt: claim.attempt,
            worker_id: &claim.worker_id,
            environment: &worker.cfg.environment,
            bucket: worker.bucket.name(),
            key: &key,
            stored_at_ms: now_ms(),
        },
        &computation,
        worker.faults.on(Fault::CorruptArtifact),
    );
    if let Err(e) = store(&worker.bucket, &key, rep.bytes).await {
        return give_up(db, claim, &format!("storing the REP failed: {e}"), patience).await;
    }
    let artifact = Artifact {
        bucket: worker.bucket.name(),
        key: &key,
        sha256: &rep.sha256,
    };
    let done = retrying("complete", patience, || {
        runs::complete(db, claim, &artifact, &computation.result, !early_result)
    })
    .await?;
    Ok(if done {
        Outcome::Completed
    } else {
        Outcome::LeaseLost
    })
}

/// Ends the run as failed with `error`, unless another worker holds it now.
async fn give_up(
    db: &Db,
    claim: &Claim,
    error: &str,
    patience: Duration,
) -> Result<Outcome, DbError> {
    let failed = retrying("fail", patience, || runs::fail(db, claim, error)).await?;
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::LeaseLost
    })
}

/// Works through the run's steps at its pace, one progress event each;
/// `false` when the lease was lost on the way.
async fn work_steps(
    db: &Db,
    claim: &Claim,
    computation: &work::Computation,
    pace: Pace,
    patience: Duration,
) -> Result<bool, DbError> {
    for out in &computation.steps {
        tokio::time::sleep(Duration::from_millis(pace.step_ms)).await;
        let progress = json!({
            "status": "running", "attempt": claim.attempt, "step": out.step,
            "steps": pace.steps, "value": out.value,
        });
        if !retrying("event", patience, || {
            events::append_fenced(db, claim, "progress", &progress)
        })
        .await?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Puts the object, retrying a few times over about ten seconds.
async fn store(
    bucket: &Bucket,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), crate::bucket::BucketError> {
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        tries += 1;
        match bucket.put(key, bytes.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if tries < 6 => {
                tracing::warn!(key, error = %e, "bucket write failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
            }
            Err(e) => return Err(e),
        }
    }
}
