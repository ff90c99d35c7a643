//! The demo's PostgreSQL: a fresh cluster in the demo's folder, run by the
//! supervisor (as the `postgres` user when Shakedown runs as root).

use super::{free_port, which};
use anyhow::{bail, Context};
use engine::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder holding `initdb`, `postgres` and `pg_isready`, if installed.
pub(super) fn postgres_bin_dir() -> Option<PathBuf> {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    which("initdb")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .into_iter()
        .chain(debian)
        .find(|dir| dir.join("postgres").is_file() && dir.join("pg_isready").is_file())
}

/// The `postgres` user the cluster runs as when Shakedown runs as root
/// (initdb refuses root); `None` otherwise.
fn postgres_user() -> anyhow::Result<Option<nix::unistd::User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .context("running as root needs a `postgres` user for PostgreSQL")
        .map(Some)
}

/// Runs initdb for a cluster in `data`, as `pg` when given.
async fn init_cluster(
    bin: &Path,
    data: &Path,
    pg: Option<&nix::unistd::User>,
) -> anyhow::Result<()> {
    let mut initdb = std::process::Command::new(bin.join("initdb"));
    initdb
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(data);
    if let Some(pg) = pg {
        use std::os::unix::process::CommandExt;
        initdb.uid(pg.uid.as_raw()).gid(pg.gid.as_raw());
    }
    let out = tokio::task::spawn_blocking(move || initdb.output())
        .await
        .context("initdb did not finish")?
        .context("cannot run initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The cluster in `pg_dir` as the supervisor runs it, on `port`.
fn postgres_spec(
    bin: &Path,
    pg_dir: &Path,
    port: u16,
    user: Option<String>,
    logs: &Path,
) -> ProcessSpec {
    ProcessSpec {
        name: "postgres".to_owned(),
        argv: vec![
            bin.join("postgres").display().to_string(),
            "-D".to_owned(),
            pg_dir.join("data").display().to_string(),
            "-p".to_owned(),
            port.to_string(),
            "-k".to_owned(),
            pg_dir.display().to_string(),
            "-c".to_owned(),
            "listen_addresses=127.0.0.1".to_owned(),
        ],
        env: vec![],
        cwd: Some(pg_dir.to_path_buf()),
        user,
        // SIGINT is PostgreSQL's fast shutdown.
        stop_signal: StopSignal::Sigint,
        grace: Duration::from_secs(10),
        start_timeout: Duration::from_secs(60),
        health: HealthCheck::Command {
            argv: vec![
                bin.join("pg_isready").display().to_string(),
                "-q".to_owned(),
                "-h".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ],
        },
        log: Some(logs.join("postgres.log")),
    }
}

/// A fresh cluster in the demo's folder, run by the supervisor as the
/// `postgres` user when Shakedown runs as root (initdb refuses root);
/// returns its port.
pub(super) async fn start_postgres(
    supervisor: &Supervisor,
    dir: &Path,
    bin: &Path,
    logs: &Path,
) -> anyhow::Result<u16> {
    let pg_dir = dir.join("postgres");
    std::fs::create_dir_all(&pg_dir).context("cannot create the PostgreSQL folder")?;
    let pg = postgres_user()?;
    if let Some(pg) = &pg {
        for path in [dir, pg_dir.as_path(), logs] {
            nix::unistd::chown(path, Some(pg.uid), Some(pg.gid))
                .with_context(|| format!("cannot give {} to postgres", path.display()))?;
        }
    }
    init_cluster(bin, &pg_dir.join("data"), pg.as_ref()).await?;
    let port = free_port()?;
    let user = pg.map(|_| "postgres".to_owned());
    supervisor
        .start(postgres_spec(bin, &pg_dir, port, user, logs))
        .await?;
    Ok(port)
}
