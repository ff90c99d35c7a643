//! An S3-compatible bucket as an evidence store (aws-sdk-s3, custom
//! endpoint, path-style, keys read from named environment variables).

use super::{check_key, ObjectStore};
use crate::evidence::EvidenceError;
use async_trait::async_trait;

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
