//! The demo's network-fault proxy: `shakedown proxy` under the supervisor,
//! with a proxy in front of PostgreSQL and one in front of the S3 server
//! (which must be on this machine).

use super::{free_port, BUCKET_PROXY, DATABASE_PROXY};
use anyhow::Context;
use engine::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// What the proxy puts itself in front of: PostgreSQL's port, the S3
/// server's address.
pub(super) struct Upstreams {
    pub(super) postgres: Option<u16>,
    pub(super) s3: Option<SocketAddr>,
}

/// The running proxy: its API, and the ports the database and the bucket
/// are reached on through it.
pub(super) struct StartedProxy {
    pub(super) api: String,
    pub(super) database_port: Option<u16>,
    pub(super) database_link: Option<String>,
    pub(super) bucket_port: Option<u16>,
    pub(super) bucket_link: Option<String>,
}

/// Starts `shakedown proxy` under the supervisor, its API on `api_port`
/// (a free port for 0), with a proxy, [`DATABASE_PROXY`], in front of
/// PostgreSQL when there is one, and [`BUCKET_PROXY`] in front of the S3
/// server when there is one.
pub(super) async fn start_proxy(
    supervisor: &Supervisor,
    dir: &Path,
    api_port: u16,
    upstreams: Upstreams,
    logs: &Path,
) -> anyhow::Result<StartedProxy> {
    let api_port = if api_port == 0 {
        free_port()?
    } else {
        api_port
    };
    let api_addr = format!("127.0.0.1:{api_port}");
    // Something else answering there (another demo, a Toxiproxy) would pass
    // the health check in its place, and faults would go to it.
    drop(std::net::TcpListener::bind(&api_addr).with_context(|| {
        format!("the network-fault proxy's API port {api_addr} is in use; choose another with --proxy-port")
    })?);
    let mut proxies = Vec::new();
    // The ports chosen stay bound until all are, so no two are the same.
    let mut held = Vec::new();
    // One proxy named `name` on a free port in front of `upstream`: its
    // port and how the banner shows it.
    let mut add = |name: &str, upstream: SocketAddr, what: &str| -> anyhow::Result<_> {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
        let listen = listener.local_addr().context("no local address")?.port();
        held.push(listener);
        proxies.push(serde_json::json!({
            "name": name,
            "listen": format!("127.0.0.1:{listen}"),
            "upstream": upstream.to_string(),
            "enabled": true,
        }));
        Ok((
            Some(listen),
            Some(format!(
                "{name}: 127.0.0.1:{listen} -> {what} on {upstream}"
            )),
        ))
    };
    let (database_port, database_link) = match upstreams.postgres {
        Some(port) => add(
            DATABASE_PROXY,
            SocketAddr::from(([127, 0, 0, 1], port)),
            "PostgreSQL",
        )?,
        None => (None, None),
    };
    let (bucket_port, bucket_link) = match upstreams.s3 {
        Some(upstream) => add(BUCKET_PROXY, upstream, "S3")?,
        None => (None, None),
    };
    drop(held);
    let config = dir.join("proxies.json");
    std::fs::write(&config, serde_json::Value::Array(proxies).to_string())
        .with_context(|| format!("cannot write {}", config.display()))?;
    supervisor
        .start(proxy_process(&api_addr, &config, dir, logs)?)
        .await
        .with_context(|| format!("cannot start the network-fault proxy on {api_addr}"))?;
    Ok(StartedProxy {
        api: format!("http://{api_addr}"),
        database_port,
        database_link,
        bucket_port,
        bucket_link,
    })
}

/// `shakedown proxy` (this executable) with its API on `api_addr` and the
/// proxies in `config`, healthy when its API answers.
fn proxy_process(
    api_addr: &str,
    config: &Path,
    dir: &Path,
    logs: &Path,
) -> anyhow::Result<ProcessSpec> {
    let shakedown = std::env::current_exe().context("cannot find this executable")?;
    Ok(ProcessSpec {
        name: "proxy".to_owned(),
        argv: vec![
            shakedown.display().to_string(),
            "proxy".to_owned(),
            "--api".to_owned(),
            api_addr.to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
        ],
        env: vec![],
        cwd: Some(dir.to_path_buf()),
        user: None,
        stop_signal: StopSignal::Sigterm,
        grace: Duration::from_secs(5),
        start_timeout: Duration::from_secs(30),
        health: HealthCheck::Http {
            url: format!("http://{api_addr}/version"),
        },
        log: Some(logs.join("proxy.log")),
    })
}

/// Where the proxy in front of the demo's S3 server connects: the
/// endpoint's host and port, which must be on this machine (the demo sends
/// traffic nowhere else) and plain HTTP (the proxy relays bytes; the target
/// signs each request for the proxy's address, which is the Host header the
/// server then sees).
pub(super) fn s3_upstream(endpoint: &str) -> anyhow::Result<SocketAddr> {
    // Whatever stands before an `@` is hidden: the URL may carry a key.
    let shown = engine::plan::validate::without_credentials(endpoint);
    let bad = |why: &str| anyhow::anyhow!("S3 endpoint {shown:?}: {why}");
    let url = url::Url::parse(endpoint).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" {
        return Err(bad(
            "must be http:// (the demo's proxy relays plain TCP to a server on this machine)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "may not carry a user name or password (keys go in environment variables: the ones --s3-access-key-env and --s3-secret-key-env name, or under run --demo the plan's bucket.s3 secrets)",
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "must be the server's root URL, with no path or query (the bucket is the target's --bucket)",
        ));
    }
    let ip: std::net::IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        Some(url::Host::Domain("localhost")) => std::net::Ipv4Addr::LOCALHOST.into(),
        _ => {
            return Err(bad(
                "the server must be on this machine (127.0.0.1, ::1 or localhost)",
            ));
        }
    };
    if !ip.is_loopback() {
        return Err(bad(
            "the server must be on this machine (127.0.0.1, ::1 or localhost)",
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| bad("has no port"))?;
    Ok(SocketAddr::new(ip, port))
}
