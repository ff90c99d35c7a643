//! Worker heartbeats: each worker process upserts its row every beat, and
//! readiness reports whether any worker has beaten recently.

use crate::db::{now_ms, Db, DbError};
use serde::Serialize;
use sqlx::Row;

/// Records that this worker is alive (or, with `state = "stopped"`, that
/// it shut down cleanly).
pub async fn beat(db: &Db, id: &str, started_at_ms: i64, state: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO workers (id, pid, started_at_ms, heartbeat_at_ms, state) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms, state = excluded.state",
    )
    .bind(id)
    .bind(i64::from(std::process::id()))
    .bind(started_at_ms)
    .bind(now_ms())
    .bind(state)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The workers' liveness as readiness reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    /// Workers whose last heartbeat is fresher than the stale limit.
    pub workers_alive: i64,
    /// Age of the freshest heartbeat of a running worker; `null` if none.
    pub last_heartbeat_age_ms: Option<i64>,
}

/// Counts running workers with a heartbeat newer than `stale_ms`.
pub async fn liveness(db: &Db, stale_ms: i64) -> Result<Liveness, DbError> {
    let now = now_ms();
    let row = sqlx::query(
        "SELECT COUNT(CASE WHEN heartbeat_at_ms >= $1 THEN 1 END) AS alive, MAX(heartbeat_at_ms) AS last \
         FROM workers WHERE state = 'running'",
    )
    .bind(now - stale_ms)
    .fetch_one(&db.pool)
    .await?;
    let last: Option<i64> = row.try_get("last")?;
    Ok(Liveness {
        workers_alive: row.try_get("alive")?,
        last_heartbeat_age_ms: last.map(|t| (now - t).max(0)),
    })
}
