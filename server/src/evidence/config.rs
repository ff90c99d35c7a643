//! Which evidence store a command uses: the `evidence` folder in the data
//! directory, or an S3-compatible bucket when an endpoint is given. Keys are
//! named by environment variable, never passed as values.

use super::store::{LocalStore, ObjectStore, S3Settings, S3Store};
use super::EvidenceError;
use std::path::Path;
use std::sync::Arc;

/// Evidence store settings shared by every command that reads or writes
/// packs.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EvidenceArgs {
    /// S3-compatible endpoint for evidence (default: the local folder
    /// `DATA_DIR/evidence`).
    #[arg(long, env = "SHAKEDOWN_EVIDENCE_S3_ENDPOINT")]
    pub evidence_s3_endpoint: Option<String>,
    /// Bucket for evidence.
    #[arg(
        long,
        env = "SHAKEDOWN_EVIDENCE_S3_BUCKET",
        default_value = "shakedown-evidence"
    )]
    pub evidence_s3_bucket: String,
    /// Region sent in signatures.
    #[arg(
        long,
        env = "SHAKEDOWN_EVIDENCE_S3_REGION",
        default_value = "us-east-1"
    )]
    pub evidence_s3_region: String,
    /// Prefix of every evidence key.
    #[arg(long, env = "SHAKEDOWN_EVIDENCE_S3_PREFIX", default_value = "")]
    pub evidence_s3_prefix: String,
    /// Name of the environment variable that holds the access key id.
    #[arg(
        long,
        env = "SHAKEDOWN_EVIDENCE_S3_ACCESS_KEY_ENV",
        default_value = "AWS_ACCESS_KEY_ID"
    )]
    pub evidence_s3_access_key_env: String,
    /// Name of the environment variable that holds the secret key.
    #[arg(
        long,
        env = "SHAKEDOWN_EVIDENCE_S3_SECRET_KEY_ENV",
        default_value = "AWS_SECRET_ACCESS_KEY"
    )]
    pub evidence_s3_secret_key_env: String,
}

impl EvidenceArgs {
    /// Opens the configured store (creating the bucket or folder if needed).
    pub async fn open(&self, data_dir: &Path) -> Result<Arc<dyn ObjectStore>, EvidenceError> {
        match &self.evidence_s3_endpoint {
            Some(endpoint) => {
                let store = S3Store::new(S3Settings {
                    endpoint: endpoint.clone(),
                    region: self.evidence_s3_region.clone(),
                    bucket: self.evidence_s3_bucket.clone(),
                    prefix: self.evidence_s3_prefix.clone(),
                    access_key_env: self.evidence_s3_access_key_env.clone(),
                    secret_key_env: self.evidence_s3_secret_key_env.clone(),
                })?;
                store.ensure_bucket().await?;
                Ok(Arc::new(store))
            }
            None => {
                let dir = data_dir.join("evidence");
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| EvidenceError::Store {
                        store: format!("local folder {}", dir.display()),
                        reason: format!("cannot create it: {e}"),
                    })?;
                Ok(Arc::new(LocalStore::new(dir)))
            }
        }
    }
}
