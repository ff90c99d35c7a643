//! The engine's [`LoadAgents`] port over the database, one per run: a
//! test's shares become `agent_shards` rows that `shakedown agent`
//! processes claim through the API (`web::api::agents`), and what they send
//! is read back from `agent_snapshots`.

use crate::db::Db;
use async_trait::async_trait;
use engine::agents::{LoadAgents, ShardEnd, ShardOffer, ShardStatus};
use engine::store::StoreError;

/// How long a shard's lease lasts past its agent's last heartbeat (agents
/// beat once a second).
pub const SHARD_TTL_MS: i64 = 5_000;

/// A run's load agents.
pub struct RunAgents {
    db: Db,
    run_id: String,
}

impl RunAgents {
    /// The agents of run `run_id`.
    pub fn new(db: Db, run_id: String) -> RunAgents {
        RunAgents { db, run_id }
    }
}

#[async_trait]
impl LoadAgents for RunAgents {
    async fn offer(&self, test_id: &str, shards: Vec<ShardOffer>) -> Result<Vec<i64>, StoreError> {
        self.db
            .offer_shards(&self.run_id, test_id, &shards, crate::db::now_ms())
            .await
    }

    async fn poll(&self, ids: &[i64], now_ms: i64) -> Result<Vec<ShardStatus>, StoreError> {
        self.db
            .settle_leases(&self.run_id, now_ms, SHARD_TTL_MS)
            .await?;
        let mut statuses = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(row) = self.db.shard(id).await? else {
                return Err(StoreError::NotFound(format!("shard {id}")));
            };
            let end = match &row.outcome {
                Some(json) => {
                    Some(serde_json::from_str::<ShardEnd>(json).map_err(crate::db::corrupt)?)
                }
                None => None,
            };
            statuses.push(ShardStatus {
                id,
                state: row.state,
                agent: row.agent,
                ended_at_ms: row.ended_at_ms,
                end,
            });
        }
        Ok(statuses)
    }

    async fn start(&self, ids: &[i64], start_at_ms: i64) -> Result<u64, StoreError> {
        let mut started = 0;
        for &id in ids {
            if self.db.start_shard(id, start_at_ms).await? {
                started += 1;
            }
        }
        Ok(started)
    }

    async fn snapshots(&self, shard: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        self.db.shard_snapshots(shard, after).await
    }

    async fn prune(&self, ids: &[i64]) -> Result<(), StoreError> {
        for &id in ids {
            self.db.delete_shard_snapshots(id).await?;
        }
        Ok(())
    }

    async fn stop(&self, ids: &[i64]) -> Result<(), StoreError> {
        for &id in ids {
            self.db.stop_shard(id).await?;
        }
        Ok(())
    }

    async fn withdraw(&self, ids: &[i64]) -> Result<(), StoreError> {
        let now = crate::db::now_ms();
        for &id in ids {
            self.db.withdraw_shard(id, now).await?;
        }
        Ok(())
    }
}
