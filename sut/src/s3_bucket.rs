//! A bucket on an S3-compatible server (MinIO, SeaweedFS, AWS…): custom
//! endpoint, path-style addressing, static keys read from the environment
//! variables the configuration names. The key values are never logged.

use crate::bucket::BucketError;
use crate::config::Config;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    client: Client,
    name: String,
    endpoint: String,
}

fn secret(var: &str) -> Result<String, BucketError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(BucketError::Config(format!(
            "environment variable {var} (S3 credentials) is not set"
        ))),
    }
}

fn describe<E: std::error::Error>(e: &E) -> String {
    crate::db::first_line(&DisplayErrorContext(e).to_string())
}

impl S3Bucket {
    /// A client for `name` at `endpoint`. Creates the bucket if it does not
    /// exist; if the server cannot be reached yet, says so and carries on
    /// (readiness reports it, writes retry).
    pub async fn open(cfg: &Config, endpoint: &str, name: &str) -> Result<S3Bucket, BucketError> {
        let access = secret(&cfg.s3_access_key_env)?;
        let key = secret(&cfg.s3_secret_key_env)?;
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(cfg.s3_region.clone()))
            .credentials_provider(Credentials::new(access, key, None, None, "shakedown-sut"))
            .force_path_style(true)
            .build();
        let bucket = S3Bucket {
            client: Client::from_conf(conf),
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        if let Err(e) = bucket.ensure().await {
            tracing::warn!(bucket = name, error = %e, "bucket not usable yet");
        }
        Ok(bucket)
    }

    async fn ensure(&self) -> Result<(), BucketError> {
        if self.check().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.name).send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.name, "bucket created");
                Ok(())
            }
            Err(e) => {
                let owned = e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                });
                if owned {
                    Ok(())
                } else {
                    Err(self.unavailable(describe(&e)))
                }
            }
        }
    }

    fn unavailable(&self, reason: String) -> BucketError {
        BucketError::Unavailable {
            bucket: self.name.clone(),
            reason,
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stores the object.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), BucketError> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| BucketError::Io {
                key: key.to_owned(),
                reason: describe(&e),
            })
    }

    /// Reads the object; `None` if there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BucketError> {
        let io = |reason: String| BucketError::Io {
            key: key.to_owned(),
            reason,
        };
        match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| io(e.to_string()))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(io(describe(&e))),
        }
    }

    /// The bucket exists and answers.
    pub async fn check(&self) -> Result<(), BucketError> {
        self.client
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.unavailable(describe(&e)))
    }
}
