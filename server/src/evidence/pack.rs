//! Evidence packs: the files one run leaves, under `runs/RUN/vN/`, with a
//! `manifest.json` of their sha256 sums written last (a pack without its
//! manifest does not exist). Packs are never overwritten: writing again
//! makes the next version. Reading verifies every file and names each one
//! that is missing, altered or not listed.

use super::store::ObjectStore;
use super::EvidenceError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's own file name.
pub const MANIFEST: &str = "manifest.json";

/// One file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    /// Lowercase hex sha256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
}

/// What a pack holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub run_id: String,
    pub version: u32,
    /// When it was written (Unix milliseconds).
    pub created_at_ms: i64,
    pub files: Vec<ManifestEntry>,
}

/// A pack as written: its version and the digest to store with the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPack {
    pub version: u32,
    /// sha256 of the manifest's bytes.
    pub manifest_digest: String,
    pub manifest: Manifest,
}

/// Why a file of a pack does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum FileProblem {
    /// Listed, but not in the store.
    Missing { name: String },
    /// Its bytes hash to something else.
    Altered {
        name: String,
        expected_sha256: String,
        actual_sha256: String,
    },
    /// In the pack's folder but not in the manifest.
    Unlisted { name: String },
    /// The plan file's bytes are not the plan results.json records (its
    /// sha256 differs from `plan.sha256` there).
    PlanMismatch {
        name: String,
        recorded_sha256: String,
        actual_sha256: String,
    },
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileProblem::Missing { name } => write!(f, "{name}: missing"),
            FileProblem::Altered {
                name,
                expected_sha256,
                actual_sha256,
            } => write!(
                f,
                "{name}: altered (manifest sha256 {expected_sha256}, file sha256 {actual_sha256})"
            ),
            FileProblem::Unlisted { name } => write!(f, "{name}: not listed in the manifest"),
            FileProblem::PlanMismatch {
                name,
                recorded_sha256,
                actual_sha256,
            } => write!(
                f,
                "{name}: not the plan that ran (results.json records sha256 {recorded_sha256}, file sha256 {actual_sha256})"
            ),
        }
    }
}

/// A pack as read back, with the outcome of its verification.
#[derive(Debug, Clone)]
pub struct VerifiedPack {
    pub manifest: Manifest,
    pub manifest_digest: String,
    /// Every file that matched, by name, with its bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// Every file that did not.
    pub problems: Vec<FileProblem>,
}

impl VerifiedPack {
    /// True when every file matched its manifest entry.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// A verified file's bytes.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }
}

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn folder(run_id: &str, version: u32) -> String {
    format!("runs/{run_id}/v{version}/")
}

/// Versions of a run's packs that have a manifest, ascending.
pub async fn versions(store: &dyn ObjectStore, run_id: &str) -> Result<Vec<u32>, EvidenceError> {
    let prefix = format!("runs/{run_id}/");
    let mut found: Vec<u32> = store
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|key| {
            let rest = key.strip_prefix(&prefix)?;
            let (dir, file) = rest.split_once('/')?;
            (file == MANIFEST).then(|| dir.strip_prefix('v')?.parse().ok())?
        })
        .collect();
    found.sort_unstable();
    Ok(found)
}

/// Writes a new pack version for the run: every file first, the manifest
/// last and only if that version does not exist yet.
pub async fn write_pack(
    store: &dyn ObjectStore,
    run_id: &str,
    files: Vec<(String, Vec<u8>)>,
    created_at_ms: i64,
) -> Result<WrittenPack, EvidenceError> {
    if run_id.is_empty() || run_id.contains('/') || run_id.starts_with('.') {
        return Err(EvidenceError::BadName(run_id.to_owned()));
    }
    for (name, _) in &files {
        if name == MANIFEST || name.is_empty() || name.starts_with('.') {
            return Err(EvidenceError::BadName(name.clone()));
        }
    }
    let version = versions(store, run_id).await?.last().copied().unwrap_or(0) + 1;
    let dir = folder(run_id, version);
    let mut entries = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        entries.push(ManifestEntry {
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
            name: name.clone(),
        });
        store.put(&format!("{dir}{name}"), bytes).await?;
    }
    let manifest = Manifest {
        schema_version: 1,
        run_id: run_id.to_owned(),
        version,
        created_at_ms,
        files: entries,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| EvidenceError::BadManifest {
        run_id: run_id.to_owned(),
        version,
        reason: e.to_string(),
    })?;
    let manifest_digest = sha256_hex(&bytes);
    if !store.put_new(&format!("{dir}{MANIFEST}"), bytes).await? {
        return Err(EvidenceError::Exists {
            run_id: run_id.to_owned(),
            version,
        });
    }
    Ok(WrittenPack {
        version,
        manifest_digest,
        manifest,
    })
}

/// The version `version` names, or the newest one with a manifest (found
/// in the run's own folder).
async fn resolve(
    store: &dyn ObjectStore,
    run_id: &str,
    version: Option<u32>,
) -> Result<u32, EvidenceError> {
    match version {
        Some(v) => Ok(v),
        None => versions(store, run_id)
            .await?
            .last()
            .copied()
            .ok_or_else(|| EvidenceError::NoPack {
                run_id: run_id.to_owned(),
                version: None,
            }),
    }
}

/// A pack's manifest as stored, with the sha256 of its bytes.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub manifest: Manifest,
    pub digest: String,
}

/// Reads a pack's manifest (the newest when `version` is `None`) and
/// nothing else.
pub async fn read_manifest(
    store: &dyn ObjectStore,
    run_id: &str,
    version: Option<u32>,
) -> Result<StoredManifest, EvidenceError> {
    let version = resolve(store, run_id, version).await?;
    let raw = store
        .get(&format!("{}{MANIFEST}", folder(run_id, version)))
        .await?
        .ok_or_else(|| EvidenceError::NoPack {
            run_id: run_id.to_owned(),
            version: Some(version),
        })?;
    let manifest: Manifest =
        serde_json::from_slice(&raw).map_err(|e| EvidenceError::BadManifest {
            run_id: run_id.to_owned(),
            version,
            reason: e.to_string(),
        })?;
    Ok(StoredManifest {
        manifest,
        digest: sha256_hex(&raw),
    })
}

/// One listed file read from the store and checked against its entry:
/// its bytes when they match, else what is wrong with it.
async fn read_entry(
    store: &dyn ObjectStore,
    dir: &str,
    entry: &ManifestEntry,
) -> Result<Result<Vec<u8>, FileProblem>, EvidenceError> {
    Ok(match store.get(&format!("{dir}{}", entry.name)).await? {
        None => Err(FileProblem::Missing {
            name: entry.name.clone(),
        }),
        Some(bytes) => {
            let actual = sha256_hex(&bytes);
            if actual == entry.sha256 {
                Ok(bytes)
            } else {
                Err(FileProblem::Altered {
                    name: entry.name.clone(),
                    expected_sha256: entry.sha256.clone(),
                    actual_sha256: actual,
                })
            }
        }
    })
}

/// Reads a pack (the newest when `version` is `None`) and checks every file
/// against the manifest. Only that pack's folder is read.
pub async fn read_pack(
    store: &dyn ObjectStore,
    run_id: &str,
    version: Option<u32>,
) -> Result<VerifiedPack, EvidenceError> {
    let StoredManifest { manifest, digest } = read_manifest(store, run_id, version).await?;
    let dir = folder(run_id, manifest.version);
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for entry in &manifest.files {
        match read_entry(store, &dir, entry).await? {
            Ok(bytes) => files.push((entry.name.clone(), bytes)),
            Err(problem) => problems.push(problem),
        }
    }
    for key in store.list(&dir).await? {
        let name = key.strip_prefix(&dir).unwrap_or(&key);
        if name != MANIFEST && !manifest.files.iter().any(|e| e.name == name) {
            problems.push(FileProblem::Unlisted {
                name: name.to_owned(),
            });
        }
    }
    problems.extend(plan_mismatch(&files));
    Ok(VerifiedPack {
        manifest_digest: digest,
        manifest,
        files,
        problems,
    })
}

/// One file of a pack as read for a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackFile {
    /// Its bytes, which match the manifest.
    Intact(Vec<u8>),
    /// It does not match (missing, altered, unlisted, or the plan file not
    /// being the plan that ran).
    Broken(FileProblem),
    /// Neither listed nor in the pack's folder.
    Absent,
}

/// Reads one file of a pack (the newest when `version` is `None`): the
/// manifest, then that file alone, checked against its entry. The plan
/// file is also checked against the plan sha256 results.json records, so
/// it reads results.json too; no other file is read.
pub async fn read_file(
    store: &dyn ObjectStore,
    run_id: &str,
    version: Option<u32>,
    name: &str,
) -> Result<PackFile, EvidenceError> {
    let StoredManifest { manifest, .. } = read_manifest(store, run_id, version).await?;
    let dir = folder(run_id, manifest.version);
    let entry_of = |n: &str| manifest.files.iter().find(|e| e.name == n);
    let Some(entry) = entry_of(name) else {
        if name == MANIFEST {
            return Ok(PackFile::Absent);
        }
        // A file in the folder that the manifest does not list is named as
        // such, as a full verification would.
        let present = match store.get(&format!("{dir}{name}")).await {
            Ok(found) => found.is_some(),
            Err(EvidenceError::BadName(_)) => false,
            Err(e) => return Err(e),
        };
        return Ok(if present {
            PackFile::Broken(FileProblem::Unlisted {
                name: name.to_owned(),
            })
        } else {
            PackFile::Absent
        });
    };
    let bytes = match read_entry(store, &dir, entry).await? {
        Ok(bytes) => bytes,
        Err(problem) => return Ok(PackFile::Broken(problem)),
    };
    if name == crate::report::PLAN_FILE {
        if let Some(results) = entry_of("results.json") {
            if let Ok(results) = read_entry(store, &dir, results).await? {
                let files = [
                    (name.to_owned(), bytes),
                    ("results.json".to_owned(), results),
                ];
                if let Some(problem) = plan_mismatch(&files) {
                    return Ok(PackFile::Broken(problem));
                }
                let [(_, bytes), _] = files;
                return Ok(PackFile::Intact(bytes));
            }
        }
    }
    Ok(PackFile::Intact(bytes))
}

/// The plan file checked against the plan sha256 results.json records,
/// when the pack holds both (packs written before the plan was packed have
/// no plan file).
fn plan_mismatch(files: &[(String, Vec<u8>)]) -> Option<FileProblem> {
    let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
    let plan = file(crate::report::PLAN_FILE)?;
    let results = crate::report::parse_results(file("results.json")?).ok()?;
    let actual = sha256_hex(plan);
    (actual != results.plan.sha256).then(|| FileProblem::PlanMismatch {
        name: crate::report::PLAN_FILE.to_owned(),
        recorded_sha256: results.plan.sha256,
        actual_sha256: actual,
    })
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
