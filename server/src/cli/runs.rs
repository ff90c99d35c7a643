//! `shakedown runs`: the runs in the database, newest first, with status,
//! verdict, start, duration and — for runs that did not finish normally
//! (interrupted by a restart or a lost database, aborted) — why. Filters by
//! plan, environment and status; `--json` for scripts.

use super::args::DbArgs;
use engine::run::{format_duration, format_utc, RunStatus};
use engine::store::{RunFilter, RunStore};
use std::process::ExitCode;

/// Arguments of `shakedown runs`.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only runs of this plan.
    #[arg(long)]
    pub plan: Option<String>,
    /// Only runs against this environment.
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// Only runs in this status (queued, running, finished, aborted, interrupted).
    #[arg(long)]
    pub status: Option<RunStatus>,
    /// One JSON object per run instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Prints the runs.
pub async fn run(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let db = args.db.open().await?;
    let runs: Vec<_> = db
        .list_runs(&RunFilter {
            plan: args.plan.clone(),
            environment: args.environment.clone(),
            verdict: None,
        })
        .await?
        .into_iter()
        .filter(|r| args.status.is_none_or(|s| r.status == s))
        .collect();
    if args.json {
        for r in &runs {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<16} {:<12} {:<11} {:<7} {:<23} TOOK",
        "RUN", "PLAN", "ENVIRONMENT", "STATUS", "VERDICT", "STARTED"
    );
    for r in &runs {
        println!(
            "{:<36}  {:<16} {:<12} {:<11} {:<7} {:<23} {}",
            r.id,
            r.plan,
            r.environment,
            r.status.as_str(),
            r.verdict.map_or("-", |v| v.as_str()),
            r.started_at_ms
                .map(format_utc)
                .unwrap_or_else(|| "-".into()),
            r.duration_ms()
                .map(format_duration)
                .unwrap_or_else(|| "-".into()),
        );
        if let Some(why) = r
            .error
            .as_deref()
            .filter(|_| matches!(r.status, RunStatus::Interrupted | RunStatus::Aborted))
        {
            println!("  {}: {why}", r.status.as_str());
        }
    }
    Ok(ExitCode::SUCCESS)
}
