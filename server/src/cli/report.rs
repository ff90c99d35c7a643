//! `shakedown report RUN_OR_PACK_DIR [--format md|html|json|junit] [--out FILE]`:
//! verifies a stored pack (by run id in the evidence store, or a pack folder
//! on disk with its manifest.json) and prints or writes one rendering. A pack
//! whose files do not match its manifest is refused, naming the files.

use super::args::PackArgs;
use super::packs::{load, results_of};
use crate::evidence::pack;
use crate::report::{html, junit, markdown, Report};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// report.md
    Md,
    /// report.html
    Html,
    /// results.json
    Json,
    /// junit.xml
    Junit,
}

/// Arguments of `shakedown report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// A run id in the evidence store, or a folder holding a pack.
    pub run: String,
    /// What to print.
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub pack: PackArgs,
}

/// Runs the command.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let pack = load(
        &args.run,
        args.pack.version,
        &args.pack.data_dir,
        &args.pack.evidence,
    )
    .await?;
    let results = match results_of(&pack) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shakedown: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let text = match args.format {
        Format::Json => {
            String::from_utf8_lossy(pack.file("results.json").unwrap_or_default()).into_owned()
        }
        Format::Junit => junit::render(&results),
        Format::Md | Format::Html => {
            let mut names: Vec<String> = pack.files.iter().map(|(n, _)| n.clone()).collect();
            names.push(pack::MANIFEST.to_owned());
            let stored = match args.format {
                Format::Md => pack.file("report.md"),
                _ => pack.file("report.html"),
            };
            // The stored rendering carries the comparison made at run time;
            // prefer it, rebuild only when it is absent.
            match stored {
                Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                None => {
                    let report = Report::build(&results, None, names);
                    if args.format == Format::Md {
                        markdown::render(&report)
                    } else {
                        html::render(&report)
                    }
                }
            }
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
