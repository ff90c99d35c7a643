//! Stores a finished run's evidence: renders every pack file, writes a new
//! pack version to the evidence store and a plain copy (with the manifest)
//! to the `--out` folder. The previous run of the same plan and environment,
//! found through the store's index, feeds the report's comparison.

use super::pack::{self, WrittenPack, MANIFEST};
use super::store::ObjectStore;
use super::EvidenceError;
use engine::results::RunResults;
use std::path::Path;

/// Why a run's evidence could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] EvidenceError),
    /// The results could not be serialised.
    #[error("cannot serialise the results: {0}")]
    Serialise(#[from] serde_json::Error),
    /// The `--out` copy could not be written.
    #[error("cannot write {path}: {source}")]
    Copy {
        path: String,
        source: std::io::Error,
    },
}

/// The newest verified results in the store of another run with the same
/// plan name and environment that started before `current`, found through
/// the store's index (`index.rs`): only the candidates' packs are read.
pub async fn previous_run(store: &dyn ObjectStore, current: &RunResults) -> Option<RunResults> {
    match super::index::previous(store, current).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(
                "run {}: no previous run to compare with: {e}",
                current.run_id
            );
            None
        }
    }
}

/// Writes the run's pack to the store and, when `out` is given, copies it
/// there.
pub async fn store_run(
    store: &dyn ObjectStore,
    results: &RunResults,
    out: Option<&Path>,
) -> Result<WrittenPack, RecordError> {
    let previous = previous_run(store, results).await;
    let files = crate::report::pack_files(results, previous.as_ref())?;
    let copy = |name: &str, bytes: &[u8]| {
        let Some(out) = out else {
            return Ok(());
        };
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|source| RecordError::Copy {
            path: path.display().to_string(),
            source,
        })
    };
    for (name, bytes) in &files {
        copy(name, bytes)?;
    }
    let written = pack::write_pack(store, &results.run_id, files, crate::db::now_ms()).await?;
    // The pack is written and is what counts: a missing index entry only
    // keeps later runs from comparing with this one.
    if let Err(e) = super::index::record(store, results).await {
        tracing::warn!(
            "run {}: evidence pack v{} written but not indexed (later runs will not compare with it): {e}",
            results.run_id,
            written.version
        );
    }
    copy(MANIFEST, &serde_json::to_vec_pretty(&written.manifest)?)?;
    Ok(written)
}
