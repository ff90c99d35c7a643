//! The database: one pool for the whole process, SQLite by default and
//! PostgreSQL for `postgres://` URLs, each with its own migrations, behind
//! the engine's `RunStore` interface.

use async_trait::async_trait;
use engine::run::{RunStatus, RunSummary, Verdict};
use engine::store::{NewRun, RunFilter, RunStore, StoreError};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// The process's database: a pool and the engine behind it.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects, then applies the backend's migrations.
    pub async fn open(url: &str) -> Result<Db, OpenError> {
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
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| OpenError::Migrate {
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

fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Database(first_line(&e.to_string()))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

const RUN_COLUMNS: &str =
    "id, plan, environment, status, verdict, created_at_ms, started_at_ms, finished_at_ms";

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
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        self.get_run(id).await
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
}
