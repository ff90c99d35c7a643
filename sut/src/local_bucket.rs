//! A bucket that is a directory (`<root>/<bucket>`): objects are files,
//! written to a temporary name and renamed so readers never see half an
//! object.

use crate::bucket::BucketError;
use std::path::{Path, PathBuf};

/// A directory bucket.
#[derive(Debug, Clone)]
pub struct LocalBucket {
    name: String,
    path: PathBuf,
}

impl LocalBucket {
    /// The bucket `name` under `root`, created if missing.
    pub async fn open(root: &Path, name: &str) -> Result<LocalBucket, BucketError> {
        crate::bucket::check_key(name).map_err(|_| {
            BucketError::Config(format!("bucket name {name:?} is not a plain name"))
        })?;
        if name.contains('/') {
            return Err(BucketError::Config(format!(
                "bucket name {name:?} contains '/'"
            )));
        }
        let path = root.join(name);
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| BucketError::Unavailable {
                bucket: name.to_owned(),
                reason: format!("cannot create {}: {e}", path.display()),
            })?;
        Ok(LocalBucket {
            name: name.to_owned(),
            path,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding its objects.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(key: &str, e: std::io::Error) -> BucketError {
        BucketError::Io {
            key: key.to_owned(),
            reason: e.to_string(),
        }
    }

    /// Writes the object atomically.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BucketError> {
        let target = self.path.join(key);
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| Self::io(key, e))?;
        }
        let tmp = target.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| Self::io(key, e))?;
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| Self::io(key, e))
    }

    /// Reads the object; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BucketError> {
        match tokio::fs::read(self.path.join(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(key, e)),
        }
    }

    /// The directory exists and is a directory.
    pub async fn check(&self) -> Result<(), BucketError> {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(BucketError::Unavailable {
                bucket: self.name.clone(),
                reason: format!("{} is not a directory", self.path.display()),
            }),
            Err(e) => Err(BucketError::Unavailable {
                bucket: self.name.clone(),
                reason: format!("{}: {e}", self.path.display()),
            }),
        }
    }
}
