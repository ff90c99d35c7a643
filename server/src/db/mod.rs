//! The database: one pool for the whole process, SQLite by default and
//! PostgreSQL for `postgres://` URLs, each with its own migrations, behind
//! the engine's `RunStore` interface.

pub mod access;

use async_trait::async_trait;
use engine::run::{RunStatus, RunSummary, StoredEvent, Verdict};
use engine::store::{NewRun, RunFilter, RunStore, StoreError};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::time::Duration;

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine a URL names, or `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// Its name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database URL {0} is not sqlite: or postgres://")]
    Scheme(String),
    #[error("cannot reach database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot migrate database {url}: {reason}")]
    Migrate { url: String, reason: String },
    #[error("cannot create data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
}

/// The URL with any password replaced, fit for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot carry a password at all.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The SQLite URL for a file in the data directory.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("shakedown.db").display()
    )
}

/// The database a command's `--database-url` and `--data-dir` name: the URL
/// when given, else the SQLite file in the data directory.
pub fn url_in(data_dir: &Path, database_url: Option<&str>) -> String {
    database_url.map_or_else(|| sqlite_url(data_dir), str::to_owned)
}

/// The process's database: a pool and the engine behind it.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects, then applies the backend's migrations.
    pub async fn open(url: &str) -> Result<Db, OpenError> {
        let db = Db::open_unmigrated(url).await?;
        let migrated = match db.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&db.pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&db.pool).await,
        };
        migrated.map_err(|e| OpenError::Migrate {
            url: redact(url),
            reason: first_line(&e.to_string()),
        })?;
        Ok(db)
    }

    /// Creates the data directory, then opens (and migrates) the database
    /// [`url_in`] names.
    pub async fn open_in(data_dir: &Path, database_url: Option<&str>) -> Result<Db, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|e| OpenError::DataDir {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        Db::open(&url_in(data_dir, database_url)).await
    }

    /// Connects without touching the schema.
    pub async fn open_unmigrated(url: &str) -> Result<Db, OpenError> {
        let backend = Backend::of_url(url).ok_or_else(|| OpenError::Scheme(redact(url)))?;
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| OpenError::Connect {
                url: redact(url),
                reason: first_line(&e.to_string()),
            })?;
        Ok(Db { pool, backend })
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers a trivial query: the readiness probe.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_error)
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// An update that touched no row was about a run that does not exist.
pub(crate) fn found(rows: u64, id: &str) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound(id.to_owned()))
    } else {
        Ok(())
    }
}

pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Database(first_line(&e.to_string()))
}

pub use engine::run::now_ms;

const RUN_COLUMNS: &str =
    "id, plan, environment, status, verdict, created_at_ms, started_at_ms, finished_at_ms, error";

fn run_from_row(row: &AnyRow) -> Result<RunSummary, StoreError> {
    let status: String = row.try_get("status").map_err(db_error)?;
    let verdict: Option<String> = row.try_get("verdict").map_err(db_error)?;
    Ok(RunSummary {
        id: row.try_get("id").map_err(db_error)?,
        plan: row.try_get("plan").map_err(db_error)?,
        environment: row.try_get("environment").map_err(db_error)?,
        status: status
            .parse()
            .map_err(|e: engine::run::UnknownWord| StoreError::Corrupt(e.to_string()))?,
        verdict: verdict
            .map(|v| v.parse::<Verdict>())
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at_ms: row.try_get("created_at_ms").map_err(db_error)?,
        started_at_ms: row.try_get("started_at_ms").map_err(db_error)?,
        finished_at_ms: row.try_get("finished_at_ms").map_err(db_error)?,
        error: row.try_get("error").map_err(db_error)?,
    })
}

#[async_trait]
impl RunStore for Db {
    async fn create_run(&self, run: NewRun) -> Result<RunSummary, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO runs (id, plan, environment, status, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&run.plan)
        .bind(&run.environment)
        .bind(RunStatus::Queued.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
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
        let done = sqlx::query(
            "UPDATE runs SET status = $1, verdict = COALESCE($2, verdict), \
             started_at_ms = COALESCE(started_at_ms, $3), \
             finished_at_ms = COALESCE($4, finished_at_ms) WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(verdict.map(|v| v.as_str()))
        .bind(started)
        .bind(finished)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        found(done.rows_affected(), id)?;
        self.get_run(id).await
    }

    async fn import_run(&self, run: &RunSummary) -> Result<(), StoreError> {
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
        .bind(run.error.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn get_run(&self, id: &str) -> Result<RunSummary, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        run_from_row(&row)
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs \
             WHERE (CAST($1 AS TEXT) IS NULL OR plan = $1) AND (CAST($2 AS TEXT) IS NULL OR environment = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR verdict = $3) \
             ORDER BY created_at_ms DESC, id LIMIT 500"
        ))
        .bind(filter.plan.as_deref())
        .bind(filter.environment.as_deref())
        .bind(filter.verdict.map(|v| v.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(run_from_row).collect()
    }

    async fn record_evidence(
        &self,
        id: &str,
        version: u32,
        manifest_sha256: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET evidence_version = $1, manifest_digest = $2 WHERE id = $3",
        )
        .bind(i64::from(version))
        .bind(manifest_sha256)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        found(done.rows_affected(), id)?;
        Ok(())
    }

    async fn evidence_of(&self, id: &str) -> Result<Option<(u32, String)>, StoreError> {
        let row = sqlx::query("SELECT evidence_version, manifest_digest FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let version: Option<i64> = row.try_get("evidence_version").map_err(db_error)?;
        let digest: Option<String> = row.try_get("manifest_digest").map_err(db_error)?;
        Ok(version
            .zip(digest)
            .and_then(|(v, d)| Some((u32::try_from(v).ok()?, d))))
    }

    async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE runs SET error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        found(done.rows_affected(), id)?;
        Ok(())
    }

    async fn append_events(&self, run_id: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        for event in events {
            // A batch retried after its commit's answer was lost finds its
            // events stored: the same event again is a no-op; another event
            // under a stored number is refused.
            let done = sqlx::query(
                "INSERT INTO run_events (run_id, seq, at_ms, kind, data) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (run_id, seq) DO NOTHING",
            )
            .bind(run_id)
            .bind(event.seq)
            .bind(event.at_ms)
            .bind(&event.kind)
            .bind(&event.data)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if done.rows_affected() == 0 {
                let row =
                    sqlx::query("SELECT kind, data FROM run_events WHERE run_id = $1 AND seq = $2")
                        .bind(run_id)
                        .bind(event.seq)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?;
                let kind: String = row.try_get("kind").map_err(db_error)?;
                let data: String = row.try_get("data").map_err(db_error)?;
                if kind != event.kind || data != event.data {
                    return Err(StoreError::Conflict(format!(
                        "event {} of run {run_id} is already stored with other content",
                        event.seq
                    )));
                }
            }
        }
        tx.commit().await.map_err(db_error)
    }

    async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, data FROM run_events \
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq").map_err(db_error)?,
                    at_ms: row.try_get("at_ms").map_err(db_error)?,
                    kind: row.try_get("kind").map_err(db_error)?,
                    data: row.try_get("data").map_err(db_error)?,
                })
            })
            .collect()
    }

    async fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<RunSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status IN ('queued', 'running')"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut interrupted = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = run_from_row(row)?;
            sqlx::query(
                "UPDATE runs SET status = $1, error = $2, finished_at_ms = $3 \
                 WHERE id = $4 AND status IN ('queued', 'running')",
            )
            .bind(RunStatus::Interrupted.as_str())
            .bind(reason)
            .bind(now_ms())
            .bind(&run.id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
            interrupted.push(self.get_run(&run.id).await?);
        }
        Ok(interrupted)
    }
}

pub mod testing {
    //! Databases for tests (this crate's and `server/tests/`): a fresh
    //! SQLite file always, and a fresh database in the throwaway PostgreSQL
    //! cluster the test command starts. Failing to make one panics: only
    //! tests call these.

    use super::Db;

    /// A migrated SQLite database in a temporary folder (kept alive by the
    /// returned guard).
    pub async fn sqlite() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&super::sqlite_url(dir.path())).await.unwrap();
        (db, dir)
    }

    /// A migrated, empty PostgreSQL database, when the test command gave a
    /// cluster (`SHAKEDOWN_TEST_PG_URL`). Panics when the cluster is required
    /// (`SHAKEDOWN_TEST_REQUIRE_PG=1`) but missing, so CI cannot pass
    /// without having tested PostgreSQL.
    pub async fn postgres() -> Option<Db> {
        let Ok(url) = std::env::var("SHAKEDOWN_TEST_PG_URL") else {
            assert!(
                std::env::var("SHAKEDOWN_TEST_REQUIRE_PG").as_deref() != Ok("1"),
                "SHAKEDOWN_TEST_REQUIRE_PG=1 but SHAKEDOWN_TEST_PG_URL is not set"
            );
            eprintln!("SHAKEDOWN_TEST_PG_URL not set: PostgreSQL part skipped");
            return None;
        };
        let name = format!("shakedown_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Db::open_unmigrated(&url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin.pool)
            .await
            .unwrap();
        let mut db_url = url::Url::parse(&url).unwrap();
        db_url.set_path(&format!("/{name}"));
        Some(Db::open(db_url.as_str()).await.unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exercise(db: &Db) {
        assert!(db
            .list_runs(&RunFilter::default())
            .await
            .unwrap()
            .is_empty());
        let a = db
            .create_run(NewRun {
                plan: "step3".into(),
                environment: "staging".into(),
            })
            .await
            .unwrap();
        assert_eq!(a.status, RunStatus::Queued);
        assert_eq!(a.started_at_ms, None);
        let b = db
            .create_run(NewRun {
                plan: "smoke".into(),
                environment: "staging".into(),
            })
            .await
            .unwrap();

        let running = db
            .set_status(&a.id, RunStatus::Running, None)
            .await
            .unwrap();
        assert!(running.started_at_ms.is_some());
        let done = db
            .set_status(&a.id, RunStatus::Finished, Some(Verdict::Go))
            .await
            .unwrap();
        assert_eq!(done.verdict, Some(Verdict::Go));
        assert_eq!(done.started_at_ms, running.started_at_ms);
        assert!(done.duration_ms().unwrap() >= 0);

        let all = db.list_runs(&RunFilter::default()).await.unwrap();
        assert_eq!(all.len(), 2);
        let go = db
            .list_runs(&RunFilter {
                verdict: Some(Verdict::Go),
                ..RunFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(go.iter().map(|r| &r.id).collect::<Vec<_>>(), vec![&a.id]);
        let smoke = db
            .list_runs(&RunFilter {
                plan: Some("smoke".into()),
                environment: Some("staging".into()),
                verdict: None,
            })
            .await
            .unwrap();
        assert_eq!(smoke.iter().map(|r| &r.id).collect::<Vec<_>>(), vec![&b.id]);

        assert!(matches!(
            db.get_run("no-such-run").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            db.set_status("no-such-run", RunStatus::Aborted, None).await,
            Err(StoreError::NotFound(_))
        ));
        db.ping().await.unwrap();

        // A headless run is recorded with its own id and times, once.
        let headless = RunSummary {
            id: "cli-run-1".into(),
            plan: "step3".into(),
            environment: "ci".into(),
            status: RunStatus::Finished,
            verdict: Some(Verdict::NoGo),
            created_at_ms: 10,
            started_at_ms: Some(10),
            finished_at_ms: Some(25),
            error: None,
        };
        db.import_run(&headless).await.unwrap();
        db.import_run(&headless).await.unwrap();
        assert_eq!(db.get_run("cli-run-1").await.unwrap(), headless);

        // The evidence a run is bound to.
        assert_eq!(db.evidence_of("cli-run-1").await.unwrap(), None);
        db.record_evidence("cli-run-1", 2, "ab12").await.unwrap();
        assert_eq!(
            db.evidence_of("cli-run-1").await.unwrap(),
            Some((2, "ab12".to_owned()))
        );
        assert!(db.record_evidence("nope", 1, "x").await.is_err());

        // Events: in order, resumable from any sequence number, never twice.
        let event = |seq: i64| StoredEvent {
            seq,
            at_ms: 1_000 + seq,
            kind: "log".into(),
            data: format!("{{\"n\":{seq}}}"),
        };
        db.append_events(&b.id, &[event(1), event(2)])
            .await
            .unwrap();
        db.append_events(&b.id, &[event(3)]).await.unwrap();
        // A retried batch (its commit's answer lost) stores nothing twice;
        // another event under a stored number is refused.
        db.append_events(&b.id, &[event(2), event(3)])
            .await
            .unwrap();
        let mut other = event(3);
        other.data = "{\"n\":99}".into();
        assert!(matches!(
            db.append_events(&b.id, &[other]).await,
            Err(StoreError::Conflict(_))
        ));
        let all = db.events_after(&b.id, 0, 100).await.unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(all[2], event(3));
        let rest = db.events_after(&b.id, 1, 1).await.unwrap();
        assert_eq!(rest, vec![event(2)]);

        // A restart finds b still queued and a finished: only b is interrupted.
        let interrupted = db.interrupt_unfinished("server restarted").await.unwrap();
        assert_eq!(interrupted.len(), 1);
        assert_eq!(interrupted[0].id, b.id);
        assert_eq!(interrupted[0].status, RunStatus::Interrupted);
        assert_eq!(interrupted[0].error.as_deref(), Some("server restarted"));
        assert!(interrupted[0].finished_at_ms.is_some());
        assert_eq!(db.get_run(&a.id).await.unwrap().status, RunStatus::Finished);
        assert!(db.interrupt_unfinished("again").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn runs_are_stored_in_sqlite() {
        let (db, _dir) = testing::sqlite().await;
        assert_eq!(db.backend(), Backend::Sqlite);
        exercise(&db).await;
    }

    #[tokio::test]
    async fn runs_are_stored_in_postgres() {
        if let Some(db) = testing::postgres().await {
            assert_eq!(db.backend(), Backend::Postgres);
            exercise(&db).await;
        }
    }

    #[tokio::test]
    async fn reopening_keeps_what_is_stored() {
        let (db, dir) = testing::sqlite().await;
        let run = db
            .create_run(NewRun {
                plan: "p".into(),
                environment: "e".into(),
            })
            .await
            .unwrap();
        drop(db);
        let again = Db::open(&sqlite_url(dir.path())).await.unwrap();
        assert_eq!(again.get_run(&run.id).await.unwrap(), run);
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/shakedown"),
            "postgres://app:***@db.internal:5432/shakedown"
        );
        assert_eq!(
            redact("sqlite:///tmp/x.db?mode=rwc"),
            "sqlite:///tmp/x.db?mode=rwc"
        );
    }

    #[tokio::test]
    async fn unsupported_and_unreachable_urls_are_named() {
        let err = Db::open("mysql://root:pw@127.0.0.1/x").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "database URL mysql://root:***@127.0.0.1/x is not sqlite: or postgres://"
        );
        let err = Db::open("postgres://app:pw@127.0.0.1:1/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot reach database postgres://app:***@127.0.0.1:1/x: "),
            "{err}"
        );
        assert!(!err.contains("pw@"));
    }
}
