//! Run leases: which server process (replica) runs each unfinished run,
//! kept alive by its owner's heartbeat, and the runs whose lease lapsed
//! (their owner died) marked interrupted by whichever replica sees it
//! first.

use super::{column, db_error, Db};
use engine::run::{RunStatus, RunSummary};
use engine::store::{RunStore, StoreError};

/// An unfinished run nobody keeps alive: its lease lapsed, or it never had
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapsedRun {
    pub run_id: String,
    /// The replica that held it last, when it had a lease.
    pub owner: Option<String>,
    /// Its owner's last heartbeat.
    pub heartbeat_at_ms: Option<i64>,
}

impl Db {
    /// Makes `owner` the run's owner until `now_ms + ttl_ms`.
    pub async fn claim_lease(
        &self,
        run_id: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "INSERT INTO run_leases (run_id, owner, heartbeat_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO UPDATE SET \
                 owner = excluded.owner, heartbeat_at_ms = excluded.heartbeat_at_ms, \
                 expires_at_ms = excluded.expires_at_ms",
            )
            .bind(run_id)
            .bind(owner)
            .bind(now_ms)
            .bind(now_ms + ttl_ms),
        )
        .await
        .map(|_| ())
    }

    /// The owner's heartbeat: pushes its lease to `now_ms + ttl_ms`.
    /// `false` when `owner` no longer holds the run (another replica took
    /// it as lapsed).
    pub async fn renew_lease(
        &self,
        run_id: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE run_leases SET heartbeat_at_ms = $1, expires_at_ms = $2 \
                     WHERE run_id = $3 AND owner = $4",
                )
                .bind(now_ms)
                .bind(now_ms + ttl_ms)
                .bind(run_id)
                .bind(owner),
            )
            .await?;
        Ok(rows > 0)
    }

    /// Gives up the lease of a run that ended.
    pub async fn release_lease(&self, run_id: &str, owner: &str) -> Result<(), StoreError> {
        self.execute(
            sqlx::query("DELETE FROM run_leases WHERE run_id = $1 AND owner = $2")
                .bind(run_id)
                .bind(owner),
        )
        .await
        .map(|_| ())
    }

    /// Queued or running runs whose lease expired before `now_ms`, that
    /// never had a lease and were created before `unleased_before_ms`, or
    /// (at a replica's start) that `restarted` held in its previous life.
    pub async fn lapsed_runs(
        &self,
        now_ms: i64,
        unleased_before_ms: i64,
        restarted: Option<&str>,
    ) -> Result<Vec<LapsedRun>, StoreError> {
        self.all(
            sqlx::query(
                "SELECT r.id, l.owner, l.heartbeat_at_ms FROM runs r \
                 LEFT JOIN run_leases l ON l.run_id = r.id \
                 WHERE r.status IN ('queued', 'running') AND (l.expires_at_ms < $1 \
                 OR (l.run_id IS NULL AND r.created_at_ms < $2) OR l.owner = $3) \
                 ORDER BY r.created_at_ms, r.id",
            )
            .bind(now_ms)
            .bind(unleased_before_ms)
            .bind(restarted),
            |row| {
                Ok(LapsedRun {
                    run_id: column(row, "id")?,
                    owner: column(row, "owner")?,
                    heartbeat_at_ms: column(row, "heartbeat_at_ms")?,
                })
            },
        )
        .await
    }

    /// Marks a lapsed run interrupted with `reason` and drops its lease,
    /// unless it ended meanwhile or a lease (other than `restarted`'s) is
    /// alive again: `None` then. Of replicas racing for the same run, one
    /// gets it.
    pub async fn interrupt_lapsed(
        &self,
        run_id: &str,
        reason: &str,
        now_ms: i64,
        restarted: Option<&str>,
    ) -> Result<Option<RunSummary>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 \
             WHERE id = $4 AND status IN ('queued', 'running') AND NOT EXISTS \
             (SELECT 1 FROM run_leases WHERE run_id = $4 AND expires_at_ms >= $3 \
             AND (CAST($5 AS TEXT) IS NULL OR owner <> $5))",
        )
        .bind(RunStatus::Interrupted.as_str())
        .bind(reason)
        .bind(now_ms)
        .bind(run_id)
        .bind(restarted)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_error)?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM run_leases WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        super::agents::withdraw_run_shards_in(&mut tx, run_id, now_ms).await?;
        tx.commit().await.map_err(db_error)?;
        self.sweep_ended_runs_shards(now_ms).await?;
        self.get_run(run_id).await.map(Some)
    }
}
