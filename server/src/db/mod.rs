//! The database: one pool for the whole process, SQLite by default and
//! PostgreSQL for `postgres://` URLs, each with its own migrations, behind
//! the engine's `RunStore` interface.

pub mod access;
pub mod agents;
mod agents_seen;
mod baselines;
mod leases;
pub use leases::LapsedRun;
mod runs;
pub use engine::access::BaselinePin;
pub use runs::EVENTS_CHANNEL;
pub mod testing;

use engine::store::StoreError;
use sqlx::any::{Any, AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
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
        self.execute(sqlx::query("SELECT 1")).await.map(|_| ())
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

/// A stored value that does not read as what it should be.
pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Database(first_line(&e.to_string()))
}

pub use engine::run::now_ms;

/// A statement with its values bound, ready for the pool.
pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// A column of a row, as `T`.
pub(crate) fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(name).map_err(db_error)
}

impl Db {
    /// Runs a statement; how many rows it touched.
    pub(crate) async fn execute(&self, query: AnyQuery<'_>) -> Result<u64, StoreError> {
        let done = query.execute(&self.pool).await.map_err(db_error)?;
        Ok(done.rows_affected())
    }

    /// Every row a query returns, each read by `read`.
    pub(crate) async fn all<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = query.fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(read).collect()
    }

    /// The one row a query returns, read by `read`.
    pub(crate) async fn one<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        read(&query.fetch_one(&self.pool).await.map_err(db_error)?)
    }

    /// The row a query returns, if any, read by `read`.
    pub(crate) async fn optional<T>(
        &self,
        query: AnyQuery<'_>,
        read: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = query.fetch_optional(&self.pool).await.map_err(db_error)?;
        row.as_ref().map(read).transpose()
    }
}

#[cfg(test)]
mod tests;
