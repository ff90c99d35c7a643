//! The database: one `Any` pool (SQLite file by default, PostgreSQL for
//! `postgres://` URLs), migrations per backend, and the retry policy that
//! lets both roles ride out a database restart instead of crash-looping.

use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL {0} is not sqlite: or postgres://")]
    Scheme(String),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl DbError {
    /// Whether waiting and trying again may help: connection loss, a server
    /// restarting, a pool out of connections, SQLite busy.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Sql(e) => is_transient(e),
            _ => false,
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 08: connection exceptions; 57P0x: shutdown / cannot connect now;
            // SQLite 5/6 (+ extended): busy / locked.
            code.starts_with("08")
                || code.starts_with("57P")
                || matches!(code.as_ref(), "5" | "6" | "261" | "262" | "517")
                || db.message().contains("locked")
                || db.message().contains("busy")
        }
        _ => false,
    }
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

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The process's database handle.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects and migrates, retrying with backoff for as long as the
    /// database is unreachable (a service waits for its database; it does
    /// not crash-loop). Only an unsupported URL fails at once.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        let backend = Backend::of_url(url).ok_or_else(|| DbError::Scheme(redact(url)))?;
        sqlx::any::install_default_drivers();
        let mut backoff = Duration::from_millis(100);
        loop {
            match Db::try_open(url, backend).await {
                Ok(db) => return Ok(db),
                Err(e) => {
                    tracing::warn!(url = %redact(url), error = %first_line(&e.to_string()), "database not ready; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn try_open(url: &str, backend: Backend) -> Result<Db, DbError> {
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets the api read while the worker writes; the mode is
            // stored in the file, so setting it once is enough.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| DbError::Sql(e.into()))?;
        Ok(Db { pool, backend })
    }

    /// Answers a trivial query: the readiness probe.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Runs `op` until it succeeds, fails for a non-transient reason, or
/// `patience` has passed since the first try.
pub async fn retrying<T, F, Fut>(what: &str, patience: Duration, mut op: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbError>>,
{
    let start = Instant::now();
    let mut backoff = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && start.elapsed() < patience => {
                tracing::warn!(error = %first_line(&e.to_string()), "{what}: transient database error; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The first line of a message (driver errors can be long).
pub fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
