//! Load agents and their shards: registrations with heartbeats, a test's
//! shares offered as rows that agents claim (PostgreSQL: `FOR UPDATE SKIP
//! LOCKED`, so two claimers never take the same one; SQLite, one writer:
//! a single `UPDATE … WHERE id = (SELECT …) AND state = 'waiting'`),
//! leases their agent's heartbeat keeps alive, and the agents' snapshots.

use super::{column, db_error, Backend, Db};
use engine::agents::{ShardOffer, ShardState};
use engine::store::StoreError;
use sqlx::any::AnyRow;

/// A shard as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRow {
    pub id: i64,
    pub run_id: String,
    pub test_id: String,
    pub segment: String,
    pub sequence: String,
    /// The share's `http_load` table, JSON.
    pub spec: String,
    /// The environment to build the target from, JSON.
    pub target: String,
    pub state: ShardState,
    pub agent_id: Option<i64>,
    /// The name of the agent holding it.
    pub agent: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub start_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// The agent's report once done, JSON.
    pub outcome: Option<String>,
}

/// What became of a snapshot sent for a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStored {
    /// Stored (or stored already: a snapshot sent again).
    Stored,
    /// The shard is not running (not started, lost, withdrawn or done):
    /// nothing stored.
    NotRunning(ShardState),
    /// No shard has that id.
    NoShard,
    /// Another agent holds it (the sender's lease lapsed and it was
    /// offered again): nothing stored.
    NotHeld,
}

/// A shard an agent may claim: waiting, of a run that still runs (a shard
/// a dead server left behind is never handed out).
const CLAIMABLE: &str = "s.state = 'waiting' AND EXISTS (SELECT 1 FROM runs r \
     WHERE r.id = s.run_id AND r.status = 'running')";

/// Cancels a run's unended shards (`$1` the time, `$2` the run).
const WITHDRAW_RUN_SHARDS: &str = "UPDATE agent_shards SET state = 'cancelled', \
     ended_at_ms = $1 WHERE run_id = $2 AND state NOT IN ('done', 'lost', 'cancelled')";

const SHARD_COLUMNS: &str = "s.id, s.run_id, s.test_id, s.segment, s.sequence, s.spec, \
     s.target, s.state, s.agent_id, a.name AS agent, s.lease_until_ms, s.start_at_ms, \
     s.ended_at_ms, s.outcome";

fn shard_row(row: &AnyRow) -> Result<ShardRow, StoreError> {
    let state: String = column(row, "state")?;
    Ok(ShardRow {
        id: column(row, "id")?,
        run_id: column(row, "run_id")?,
        test_id: column(row, "test_id")?,
        segment: column(row, "segment")?,
        sequence: column(row, "sequence")?,
        spec: column(row, "spec")?,
        target: column(row, "target")?,
        state: state.parse().map_err(super::corrupt)?,
        agent_id: column(row, "agent_id")?,
        agent: column(row, "agent")?,
        lease_until_ms: column(row, "lease_until_ms")?,
        start_at_ms: column(row, "start_at_ms")?,
        ended_at_ms: column(row, "ended_at_ms")?,
        outcome: column(row, "outcome")?,
    })
}

impl Db {
    /// Registers an agent named `name`, run by `owner`; its id.
    pub async fn register_agent(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.one(
            sqlx::query(
                "INSERT INTO agents (name, owner, registered_at_ms, heartbeat_at_ms) \
                 VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(name)
            .bind(owner)
            .bind(now_ms),
            |row| column(row, "id"),
        )
        .await
    }

    /// Who runs agent `id` (the user behind its token), if it exists.
    pub async fn agent_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.optional(
            sqlx::query("SELECT owner FROM agents WHERE id = $1").bind(id),
            |row| column(row, "owner"),
        )
        .await
    }

    /// The agent holding shard `id` (`Some(None)`: nobody holds it),
    /// `None` when there is no such shard.
    pub async fn shard_holder(&self, id: i64) -> Result<Option<Option<i64>>, StoreError> {
        self.optional(
            sqlx::query("SELECT agent_id FROM agent_shards WHERE id = $1").bind(id),
            |row| column(row, "agent_id"),
        )
        .await
    }

    /// Agent `id`'s heartbeat: notes it and pushes the lease of the shard
    /// it works on (`working`, if it still holds it) to `now_ms + ttl_ms`;
    /// a shard it holds but gave up on is not renewed, so it lapses.
    /// `false` for an unknown agent.
    pub async fn agent_heartbeat(
        &self,
        id: i64,
        working: Option<i64>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let known = self
            .execute(
                sqlx::query("UPDATE agents SET heartbeat_at_ms = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id),
            )
            .await?;
        if let Some(shard) = working {
            self.execute(
                sqlx::query(
                    "UPDATE agent_shards SET lease_until_ms = $1 WHERE agent_id = $2 \
                     AND id = $3 AND state IN ('claimed', 'ready', 'running', 'stopping')",
                )
                .bind(now_ms + ttl_ms)
                .bind(id)
                .bind(shard),
            )
            .await?;
        }
        Ok(known > 0)
    }

    /// Shards of running runs waiting for an agent.
    pub async fn waiting_shards(&self) -> Result<i64, StoreError> {
        self.one(
            sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM agent_shards s WHERE {CLAIMABLE}"
            )),
            |row| column(row, "n"),
        )
        .await
    }

    /// The shards agent `id` holds and has not finished.
    pub async fn held_shards(&self, id: i64) -> Result<Vec<ShardRow>, StoreError> {
        self.all(
            sqlx::query(&format!(
                "SELECT {SHARD_COLUMNS} FROM agent_shards s LEFT JOIN agents a \
                 ON a.id = s.agent_id WHERE s.agent_id = $1 \
                 AND s.state IN ('claimed', 'ready', 'running', 'stopping') ORDER BY s.id"
            ))
            .bind(id),
            shard_row,
        )
        .await
    }

    /// Gives agent `agent_id` the oldest waiting shard of a running run,
    /// leased until `now_ms + ttl_ms`; `None` when none waits. Of agents
    /// claiming at once, each gets a different shard.
    pub async fn claim_shard(
        &self,
        agent_id: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<ShardRow>, StoreError> {
        let claimed: Option<i64> = match self.backend() {
            Backend::Postgres => self.claim_locked(agent_id, now_ms + ttl_ms).await?,
            Backend::Sqlite => {
                self.optional(
                    sqlx::query(&format!(
                        "UPDATE agent_shards SET state = 'claimed', agent_id = $1, \
                         lease_until_ms = $2 WHERE id = (SELECT s.id FROM agent_shards s \
                         WHERE {CLAIMABLE} ORDER BY s.id LIMIT 1) AND state = 'waiting' \
                         RETURNING id"
                    ))
                    .bind(agent_id)
                    .bind(now_ms + ttl_ms),
                    |row| column(row, "id"),
                )
                .await?
            }
        };
        match claimed {
            Some(id) => self.shard(id).await,
            None => Ok(None),
        }
    }

    /// PostgreSQL's claim: the oldest waiting row no other transaction
    /// holds, locked, then taken.
    async fn claim_locked(
        &self,
        agent_id: i64,
        lease_until_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let row = sqlx::query(&format!(
            "SELECT s.id FROM agent_shards s WHERE {CLAIMABLE} ORDER BY s.id LIMIT 1 \
             FOR UPDATE OF s SKIP LOCKED"
        ))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db_error)?;
            return Ok(None);
        };
        let id: i64 = column(&row, "id")?;
        sqlx::query(
            "UPDATE agent_shards SET state = 'claimed', agent_id = $1, lease_until_ms = $2 \
             WHERE id = $3",
        )
        .bind(agent_id)
        .bind(lease_until_ms)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(id))
    }

    /// One shard.
    pub async fn shard(&self, id: i64) -> Result<Option<ShardRow>, StoreError> {
        self.optional(
            sqlx::query(&format!(
                "SELECT {SHARD_COLUMNS} FROM agent_shards s LEFT JOIN agents a \
                 ON a.id = s.agent_id WHERE s.id = $1"
            ))
            .bind(id),
            shard_row,
        )
        .await
    }

    /// Moves shard `id` from `from` to `to`; whether it was in `from`.
    pub async fn move_shard(
        &self,
        id: i64,
        agent: i64,
        from: ShardState,
        to: ShardState,
    ) -> Result<bool, StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE agent_shards SET state = $1 \
                     WHERE id = $2 AND state = $3 AND agent_id = $4",
                )
                .bind(to.as_str())
                .bind(id)
                .bind(from.as_str())
                .bind(agent),
            )
            .await?;
        Ok(rows > 0)
    }

    /// Stores a running shard's snapshot number `seq` (once: a resend is
    /// ignored).
    pub async fn add_snapshot(
        &self,
        shard: i64,
        agent: i64,
        seq: i64,
        snapshot: &str,
    ) -> Result<SnapshotStored, StoreError> {
        let Some(row) = self.shard(shard).await? else {
            return Ok(SnapshotStored::NoShard);
        };
        if row.agent_id != Some(agent) {
            return Ok(SnapshotStored::NotHeld);
        }
        // A shard asked to stop still takes its agent's last snapshots.
        if !matches!(row.state, ShardState::Running | ShardState::Stopping) {
            return Ok(SnapshotStored::NotRunning(row.state));
        }
        self.execute(
            sqlx::query(
                "INSERT INTO agent_snapshots (shard_id, seq, snapshot) VALUES ($1, $2, $3) \
                 ON CONFLICT (shard_id, seq) DO NOTHING",
            )
            .bind(shard)
            .bind(seq)
            .bind(snapshot),
        )
        .await?;
        Ok(SnapshotStored::Stored)
    }

    /// Offers a test's shares; their ids, in order.
    pub async fn offer_shards(
        &self,
        run_id: &str,
        test_id: &str,
        offers: &[ShardOffer],
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(offers.len());
        for offer in offers {
            let id = self
                .one(
                    sqlx::query(
                        "INSERT INTO agent_shards (run_id, test_id, segment, sequence, spec, \
                         target, state, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, \
                         'waiting', $7) RETURNING id",
                    )
                    .bind(run_id)
                    .bind(test_id)
                    .bind(offer.segment.clone())
                    .bind(offer.sequence.clone())
                    .bind(offer.spec.to_string())
                    .bind(offer.target.to_string())
                    .bind(now_ms),
                    |row| column(row, "id"),
                )
                .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Settles the run's leases that lapsed before `now_ms`: a running
    /// shard is lost as of its agent's last heartbeat (`ttl_ms` before the
    /// lease's end); a claimed or ready one is offered again.
    pub async fn settle_leases(
        &self,
        run_id: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "UPDATE agent_shards SET state = 'lost', ended_at_ms = lease_until_ms - $1, \
                 loss = 'no heartbeat' WHERE run_id = $2 AND state IN ('running', 'stopping') \
                 AND lease_until_ms < $3",
            )
            .bind(ttl_ms)
            .bind(run_id)
            .bind(now_ms),
        )
        .await?;
        self.execute(
            sqlx::query(
                "UPDATE agent_shards SET state = 'waiting', agent_id = NULL, \
                 lease_until_ms = NULL WHERE run_id = $1 AND state IN ('claimed', 'ready') \
                 AND lease_until_ms < $2",
            )
            .bind(run_id)
            .bind(now_ms),
        )
        .await
        .map(|_| ())
    }

    /// Starts shard `id` at `start_at_ms` if it is ready; whether it was.
    pub async fn start_shard(&self, id: i64, start_at_ms: i64) -> Result<bool, StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE agent_shards SET state = 'running', start_at_ms = $1 \
                     WHERE id = $2 AND state = 'ready'",
                )
                .bind(start_at_ms)
                .bind(id),
            )
            .await?;
        Ok(rows > 0)
    }

    /// Shard `id`'s snapshots numbered above `after`, in order.
    pub async fn shard_snapshots(
        &self,
        id: i64,
        after: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.all(
            sqlx::query(
                "SELECT seq, snapshot FROM agent_snapshots WHERE shard_id = $1 AND seq > $2 \
                 ORDER BY seq",
            )
            .bind(id)
            .bind(after),
            |row| Ok((column(row, "seq")?, column(row, "snapshot")?)),
        )
        .await
    }
}

#[path = "agents_ends.rs"]
mod ends;
pub(super) use ends::withdraw_run_shards_in;

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
