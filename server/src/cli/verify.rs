//! `shakedown verify RUN`: reads a run's evidence pack and checks every file
//! against its manifest; exit 0 when intact, 1 when a file is missing,
//! altered or unlisted, 2 when there is no such pack.

use super::args::PackArgs;
use crate::evidence::pack;
use std::process::ExitCode;

/// Which pack to verify.
#[derive(clap::Args, Debug, Clone)]
pub struct VerifyArgs {
    /// The run's id.
    pub run: String,
    #[command(flatten)]
    pub pack: PackArgs,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = args.pack.evidence.open(&args.pack.data_dir).await?;
    let pack = pack::read_pack(store.as_ref(), &args.run, args.pack.version).await?;
    println!(
        "run {} pack v{} in {} (manifest sha256 {})",
        pack.manifest.run_id,
        pack.manifest.version,
        store.describe(),
        pack.manifest_digest
    );
    for (name, bytes) in &pack.files {
        println!("  ok       {name} ({} bytes)", bytes.len());
    }
    for problem in &pack.problems {
        println!("  FAILED   {problem}");
    }
    if pack.intact() {
        println!("intact: every file matches the manifest");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT INTACT: {} file(s) do not match", pack.problems.len());
        Ok(ExitCode::from(1))
    }
}
