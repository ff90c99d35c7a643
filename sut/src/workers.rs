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

/// One live worker, as readiness lists it (restart proof: a restarted
/// worker shows up with a new id, pid and start time).
#[derive(Debug, Clone, Serialize)]
pub struct WorkerInfo {
    pub id: String,
    pub pid: i64,
    pub started_at_ms: i64,
    pub heartbeat_age_ms: i64,
}

/// The workers' liveness as readiness reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    /// Workers whose last heartbeat is fresher than the stale limit.
    pub workers_alive: i64,
    /// Age of the freshest heartbeat of a running worker; `null` if none.
    pub last_heartbeat_age_ms: Option<i64>,
    /// The live workers, newest first (at most 20).
    pub workers: Vec<WorkerInfo>,
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
    let rows = sqlx::query(
        "SELECT id, pid, started_at_ms, heartbeat_at_ms FROM workers \
         WHERE state = 'running' AND heartbeat_at_ms >= $1 ORDER BY started_at_ms DESC, id LIMIT 20",
    )
    .bind(now - stale_ms)
    .fetch_all(&db.pool)
    .await?;
    let workers = rows
        .iter()
        .map(|r| {
            let beat: i64 = r.try_get("heartbeat_at_ms")?;
            Ok(WorkerInfo {
                id: r.try_get("id")?,
                pid: r.try_get("pid")?,
                started_at_ms: r.try_get("started_at_ms")?,
                heartbeat_age_ms: (now - beat).max(0),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(Liveness {
        workers_alive: row.try_get("alive")?,
        last_heartbeat_age_ms: last.map(|t| (now - t).max(0)),
        workers,
    })
}
