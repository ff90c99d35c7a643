//! Object stores for evidence: a local folder (atomic writes: a temporary
//! name, then rename) or an S3-compatible bucket (aws-sdk-s3, custom
//! endpoint, path-style, keys read from named environment variables).

use super::EvidenceError;
use async_trait::async_trait;
use std::path::{Path, PathBuf};

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

/// Where an S3-compatible bucket is and which environment variables hold
/// its keys (the keys themselves are never stored or printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Prefix of every key (may be empty).
    pub prefix: String,
    pub access_key_env: String,
    pub secret_key_env: String,
}

/// An S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    settings: S3Settings,
}

impl S3Store {
    /// A client for the bucket; fails when a key variable is unset.
    pub fn new(settings: S3Settings) -> Result<Self, EvidenceError> {
        let read = |name: &str| {
            std::env::var(name).map_err(|_| EvidenceError::Store {
                store: format!("s3://{}", settings.bucket),
                reason: format!("environment variable {name} is not set"),
            })
        };
        let credentials = aws_sdk_s3::config::Credentials::new(
            read(&settings.access_key_env)?,
            read(&settings.secret_key_env)?,
            None,
            None,
            "shakedown-evidence",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&settings.endpoint)
            .region(aws_sdk_s3::config::Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Ok(S3Store {
            client: aws_sdk_s3::Client::from_conf(config),
            settings,
        })
    }

    fn key(&self, key: &str) -> Result<String, EvidenceError> {
        check_key(key)?;
        Ok(format!("{}{key}", self.settings.prefix))
    }

    fn error(&self, what: &str, key: &str, e: impl std::fmt::Display) -> EvidenceError {
        EvidenceError::Store {
            store: self.describe(),
            reason: format!("cannot {what} {key}: {e}"),
        }
    }

    /// Creates the bucket when it does not exist yet.
    pub async fn ensure_bucket(&self) -> Result<(), EvidenceError> {
        if self.probe().await.is_ok() {
            return Ok(());
        }
        let bucket = &self.settings.bucket;
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            // Another writer may have created it meanwhile.
            Err(_) if self.probe().await.is_ok() => Ok(()),
            Err(e) => Err(self.error(
                "create bucket",
                bucket,
                aws_sdk_s3::error::DisplayErrorContext(e),
            )),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), EvidenceError> {
        let full = self.key(key)?;
        self.client
            .put_object()
            .bucket(&self.settings.bucket)
            .key(&full)
            .body(bytes.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error("write", &full, aws_sdk_s3::error::DisplayErrorContext(e)))
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, EvidenceError> {
        if self.get(key).await?.is_some() {
            return Ok(false);
        }
        self.put(key, bytes).await?;
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        let full = self.key(key)?;
        let answer = self
            .client
            .get_object()
            .bucket(&self.settings.bucket)
            .key(&full)
            .send()
            .await;
        match answer {
            Ok(object) => {
                let body = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.error("read", &full, e))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.error("read", &full, aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, EvidenceError> {
        let full = format!("{}{prefix}", self.settings.prefix);
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.error("list", &full, aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    if let Some(rel) = key.strip_prefix(&self.settings.prefix) {
                        keys.push(rel.to_owned());
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, EvidenceError> {
        let full = format!("{}{prefix}", self.settings.prefix);
        let after = format!("{}{start_after}", self.settings.prefix);
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(&full)
            .start_after(&after)
            .max_keys(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.error("list", &full, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let mut keys: Vec<String> = page
            .contents()
            .iter()
            .filter_map(|o| o.key()?.strip_prefix(&self.settings.prefix))
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys.truncate(limit);
        Ok(keys)
    }

    async fn probe(&self) -> Result<(), EvidenceError> {
        let bucket = &self.settings.bucket;
        self.client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                self.error(
                    "reach bucket",
                    bucket,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })
    }

    fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.settings.bucket, self.settings.prefix, self.settings.endpoint
        )
    }
}

#[cfg(test)]
impl S3Store {
    /// Removes an object (tests simulate a lost file with it).
    pub async fn delete_for_test(&self, key: &str) {
        let full = self.key(key).unwrap();
        self.client
            .delete_object()
            .bucket(&self.settings.bucket)
            .key(full)
            .send()
            .await
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paging through a folder with `list_after` gives what `list` gives,
    /// in order, and nothing outside the prefix.
    #[tokio::test]
    async fn a_local_folder_pages_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        for i in (0..40).rev() {
            store.put(&format!("idx/a{i:02}"), vec![]).await.unwrap();
        }
        store.put("idx/sub/b", vec![]).await.unwrap();
        store.put("idy/a00", vec![]).await.unwrap();
        let page = store.list_after("idx/", "idx/a05", 10).await.unwrap();
        let expected: Vec<String> = (6..16).map(|i| format!("idx/a{i:02}")).collect();
        assert_eq!(page, expected);
        let mut all = Vec::new();
        let mut after = String::from("idx/");
        loop {
            let page = store.list_after("idx/", &after, 7).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.clone();
            all.extend(page);
        }
        assert_eq!(all, store.list("idx/").await.unwrap());
        assert_eq!(all.len(), 41);
        assert!(store
            .list_after("nothing/", "", 5)
            .await
            .unwrap()
            .is_empty());
    }
}
