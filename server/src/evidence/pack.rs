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
mod tests {
    use super::*;
    use crate::evidence::store::{LocalStore, S3Settings, S3Store};

    fn sample() -> Vec<(String, Vec<u8>)> {
        vec![
            ("results.json".into(), br#"{"verdict":"GO"}"#.to_vec()),
            ("report.md".into(), b"# Report\n".to_vec()),
            ("L1.hgrm".into(), vec![0u8, 1, 2, 3, 255]),
        ]
    }

    async fn round_trip_and_tamper(store: &dyn ObjectStore, tamper: impl AsyncFnOnce(&str)) {
        let run = format!("run-{}", uuid::Uuid::new_v4());
        assert!(matches!(
            read_pack(store, &run, None).await,
            Err(EvidenceError::NoPack { .. })
        ));
        let written = write_pack(store, &run, sample(), 1_700_000_000_000)
            .await
            .unwrap();
        assert_eq!(written.version, 1);
        let pack = read_pack(store, &run, None).await.unwrap();
        assert!(pack.intact(), "{:?}", pack.problems);
        assert_eq!(pack.manifest_digest, written.manifest_digest);
        assert_eq!(pack.file("report.md"), Some(&b"# Report\n"[..]));
        assert_eq!(pack.manifest.files.len(), 3);

        // Writing again never overwrites: it makes version 2.
        let again = write_pack(store, &run, sample(), 1_700_000_000_001)
            .await
            .unwrap();
        assert_eq!(again.version, 2);
        assert_eq!(versions(store, &run).await.unwrap(), vec![1, 2]);

        tamper(&run).await;
        let pack = read_pack(store, &run, Some(1)).await.unwrap();
        assert!(!pack.intact());
        let names: Vec<String> = pack.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names[0].starts_with("report.md: altered (manifest sha256 "),
            "{names:?}"
        );
        assert_eq!(names[1], "L1.hgrm: missing");
        // Version 2 is untouched.
        assert!(read_pack(store, &run, Some(2)).await.unwrap().intact());
    }

    #[tokio::test]
    async fn a_local_pack_detects_one_altered_byte_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let root = dir.path().to_path_buf();
        round_trip_and_tamper(&store, async |run: &str| {
            let folder = root.join("runs").join(run).join("v1");
            let path = folder.join("report.md");
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[2] ^= 1;
            std::fs::write(&path, bytes).unwrap();
            std::fs::remove_file(folder.join("L1.hgrm")).unwrap();
        })
        .await;
        // No temporary files are left behind.
        let leftovers = LocalStore::new(dir.path()).list("").await.unwrap();
        assert!(leftovers.iter().all(|k| !k.contains(".tmp-")));
    }

    #[tokio::test]
    async fn an_unlisted_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        write_pack(&store, "r1", sample(), 0).await.unwrap();
        store
            .put("runs/r1/v1/extra.txt", b"x".to_vec())
            .await
            .unwrap();
        let pack = read_pack(&store, "r1", None).await.unwrap();
        assert_eq!(
            pack.problems,
            vec![FileProblem::Unlisted {
                name: "extra.txt".into()
            }]
        );
    }

    /// A download reads the manifest and its one file (plus results.json for
    /// the plan file), and still names an altered, unlisted or mismatched
    /// file.
    #[tokio::test]
    async fn one_file_is_read_and_checked_alone() {
        use crate::evidence::testing::{Access, Recording};
        let dir = tempfile::tempdir().unwrap();
        let inner = std::sync::Arc::new(LocalStore::new(dir.path()));
        let store = Recording::new(inner.clone());
        let results = crate::evidence::testing::results("r1", "p", "e", 0);
        let mut files = crate::report::pack_files(&results, None).unwrap();
        files.push((crate::report::PLAN_FILE.into(), b"[plan]".to_vec()));
        write_pack(&store, "r1", files, 0).await.unwrap();
        inner
            .put("runs/r1/v1/report.md", b"altered".to_vec())
            .await
            .unwrap();
        inner
            .put("runs/r1/v1/extra.txt", b"x".to_vec())
            .await
            .unwrap();
        store.take();

        let got = read_file(&store, "r1", None, "results.json").await.unwrap();
        assert!(
            matches!(got, PackFile::Intact(ref b) if !b.is_empty()),
            "{got:?}"
        );
        let gets: Vec<Access> = store
            .take()
            .into_iter()
            .filter(|a| matches!(a, Access::Get(_)))
            .collect();
        assert_eq!(
            gets,
            vec![
                Access::Get("runs/r1/v1/manifest.json".into()),
                Access::Get("runs/r1/v1/results.json".into()),
            ]
        );
        let got = read_file(&store, "r1", None, "report.md").await.unwrap();
        assert!(
            matches!(got, PackFile::Broken(FileProblem::Altered { ref name, .. }) if name == "report.md"),
            "{got:?}"
        );
        let got = read_file(&store, "r1", Some(1), "extra.txt").await.unwrap();
        assert_eq!(
            got,
            PackFile::Broken(FileProblem::Unlisted {
                name: "extra.txt".into()
            })
        );
        for name in ["nothing.txt", MANIFEST, "../x"] {
            let got = read_file(&store, "r1", None, name).await.unwrap();
            assert_eq!(got, PackFile::Absent, "{name}");
        }
        // results.json records sha256 "00", not this plan's.
        let got = read_file(&store, "r1", None, crate::report::PLAN_FILE)
            .await
            .unwrap();
        assert!(
            matches!(got, PackFile::Broken(FileProblem::PlanMismatch { .. })),
            "{got:?}"
        );
        assert!(matches!(
            read_file(&store, "r2", None, "results.json").await,
            Err(EvidenceError::NoPack { .. })
        ));
    }

    #[tokio::test]
    async fn names_that_escape_the_pack_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        for name in ["../x", "manifest.json", ".hidden", "a//b"] {
            let err = write_pack(&store, "r1", vec![(name.into(), vec![])], 0)
                .await
                .unwrap_err();
            assert!(matches!(err, EvidenceError::BadName(_)), "{name}: {err}");
        }
        assert!(write_pack(&store, "../r", sample(), 0).await.is_err());
    }

    /// The S3 store against the S3-compatible server the test command
    /// starts (`SHAKEDOWN_TEST_S3_ENDPOINT`, keys in `SHAKEDOWN_TEST_S3_KEY`
    /// and `SHAKEDOWN_TEST_S3_SECRET`); required when
    /// `SHAKEDOWN_TEST_REQUIRE_S3=1`.
    #[tokio::test]
    async fn an_s3_pack_detects_tampering_too() {
        let Ok(endpoint) = std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") else {
            assert!(
                std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").as_deref() != Ok("1"),
                "SHAKEDOWN_TEST_REQUIRE_S3=1 but SHAKEDOWN_TEST_S3_ENDPOINT is not set"
            );
            eprintln!("SHAKEDOWN_TEST_S3_ENDPOINT not set: S3 part skipped");
            return;
        };
        let settings = S3Settings {
            endpoint,
            region: "us-east-1".into(),
            bucket: "shakedown-evidence-test".into(),
            prefix: format!("t-{}/", uuid::Uuid::new_v4().simple()),
            access_key_env: "SHAKEDOWN_TEST_S3_KEY".into(),
            secret_key_env: "SHAKEDOWN_TEST_S3_SECRET".into(),
        };
        let store = S3Store::new(settings).unwrap();
        store.ensure_bucket().await.unwrap();
        let tamperer = store.clone();
        round_trip_and_tamper(&store, async move |run: &str| {
            let dir = format!("runs/{run}/v1/");
            tamperer
                .put(&format!("{dir}report.md"), b"# Rep0rt\n".to_vec())
                .await
                .unwrap();
            // Deleting through the SDK's raw client is not part of the
            // store's interface; overwrite the manifest-listed histogram's
            // key with nothing by removing it through a fresh client.
            tamperer.delete_for_test(&format!("{dir}L1.hgrm")).await;
        })
        .await;
    }
}
