//! The environment a run talks to, made ready for requests: URLs resolved
//! and checked against the allowed hosts, secrets read from environment
//! variables, and one shared HTTP client for everything but `http_load`.
//!
//! Every request stays inside the allowed hosts on every hop: a redirect is
//! followed only to an allowed host, and only to another origin when the
//! environment sends no secrets; names that resolve to link-local addresses
//! (where cloud metadata services answer, 169.254.169.254) or other
//! addresses no target lives at are refused unless `allowed_hosts` names
//! that address itself.

use crate::plan::validate::{host_allowed, resolve, secret_refs};
use crate::plan::Environment;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

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
    /// The environment as the plan defines it.
    pub env: Environment,
    /// Headers for every request, secrets filled in.
    pub headers: HeaderMap,
    /// Client for job, stream and assert requests.
    pub client: reqwest::Client,
    /// Certificate authorities from the environment's `ca_file`, trusted
    /// besides the system's.
    pub roots: Vec<reqwest::Certificate>,
    /// Largest answer body read, in bytes (`max_answer_bytes`).
    pub answer_limit: usize,
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
        let env_arc = Arc::new(env.clone());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .redirect(redirect_policy(env_arc))
            .dns_resolver(Arc::new(GuardedResolver {
                named: named_addresses(&env.allowed_hosts),
            }));
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
            answer_limit: crate::plan::Limits::default().answer_bytes(),
        })
    }

    /// The same target reading answers of at most `limit` bytes.
    pub fn with_answer_limit(mut self, limit: usize) -> Target {
        self.answer_limit = limit;
        self
    }

    /// An answer's body, refused past `answer_limit`.
    pub async fn read_bytes(
        &self,
        response: reqwest::Response,
    ) -> Result<bytes::Bytes, crate::clients::answer::AnswerError> {
        crate::clients::answer::read_bytes(response, self.answer_limit).await
    }

    /// An answer's body as text, refused past `answer_limit`.
    pub async fn read_text(
        &self,
        response: reqwest::Response,
    ) -> Result<String, crate::clients::answer::AnswerError> {
        crate::clients::answer::read_text(response, self.answer_limit).await
    }

    /// A request with the environment's headers, sent by the shared client.
    pub fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .headers(self.headers.clone())
    }

    /// A GET with the environment's headers, sent by the shared client.
    pub fn get(&self, url: Url) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, url)
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

/// Whether no target should ever be reached at this address unless the
/// plan names it: link-local (cloud metadata services answer at
/// 169.254.169.254 and fd00:ec2::254), unspecified, broadcast, multicast.
pub fn forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            let ec2_metadata = v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254];
            let mapped = v6
                .to_ipv4_mapped()
                .is_some_and(|v4| forbidden_address(IpAddr::V4(v4)));
            link_local || ec2_metadata || mapped || v6.is_unspecified() || v6.is_multicast()
        }
    }
}

/// The addresses `allowed_hosts` names literally (`169.254.10.1`, `[fe80::1]:80`).
pub fn named_addresses(allowed_hosts: &[String]) -> Vec<IpAddr> {
    allowed_hosts
        .iter()
        .filter_map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpAddr>()
                .ok()
                .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
                .or_else(|| {
                    entry
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .ok()
                })
        })
        .collect()
}

/// The addresses of `host` Shakedown may connect to: the forbidden ones
/// are dropped unless named; none left is an error naming them.
pub fn checked_addresses(
    host: &str,
    addrs: Vec<SocketAddr>,
    named: &[IpAddr],
) -> Result<Vec<SocketAddr>, String> {
    let (ok, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
        .into_iter()
        .partition(|a| !forbidden_address(a.ip()) || named.contains(&a.ip()));
    if ok.is_empty() && !refused.is_empty() {
        let list: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        return Err(format!(
            "{host} resolves to {}, a link-local or otherwise reserved address Shakedown does not send to unless allowed_hosts names it",
            list.join(", ")
        ));
    }
    Ok(ok)
}

/// reqwest's name resolution with [`checked_addresses`] applied.
struct GuardedResolver {
    named: Vec<IpAddr>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let named = self.named.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok = checked_addresses(&host, found, &named).map_err(|e| {
                Box::new(std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))
                    as Box<dyn std::error::Error + Send + Sync>
            })?;
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Follows a redirect only to an allowed host, and to another origin only
/// when the environment sends no secrets (a header carrying one would
/// travel to a host the plan did not name for it).
fn redirect_policy(env: Arc<Environment>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let next = attempt.url().clone();
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects from {first}"));
        }
        if !host_allowed(&env, &next) {
            return attempt.error(format!(
                "{first} redirected to {next}, outside the environment's allowed_hosts"
            ));
        }
        if next.origin() != first.origin() && !env.secrets.is_empty() {
            return attempt.error(format!(
                "{first} redirected to {next}, another host: not followed, because the environment's requests carry secrets"
            ));
        }
        attempt.follow()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_addresses_are_refused_unless_named() {
        let metadata: SocketAddr = "169.254.169.254:80".parse().expect("addr");
        let loopback: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        let v6: SocketAddr = "[fe80::1]:80".parse().expect("addr");
        let ec2: SocketAddr = "[fd00:ec2::254]:80".parse().expect("addr");
        for refused in [metadata, v6, ec2] {
            let e = checked_addresses("evil.test", vec![refused], &[]).expect_err("refused");
            assert!(e.contains("evil.test resolves to"), "{e}");
        }
        assert_eq!(
            checked_addresses("ok.test", vec![loopback, metadata], &[]),
            Ok(vec![loopback])
        );
        let named = named_addresses(&["169.254.169.254".to_owned(), "[fe80::1]:80".to_owned()]);
        assert_eq!(
            checked_addresses("meta.test", vec![metadata], &named),
            Ok(vec![metadata])
        );
        assert_eq!(checked_addresses("v6.test", vec![v6], &named), Ok(vec![v6]));
    }
}
