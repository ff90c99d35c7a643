//! A PostgreSQL database of a test's own: a fresh database in the cluster
//! `SHAKEDOWN_TEST_PG_URL` names (scripts/test starts one), or else in a
//! throwaway cluster started with scripts/pg-cluster (as `shakedown demo`
//! starts one when PostgreSQL is installed) and stopped when dropped.
//! Never skipped: without PostgreSQL the test fails, saying so.

use super::{free_port, root};
use std::process::Command;

/// The database, and the cluster started for it if any.
pub struct TestDatabase {
    /// `postgres://USER@127.0.0.1:PORT/NAME`.
    pub url: String,
    /// The throwaway cluster's folder, when this test started one.
    cluster: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh database named after `tag`.
    pub fn new(tag: &str) -> TestDatabase {
        let (cluster_url, cluster) = match std::env::var("SHAKEDOWN_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => {
                let (url, dir) = start_cluster(tag);
                (url, Some(dir))
            }
        };
        // Kept in a value first: dropped on a panic below, it stops the
        // cluster.
        let mut db = TestDatabase {
            url: String::new(),
            cluster,
        };
        let name = format!("{tag}_{}", uuid::Uuid::new_v4().simple());
        db.url = create_database(&cluster_url, &name);
        db
    }

    /// The server's address, `HOST:PORT`.
    pub fn address(&self) -> String {
        let url = url::Url::parse(&self.url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }

    /// The database's URL on 127.0.0.1:`port` instead (through a proxy
    /// listening there).
    pub fn url_through(&self, port: u16) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        url.to_string()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = Command::new(root().join("scripts/pg-cluster"))
                .arg("stop")
                .arg(dir.path().join("pg"))
                .output();
        }
    }
}

/// Starts a throwaway cluster; its URL and folder.
fn start_cluster(tag: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{tag}-pg-"))
        .tempdir()
        .unwrap();
    // As root the cluster runs as `postgres`, which must reach its folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(root().join("scripts/pg-cluster"))
        .arg("start")
        .arg(dir.path().join("pg"))
        .arg(free_port().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "this test needs PostgreSQL: SHAKEDOWN_TEST_PG_URL is not set and scripts/pg-cluster \
         could not start a throwaway cluster (install PostgreSQL with scripts/setup): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (url, dir)
}

/// Creates database `name` in the cluster; its URL.
fn create_database(cluster: &str, name: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(cluster)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test's PostgreSQL cluster: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    });
    let mut url = url::Url::parse(cluster).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}
