//! `shakedown`: the command line. Each subcommand lives in its own module of
//! the library (`server::cli`); this file only parses arguments and turns
//! errors into exit codes.

use clap::{Parser, Subcommand};
use server::cli::{
    agent, baseline, check, demo, diff, launch, proxy, report, run, runs, schema, serve, signoff,
    user, verify,
};
use std::process::ExitCode;

/// Validates a staging environment before a release: real load, real
/// restarts, and a report approvers sign.
#[derive(Parser)]
#[command(name = "shakedown", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app.
    Serve(serve::ServeArgs),
    /// Start the demo target (PostgreSQL, API, worker) and the web app together.
    Demo(demo::DemoArgs),
    /// Validate a plan file without running it (exit 2 when invalid).
    Check(check::CheckArgs),
    /// Print the JSON Schema of plan files.
    Schema(schema::SchemaArgs),
    /// Check a run's evidence pack against its manifest (exit 1 when tampered).
    Verify(verify::VerifyArgs),
    /// Run a plan headless: exit 0 GO, 1 NO-GO or aborted, 2 invalid input or unreachable.
    Run(run::RunArgs),
    /// Start a run on a server through its API (an operator's token); with
    /// --wait: exit 0 GO, 1 NO-GO or aborted, 2 refused or unreachable.
    Launch(launch::LaunchArgs),
    /// Print or write a stored run's report (md, html, json, junit) after verifying its pack.
    Report(report::ReportArgs),
    /// Compare two stored runs metric by metric (exit 1 when the second regressed).
    Diff(diff::DiffArgs),
    /// List the runs in the database, with why interrupted or aborted ones stopped.
    Runs(runs::RunsArgs),
    /// Manage users: add, list, set-role, passwd, disable, enable.
    User(user::UserArgs),
    /// Create, list and revoke API tokens (for `shakedown signoff` in CI).
    Token(user::TokenArgs),
    /// Sign a run GO or NO-GO through a server's API with an approver's token.
    Signoff(signoff::SignoffArgs),
    /// Pin a finished run as its plan and environment's baseline for
    /// relative criteria, through a server's API with an approver's token.
    Baseline(baseline::BaselineArgs),
    /// Run the built-in network-fault proxy with a Toxiproxy-compatible API.
    Proxy(proxy::ProxyArgs),
    /// Run a load agent: take shares of loads split across agents from a server.
    Agent(agent::AgentArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("shakedown: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Check(args) => check::run(args),
            Command::Schema(args) => schema::run(args),
            Command::Verify(args) => verify::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Launch(args) => launch::run(args).await,
            Command::Report(args) => report::run(args).await,
            Command::Diff(args) => diff::run(args).await,
            Command::Runs(args) => runs::run(args).await,
            Command::User(args) => user::run_user(args).await,
            Command::Token(args) => user::run_token(args).await,
            Command::Signoff(args) => signoff::run(args).await,
            Command::Baseline(args) => baseline::run(args).await,
            Command::Proxy(args) => proxy::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Agent(args) => agent::run(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shakedown: {e:#}");
            ExitCode::from(2)
        }
    }
}
