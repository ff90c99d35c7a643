//! `shakedown signoff RUN --decision go|no-go --comment TEXT`: signs a run
//! from a terminal or a CI pipeline through a running server's API, with an
//! approver's API token read from an environment variable (never an
//! argument). Exit 0 when recorded, 1 when refused, 2 when unreachable.

use anyhow::Context;
use engine::access::{ApprovalError, Decision, SignOffState, SignRequest};
use std::process::ExitCode;

/// What to sign and where.
#[derive(clap::Args, Debug)]
pub struct SignoffArgs {
    /// The run's id.
    pub run: String,
    /// go or no-go.
    #[arg(long)]
    pub decision: Decision,
    /// Why (required).
    #[arg(long)]
    pub comment: String,
    /// Required to sign GO over failed criteria.
    #[arg(long)]
    pub override_reason: Option<String>,
    /// The server and the approver's token.
    #[command(flatten)]
    pub approver: super::args::ApproverArgs,
}

/// Signs, then prints the run's final decision.
pub async fn run(args: SignoffArgs) -> anyhow::Result<ExitCode> {
    let (request, url) = args
        .approver
        .post(&format!("api/runs/{}/signoffs", args.run))?;
    let response = request
        .json(&SignRequest {
            decision: args.decision,
            comment: args.comment,
            override_reason: args.override_reason,
        })
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.approver.server))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        let state: SignOffState =
            serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))?;
        println!(
            "signed {} on run {} (evidence v{} sha256 {})",
            args.decision.label(),
            args.run,
            state.evidence_version.unwrap_or_default(),
            state.manifest_sha256.as_deref().unwrap_or("?")
        );
        println!("final decision: {}", state.decision.describe());
        return Ok(ExitCode::SUCCESS);
    }
    let message = serde_json::from_str::<ApprovalError>(&body)
        .map(|e| match e.field {
            Some(f) => format!("--{}: {}", f.replace('_', "-"), e.message),
            None => e.message,
        })
        .or_else(|_| {
            serde_json::from_str::<serde_json::Value>(&body)
                .map(|v| v["error"].as_str().unwrap_or(&body).to_owned())
        })
        .unwrap_or(body);
    eprintln!("shakedown: sign-off refused ({status}): {message}");
    Ok(ExitCode::from(1))
}
