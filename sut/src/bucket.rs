//! The object bucket artifacts go to: a local directory by default, or an
//! S3-compatible bucket. Object keys are checked so that no key can name a
//! path outside the bucket.

use crate::local_bucket::LocalBucket;
use serde_json::json;

/// A bucket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BucketError {
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("bucket I/O on {key:?}: {reason}")]
    Io { key: String, reason: String },
    #[error("bucket {bucket:?} is not usable: {reason}")]
    Unavailable { bucket: String, reason: String },
    #[error("bucket configuration: {0}")]
    Config(String),
}

/// A key is 1–512 characters of `[A-Za-z0-9._-]` segments joined by `/`,
/// none of them empty, `.` or `..`.
pub fn check_key(key: &str) -> Result<(), BucketError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(BucketError::InvalidKey(key.to_owned()))
    }
}

/// The configured bucket.
#[derive(Debug, Clone)]
pub enum Bucket {
    Local(LocalBucket),
    #[cfg(feature = "s3")]
    S3(crate::s3_bucket::S3Bucket),
}

impl Bucket {
    /// The bucket's name.
    pub fn name(&self) -> &str {
        match self {
            Bucket::Local(b) => b.name(),
            #[cfg(feature = "s3")]
            Bucket::S3(b) => b.name(),
        }
    }

    /// `local` or `s3`.
    pub fn backend(&self) -> &'static str {
        match self {
            Bucket::Local(_) => "local",
            #[cfg(feature = "s3")]
            Bucket::S3(_) => "s3",
        }
    }

    /// What readiness shows about it: bucket, backend, and where a checker
    /// can read the objects (directory or endpoint).
    pub fn details(&self) -> serde_json::Value {
        match self {
            Bucket::Local(b) => json!({
                "bucket": b.name(),
                "backend": "local",
                "path": b.path().display().to_string(),
            }),
            #[cfg(feature = "s3")]
            Bucket::S3(b) => json!({
                "bucket": b.name(),
                "backend": "s3",
                "endpoint": b.endpoint(),
            }),
        }
    }

    /// The directory holding the objects, for a local bucket.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        match self {
            Bucket::Local(b) => Some(b.path()),
            #[cfg(feature = "s3")]
            Bucket::S3(_) => None,
        }
    }

    /// Stores an object, replacing any object with the same key.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BucketError> {
        check_key(key)?;
        match self {
            Bucket::Local(b) => b.put(key, &bytes).await,
            #[cfg(feature = "s3")]
            Bucket::S3(b) => b.put(key, bytes).await,
        }
    }

    /// Reads an object back; `None` if there is no such object.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BucketError> {
        check_key(key)?;
        match self {
            Bucket::Local(b) => b.get(key).await,
            #[cfg(feature = "s3")]
            Bucket::S3(b) => b.get(key).await,
        }
    }

    /// Checks that the bucket exists and is reachable.
    pub async fn check(&self) -> Result<(), BucketError> {
        match self {
            Bucket::Local(b) => b.check().await,
            #[cfg(feature = "s3")]
            Bucket::S3(b) => b.check().await,
        }
    }
}

/// Opens the bucket the configuration names — or, with the `wrong-bucket`
/// fault, the other one.
pub async fn open(
    cfg: &crate::config::Config,
    faults: &crate::faults::Faults,
) -> Result<Bucket, BucketError> {
    let name = if faults.on(crate::faults::Fault::WrongBucket) {
        cfg.wrong_bucket_name()
    } else {
        cfg.bucket.clone()
    };
    match &cfg.s3_endpoint {
        None => Ok(Bucket::Local(
            LocalBucket::open(&cfg.bucket_root(), &name).await?,
        )),
        #[cfg(feature = "s3")]
        Some(endpoint) => Ok(Bucket::S3(
            crate::s3_bucket::S3Bucket::open(cfg, endpoint, &name).await?,
        )),
        #[cfg(not(feature = "s3"))]
        Some(_) => Err(BucketError::Config(
            "this build has no S3 support (feature `s3`)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_stay_inside_the_bucket() {
        assert!(check_key("reps/abc/attempt-1.json").is_ok());
        assert!(check_key("smoke-tests/storage-test-1a2b.txt").is_ok());
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", "a b", "a\\b", "x/",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?} accepted");
        }
    }
}
