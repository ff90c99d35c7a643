//! Databases for tests (this crate's and `server/tests/`): a fresh
//! SQLite file always, and a fresh database in the throwaway PostgreSQL
//! cluster the test command starts. Failing to make one panics: only
//! tests call these.

use super::Db;
use engine::run::RunSummary;
use engine::store::{NewRun, RunStore};

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

/// A new queued run of `plan` on `environment`.
pub async fn new_run(db: &Db, plan: &str, environment: &str) -> RunSummary {
    db.create_run(NewRun {
        plan: plan.into(),
        environment: environment.into(),
    })
    .await
    .unwrap()
}
