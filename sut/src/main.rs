//! `shakedown-sut`: the demo system under test — an API and a worker over
//! a database (SQLite or PostgreSQL) and a bucket (directory or S3), with
//! fault switches. This file parses arguments, opens the shared resources
//! and hands over to the role.

mod api;
mod bucket;
mod config;
mod db;
mod events;
mod faults;
mod local_bucket;
mod runs;
#[cfg(feature = "s3")]
mod s3_bucket;
mod shutdown;
mod universe;
mod work;
mod worker;
mod worker_health;
mod workers;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use std::process::ExitCode;

/// The demo target Shakedown validates: `api` serves HTTP, `worker` runs jobs.
#[derive(Parser)]
#[command(name = "shakedown-sut", version, about)]
struct Cli {
    /// Which process this is.
    role: Role,
    #[command(flatten)]
    config: config::Config,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Role {
    Api,
    Worker,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shakedown-sut: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shakedown-sut: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = cli.config;
    let faults = cfg.faults()?;
    let url = cfg.database_url();
    if cfg.database_url.is_none() {
        tokio::fs::create_dir_all(&cfg.data_dir)
            .await
            .with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;
    }
    tracing::info!(
        role = ?cli.role,
        environment = %cfg.environment,
        database = %db::redact(&url),
        bucket = %cfg.bucket,
        faults = ?faults.names(),
        "starting"
    );
    let db = db::Db::open(&url).await?;
    let bucket = bucket::open(&cfg, &faults).await?;
    tracing::info!(
        backend = db.backend.name(),
        bucket = bucket.name(),
        storage = bucket.backend(),
        "ready to serve"
    );
    match cli.role {
        Role::Api => api::serve(cfg, faults, db, bucket).await,
        Role::Worker => worker::run(cfg, faults, db, bucket).await,
    }
}
