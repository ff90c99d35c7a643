//! `shakedown baseline RUN`: pins a finished run as the baseline of its plan
//! in its environment through a running server's API
//! (`POST /api/runs/{id}/baseline`), with an approver's API token read from
//! an environment variable (never an argument). Relative criteria
//! (`L1.p95_ms < baseline.L1.p95_ms * 1.2`) compare with it from the next
//! run on. Exit 0 when pinned, 1 when refused.

use anyhow::Context;
use std::process::ExitCode;

/// Which run and where.
#[derive(clap::Args, Debug)]
pub struct BaselineArgs {
    /// The run's id.
    pub run: String,
    /// The server and the approver's token.
    #[command(flatten)]
    pub approver: super::args::ApproverArgs,
}

/// Pins, then prints the plan and environment it is now the baseline of.
pub async fn run(args: BaselineArgs) -> anyhow::Result<ExitCode> {
    let (request, _url) = args
        .approver
        .post(&format!("api/runs/{}/baseline", args.run))?;
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.approver.server))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    if status.is_success() {
        println!(
            "run {} is now the baseline of plan {} in {} (pinned by {})",
            args.run,
            answer["plan"].as_str().unwrap_or("?"),
            answer["environment"].as_str().unwrap_or("?"),
            answer["pinned_by"].as_str().unwrap_or("?")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let message = answer["message"]
        .as_str()
        .or_else(|| answer["error"].as_str())
        .map_or(body.clone(), str::to_owned);
    eprintln!("shakedown: baseline pin refused ({status}): {message}");
    Ok(ExitCode::from(1))
}
