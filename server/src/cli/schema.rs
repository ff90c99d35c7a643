//! `shakedown schema`: prints the JSON Schema of plan files (or of
//! `results.json`), generated from the engine's types.

use engine::plan::Plan;
use engine::results::RunResults;
use std::process::ExitCode;

/// Arguments of `shakedown schema`.
#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Print the schema of results.json instead of plan files.
    #[arg(long)]
    pub results: bool,
}

/// Prints the schema as pretty JSON.
pub fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = if args.results {
        RunResults::json_schema()
    } else {
        Plan::json_schema()
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
