//! The runs table and each run's events, behind the engine's `RunStore`.

use super::{column, corrupt, db_error, found, now_ms, Db};
use async_trait::async_trait;
use engine::run::{RunStatus, RunSummary, StoredEvent, Verdict};
use engine::store::{NewRun, RunFilter, RunStore, StoreError};
use sqlx::any::AnyRow;

/// The PostgreSQL channel each stored batch of a run's events is announced
/// on (payload: the run's id), for readers on other replicas.
pub const EVENTS_CHANNEL: &str = "shakedown_run_events";

const RUN_COLUMNS: &str =
    "id, plan, environment, status, verdict, created_at_ms, started_at_ms, finished_at_ms, error";

fn run_from_row(row: &AnyRow) -> Result<RunSummary, StoreError> {
    let status: String = column(row, "status")?;
    let verdict: Option<String> = column(row, "verdict")?;
    Ok(RunSummary {
        id: column(row, "id")?,
        plan: column(row, "plan")?,
        environment: column(row, "environment")?,
        status: status.parse().map_err(corrupt)?,
        verdict: verdict
            .map(|v| v.parse::<Verdict>())
            .transpose()
            .map_err(corrupt)?,
        created_at_ms: column(row, "created_at_ms")?,
        started_at_ms: column(row, "started_at_ms")?,
        finished_at_ms: column(row, "finished_at_ms")?,
        error: column(row, "error")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: column(row, "seq")?,
        at_ms: column(row, "at_ms")?,
        kind: column(row, "kind")?,
        data: column(row, "data")?,
    })
}

impl Db {
    /// How many runs the database holds in each status, every status
    /// listed (0 when none): what `/metrics` reports.
    pub async fn runs_by_status(&self) -> Result<Vec<(RunStatus, i64)>, StoreError> {
        let counted = self
            .all(
                sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status"),
                |row| Ok((column::<String>(row, "status")?, column::<i64>(row, "n")?)),
            )
            .await?;
        RunStatus::ALL
            .iter()
            .map(|status| {
                let n = counted
                    .iter()
                    .filter(|(s, _)| s == status.as_str())
                    .map(|(_, n)| n)
                    .sum();
                Ok((*status, n))
            })
            .collect()
    }

    /// Stores one event of a batch in `tx`. A batch retried after its
    /// commit's answer was lost finds its events stored: the same event
    /// again is a no-op; another event under a stored number is refused.
    async fn append_event(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        run_id: &str,
        event: &StoredEvent,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO run_events (run_id, seq, at_ms, kind, data) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id, seq) DO NOTHING",
        )
        .bind(run_id)
        .bind(event.seq)
        .bind(event.at_ms)
        .bind(&event.kind)
        .bind(&event.data)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let row = sqlx::query("SELECT kind, data FROM run_events WHERE run_id = $1 AND seq = $2")
            .bind(run_id)
            .bind(event.seq)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
        let kind: String = column(&row, "kind")?;
        let data: String = column(&row, "data")?;
        if kind != event.kind || data != event.data {
            return Err(StoreError::Conflict(format!(
                "event {} of run {run_id} is already stored with other content",
                event.seq
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl RunStore for Db {
    async fn create_run(&self, run: NewRun) -> Result<RunSummary, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.execute(
            sqlx::query(
                "INSERT INTO runs (id, plan, environment, status, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(&run.plan)
            .bind(&run.environment)
            .bind(RunStatus::Queued.as_str())
            .bind(now_ms()),
        )
        .await?;
        self.get_run(&id).await
    }

    async fn set_status(
        &self,
        id: &str,
        status: RunStatus,
        verdict: Option<Verdict>,
    ) -> Result<RunSummary, StoreError> {
        let now = now_ms();
        let started = (status == RunStatus::Running).then_some(now);
        let finished = status.is_terminal().then_some(now);
        let write = sqlx::query(
            "UPDATE runs SET status = $1, verdict = COALESCE($2, verdict), \
             started_at_ms = COALESCE(started_at_ms, $3), \
             finished_at_ms = COALESCE($4, finished_at_ms) WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(verdict.map(|v| v.as_str()))
        .bind(started)
        .bind(finished)
        .bind(id);
        let rows = self
            .write_run_status(write, id, status.is_terminal(), now)
            .await?;
        found(rows, id)?;
        self.get_run(id).await
    }

    async fn import_run(&self, run: &RunSummary) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "INSERT INTO runs (id, plan, environment, status, verdict, created_at_ms, \
                 started_at_ms, finished_at_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&run.id)
            .bind(&run.plan)
            .bind(&run.environment)
            .bind(run.status.as_str())
            .bind(run.verdict.map(|v| v.as_str()))
            .bind(run.created_at_ms)
            .bind(run.started_at_ms)
            .bind(run.finished_at_ms)
            .bind(run.error.as_deref()),
        )
        .await?;
        Ok(())
    }

    async fn get_run(&self, id: &str) -> Result<RunSummary, StoreError> {
        let query = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        self.optional(sqlx::query(&query).bind(id), run_from_row)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    async fn pinned_baseline(
        &self,
        plan: &str,
        environment: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .baseline_pin(plan, environment)
            .await?
            .map(|pin| (pin.run_id, pin.pinned_by)))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let query = format!(
            "SELECT {RUN_COLUMNS} FROM runs \
             WHERE (CAST($1 AS TEXT) IS NULL OR plan = $1) AND (CAST($2 AS TEXT) IS NULL OR environment = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR verdict = $3) \
             ORDER BY created_at_ms DESC, id LIMIT 500"
        );
        self.all(
            sqlx::query(&query)
                .bind(filter.plan.as_deref())
                .bind(filter.environment.as_deref())
                .bind(filter.verdict.map(|v| v.as_str())),
            run_from_row,
        )
        .await
    }

    async fn record_evidence(
        &self,
        id: &str,
        version: u32,
        manifest_sha256: &str,
    ) -> Result<(), StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE runs SET evidence_version = $1, manifest_digest = $2 WHERE id = $3",
                )
                .bind(i64::from(version))
                .bind(manifest_sha256)
                .bind(id),
            )
            .await?;
        found(rows, id)
    }

    async fn evidence_of(&self, id: &str) -> Result<Option<(u32, String)>, StoreError> {
        let (version, digest) = self
            .optional(
                sqlx::query("SELECT evidence_version, manifest_digest FROM runs WHERE id = $1")
                    .bind(id),
                |row| {
                    let version: Option<i64> = column(row, "evidence_version")?;
                    let digest: Option<String> = column(row, "manifest_digest")?;
                    Ok((version, digest))
                },
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        Ok(version
            .zip(digest)
            .and_then(|(v, d)| Some((u32::try_from(v).ok()?, d))))
    }

    async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let rows = self
            .execute(
                sqlx::query("UPDATE runs SET error = $1 WHERE id = $2")
                    .bind(error)
                    .bind(id),
            )
            .await?;
        found(rows, id)
    }

    async fn append_events(&self, run_id: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        for event in events {
            Db::append_event(&mut tx, run_id, event).await?;
        }
        if self.backend == super::Backend::Postgres {
            // Delivered on commit: wakes the readers on other replicas.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.all(
            sqlx::query(
                "SELECT seq, at_ms, kind, data FROM run_events \
                 WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(run_id)
            .bind(after)
            .bind(limit),
            event_from_row,
        )
        .await
    }

    async fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<RunSummary>, StoreError> {
        let query = format!("SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('queued', 'running')");
        let rows = sqlx::query(&query)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut interrupted = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = run_from_row(row)?;
            let now = now_ms();
            let write = sqlx::query(
                "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 \
                 WHERE id = $4 AND status IN ('queued', 'running')",
            )
            .bind(RunStatus::Interrupted.as_str())
            .bind(reason)
            .bind(now)
            .bind(&run.id);
            self.write_run_status(write, &run.id, true, now).await?;
            interrupted.push(self.get_run(&run.id).await?);
        }
        self.sweep_ended_runs_shards(now_ms()).await?;
        Ok(interrupted)
    }
}
