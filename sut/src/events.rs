//! Run events: an append-only log per run with consecutive sequence
//! numbers (1, 2, 3, …), persisted so a stream can resume after an API
//! restart. The sequence number is the SSE event id.

use crate::db::{now_ms, Db, DbError};
use crate::runs::{Claim, RunStatus};
use serde::Serialize;
use sqlx::Row;

/// One event of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunEvent {
    pub run_id: String,
    pub seq: i64,
    pub kind: String,
    pub at_ms: i64,
    /// Kind-specific fields (`status`, `attempt`, `step`, `final`, …).
    pub data: serde_json::Value,
}

impl RunEvent {
    /// Whether this is the last event the run will ever have.
    pub fn is_final(&self) -> bool {
        self.data.get("final").and_then(|v| v.as_bool()) == Some(true)
    }

    /// For the final event, the status the run ended in (its `status`
    /// field, else its kind); `None` for any other event.
    pub fn final_status(&self) -> Option<RunStatus> {
        if !self.is_final() {
            return None;
        }
        let named = self.data.get("status").and_then(|v| v.as_str());
        named
            .and_then(|s| s.parse().ok())
            .or_else(|| self.kind.parse().ok())
    }
}

/// Appends an event whoever holds the run (creation, completion inside the
/// completing transaction).
pub async fn append<'e, E>(
    executor: E,
    run_id: &str,
    kind: &str,
    data: &serde_json::Value,
) -> Result<(), DbError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO run_events (run_id, seq, kind, data, created_at_ms) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM run_events WHERE run_id = $1",
    )
    .bind(run_id)
    .bind(kind)
    .bind(data.to_string())
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(())
}

/// Appends an event only while `claim` still holds the run. Returns false
/// when the lease has been lost (another worker owns the run now).
pub async fn append_fenced(
    db: &Db,
    claim: &Claim,
    kind: &str,
    data: &serde_json::Value,
) -> Result<bool, DbError> {
    // Two writers racing for the next number (a worker whose lease just
    // expired and the one that took over) make one of them collide; the
    // fence decides on the next try.
    let mut tries = 0;
    loop {
        tries += 1;
        match try_append_fenced(db, claim, kind, data).await {
            Err(DbError::Sql(sqlx::Error::Database(e))) if e.is_unique_violation() && tries < 5 => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

async fn try_append_fenced(
    db: &Db,
    claim: &Claim,
    kind: &str,
    data: &serde_json::Value,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO run_events (run_id, seq, kind, data, created_at_ms) \
         SELECT r.id, (SELECT COALESCE(MAX(e.seq), 0) + 1 FROM run_events e WHERE e.run_id = r.id), \
         $1, $2, $3 FROM runs r \
         WHERE r.id = $4 AND r.worker_id = $5 AND r.attempts = $6 AND r.status = 'running'",
    )
    .bind(kind)
    .bind(data.to_string())
    .bind(now_ms())
    .bind(&claim.run.id)
    .bind(&claim.worker_id)
    .bind(claim.attempt)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The run's events with `seq > after`, in order, at most `limit`.
pub async fn after(
    db: &Db,
    run_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<RunEvent>, DbError> {
    let rows = sqlx::query(
        "SELECT run_id, seq, kind, data, created_at_ms FROM run_events \
         WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(run_id)
    .bind(after)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get("data")?;
            Ok(RunEvent {
                run_id: row.try_get("run_id")?,
                seq: row.try_get("seq")?,
                kind: row.try_get("kind")?,
                at_ms: row.try_get("created_at_ms")?,
                data: serde_json::from_str(&data)
                    .map_err(|e| DbError::Corrupt(format!("event data: {e}")))?,
            })
        })
        .collect()
}

/// The sequence numbers of the run's events, in order.
pub async fn seqs(db: &Db, run_id: &str) -> Result<Vec<i64>, DbError> {
    let rows = sqlx::query("SELECT seq FROM run_events WHERE run_id = $1 ORDER BY seq")
        .bind(run_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|row| Ok(row.try_get("seq")?)).collect()
}
