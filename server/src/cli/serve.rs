//! `shakedown serve`: opens the database and the evidence directory, then
//! serves the web app until Ctrl-C or SIGTERM.
//!
//! Local mode (no login, everyone is the admin `local`) is a loopback-only
//! convenience: it binds only loopback addresses unless
//! `--local-mode-open-to-network` says otherwise, and it answers only
//! requests addressed to a loopback name (`Host`), coming from a page of
//! that same loopback origin when they name one (`Origin`). A page on a
//! rebinding domain that resolves to 127.0.0.1 is refused by its `Host`.

use crate::db::Db;
use crate::net::is_loopback_host;
use crate::web::{self, AppState};
use anyhow::Context;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
    pub lifecycle: crate::runs::lifecycle::LifecycleArgs,
    #[command(flatten)]
    pub caps: crate::runs::caps::CapsArgs,
    /// GO sign-offs each environment's runs need at least.
    #[command(flatten)]
    pub approvals: crate::approval_policy::ApprovalPolicyArgs,
    /// Where evidence packs go: `DATA_DIR/evidence`, or a bucket.
    #[command(flatten)]
    pub evidence: crate::evidence::config::EvidenceArgs,
    /// Allow local mode on an address other than loopback: then everyone
    /// who can reach that address acts as admin, with no login.
    #[arg(long, env = "SHAKEDOWN_LOCAL_MODE_OPEN_TO_NETWORK")]
    pub local_mode_open_to_network: bool,
    /// Let operators run plans pasted in the browser. Such a plan describes
    /// tests and criteria only, and runs against the environments and
    /// services of a plan in the plans folder (`environments_from`).
    #[arg(long, env = "SHAKEDOWN_ALLOW_PASTED_PLANS")]
    pub allow_pasted_plans: bool,
}

/// Opens what the server needs, then serves until told to stop.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    check_local_mode_bind(
        args.addr,
        args.auth.local_mode,
        args.local_mode_open_to_network,
    )?;
    // The port first: a second server started by mistake on the same
    // port stops here, before it seals the first one's runs as left over.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let state = open(&args).await?;
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
    orchestrator.allow_pasted_plans(args.allow_pasted_plans);
    axum::serve(listener, app_service(state))
        .with_graceful_shutdown(crate::runs::lifecycle::drain_on_signal(
            orchestrator,
            args.lifecycle.grace(),
        ))
        .await
        .context("server failed")
}

/// The router with each request's client address (for login rate limits);
/// in local mode, only requests addressed to and coming from loopback.
pub fn app_service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr> {
    let local_mode = state.auth.args.local_mode;
    let mut router = web::router(state);
    if local_mode {
        router = router.layer(axum::middleware::from_fn(loopback_only));
    }
    router.into_make_service_with_connect_info::<SocketAddr>()
}

/// Refuses local mode on an address other than loopback unless the flag
/// that says so is given.
pub fn check_local_mode_bind(
    addr: SocketAddr,
    local_mode: bool,
    open_to_network: bool,
) -> anyhow::Result<()> {
    if local_mode && !addr.ip().is_loopback() {
        if !open_to_network {
            anyhow::bail!(
                "local mode (no login, everyone acts as admin) listens only on loopback addresses, not {addr}; \
                 listen on 127.0.0.1, or add --local-mode-open-to-network if everyone who can reach {addr} may act as admin"
            );
        }
        eprintln!(
            "WARNING: local mode on {addr}: everyone who can reach it acts as admin, with no login"
        );
    }
    Ok(())
}

/// Local mode's guard: the request's `Host` must be a loopback name or
/// address, and its `Origin`, when sent, that very origin.
async fn loopback_only(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !is_loopback_host(&host) {
        return refuse(&format!(
            "local mode answers only requests addressed to a loopback name or address, not Host: {host:?}"
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .is_some_and(|o| {
                let origin_host = match (o.host_str(), o.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    (None, _) => String::new(),
                };
                is_loopback_host(&origin_host) && origin_host.eq_ignore_ascii_case(&host)
            });
        if !same {
            return refuse("local mode answers only pages of its own loopback origin");
        }
    }
    next.run(req).await
}

fn refuse(why: &str) -> Response {
    (StatusCode::FORBIDDEN, format!("{why}\n")).into_response()
}

/// The database (migrated) and the evidence store (the folder or bucket
/// created when missing).
pub async fn open(args: &ServeArgs) -> anyhow::Result<AppState> {
    let approval_policy = args.approvals.policy()?;
    let db = Db::open_in(&args.data_dir, args.database_url.as_deref()).await?;
    let evidence = args
        .evidence
        .open(&args.data_dir)
        .await
        .context("cannot open the evidence store")?;
    // Faults a killed run left on a network-fault proxy go first, then the
    // runs themselves are sealed interrupted.
    crate::runs::lifecycle::clean_up_network_faults(&args.data_dir).await?;
    // Only runs no live replica holds: others may share the database.
    let ownership = std::sync::Arc::new(crate::runs::ownership::Ownership::new(
        db.clone(),
        crate::runs::ownership::replica_id(args.addr),
    ));
    let interrupted = ownership
        .seal_lapsed(&db, true, &Default::default())
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
    let state = AppState::new(
        db,
        evidence,
        args.site_root.clone(),
        args.plans_dir.clone(),
        args.auth.clone(),
    )
    .with_approval_policy(approval_policy);
    tracing::info!("replica {}", ownership.replica());
    state.orchestrator.use_ownership(ownership.clone());
    crate::runs::ownership::keep(state.orchestrator.clone(), ownership);
    if let Some(url) = args.database_url.as_deref() {
        if state.db.backend() == crate::db::Backend::Postgres {
            state.orchestrator.bell().follow_postgres(url);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_mode_binds_loopback_unless_told_loudly() {
        let any: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        let lo: SocketAddr = "127.0.0.1:3000".parse().expect("addr");
        assert!(check_local_mode_bind(any, true, false).is_err());
        assert!(check_local_mode_bind(any, true, true).is_ok());
        assert!(check_local_mode_bind(lo, true, false).is_ok());
        assert!(check_local_mode_bind(any, false, false).is_ok());
    }
}
