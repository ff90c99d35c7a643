//! Object stores for evidence: the `ObjectStore` trait and a local folder
//! (atomic writes: a temporary name, then rename); an S3-compatible bucket
//! is in `s3`.

use super::EvidenceError;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

mod s3;
pub use s3::{S3Settings, S3Store};

/// Keys are `/`-separated paths inside the store.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes an object whole; readers never see half of it.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), EvidenceError>;
    /// Writes an object only if none exists under that key; `Ok(false)`
    /// when one does.
    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, EvidenceError>;
    /// Reads an object; `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError>;
    /// Keys under a prefix (recursive), sorted. Reads only what sits under
    /// the prefix, never the whole store.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, EvidenceError>;
    /// At most `limit` keys under a prefix that sort after `start_after`,
    /// sorted: one page of an index read from a point on.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, EvidenceError> {
        let mut keys = self.list(prefix).await?;
        keys.retain(|k| k.as_str() > start_after);
        keys.truncate(limit);
        Ok(keys)
    }
    /// Where it is, for messages (no secrets).
    fn describe(&self) -> String;
    /// Whether it can be used right now (for readiness): a folder is
    /// written to, read back and cleaned; a bucket is asked whether it
    /// exists with these credentials.
    async fn probe(&self) -> Result<(), EvidenceError>;
}

fn check_key(key: &str) -> Result<(), EvidenceError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(EvidenceError::BadName(key.to_owned()))
    } else {
        Ok(())
    }
}

/// A folder on this machine.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, EvidenceError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn error(&self, what: &str, path: &Path, e: std::io::Error) -> EvidenceError {
        EvidenceError::Store {
            store: self.describe(),
            reason: format!("cannot {what} {}: {e}", path.display()),
        }
    }

    async fn write_temp(&self, path: &Path, bytes: &[u8]) -> Result<PathBuf, EvidenceError> {
        let parent = path.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| self.error("create", parent, e))?;
        let temp = parent.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| self.error("create", &temp, e))?;
        use tokio::io::AsyncWriteExt;
        file.write_all(bytes)
            .await
            .map_err(|e| self.error("write", &temp, e))?;
        file.sync_all()
            .await
            .map_err(|e| self.error("sync", &temp, e))?;
        Ok(temp)
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), EvidenceError> {
        let path = self.path(key)?;
        let temp = self.write_temp(&path, &bytes).await?;
        tokio::fs::rename(&temp, &path)
            .await
            .map_err(|e| self.error("rename into", &path, e))
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, EvidenceError> {
        let path = self.path(key)?;
        let temp = self.write_temp(&path, &bytes).await?;
        // A hard link fails when the name exists: an atomic "create only".
        let linked = tokio::fs::hard_link(&temp, &path).await;
        let _ = tokio::fs::remove_file(&temp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.error("link", &path, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("read", &path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, EvidenceError> {
        let mut keys = Vec::new();
        // Only the folder the prefix names is walked (`runs/R/` walks that
        // run's folder, not every run's).
        let start = match prefix.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => self.path(dir)?,
            _ => self.root.clone(),
        };
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.error("list", &dir, e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| self.error("list", &dir, e))?
            {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    continue;
                }
                if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// One blocking walk of the prefix's folder (not a hop per entry),
    /// keeping only the `limit` smallest keys after `start_after`.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, EvidenceError> {
        let start = match prefix.rsplit_once('/') {
            Some((dir, _)) if !dir.is_empty() => self.path(dir)?,
            _ => self.root.clone(),
        };
        let root = self.root.clone();
        let (prefix, start_after) = (prefix.to_owned(), start_after.to_owned());
        let walked = tokio::task::spawn_blocking(move || {
            walk_after(&root, start, &prefix, &start_after, limit)
        })
        .await
        .map_err(|e| EvidenceError::Store {
            store: self.describe(),
            reason: format!("listing stopped: {e}"),
        })?;
        walked.map_err(|(path, e)| self.error("list", &path, e))
    }

    async fn probe(&self) -> Result<(), EvidenceError> {
        let path = self
            .root
            .join(format!(".ready-{}", uuid::Uuid::new_v4().simple()));
        let payload = b"shakedown readiness probe";
        tokio::fs::write(&path, payload)
            .await
            .map_err(|e| self.error("write", &path, e))?;
        let back = tokio::fs::read(&path).await;
        let _ = tokio::fs::remove_file(&path).await;
        match back {
            Ok(bytes) if bytes == payload => Ok(()),
            Ok(_) => Err(EvidenceError::Store {
                store: self.describe(),
                reason: format!("{} read back different bytes", path.display()),
            }),
            Err(e) => Err(self.error("read", &path, e)),
        }
    }

    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }
}

/// The `limit` smallest keys under `prefix` after `start_after`, walking
/// the folder `start` (inside `root`) on this thread in key order and
/// stopping once it has them: a sub-folder whose keys all sort at or before
/// `start_after`, or outside `prefix`, is not read.
fn walk_after(
    root: &Path,
    start: PathBuf,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> Result<Vec<String>, (PathBuf, std::io::Error)> {
    let mut found = Vec::with_capacity(limit);
    let base = start
        .strip_prefix(root)
        .map(|rel| rel.to_string_lossy().replace('\\', "/"))
        .unwrap_or_default();
    let mut walk = Walk {
        prefix,
        start_after,
        limit,
        found: &mut found,
    };
    walk.folder(&start, &base)?;
    Ok(found)
}

/// A walk in key order, for [`walk_after`].
struct Walk<'a> {
    prefix: &'a str,
    start_after: &'a str,
    limit: usize,
    found: &'a mut Vec<String>,
}

impl Walk<'_> {
    /// Visits the folder whose keys start with `rel/` (all keys when `rel`
    /// is empty); `Ok` when done or full.
    fn folder(&mut self, dir: &Path, rel: &str) -> Result<(), (PathBuf, std::io::Error)> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err((dir.to_path_buf(), e)),
        };
        // (what its keys start with, is a folder): sorting these sorts the
        // keys, since a folder's keys all continue with '/'.
        let mut names: Vec<(String, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| (dir.to_path_buf(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                names.push((format!("{key}/"), true));
            } else {
                names.push((key, false));
            }
        }
        names.sort();
        for (key, is_dir) in names {
            if self.found.len() >= self.limit {
                return Ok(());
            }
            if is_dir {
                let under_prefix = key.starts_with(self.prefix) || self.prefix.starts_with(&key);
                // Every key inside starts with `key`: all of them sort at or
                // before `start_after` when `key` does and is not a start
                // of it.
                let all_before =
                    key.as_str() <= self.start_after && !self.start_after.starts_with(&key);
                if under_prefix && !all_before {
                    let sub = key.trim_end_matches('/');
                    self.folder(&dir.join(sub.rsplit('/').next().unwrap_or(sub)), sub)?;
                }
            } else if key.starts_with(self.prefix) && key.as_str() > self.start_after {
                self.found.push(key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
