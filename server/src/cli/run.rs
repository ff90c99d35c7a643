//! `shakedown run PLAN [--env NAME] [--out DIR]`: runs a plan headless with
//! a progress bar per test, prints a summary table, writes results.json.
//! Exit 0 for GO, 1 for NO-GO or aborted, 2 for invalid input, an
//! unreachable environment or a service's program that cannot start.
//! Ctrl-C aborts; the partial result is written. The programs a plan's
//! services name are started and stopped by the run itself (the engine's
//! `programs`), with or without `--demo`. What it prints is in `terminal`.

use anyhow::Context as _;
use engine::plan::load_file;
use engine::results::RunResults;
use engine::run::{RunStatus, Verdict};
use engine::runner::{run_plan_with, RunError, RunOptions};
use engine::supervisor::Supervisor;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

mod terminal;
use terminal::{summary_table, Bars};

/// Arguments of `shakedown run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// The environment to run against (the plan's default, or its only one, when omitted).
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// Directory for results.json (created when missing); default
    /// `shakedown-results/<plan>-<start time>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder holding the local evidence store (`DATA_DIR/evidence`) and
    /// the default SQLite database, where the run is recorded so the web app
    /// lists it.
    #[arg(long, env = "SHAKEDOWN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database to record the run in (default: SQLite in the data folder).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub evidence: crate::evidence::config::EvidenceArgs,
    /// Start the demo target (PostgreSQL, API, worker) under Shakedown's
    /// supervisor first, on the port of the plan's base URL, so `process`
    /// restarts work (its bucket on the S3 server of the environment's
    /// `bucket.s3`, when set, through the proxy `sut_s3`); stop it all
    /// afterwards.
    #[arg(long)]
    pub demo: bool,
    /// Fault switches for the demo target (comma-separated), with --demo.
    #[arg(long = "demo-fault", value_delimiter = ',', requires = "demo")]
    pub demo_faults: Vec<String>,
    /// Who runs it, shown as the report's Tester (a CI job can pass its
    /// token's label or `$GITHUB_ACTOR`); the operating-system user
    /// (`$USER`, else `$USERNAME`) when omitted.
    #[arg(long)]
    pub tester: Option<String>,
}

/// The report's Tester: `--tester`, else the operating-system user; `None`
/// when neither is known (or only blank).
fn tester(flag: Option<&str>) -> Option<String> {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// The port of the environment's base URL (the demo target listens there).
fn demo_port(loaded: &engine::plan::LoadedPlan, env: Option<&str>) -> anyhow::Result<u16> {
    let (_, environment) = loaded.plan.environment(env).map_err(anyhow::Error::msg)?;
    loopback_port("base_url", &environment.base_url)
}

/// The port of `url` (the plan's `field`), where `--demo` starts something
/// on 127.0.0.1; an error when the URL names another host, since the plan
/// would then talk to a machine the demo is not on.
fn loopback_port(field: &str, url: &str) -> anyhow::Result<u16> {
    let parsed = url::Url::parse(url).with_context(|| format!("{field} {url:?}"))?;
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST => {}
        Some(url::Host::Domain("localhost")) => {}
        host => anyhow::bail!(
            "--demo starts the demo on 127.0.0.1, but the plan's {field} {url:?} names host {}: point it at 127.0.0.1, or run without --demo",
            host.map_or_else(|| "none".to_owned(), |h| h.to_string())
        ),
    }
    parsed
        .port_or_known_default()
        .with_context(|| format!("the plan's {field} {url:?} has no port"))
}

/// Where the demo's network-fault proxy serves its API: the port of the
/// environment's `network.api` when a test of the plan puts a network fault
/// on a link, else any free port (0), since nothing will call it.
fn demo_proxy_port(loaded: &engine::plan::LoadedPlan, env: Option<&str>) -> anyhow::Result<u16> {
    let (_, environment) = loaded.plan.environment(env).map_err(anyhow::Error::msg)?;
    let faults_links = loaded.plan.tests.iter().any(|t| {
        matches!(
            &t.kind,
            engine::plan::TestKind::Chaos(c) if matches!(c.fault, Some(engine::plan::ChaosFault::Network(_)))
        )
    });
    let Some(network) = environment.network.as_ref().filter(|_| faults_links) else {
        return Ok(0);
    };
    loopback_port("network.api", &network.api)
}

/// The demo target's bucket: on the S3 server the environment's
/// `bucket.s3` names (reached through the demo's proxy `sut_s3`), signing
/// with the keys in the environment variables its secrets name; a local
/// folder when the environment's bucket is not on S3.
fn demo_s3(
    loaded: &engine::plan::LoadedPlan,
    env: Option<&str>,
) -> anyhow::Result<crate::cli::demo::DemoS3Args> {
    let (name, environment) = loaded.plan.environment(env).map_err(anyhow::Error::msg)?;
    let Some(engine::plan::BucketAccess::S3(s3)) = &environment.bucket else {
        return Ok(crate::cli::demo::DemoS3Args::default());
    };
    let endpoint = s3.endpoint.clone().with_context(|| {
        format!("environments.{name}.bucket.s3 has no endpoint: the demo target keeps its bucket on a server on this machine")
    })?;
    let variable = |secret: &str, field: &str| {
        environment.secrets.get(secret).cloned().with_context(|| {
            format!("environments.{name}.bucket.s3.{field} names {secret:?}, which environments.{name}.secrets does not declare")
        })
    };
    Ok(crate::cli::demo::DemoS3Args {
        endpoint: Some(endpoint),
        access_key_env: variable(&s3.access_key_secret, "access_key_secret")?,
        secret_key_env: variable(&s3.secret_key_secret, "secret_key_secret")?,
        region: s3.region.clone(),
    })
}

/// Runs the plan and maps the outcome to an exit code.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = match load_file(&args.plan) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    for what in crate::runs::lifecycle::clean_up_network_faults(&args.data_dir).await? {
        eprintln!("shakedown: removed a network fault a stopped run left: {what}");
    }
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("shakedown: interrupted, stopping and keeping what was measured");
            on_signal.cancel();
        }
    });
    let sink = Arc::new(Bars::default());
    let mut options = references(&loaded, &args).await;
    let mut demo = None;
    if args.demo {
        let (supervisor, temp) = start_demo(&loaded, &args).await?;
        options.supervisor = Some(supervisor.clone());
        demo = Some((supervisor, temp));
    }
    let outcome = run_plan_with(
        &loaded,
        args.environment.as_deref(),
        cancel,
        sink.clone(),
        options,
    )
    .await;
    if let Some((supervisor, temp)) = demo {
        supervisor.stop_all().await;
        drop(temp);
    }
    let mut results = match outcome {
        Ok(results) => results,
        Err(e @ (RunError::Invalid(_) | RunError::Unreachable { .. } | RunError::Start { .. })) => {
            eprintln!("shakedown: {e}");
            return Ok(ExitCode::from(2));
        }
        // Ctrl-C while the plan's programs were starting: nothing ran.
        Err(e @ RunError::Interrupted(_)) => {
            eprintln!("shakedown: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    results.tester = tester(args.tester.as_deref());
    print!("{}", summary_table(&results));
    keep(&args, &results).await?;
    Ok(match (results.status, results.verdict) {
        (RunStatus::Finished, Some(Verdict::Go)) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// The baseline and previous run the web app would use for this plan and
/// environment, from the same database and evidence store, so a headless
/// run's relative criteria and `regressions_fail` judge it the same way. A
/// database or store that cannot be opened only warns: relative criteria
/// then read NO BASELINE (never a pass).
async fn references(loaded: &engine::plan::LoadedPlan, args: &RunArgs) -> RunOptions {
    let Ok((environment, _)) = loaded.plan.environment(args.environment.as_deref()) else {
        // The run itself reports the unknown environment.
        return RunOptions::default();
    };
    let opened = async {
        let db = crate::db::Db::open_in(&args.data_dir, args.database_url.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let store = args
            .evidence
            .open(&args.data_dir)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((db, store))
    }
    .await;
    let (db, store) = match opened {
        Ok(both) => both,
        Err(e) => {
            eprintln!("shakedown: warning: no baseline or previous run to compare with: {e}");
            return RunOptions::default();
        }
    };
    let found =
        crate::runs::references::for_run(&db, store.as_ref(), &loaded.plan, environment, "").await;
    RunOptions {
        supervisor: None,
        baseline: found.baseline.map(Arc::new),
        previous: found.previous.map(Arc::new),
        agents: None,
    }
}

/// Starts the demo target under a supervisor of its own, on the port of the
/// plan's base URL, in a temporary folder that lives as long as it runs.
async fn start_demo(
    loaded: &engine::plan::LoadedPlan,
    args: &RunArgs,
) -> anyhow::Result<(Arc<Supervisor>, tempfile::TempDir)> {
    let port = demo_port(loaded, args.environment.as_deref())?;
    let proxy_port = demo_proxy_port(loaded, args.environment.as_deref())?;
    let s3 = demo_s3(loaded, args.environment.as_deref())?;
    let temp = tempfile::Builder::new()
        .prefix("shakedown-run-demo-")
        .tempdir()
        .context("cannot create the demo's temporary folder")?;
    let supervisor = Arc::new(Supervisor::new());
    let demo_args = crate::cli::demo::DemoArgs {
        addr: ([127, 0, 0, 1], 0).into(),
        sut_port: port,
        proxy_port,
        faults: args.demo_faults.clone(),
        no_postgres: false,
        site_root: PathBuf::new(),
        plans_dir: PathBuf::new(),
        s3,
        lifecycle: crate::runs::lifecycle::LifecycleArgs {
            shutdown_grace_s: 0,
            event_buffer: crate::runs::orchestrator::DEFAULT_EVENT_BUFFER,
        },
    };
    eprintln!("shakedown: starting the demo target on 127.0.0.1:{port}");
    match crate::cli::demo::start_stack(&supervisor, temp.path(), &demo_args).await {
        Ok(stack) => eprintln!(
            "shakedown: the demo's network-fault proxy API is {}; database link: {}; bucket link: {}",
            stack.proxy_api,
            stack.database_link.as_deref().unwrap_or("none (SQLite)"),
            stack
                .bucket_link
                .as_deref()
                .unwrap_or("none (a local folder)")
        ),
        Err(e) => {
            supervisor.stop_all().await;
            return Err(e.context("cannot start the demo target"));
        }
    }
    Ok((supervisor, temp))
}

/// Writes the evidence pack to the store and the output folder, and
/// records the run in the database.
async fn keep(args: &RunArgs, results: &RunResults) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        let stamp = results.started_at.replace([':', '.'], "-");
        PathBuf::from("shakedown-results").join(format!("{}-{stamp}", results.plan.name))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let store = args.evidence.open(&args.data_dir).await?;
    let written = crate::evidence::record::store_run(store.as_ref(), results, Some(&out)).await?;
    println!(
        "evidence: {} pack v{} in {} (manifest sha256 {}); copies in {}",
        results.run_id,
        written.version,
        store.describe(),
        written.manifest_digest,
        out.display()
    );
    record_in_database(
        &args.data_dir,
        args.database_url.as_deref(),
        results,
        (written.version, &written.manifest_digest),
    )
    .await;
    Ok(())
}

/// Records the run in the database the web app reads, so headless runs are
/// listed with the others. A database that cannot be reached only warns:
/// the run's results and evidence are already written.
async fn record_in_database(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    results: &engine::results::RunResults,
    (version, digest): (u32, &str),
) {
    use engine::store::RunStore;
    let url = crate::db::url_in(data_dir, database_url);
    let recorded = async {
        let db = crate::db::Db::open_in(data_dir, database_url)
            .await
            .map_err(|e| e.to_string())?;
        db.import_run(&engine::run::RunSummary {
            id: results.run_id.clone(),
            plan: results.plan.name.clone(),
            environment: results.environment.name.clone(),
            status: results.status,
            verdict: results.verdict,
            created_at_ms: results.started_at_ms,
            started_at_ms: Some(results.started_at_ms),
            finished_at_ms: Some(results.finished_at_ms),
            error: results.error.clone(),
        })
        .await
        .map_err(|e| e.to_string())?;
        db.record_evidence(&results.run_id, version, digest)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match recorded {
        Ok(()) => println!("recorded in {}", crate::db::redact(&url)),
        Err(e) => eprintln!("shakedown: warning: run not recorded in the database: {e}"),
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
