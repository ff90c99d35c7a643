//! `shakedown demo`: the demo target (PostgreSQL when its binaries exist,
//! the built-in network-fault proxy between the target and PostgreSQL, the
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
    pub lifecycle: crate::runs::lifecycle::LifecycleArgs,
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
    /// Root folder of the target's local buckets.
    pub bucket_dir: PathBuf,
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
        println!("  its bucket    {}", stack.bucket_dir.display());
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

/// Starts PostgreSQL (when installed and wanted), the network-fault proxy
/// (with a proxy in front of PostgreSQL), then the target's API and worker,
/// each healthy before the next; the API and worker reach PostgreSQL
/// through the proxy.
pub async fn start_stack(
    supervisor: &Supervisor,
    dir: &Path,
    args: &DemoArgs,
) -> anyhow::Result<DemoStack> {
    let sut = sibling_binary("shakedown-sut")?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).context("cannot create the log folder")?;
    let postgres = match (args.no_postgres, postgres_bin_dir()) {
        (false, Some(bin)) => Some(start_postgres(supervisor, dir, &bin, &logs).await?),
        _ => None,
    };
    let proxy = start_proxy(supervisor, dir, args.proxy_port, postgres, &logs).await?;
    let database_url = match proxy.database_port {
        Some(port) => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.join("sut").join("sut.db").display()
        ),
    };
    let api_addr = format!("127.0.0.1:{}", args.sut_port);
    let api_url = format!("http://{api_addr}");
    let bucket_dir = dir.join("buckets");
    let mut common = vec![
        "--data-dir".to_owned(),
        dir.join("sut").display().to_string(),
        "--database-url".to_owned(),
        database_url.clone(),
        "--bucket-dir".to_owned(),
        bucket_dir.display().to_string(),
        "--environment".to_owned(),
        "demo".to_owned(),
    ];
    if !args.faults.is_empty() {
        common.push(format!("--fault={}", args.faults.join(",")));
    }
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
    Ok(DemoStack {
        api_url,
        database_url,
        proxy_api: proxy.api,
        database_link: proxy.link,
        bucket_dir,
    })
}

/// The running proxy: its API, and the port the database is reached on
/// through it.
struct StartedProxy {
    api: String,
    database_port: Option<u16>,
    link: Option<String>,
}

/// Starts `shakedown proxy` under the supervisor, its API on `api_port`
/// (a free port for 0), with one proxy, [`DATABASE_PROXY`], in front of
/// PostgreSQL on `postgres_port` when there is one, and none otherwise.
async fn start_proxy(
    supervisor: &Supervisor,
    dir: &Path,
    api_port: u16,
    postgres_port: Option<u16>,
    logs: &Path,
) -> anyhow::Result<StartedProxy> {
    let shakedown = std::env::current_exe().context("cannot find this executable")?;
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
    let (proxies, database_port, link) = match postgres_port {
        Some(upstream) => {
            let listen = free_port()?;
            let proxy = serde_json::json!([{
                "name": DATABASE_PROXY,
                "listen": format!("127.0.0.1:{listen}"),
                "upstream": format!("127.0.0.1:{upstream}"),
                "enabled": true,
            }]);
            let link = format!(
                "{DATABASE_PROXY}: 127.0.0.1:{listen} -> PostgreSQL on 127.0.0.1:{upstream}"
            );
            (proxy, Some(listen), Some(link))
        }
        None => (serde_json::json!([]), None, None),
    };
    let config = dir.join("proxies.json");
    std::fs::write(&config, proxies.to_string())
        .with_context(|| format!("cannot write {}", config.display()))?;
    supervisor
        .start(ProcessSpec {
            name: "proxy".to_owned(),
            argv: vec![
                shakedown.display().to_string(),
                "proxy".to_owned(),
                "--api".to_owned(),
                api_addr.clone(),
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
        .await
        .with_context(|| format!("cannot start the network-fault proxy on {api_addr}"))?;
    Ok(StartedProxy {
        api: format!("http://{api_addr}"),
        database_port,
        link,
    })
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

/// The folder holding `initdb`, `postgres` and `pg_isready`, if installed.
fn postgres_bin_dir() -> Option<PathBuf> {
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
async fn start_postgres(
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

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr().context("no local address")?.port())
}
