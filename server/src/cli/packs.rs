//! Reading a stored run's evidence pack for the commands that render or
//! compare runs (`report`, `diff`): by run id in the evidence store or by
//! pack folder on disk, verified against its manifest.

use crate::evidence::config::EvidenceArgs;
use crate::evidence::pack::{self, VerifiedPack};
use crate::evidence::store::LocalStore;
use anyhow::Context as _;
use engine::results::RunResults;
use std::path::Path;

/// Reads and verifies a pack named by run id or folder.
pub async fn load(
    run: &str,
    version: Option<u32>,
    data_dir: &Path,
    evidence: &EvidenceArgs,
) -> anyhow::Result<VerifiedPack> {
    let dir = Path::new(run);
    if dir.join(pack::MANIFEST).is_file() {
        // A pack folder in a local store's layout: `<root>/runs/<run>/v<N>/`.
        let version = dir
            .file_name()
            .and_then(|v| v.to_str()?.strip_prefix('v')?.parse().ok())
            .context("a pack folder is named v<N>")?;
        let run_dir = dir
            .parent()
            .context("a pack folder sits in its run's folder")?;
        let run_id = run_dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("the run folder's name is not text")?;
        let root = run_dir
            .parent()
            .and_then(Path::parent)
            .context("a pack folder sits in <store>/runs/<run>/")?;
        let store = LocalStore::new(root);
        return Ok(pack::read_pack(&store, run_id, Some(version)).await?);
    }
    let store = evidence.open(data_dir).await?;
    Ok(pack::read_pack(store.as_ref(), run, version).await?)
}

/// The pack's results, after checking it is intact.
pub fn results_of(pack: &VerifiedPack) -> anyhow::Result<RunResults> {
    if !pack.intact() {
        let names: Vec<String> = pack.problems.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "the evidence pack of run {} v{} is NOT intact: {}",
            pack.manifest.run_id,
            pack.manifest.version,
            names.join("; ")
        );
    }
    let bytes = pack
        .file("results.json")
        .context("the pack has no results.json")?;
    crate::report::parse_results(bytes).context("results.json is not readable")
}
