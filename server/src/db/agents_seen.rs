//! How many load agents are connected, for `/metrics`: the agents whose
//! last heartbeat is recent enough (the caller says since when: a shard's
//! lease, `runs::agents::SHARD_TTL_MS`, before now).

use super::{column, Db};
use engine::store::StoreError;

impl Db {
    /// Agents whose last heartbeat is at or after `since_ms`.
    pub async fn agents_seen_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        let n: i64 = self
            .one(
                sqlx::query("SELECT COUNT(*) AS n FROM agents WHERE heartbeat_at_ms >= $1")
                    .bind(since_ms),
                |row| column(row, "n"),
            )
            .await?;
        // A count is never negative.
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{testing, Db};

    /// Three agents last heard from at 1 s, 5 s and 9 s: those since 5 s
    /// are two, a heartbeat brings the first back, and none are seen past
    /// the newest.
    async fn counts_recent_heartbeats(db: &Db) {
        let mut ids = Vec::new();
        for (name, at) in [("a", 1_000), ("b", 5_000), ("c", 9_000)] {
            ids.push(db.register_agent(name, "ops", at).await.unwrap());
        }
        assert_eq!(db.agents_seen_since(5_000).await.unwrap(), 2);
        assert_eq!(db.agents_seen_since(0).await.unwrap(), 3);
        assert!(db
            .agent_heartbeat(ids[0], None, 6_000, 5_000)
            .await
            .unwrap());
        assert_eq!(db.agents_seen_since(5_000).await.unwrap(), 3);
        assert_eq!(db.agents_seen_since(9_001).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn counts_recent_heartbeats_sqlite() {
        let (db, _dir) = testing::sqlite().await;
        counts_recent_heartbeats(&db).await;
    }

    #[tokio::test]
    async fn counts_recent_heartbeats_postgres() {
        if let Some(db) = testing::postgres().await {
            counts_recent_heartbeats(&db).await;
        }
    }
}
