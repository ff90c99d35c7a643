//! `shakedown serve`: opens the database and the evidence directory, then
//! serves the web app until Ctrl-C or SIGTERM.

use crate::db::Db;
use crate::web::{self, AppState};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where and how to serve.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SHAKEDOWN_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Folder for the SQLite database and the evidence store.
    #[arg(long, env = "SHAKEDOWN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite://…`); default: a SQLite file
    /// in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The built site (wasm, JS, CSS, public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Folder the New run page offers plans from.
    #[arg(long, env = "SHAKEDOWN_PLANS_DIR", default_value = "examples")]
    pub plans_dir: PathBuf,
    #[command(flatten)]
    pub auth: crate::auth::AuthArgs,
    #[command(flatten)]
    pub lifecycle: crate::lifecycle::LifecycleArgs,
    #[command(flatten)]
    pub caps: crate::caps::CapsArgs,
    /// Where evidence packs go: `DATA_DIR/evidence`, or a bucket.
    #[command(flatten)]
    pub evidence: crate::evidence::config::EvidenceArgs,
}

/// Opens what the server needs, then serves until told to stop.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let state = open(&args).await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr().context("listener has no address")?;
    tracing::info!(
        "serving http://{local} (database: {}, evidence: {})",
        state.db.backend().name(),
        state.orchestrator.evidence().describe()
    );
    println!("Shakedown is serving http://{local}");
    if state.auth.args.local_mode {
        println!("Local mode: no login; everyone who can reach this address acts as admin.");
    }
    let orchestrator = state.orchestrator.clone();
    args.lifecycle.apply(&orchestrator);
    orchestrator.set_caps(args.caps.limits());
    axum::serve(listener, app_service(state))
        .with_graceful_shutdown(crate::lifecycle::drain_on_signal(
            orchestrator,
            args.lifecycle.grace(),
        ))
        .await
        .context("server failed")
}

/// The router with each request's client address (for login rate limits).
pub fn app_service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr> {
    web::router(state).into_make_service_with_connect_info::<SocketAddr>()
}

/// The database (migrated) and the evidence store (the folder or bucket
/// created when missing).
pub async fn open(args: &ServeArgs) -> anyhow::Result<AppState> {
    let db = Db::open_in(&args.data_dir, args.database_url.as_deref()).await?;
    let evidence = args
        .evidence
        .open(&args.data_dir)
        .await
        .context("cannot open the evidence store")?;
    let interrupted = crate::orchestrator::seal_interrupted(
        &db,
        "Shakedown stopped while this run was in progress; what it measured until then is kept",
    )
    .await
    .context("cannot close the runs left by the previous server")?;
    for run in &interrupted {
        tracing::warn!(
            "run {} ({} on {}) was interrupted by a restart",
            run.id,
            run.plan,
            run.environment
        );
    }
    Ok(AppState::new(
        db,
        evidence,
        args.site_root.clone(),
        args.plans_dir.clone(),
        args.auth.clone(),
    ))
}
