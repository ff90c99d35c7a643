//! Shakedown's own access to the environment's bucket, to read artifacts
//! back, probe storage and check isolation: a local folder of buckets (the
//! folder found directly or through the readiness answer) or an
//! S3-compatible endpoint (path-style, keys from the environment variables
//! the plan names).

use crate::plan::BucketAccess;
use crate::runner::target::Target;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// A reachable bucket store.
#[derive(Debug, Clone)]
pub enum Buckets {
    /// Folders under a root.
    Local(PathBuf),
    /// An S3 client.
    S3(aws_sdk_s3::Client),
}

fn secret(target: &Target, name: &str) -> Result<String, String> {
    let var = target
        .env
        .secrets
        .get(name)
        .ok_or_else(|| format!("the environment declares no secret named {name:?}"))?;
    std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
}

impl Buckets {
    /// Connects to the environment's bucket store.
    pub async fn open(target: &Target, access: &BucketAccess) -> Result<Buckets, String> {
        match access {
            BucketAccess::Local(local) => {
                if let Some(root) = &local.root {
                    return Ok(Buckets::Local(PathBuf::from(root)));
                }
                let pointer = local
                    .root_from_readiness
                    .as_deref()
                    .ok_or("a local bucket needs root or root_from_readiness")?;
                let path = target
                    .env
                    .readiness_path
                    .as_deref()
                    .ok_or("root_from_readiness needs the environment's readiness_path")?;
                let url = target.url(path).map_err(|e| e.to_string())?;
                let response = target
                    .get(url.clone())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                let body = target
                    .read_bytes(response)
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                let document: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("GET {url}: not JSON: {e}"))?;
                let folder = document
                    .pointer(pointer)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("GET {url}: no folder at {pointer}"))?;
                let root = Path::new(folder)
                    .parent()
                    .ok_or_else(|| format!("the bucket folder {folder:?} has no parent"))?;
                Ok(Buckets::Local(root.to_path_buf()))
            }
            BucketAccess::S3(s3) => {
                let key = secret(target, &s3.access_key_secret)?;
                let secret_key = secret(target, &s3.secret_key_secret)?;
                let credentials = aws_sdk_s3::config::Credentials::new(
                    key,
                    secret_key,
                    None,
                    None,
                    "shakedown-plan",
                );
                let mut config = aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .region(aws_sdk_s3::config::Region::new(
                        s3.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                    ))
                    .credentials_provider(credentials)
                    .force_path_style(s3.path_style.unwrap_or(true));
                if let Some(endpoint) = &s3.endpoint {
                    target.url(endpoint).map_err(|e| e.to_string())?;
                    config = config.endpoint_url(endpoint);
                }
                Ok(Buckets::S3(aws_sdk_s3::Client::from_conf(config.build())))
            }
        }
    }

    /// `local` or `s3`.
    pub fn backend(&self) -> &'static str {
        match self {
            Buckets::Local(_) => "local",
            Buckets::S3(_) => "s3",
        }
    }

    fn local_path(root: &Path, bucket: &str, key: &str) -> Result<PathBuf, String> {
        let relative = Path::new(bucket).join(key);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!("refusing bucket/key {bucket:?}/{key:?}"));
        }
        Ok(root.join(relative))
    }

    /// The object's bytes; `None` when it does not exist.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Buckets::Local(root) => {
                match tokio::fs::read(Self::local_path(root, bucket, key)?).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("read {bucket}/{key}: {e}")),
                }
            }
            Buckets::S3(client) => match client.get_object().bucket(bucket).key(key).send().await {
                Ok(out) => out
                    .body
                    .collect()
                    .await
                    .map(|b| Some(b.into_bytes().to_vec()))
                    .map_err(|e| format!("read s3://{bucket}/{key}: {e}")),
                Err(e) => {
                    let missing = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                    if missing {
                        Ok(None)
                    } else {
                        Err(format!(
                            "read s3://{bucket}/{key}: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        ))
                    }
                }
            },
        }
    }

    /// Writes the object.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        match self {
            Buckets::Local(root) => {
                let path = Self::local_path(root, bucket, key)?;
                if !root.join(bucket).is_dir() {
                    return Err(format!("no bucket folder {}", root.join(bucket).display()));
                }
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| format!("write {bucket}/{key}: {e}"))?;
                }
                tokio::fs::write(&path, bytes)
                    .await
                    .map_err(|e| format!("write {bucket}/{key}: {e}"))
            }
            Buckets::S3(client) => client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(bytes.into())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "write s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                }),
        }
    }

    /// Removes the object.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        match self {
            Buckets::Local(root) => tokio::fs::remove_file(Self::local_path(root, bucket, key)?)
                .await
                .map_err(|e| format!("delete {bucket}/{key}: {e}")),
            Buckets::S3(client) => client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "delete s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                }),
        }
    }
}
