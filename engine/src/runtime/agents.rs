//! The load-agents port: how an `http_load` test with `agents = N` hands
//! its shares to `shakedown agent` processes and reads back what they
//! measured. The server implements it over its database (shard rows that
//! agents claim through its API); the engine's side, which splits the load,
//! starts the agents together and merges their snapshots, is
//! `kinds::http_load::agents`.

use crate::plan::Environment;
use crate::store::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The load agents' protocol: what an agent and the server say to each
/// other (routes, bodies, shard states). An agent sends it when it
/// registers, and the server refuses one that speaks another (an older
/// agent could not read a state it does not know, such as `stopping`,
/// and would never stop). Raised on every change an agent of the previous
/// protocol would misread. 1 was every agent before it was sent.
pub const AGENT_PROTOCOL: u32 = 2;

/// Where a shard stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// Offered; no agent has it yet.
    Waiting,
    /// An agent took it and is getting ready.
    Claimed,
    /// Its agent is ready to start.
    Ready,
    /// The start time is set; its agent sends load from then.
    Running,
    /// The run was aborted while it ran: its agent stops its share, sends
    /// what it measured and reports it done.
    Stopping,
    /// Its agent finished and sent everything it measured.
    Done,
    /// Its agent stopped heartbeating while it ran.
    Lost,
    /// Withdrawn by the server (the run ended or not enough agents came).
    Cancelled,
}

impl ShardState {
    /// Every state.
    pub const ALL: [ShardState; 8] = [
        ShardState::Waiting,
        ShardState::Claimed,
        ShardState::Ready,
        ShardState::Running,
        ShardState::Stopping,
        ShardState::Done,
        ShardState::Lost,
        ShardState::Cancelled,
    ];

    /// The word stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Waiting => "waiting",
            ShardState::Claimed => "claimed",
            ShardState::Ready => "ready",
            ShardState::Running => "running",
            ShardState::Stopping => "stopping",
            ShardState::Done => "done",
            ShardState::Lost => "lost",
            ShardState::Cancelled => "cancelled",
        }
    }

    /// Whether the shard will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ShardState::Done | ShardState::Lost | ShardState::Cancelled
        )
    }
}

impl fmt::Display for ShardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShardState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShardState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown shard state {s:?}"))
    }
}

/// What an agent needs to build the run's target: the environment as the
/// plan defines it (secrets stay environment-variable names, read from the
/// agent's own environment) and the answer cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardTarget {
    /// The environment's name in the plan.
    pub name: String,
    /// The environment.
    pub environment: Environment,
    /// Largest answer body read, in bytes.
    pub answer_limit: usize,
}

/// One share of a test, offered to the agents.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardOffer {
    /// Its execution segment (`1/3:2/3`).
    pub segment: String,
    /// The whole sequence it is part of (`0,1/3,2/3,1`).
    pub sequence: String,
    /// The share's `http_load` spec, as JSON.
    pub spec: serde_json::Value,
    /// The target, as JSON ([`ShardTarget`]).
    pub target: serde_json::Value,
}

/// How an agent's share ended, as it reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardEnd {
    /// The share's warnings (a closed-model stall, unbuilt requests).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Why the share could not run to the end, when it could not.
    #[serde(default)]
    pub error: Option<String>,
    /// The agent was stopped (SIGTERM, Ctrl-C) before its share ended:
    /// the load is short of that share's rest, as with a lost agent.
    #[serde(default)]
    pub stopped_early: bool,
    /// When the share's load ended, on the server's clock (the agent's
    /// own clock and its measured offset from the server's): the test's
    /// length runs to the last of these, not to when the reports arrived.
    #[serde(default)]
    pub ended_at_ms: Option<i64>,
    /// How long the share's load ran, from the common start to its end,
    /// measured on the agent's monotonic clock: a wall clock stepped
    /// during the load does not change it. Preferred to `ended_at_ms`
    /// (an older agent sends only that).
    #[serde(default)]
    pub ran_ms: Option<u64>,
}

/// A shard as the server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardStatus {
    /// Its id.
    pub id: i64,
    /// Where it stands.
    pub state: ShardState,
    /// The name of the agent that holds (or held) it.
    pub agent: Option<String>,
    /// When it was lost or done (server clock, ms since the epoch).
    pub ended_at_ms: Option<i64>,
    /// Its agent's report, once done.
    pub end: Option<ShardEnd>,
}

/// The server's side of load agents, one per run.
#[async_trait]
pub trait LoadAgents: Send + Sync {
    /// Offers a test's shares to the agents; their ids, in order.
    async fn offer(&self, test_id: &str, shards: Vec<ShardOffer>) -> Result<Vec<i64>, StoreError>;
    /// The shards, after settling leases that lapsed before `now_ms`: a
    /// running shard's agent is lost; a claimed or ready one's shard is
    /// offered again.
    async fn poll(&self, ids: &[i64], now_ms: i64) -> Result<Vec<ShardStatus>, StoreError>;
    /// Starts the ready shards at `start_at_ms` (server clock); how many
    /// it started.
    async fn start(&self, ids: &[i64], start_at_ms: i64) -> Result<u64, StoreError>;
    /// A shard's snapshots with a sequence number above `after`, in order,
    /// as JSON.
    async fn snapshots(&self, shard: i64, after: i64) -> Result<Vec<(i64, String)>, StoreError>;
    /// Asks the agents of the running shards to stop their share now (the
    /// run was aborted) and to send what they measured and their end,
    /// which they still may, unlike a withdrawn shard's.
    async fn stop(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Withdraws the shards that have not ended: their agents stop.
    async fn withdraw(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Deletes the shards' snapshots, once merged into the test's
    /// outcome (the test's end).
    async fn prune(&self, ids: &[i64]) -> Result<(), StoreError>;
}
