//! `shakedown demo`: the demo target (PostgreSQL when its binaries exist,
//! the built-in network-fault proxy between the target and PostgreSQL, and
//! between the target and its S3-compatible bucket when it has one, the
//! SUT's API and worker) under Shakedown's supervisor, plus the web app, in
//! one command. Ctrl-C stops everything and removes the temporary folder;
//! no process is left behind.

use crate::cli::serve::{self, ServeArgs};
use anyhow::{bail, Context};
use engine::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod postgres;
mod proxy;
use postgres::{postgres_bin_dir, start_postgres};
use proxy::{s3_upstream, start_proxy, Upstreams};

/// Where the demo listens and how its target behaves.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Address of the web app.
    #[arg(long, env = "SHAKEDOWN_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Port of the demo target's API on 127.0.0.1 (the example plans use 8080).
    #[arg(long, default_value_t = 8080)]
    pub sut_port: u16,
    /// Port of the built-in network-fault proxy's API on 127.0.0.1 (the
    /// example plans use Toxiproxy's 8474); 0 picks a free port.
    #[arg(long, default_value_t = 8474)]
    pub proxy_port: u16,
    /// Fault switches for the demo target (comma-separated), e.g. `slow`.
    #[arg(long = "fault", value_delimiter = ',')]
    pub faults: Vec<String>,
    /// Use SQLite for the target even when PostgreSQL is installed.
    #[arg(long)]
    pub no_postgres: bool,
    /// The built site (wasm, JS, CSS, public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Folder the New run page offers plans from.
    #[arg(long, env = "SHAKEDOWN_PLANS_DIR", default_value = "examples")]
    pub plans_dir: PathBuf,
    #[command(flatten)]
    pub s3: DemoS3Args,
    #[command(flatten)]
    pub lifecycle: crate::runs::lifecycle::LifecycleArgs,
}

/// Where the demo target keeps its bucket: a local folder unless
/// `--s3-endpoint` names an S3-compatible server on this machine, which the
/// target then reaches through the proxy [`BUCKET_PROXY`].
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DemoS3Args {
    /// An S3-compatible server on 127.0.0.1 (e.g. `http://127.0.0.1:9000`,
    /// `scripts/s3-server` starts one) for the demo target's bucket instead
    /// of a local folder; the target reaches it through the network-fault
    /// proxy `sut_s3`.
    #[arg(long = "s3-endpoint", env = "SHAKEDOWN_DEMO_S3_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Name of the environment variable holding the access key id the
    /// target signs with (the value never leaves the environment).
    #[arg(
        long = "s3-access-key-env",
        default_value = "S3_ACCESS_KEY_ID",
        requires = "endpoint"
    )]
    pub access_key_env: String,
    /// Name of the environment variable holding the secret access key.
    #[arg(
        long = "s3-secret-key-env",
        default_value = "S3_SECRET_ACCESS_KEY",
        requires = "endpoint"
    )]
    pub secret_key_env: String,
    /// Region the target signs for (the target's default, `us-east-1`,
    /// unless set).
    #[arg(long = "s3-region", requires = "endpoint")]
    pub region: Option<String>,
}

/// Whether `SHAKEDOWN_LOCAL_MODE_OPEN_TO_NETWORK=1` lets the demo (local
/// mode: no login, everyone acts as admin) listen on an address other than
/// loopback.
fn open_to_network() -> bool {
    std::env::var("SHAKEDOWN_LOCAL_MODE_OPEN_TO_NETWORK").is_ok_and(|v| v == "1" || v == "true")
}

/// The processes of the demo target, started and supervised.
pub struct DemoStack {
    /// Base URL of the target's API.
    pub api_url: String,
    /// The target's database URL (through the proxy with PostgreSQL).
    pub database_url: String,
    /// The network-fault proxy's API (`http://127.0.0.1:8474`).
    pub proxy_api: String,
    /// The proxy between the target and its database, as `name: listen ->
    /// upstream`; `None` with SQLite, which has no network link.
    pub database_link: Option<String>,
    /// Where the target's bucket is: the root folder of its local buckets,
    /// or the S3 server (the real one, not the proxy).
    pub bucket: String,
    /// The proxy between the target and its S3 bucket, as `name: listen ->
    /// upstream`; `None` with a local folder, which has no network link.
    pub bucket_link: Option<String>,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    serve::check_local_mode_bind(args.addr, true, open_to_network())?;
    let started = Instant::now();
    let temp = tempfile::Builder::new()
        .prefix("shakedown-demo-")
        .tempdir()
        .context("cannot create the demo's temporary folder")?;
    let supervisor = Arc::new(Supervisor::new());
    let outcome = async {
        let stack = start_stack(&supervisor, temp.path(), &args).await?;
        let serve_args = ServeArgs {
            addr: args.addr,
            data_dir: temp.path().join("shakedown"),
            database_url: None,
            site_root: args.site_root.clone(),
            plans_dir: args.plans_dir.clone(),
            // The demo is one command on a laptop: no accounts to create.
            auth: crate::auth::AuthArgs {
                local_mode: true,
                ..crate::auth::AuthArgs::default()
            },
            lifecycle: args.lifecycle.clone(),
            caps: crate::runs::caps::CapsArgs::default(),
            approvals: crate::approval_policy::ApprovalPolicyArgs::default(),
            evidence: crate::evidence::config::EvidenceArgs::default(),
            local_mode_open_to_network: open_to_network(),
            // On a laptop, the New run page's paste box is for trying
            // tests against the example plans' environments.
            allow_pasted_plans: true,
        };
        let state = serve::open(&serve_args).await?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        println!();
        println!(
            "Shakedown demo is up ({:.1} s):",
            started.elapsed().as_secs_f64()
        );
        println!("  web app       http://{}", args.addr);
        println!("  demo target   {} (api + worker)", stack.api_url);
        println!("  its database  {}", stack.database_url);
        println!("  proxy API     {}", stack.proxy_api);
        match &stack.database_link {
            Some(link) => println!("  database link {link}"),
            None => {
                println!("  database link none: the target uses SQLite, a file, not a network link")
            }
        }
        println!("  its bucket    {}", stack.bucket);
        match &stack.bucket_link {
            Some(link) => println!("  bucket link   {link}"),
            None => println!(
                "  bucket link   none: the bucket is a local folder, not a network link (--s3-endpoint)"
            ),
        }
        println!("  data          {}", temp.path().display());
        println!("  local mode    no login: everyone who can reach it acts as admin");
        println!("Press Ctrl-C to stop everything.");
        let orchestrator = state.orchestrator.clone();
        args.lifecycle.apply(&orchestrator);
        orchestrator.set_caps(serve_args.caps.limits());
        orchestrator.allow_pasted_plans(serve_args.allow_pasted_plans);
        // Runs the web app starts restart the demo's own processes.
        orchestrator.use_supervisor(supervisor.clone());
        axum::serve(listener, serve::app_service(state))
            .with_graceful_shutdown(crate::runs::lifecycle::drain_on_signal(
                orchestrator,
                args.lifecycle.grace(),
            ))
            .await
            .context("server failed")
    }
    .await;
    supervisor.stop_all().await;
    drop(temp);
    println!("Shakedown demo stopped; every process ended and the temporary folder is removed.");
    outcome
}

/// The proxy the demo puts between the target and PostgreSQL; plans name
/// it in `network.links` (`database = "sut_postgres"`).
pub const DATABASE_PROXY: &str = "sut_postgres";

/// The proxy the demo puts between the target and its S3 bucket (with
/// `--s3-endpoint`); plans name it in `network.links` (`bucket =
/// "sut_s3"`).
pub const BUCKET_PROXY: &str = "sut_s3";

/// The environment variable `var` is set (to something): the target reads
/// its S3 key from it and would otherwise fail to start with less to say.
fn require_key(var: &str, flag: &str) -> anyhow::Result<()> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Ok(()),
        _ => bail!(
            "environment variable {var} (named by {flag}) is not set: the demo target's S3 bucket needs its key there"
        ),
    }
}

/// Starts PostgreSQL (when installed and wanted), the network-fault proxy
/// (with a proxy in front of PostgreSQL, and one in front of the S3 server
/// with `--s3-endpoint`), then the target's API and worker, each healthy
/// before the next; the API and worker reach PostgreSQL and the bucket
/// through the proxy.
pub async fn start_stack(
    supervisor: &Supervisor,
    dir: &Path,
    args: &DemoArgs,
) -> anyhow::Result<DemoStack> {
    let sut = sibling_binary("shakedown-sut")?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).context("cannot create the log folder")?;
    // Bad S3 settings are refused before anything starts.
    let s3_upstream = checked_s3_upstream(args)?;
    let postgres = match (args.no_postgres, postgres_bin_dir()) {
        (false, Some(bin)) => Some(start_postgres(supervisor, dir, &bin, &logs).await?),
        _ => None,
    };
    let proxy = start_proxy(
        supervisor,
        dir,
        args.proxy_port,
        Upstreams {
            postgres,
            s3: s3_upstream,
        },
        &logs,
    )
    .await?;
    let database_url = sut_database_url(dir, proxy.database_port);
    let api_addr = format!("127.0.0.1:{}", args.sut_port);
    let api_url = format!("http://{api_addr}");
    let bucket_dir = dir.join("buckets");
    let common = sut_args(dir, &database_url, &bucket_dir, proxy.bucket_port, args);
    std::fs::create_dir_all(dir.join("sut")).context("cannot create the target's folder")?;
    // One of the target's processes, listening where `flag` says and
    // healthy when `health_url` answers.
    let role = |name: &str, flag: &str, listen: &str, health_url: String| ProcessSpec {
        name: name.to_owned(),
        argv: [sut.display().to_string(), name.to_owned()]
            .into_iter()
            .chain(common.iter().cloned())
            .chain([flag.to_owned(), listen.to_owned()])
            .collect(),
        env: vec![],
        cwd: Some(dir.to_path_buf()),
        user: None,
        stop_signal: StopSignal::Sigterm,
        grace: Duration::from_secs(10),
        start_timeout: Duration::from_secs(30),
        health: HealthCheck::Http { url: health_url },
        log: Some(logs.join(format!("{name}.log"))),
    };
    let api_health = format!("{api_url}/health");
    supervisor
        .start(role("api", "--listen", &api_addr, api_health))
        .await?;
    let worker_health = format!("127.0.0.1:{}", free_port()?);
    let worker_health_url = format!("http://{worker_health}/health");
    supervisor
        .start(role(
            "worker",
            "--worker-health-listen",
            &worker_health,
            worker_health_url,
        ))
        .await?;
    let bucket = match &args.s3.endpoint {
        Some(endpoint) => format!("S3 at {endpoint}"),
        None => bucket_dir.display().to_string(),
    };
    Ok(DemoStack {
        api_url,
        database_url,
        proxy_api: proxy.api,
        database_link: proxy.database_link,
        bucket,
        bucket_link: proxy.bucket_link,
    })
}

/// The target's database: PostgreSQL through the proxy's `database_port`,
/// else a SQLite file in its folder.
fn sut_database_url(dir: &Path, database_port: Option<u16>) -> String {
    match database_port {
        Some(port) => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.join("sut").join("sut.db").display()
        ),
    }
}

/// Where the proxy in front of the S3 server connects, with `--s3-endpoint`
/// (`None` without); fails when the endpoint or its key variables are not
/// as the target needs them.
fn checked_s3_upstream(args: &DemoArgs) -> anyhow::Result<Option<SocketAddr>> {
    let Some(endpoint) = &args.s3.endpoint else {
        return Ok(None);
    };
    let upstream = s3_upstream(endpoint)?;
    require_key(&args.s3.access_key_env, "--s3-access-key-env")?;
    require_key(&args.s3.secret_key_env, "--s3-secret-key-env")?;
    Ok(Some(upstream))
}

/// The arguments the target's API and worker share: its folders, its
/// database, its bucket (through the proxy at `bucket_port` with S3) and
/// the faults it is asked to have.
fn sut_args(
    dir: &Path,
    database_url: &str,
    bucket_dir: &Path,
    bucket_port: Option<u16>,
    args: &DemoArgs,
) -> Vec<String> {
    let mut common = vec![
        "--data-dir".to_owned(),
        dir.join("sut").display().to_string(),
        "--database-url".to_owned(),
        database_url.to_owned(),
        "--bucket-dir".to_owned(),
        bucket_dir.display().to_string(),
        "--environment".to_owned(),
        "demo".to_owned(),
    ];
    if let Some(port) = bucket_port {
        // Path-style requests to the proxy, signed for its address: the
        // Host header the server checks the signature against is the one
        // the target signed, since the proxy only relays bytes.
        common.extend([
            "--s3-endpoint".to_owned(),
            format!("http://127.0.0.1:{port}"),
            "--s3-access-key-env".to_owned(),
            args.s3.access_key_env.clone(),
            "--s3-secret-key-env".to_owned(),
            args.s3.secret_key_env.clone(),
        ]);
        if let Some(region) = &args.s3.region {
            common.extend(["--s3-region".to_owned(), region.clone()]);
        }
    }
    if !args.faults.is_empty() {
        common.push(format!("--fault={}", args.faults.join(",")));
    }
    common
}

/// A binary built next to this one (`target/debug`, `target/release`, or an
/// install folder), else one on PATH.
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let here = std::env::current_exe().context("cannot find this executable")?;
    if let Some(dir) = here.parent() {
        let beside = dir.join(name);
        if beside.is_file() {
            return Ok(beside);
        }
        // Test binaries live one folder deeper (target/debug/deps).
        if let Some(up) = dir.parent() {
            let above = up.join(name);
            if above.is_file() {
                return Ok(above);
            }
        }
    }
    which(name).with_context(|| format!("cannot find {name} next to shakedown or on PATH"))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr().context("no local address")?.port())
}
