//! `shakedown`: the command line. Each subcommand lives in its own module;
//! this file only parses arguments and turns errors into exit codes.

#![recursion_limit = "256"]

mod access_api;
mod approval_policy;
mod approvals;
mod auth;
mod caps;
mod cmd_check;
mod cmd_diff;
mod cmd_report;
mod cmd_run;
mod cmd_runs;
mod cmd_schema;
mod cmd_signoff;
mod cmd_user;
mod cmd_verify;
mod db;
mod db_access;
mod demo;
mod event_writer;
mod evidence;
mod evidence_files;
mod lifecycle;
mod orchestrator;
mod readiness;
mod report;
mod run_stream;
mod runs_api;
#[cfg(test)]
mod security_hardening_tests;
mod security_headers;
#[cfg(test)]
mod security_tests;
mod serve;
mod web;

use clap::{Parser, Subcommand};
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
    Check(cmd_check::CheckArgs),
    /// Print the JSON Schema of plan files.
    Schema(cmd_schema::SchemaArgs),
    /// Check a run's evidence pack against its manifest (exit 1 when tampered).
    Verify(cmd_verify::VerifyArgs),
    /// Run a plan headless: exit 0 GO, 1 NO-GO or aborted, 2 invalid input or unreachable.
    Run(cmd_run::RunArgs),
    /// Print or write a stored run's report (md, html, json, junit) after verifying its pack.
    Report(cmd_report::ReportArgs),
    /// Compare two stored runs metric by metric (exit 1 when the second regressed).
    Diff(cmd_diff::DiffArgs),
    /// List the runs in the database, with why interrupted or aborted ones stopped.
    Runs(cmd_runs::RunsArgs),
    /// Manage users: add, list, set-role, passwd, disable, enable.
    User(cmd_user::UserArgs),
    /// Create, list and revoke API tokens (for `shakedown signoff` in CI).
    Token(cmd_user::TokenArgs),
    /// Sign a run GO or NO-GO through a server's API with an approver's token.
    Signoff(cmd_signoff::SignoffArgs),
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
            Command::Check(args) => cmd_check::run(args),
            Command::Schema(args) => cmd_schema::run(args),
            Command::Verify(args) => cmd_verify::run(args).await,
            Command::Run(args) => cmd_run::run(args).await,
            Command::Report(args) => cmd_report::run(args).await,
            Command::Diff(args) => cmd_diff::run(args).await,
            Command::Runs(args) => cmd_runs::run(args).await,
            Command::User(args) => cmd_user::run_user(args).await,
            Command::Token(args) => cmd_user::run_token(args).await,
            Command::Signoff(args) => cmd_signoff::run(args).await,
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
