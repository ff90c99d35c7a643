//! How shards end: done with their agent's report, asked to stop (an
//! aborted run: the agent still sends what it measured), withdrawn (their
//! agents stop at once; with a run's end, in the same transaction as its
//! status), and their snapshots deleted once merged.

use super::super::{db_error, AnyQuery, Db};
use super::WITHDRAW_RUN_SHARDS;
use engine::store::StoreError;

/// An `agent_shards` row whose run no longer runs.
const OF_ENDED_RUNS: &str = "NOT EXISTS (SELECT 1 FROM runs r \
     WHERE r.id = agent_shards.run_id AND r.status = 'running')";

/// Withdraws run `run_id`'s unended shards inside `tx`, the transaction
/// that writes the run's end.
pub(in crate::db) async fn withdraw_run_shards_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(WITHDRAW_RUN_SHARDS)
        .bind(now_ms)
        .bind(run_id)
        .execute(&mut **tx)
        .await
        .map_err(db_error)
        .map(|_| ())
}

impl Db {
    /// Runs `status` (a write of run `run_id`'s status) and, when it
    /// changed a row and the run `ended`, withdraws the run's unended
    /// shards, in one transaction: the run never ends with shards its
    /// agents still run, nor loses them while it runs. The rows `status`
    /// changed.
    pub(crate) async fn write_run_status(
        &self,
        status: AnyQuery<'_>,
        run_id: &str,
        ended: bool,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let rows = status
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if rows > 0 && ended {
            withdraw_run_shards_in(&mut tx, run_id, now_ms).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(rows)
    }

    /// Marks a running shard (or one asked to stop) done with its agent's
    /// report; whether it was running.
    pub async fn finish_shard(
        &self,
        id: i64,
        agent: i64,
        outcome: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE agent_shards SET state = 'done', outcome = $1, ended_at_ms = $2 \
                     WHERE id = $3 AND state IN ('running', 'stopping') AND agent_id = $4",
                )
                .bind(outcome)
                .bind(now_ms)
                .bind(id)
                .bind(agent),
            )
            .await?;
        Ok(rows > 0)
    }

    /// Asks the agent of shard `id` to stop it if it runs (the run was
    /// aborted): its agent sees it in its heartbeat, stops its share and
    /// still sends its last snapshot and its end.
    pub async fn stop_shard(&self, id: i64) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "UPDATE agent_shards SET state = 'stopping' WHERE id = $1 AND state = 'running'",
            )
            .bind(id),
        )
        .await
        .map(|_| ())
    }

    /// Deletes shard `id`'s snapshots (merged into its test's outcome).
    pub async fn delete_shard_snapshots(&self, id: i64) -> Result<(), StoreError> {
        self.execute(sqlx::query("DELETE FROM agent_snapshots WHERE shard_id = $1").bind(id))
            .await
            .map(|_| ())
    }

    /// Cancels the unended shards of every run that no longer runs and
    /// deletes their snapshots: a test cut off by a crash never merged
    /// and pruned them. Run at start-up and when lapsed runs are sealed.
    pub async fn sweep_ended_runs_shards(&self, now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(&format!(
                "UPDATE agent_shards SET state = 'cancelled', ended_at_ms = $1 \
                 WHERE state NOT IN ('done', 'lost', 'cancelled') AND {OF_ENDED_RUNS}"
            ))
            .bind(now_ms),
        )
        .await?;
        self.execute(sqlx::query(&format!(
            "DELETE FROM agent_snapshots WHERE shard_id IN \
             (SELECT id FROM agent_shards WHERE {OF_ENDED_RUNS})"
        )))
        .await
        .map(|_| ())
    }

    /// Withdraws shard `id` unless it ended.
    pub async fn withdraw_shard(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "UPDATE agent_shards SET state = 'cancelled', ended_at_ms = $1 WHERE id = $2 \
                 AND state NOT IN ('done', 'lost', 'cancelled')",
            )
            .bind(now_ms)
            .bind(id),
        )
        .await
        .map(|_| ())
    }
}
