//! `shakedown proxy`: the built-in network-fault proxy. Serves a
//! Toxiproxy-compatible HTTP API (127.0.0.1:8474 unless `--api` says
//! otherwise) and starts the proxies of `--config` (a JSON array of
//! `{"name", "listen", "upstream", "enabled"}`, as Toxiproxy's config file),
//! until Ctrl-C or SIGTERM. Listen addresses and upstreams are loopback only
//! unless a flag allows more; so is the API, which has no login.

use crate::proxy_api;
use anyhow::Context;
use engine::netfault::{NetFaultOptions, ProxyRegistry};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the API listens and which proxies start with it.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "SHAKEDOWN_PROXY_API", default_value = "127.0.0.1:8474")]
    pub api: SocketAddr,
    /// Proxies to start with: a JSON array of {"name", "listen", "upstream"}.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Serve the API (which has no login) on an address other than loopback:
    /// then everyone who can reach it can cut your links.
    #[arg(long)]
    pub api_open_to_network: bool,
    /// Let proxies listen on addresses other than loopback.
    #[arg(long)]
    pub allow_remote_listen: bool,
    /// Let proxies forward to upstreams other than loopback.
    #[arg(long)]
    pub allow_remote_upstream: bool,
    /// Seed of the draws behind `toxicity` and `jitter`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Refuses an API address other than loopback unless allowed.
pub fn check_api_bind(api: SocketAddr, open_to_network: bool) -> anyhow::Result<()> {
    if !api.ip().is_loopback() {
        if !open_to_network {
            anyhow::bail!(
                "the proxy API has no login and listens only on loopback addresses, not {api}; \
                 use 127.0.0.1, or add --api-open-to-network if everyone who can reach {api} may inject faults"
            );
        }
        eprintln!(
            "WARNING: proxy API on {api}: everyone who can reach it can add and remove network faults, with no login"
        );
    }
    Ok(())
}

/// Reads the config file into the registry; errors name the file, and the
/// line or the entry and field.
pub fn load_config(registry: &ProxyRegistry, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read proxy config {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: line {} column {}: not valid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    registry
        .populate(&value)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// Serves the API until told to stop, then stops every proxy.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    check_api_bind(args.api, args.api_open_to_network)?;
    let registry = Arc::new(ProxyRegistry::new(NetFaultOptions {
        allow_remote_listen: args.allow_remote_listen,
        allow_remote_upstream: args.allow_remote_upstream,
        seed: args.seed,
    }));
    if let Some(config) = &args.config {
        load_config(&registry, config)?;
    }
    let listener = tokio::net::TcpListener::bind(args.api)
        .await
        .with_context(|| format!("cannot listen on {}", args.api))?;
    let local = listener.local_addr().context("listener has no address")?;
    println!("Shakedown proxy API on http://{local}");
    for (name, p) in registry.list() {
        let state = if p.enabled { "" } else { " (disabled)" };
        println!("proxy {name}: {} -> {}{state}", p.listen, p.upstream);
    }
    let app = proxy_api::router(registry.clone(), args.api.ip().is_loopback());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
        .context("proxy API failed");
    registry.clear();
    served
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
