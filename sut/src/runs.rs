//! Runs in the database: idempotent creation, the lease-based claim, lease
//! renewal, fenced completion (exactly one result per run), failure and
//! release, results and queue metrics.

use crate::db::{now_ms, Backend, Db, DbError};
use crate::events;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::fmt;
use std::str::FromStr;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Simulation,
    Calibration,
    AutoTune,
    Export,
}

impl RunKind {
    /// The kind's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Simulation => "simulation",
            RunKind::Calibration => "calibration",
            RunKind::AutoTune => "auto_tune",
            RunKind::Export => "export",
        }
    }
}

impl FromStr for RunKind {
    type Err = DbError;
    fn from_str(s: &str) -> Result<RunKind, DbError> {
        match s {
            "simulation" => Ok(RunKind::Simulation),
            "calibration" => Ok(RunKind::Calibration),
            "auto_tune" => Ok(RunKind::AutoTune),
            "export" => Ok(RunKind::Export),
            other => Err(DbError::Corrupt(format!("unknown run kind {other:?}"))),
        }
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl RunStatus {
    /// The status's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    /// Completed or failed: nothing will change it any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }
}

impl FromStr for RunStatus {
    type Err = DbError;
    fn from_str(s: &str) -> Result<RunStatus, DbError> {
        match s {
            "queued" => Ok(RunStatus::Queued),
            "running" => Ok(RunStatus::Running),
            "completed" => Ok(RunStatus::Completed),
            "failed" => Ok(RunStatus::Failed),
            other => Err(DbError::Corrupt(format!("unknown run status {other:?}"))),
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: String,
    pub kind: RunKind,
    pub params: serde_json::Value,
    pub idempotency_key: Option<String>,
    pub status: RunStatus,
    pub attempts: i64,
    pub worker_id: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub artifact_bucket: Option<String>,
    pub artifact_key: Option<String>,
    pub artifact_sha256: Option<String>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
}

const RUN_COLUMNS: &str = "id, kind, params, idempotency_key, status, attempts, worker_id, \
     lease_until_ms, artifact_bucket, artifact_key, artifact_sha256, error, created_at_ms, \
     started_at_ms, finished_at_ms";

fn run_from_row(row: &AnyRow) -> Result<Run, DbError> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let params: String = row.try_get("params")?;
    Ok(Run {
        id: row.try_get("id")?,
        kind: kind.parse()?,
        params: serde_json::from_str(&params)
            .map_err(|e| DbError::Corrupt(format!("run params: {e}")))?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: status.parse()?,
        attempts: row.try_get("attempts")?,
        worker_id: row.try_get("worker_id")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
        artifact_bucket: row.try_get("artifact_bucket")?,
        artifact_key: row.try_get("artifact_key")?,
        artifact_sha256: row.try_get("artifact_sha256")?,
        error: row.try_get("error")?,
        created_at_ms: row.try_get("created_at_ms")?,
        started_at_ms: row.try_get("started_at_ms")?,
        finished_at_ms: row.try_get("finished_at_ms")?,
    })
}

/// A run held by one worker for one attempt: the fencing token of every
/// write the worker makes for it.
#[derive(Debug, Clone)]
pub struct Claim {
    pub run: Run,
    pub worker_id: String,
    pub attempt: i64,
}

/// One recorded result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub id: i64,
    pub run_id: String,
    pub attempt: i64,
    pub worker_id: String,
    pub value: serde_json::Value,
    pub created_at_ms: i64,
}

/// Counts for `/metrics/queue`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueMetrics {
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    /// Age of the oldest queued run; `null` when nothing is queued.
    pub oldest_queued_age_ms: Option<i64>,
}

/// What `create` found or made.
pub struct Created {
    pub run: Run,
    /// False when the idempotency key named an existing run.
    pub created: bool,
}

/// Creates a run, or returns the run an earlier request with the same
/// idempotency key created.
pub async fn create(
    db: &Db,
    kind: RunKind,
    params: &serde_json::Value,
    idempotency_key: Option<&str>,
) -> Result<Created, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO runs (id, kind, params, idempotency_key, status, attempts, created_at_ms) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(params.to_string())
    .bind(idempotency_key)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        let data = serde_json::json!({ "status": "queued", "kind": kind.as_str() });
        events::append(&mut *tx, &id, "queued", &data).await?;
    }
    tx.commit().await?;
    if inserted == 1 {
        let run = get(db, &id)
            .await?
            .ok_or_else(|| DbError::Corrupt(format!("run {id} vanished after insert")))?;
        return Ok(Created { run, created: true });
    }
    let key = idempotency_key.unwrap_or_default();
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| {
        DbError::Corrupt(format!(
            "idempotency key {key:?} conflicts but no run has it"
        ))
    })?;
    Ok(Created {
        run: run_from_row(&row)?,
        created: false,
    })
}

/// The run with this id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Run>, DbError> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// Claims the oldest claimable run for `worker_id`, leasing it until
/// `now + lease_ms`. Claimable: queued, or running with an expired lease
/// (its worker died) — unless `only_queued` (the `lose-on-restart` fault).
pub async fn claim(
    db: &Db,
    worker_id: &str,
    lease_ms: i64,
    only_queued: bool,
) -> Result<Option<Claim>, DbError> {
    let now = now_ms();
    let claimable = if only_queued {
        "status = 'queued'"
    } else {
        "(status = 'queued' OR (status = 'running' AND lease_until_ms < $3))"
    };
    // PostgreSQL: concurrent claimers skip each other's locked rows.
    // SQLite: one writer at a time, so the UPDATE with its sub-select is
    // already atomic.
    let lock = match db.backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE runs SET status = 'running', worker_id = $1, attempts = attempts + 1, \
         lease_until_ms = $2, started_at_ms = COALESCE(started_at_ms, $3) \
         WHERE id = (SELECT id FROM runs WHERE {claimable} ORDER BY created_at_ms, id LIMIT 1 {lock}) \
         AND {claimable} RETURNING {RUN_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(worker_id)
        .bind(now + lease_ms)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let run = run_from_row(&row)?;
    Ok(Some(Claim {
        attempt: run.attempts,
        worker_id: worker_id.to_owned(),
        run,
    }))
}

/// Extends the leases of every run this worker holds.
pub async fn renew_leases(db: &Db, worker_id: &str, lease_ms: i64) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE runs SET lease_until_ms = $1 WHERE worker_id = $2 AND status = 'running'",
    )
    .bind(now_ms() + lease_ms)
    .bind(worker_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// The artifact a completed attempt wrote.
pub struct Artifact<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub sha256: &'a str,
}

/// Marks the run completed if this claim still holds it, and records its
/// result (unless `record_result` is false because it was recorded
/// earlier). Returns false when the lease was lost to another worker: then
/// nothing is written.
pub async fn complete(
    db: &Db,
    claim: &Claim,
    artifact: &Artifact<'_>,
    result: &serde_json::Value,
    record_result: bool,
) -> Result<bool, DbError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE runs SET status = 'completed', lease_until_ms = NULL, artifact_bucket = $1, \
         artifact_key = $2, artifact_sha256 = $3, finished_at_ms = $4, error = NULL \
         WHERE id = $5 AND worker_id = $6 AND attempts = $7 AND status = 'running'",
    )
    .bind(artifact.bucket)
    .bind(artifact.key)
    .bind(artifact.sha256)
    .bind(now)
    .bind(&claim.run.id)
    .bind(&claim.worker_id)
    .bind(claim.attempt)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    if record_result {
        insert_result(&mut *tx, claim, &claim.run.id, result).await?;
    }
    let data = serde_json::json!({
        "status": "completed",
        "attempt": claim.attempt,
        "artifact_bucket": artifact.bucket,
        "artifact_key": artifact.key,
        "artifact_sha256": artifact.sha256,
        "final": true,
    });
    events::append(&mut *tx, &claim.run.id, "completed", &data).await?;
    tx.commit().await?;
    Ok(true)
}

/// Records a result row. `dedupe_key` is the run id for the one result a
/// run has; rows with a key already present are ignored.
pub async fn insert_result<'e, E>(
    executor: E,
    claim: &Claim,
    dedupe_key: &str,
    value: &serde_json::Value,
) -> Result<bool, DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "INSERT INTO run_results (run_id, dedupe_key, attempt, worker_id, value, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&claim.run.id)
    .bind(dedupe_key)
    .bind(claim.attempt)
    .bind(&claim.worker_id)
    .bind(value.to_string())
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the run failed if this claim still holds it.
pub async fn fail(db: &Db, claim: &Claim, error: &str) -> Result<bool, DbError> {
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE runs SET status = 'failed', lease_until_ms = NULL, error = $1, finished_at_ms = $2 \
         WHERE id = $3 AND worker_id = $4 AND attempts = $5 AND status = 'running'",
    )
    .bind(error)
    .bind(now_ms())
    .bind(&claim.run.id)
    .bind(&claim.worker_id)
    .bind(claim.attempt)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        let data = serde_json::json!({
            "status": "failed", "attempt": claim.attempt, "error": error, "final": true,
        });
        events::append(&mut *tx, &claim.run.id, "failed", &data).await?;
    }
    tx.commit().await?;
    Ok(updated == 1)
}

/// Puts a run this claim holds back in the queue (graceful shutdown).
pub async fn release(db: &Db, claim: &Claim) -> Result<bool, DbError> {
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE runs SET status = 'queued', worker_id = NULL, lease_until_ms = NULL \
         WHERE id = $1 AND worker_id = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(&claim.run.id)
    .bind(&claim.worker_id)
    .bind(claim.attempt)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 1 {
        let data = serde_json::json!({ "status": "queued", "attempt": claim.attempt, "reason": "worker shutting down" });
        events::append(&mut *tx, &claim.run.id, "released", &data).await?;
    }
    tx.commit().await?;
    Ok(updated == 1)
}

/// Every result row recorded for the run, oldest first.
pub async fn results(db: &Db, run_id: &str) -> Result<Vec<RunResult>, DbError> {
    let rows = sqlx::query(
        "SELECT id, run_id, attempt, worker_id, value, created_at_ms FROM run_results \
         WHERE run_id = $1 ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let value: String = row.try_get("value")?;
            Ok(RunResult {
                id: row.try_get("id")?,
                run_id: row.try_get("run_id")?,
                attempt: row.try_get("attempt")?,
                worker_id: row.try_get("worker_id")?,
                value: serde_json::from_str(&value)
                    .map_err(|e| DbError::Corrupt(format!("result value: {e}")))?,
                created_at_ms: row.try_get("created_at_ms")?,
            })
        })
        .collect()
}

/// Queue depth by status and the age of the oldest queued run.
pub async fn queue_metrics(db: &Db) -> Result<QueueMetrics, DbError> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM runs GROUP BY status",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut metrics = QueueMetrics::default();
    let now = now_ms();
    for row in &rows {
        let status: String = row.try_get("status")?;
        let n: i64 = row.try_get("n")?;
        match status.parse()? {
            RunStatus::Queued => {
                metrics.queued = n;
                let oldest: Option<i64> = row.try_get("oldest")?;
                metrics.oldest_queued_age_ms = oldest.map(|t| (now - t).max(0));
            }
            RunStatus::Running => metrics.running = n,
            RunStatus::Completed => metrics.completed = n,
            RunStatus::Failed => metrics.failed = n,
        }
    }
    Ok(metrics)
}
