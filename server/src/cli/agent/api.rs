//! The agent's side of the load agents' API (`web::api::agents`): one
//! client with the agent's token, a call per endpoint, and the server's
//! refusals turned into errors that say what it answered.

use anyhow::{anyhow, Context as _};
use engine::agents::{ShardEnd, ShardState, AGENT_PROTOCOL};
use engine::load::snapshot::Snapshot;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest an API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's API, as one agent account.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: url::Url,
    token: String,
}

/// A registration.
#[derive(Debug, Deserialize)]
pub struct Registered {
    pub id: i64,
}

/// A shard's state as the server sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct ShardInfo {
    pub id: i64,
    pub state: ShardState,
    pub start_at_ms: Option<i64>,
    pub now_ms: i64,
}

/// A heartbeat's answer.
#[derive(Debug, Deserialize)]
pub struct Beat {
    /// Shares waiting for an agent.
    pub waiting: i64,
    /// The shards this agent holds and has not finished.
    pub shards: Vec<ShardInfo>,
}

/// A share this agent claimed.
#[derive(Debug, Clone, Deserialize)]
pub struct Claimed {
    pub id: i64,
    pub run_id: String,
    pub test_id: String,
    pub segment: String,
    pub spec: serde_json::Value,
    pub target: serde_json::Value,
}

#[derive(Deserialize)]
struct Claim {
    shard: Option<Claimed>,
}

#[derive(Serialize)]
struct Registration<'a> {
    name: &'a str,
    /// This build's version and the agents' protocol it speaks: a server
    /// speaking another refuses it (409), naming both.
    version: &'a str,
    protocol: u32,
}

/// What the server refused, and why.
#[derive(Debug, thiserror::Error)]
#[error("{url} answered {status}: {message}")]
pub struct Refused {
    pub url: String,
    pub status: u16,
    pub message: String,
}

impl Api {
    /// The API of the server at `base`, called with `token`.
    pub fn new(base: url::Url, token: String) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api { http, base, token })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = self
            .base
            .join(path)
            .context("the server URL cannot take a path")?;
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("cannot read the answer of {url}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(text);
            return Err(anyhow!(Refused {
                url: url.to_string(),
                status: status.as_u16(),
                message,
            }));
        }
        serde_json::from_str(&text).with_context(|| format!("{url} answered unreadable JSON"))
    }

    /// Registers as `name`.
    pub async fn register(&self, name: &str) -> anyhow::Result<Registered> {
        self.call(
            reqwest::Method::POST,
            "api/agents",
            Some(&Registration {
                name,
                version: env!("CARGO_PKG_VERSION"),
                protocol: AGENT_PROTOCOL,
            }),
        )
        .await
    }

    /// Agent `id`'s heartbeat, naming the shard it works on (its lease is
    /// the one renewed).
    pub async fn heartbeat(&self, id: i64, working: Option<i64>) -> anyhow::Result<Beat> {
        self.call(
            reqwest::Method::POST,
            &format!("api/agents/{id}/heartbeat"),
            Some(&serde_json::json!({ "shard": working })),
        )
        .await
    }

    /// Claims the oldest waiting share, if any.
    pub async fn claim(&self, id: i64) -> anyhow::Result<Option<Claimed>> {
        let claim: Claim = self
            .call(
                reqwest::Method::POST,
                &format!("api/agents/{id}/claim"),
                None::<&()>,
            )
            .await?;
        Ok(claim.shard)
    }

    /// Shard `id`'s state, and the server's clock, asked by agent
    /// `agent`, which holds it.
    pub async fn shard(&self, agent: i64, id: i64) -> anyhow::Result<ShardInfo> {
        self.call(
            reqwest::Method::GET,
            &format!("api/shards/{id}?agent={agent}"),
            None::<&()>,
        )
        .await
    }

    /// Agent `agent` says shard `id` is ready to start.
    pub async fn ready(&self, agent: i64, id: i64) -> anyhow::Result<()> {
        self.post_shard(agent, id, "ready", None::<&()>).await
    }

    /// Agent `agent` sends one of shard `id`'s snapshots.
    pub async fn snapshot(&self, agent: i64, id: i64, snapshot: &Snapshot) -> anyhow::Result<()> {
        self.post_shard(agent, id, "snapshots", Some(snapshot))
            .await
    }

    /// Agent `agent` reports shard `id` done.
    pub async fn done(&self, agent: i64, id: i64, end: &ShardEnd) -> anyhow::Result<()> {
        self.post_shard(agent, id, "done", Some(end)).await
    }

    /// `POST api/shards/{id}/{what}?agent={agent}`, its answer read only
    /// for errors.
    async fn post_shard(
        &self,
        agent: i64,
        id: i64,
        what: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<()> {
        self.call::<serde_json::Value>(
            reqwest::Method::POST,
            &format!("api/shards/{id}/{what}?agent={agent}"),
            body,
        )
        .await
        .map(|_| ())
    }
}

/// Whether an error is the server refusing with `status` (not a network
/// failure).
pub fn refused_with(e: &anyhow::Error, status: u16) -> bool {
    e.downcast_ref::<Refused>()
        .is_some_and(|r| r.status == status)
}
