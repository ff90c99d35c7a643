//! `shakedown diff RUN_A RUN_B`: compares two runs' verified packs and
//! prints each changed metric with previous, current and change, marking
//! regressions and improvements. Exit 1 when B regressed against A.

use super::packs::{load, results_of};
use crate::evidence::config::EvidenceArgs;
use crate::report::compare;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `shakedown diff`.
#[derive(clap::Args, Debug, Clone)]
pub struct DiffArgs {
    /// The earlier run (id or pack folder).
    pub run_a: String,
    /// The later run (id or pack folder).
    pub run_b: String,
    /// Folder holding the local evidence store (`DATA_DIR/evidence`).
    #[arg(long, env = "SHAKEDOWN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// Runs the command.
pub async fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let a = results_of(&load(&args.run_a, None, &args.data_dir, &args.evidence).await?)?;
    let b = results_of(&load(&args.run_b, None, &args.data_dir, &args.evidence).await?)?;
    let comparison = compare(&a, &b);
    print!("{}", comparison.to_markdown());
    Ok(if comparison.regressions() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
