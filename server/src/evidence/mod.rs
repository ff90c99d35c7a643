//! The evidence store: where each run's pack of files (results, reports,
//! histograms) is kept, tamper-evident through a manifest of sha256 sums.
//! A local folder by default, any S3-compatible bucket when configured.

pub mod config;
pub mod index;
pub mod pack;
pub mod record;
pub mod store;
pub mod testing;

/// What can go wrong reading or writing evidence.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The store could not be read or written.
    #[error("evidence store {store}: {reason}")]
    Store { store: String, reason: String },
    /// No pack exists for that run (and version).
    #[error("no evidence pack for run {run_id}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())]
    NoPack {
        run_id: String,
        version: Option<u32>,
    },
    /// The manifest itself is unreadable.
    #[error("manifest of run {run_id} version {version} is not valid: {reason}")]
    BadManifest {
        run_id: String,
        version: u32,
        reason: String,
    },
    /// A pack with this version already exists: packs are never overwritten.
    #[error("evidence pack {version} of run {run_id} already exists (packs are immutable)")]
    Exists { run_id: String, version: u32 },
    /// A file name that would escape the pack's folder.
    #[error("invalid file name in a pack: {0:?}")]
    BadName(String),
}
