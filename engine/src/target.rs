//! The environment a run talks to, made ready for requests: URLs resolved
//! and checked against the allowed hosts, secrets read from environment
//! variables, and one shared HTTP client for everything but `http_load`.

use crate::plan::validate::{resolve, secret_refs};
use crate::plan::Environment;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// An environment that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A secret's environment variable is not set.
    #[error("secret {secret:?}: environment variable {var} is not set")]
    MissingSecret {
        /// The secret's name in the plan.
        secret: String,
        /// The variable that should hold it.
        var: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("header {0:?} is not a valid HTTP header")]
    BadHeader(String),
    /// A URL outside the allowed hosts, or not a URL.
    #[error("{0}")]
    Url(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The environment's `ca_file` cannot be used.
    #[error("ca_file {path}: {reason}")]
    Ca { path: String, reason: String },
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name in the plan.
    pub name: String,
    /// Its definition.
    pub env: Environment,
    /// Headers for every request, secrets filled in.
    pub headers: HeaderMap,
    /// Client for job, stream and assert requests.
    pub client: reqwest::Client,
    /// Certificate authorities from the environment's `ca_file`, trusted
    /// besides the system's.
    pub roots: Vec<reqwest::Certificate>,
}

impl Target {
    /// Reads the secrets and builds the client.
    pub fn new(name: &str, env: &Environment) -> Result<Target, TargetError> {
        let headers = header_map(env, &env.headers)?;
        let roots = match &env.ca_file {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| TargetError::Ca {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                let roots =
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TargetError::Ca {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if roots.is_empty() {
                    return Err(TargetError::Ca {
                        path: path.clone(),
                        reason: "no PEM certificate in it".to_owned(),
                    });
                }
                roots
            }
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        for root in &roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .build()
            .map_err(|e| TargetError::Client(e.to_string()))?;
        Ok(Target {
            name: name.to_owned(),
            env: env.clone(),
            headers,
            client,
            roots,
        })
    }

    /// The URL of a plan path or URL, refused outside the allowed hosts.
    pub fn url(&self, path_or_url: &str) -> Result<Url, TargetError> {
        resolve(&self.env, path_or_url).map_err(TargetError::Url)
    }

    /// Environment headers plus `extra`, secrets filled in.
    pub fn headers_with(&self, extra: &BTreeMap<String, String>) -> Result<HeaderMap, TargetError> {
        let mut headers = self.headers.clone();
        headers.extend(header_map(&self.env, extra)?);
        Ok(headers)
    }
}

/// Fills `${secret.NAME}` from the environment variables the plan names.
pub fn fill_secrets(env: &Environment, value: &str) -> Result<String, TargetError> {
    let mut out = value.to_owned();
    for secret in secret_refs(value) {
        let secret = secret.map_err(TargetError::Url)?;
        let var = env.secrets.get(secret).cloned().unwrap_or_default();
        let found = std::env::var(&var).map_err(|_| TargetError::MissingSecret {
            secret: secret.to_owned(),
            var: var.clone(),
        })?;
        out = out.replace(&format!("${{secret.{secret}}}"), &found);
    }
    Ok(out)
}

fn header_map(
    env: &Environment,
    headers: &BTreeMap<String, String>,
) -> Result<HeaderMap, TargetError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let value = fill_secrets(env, value)?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TargetError::BadHeader(name.clone()))?;
        let mut value =
            HeaderValue::from_str(&value).map_err(|_| TargetError::BadHeader(name.to_string()))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}
