//! The target's job protocol (`[jobs]`): how a job is created, how its
//! status, result and artifact are read, and how its event stream ends.

use super::{HttpMethod, Positive};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the target's jobs are created and followed.
///
/// Paths may hold `{id}` (the job id) and, for `artifact_path`, `{artifact}`
/// (the artifact key). In `create_body`, the string values `"{{kind}}"`,
/// `"{{idempotency_key}}"` and `"{{test_id}}"` are replaced by text, and a
/// value that is exactly `"{{params}}"` by the job's params (any JSON).
///
/// Statuses are whatever the target puts at `status_pointer`: strings
/// (`"running"`), numbers (`2`) or booleans (`true`), listed as such.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobProtocol {
    /// Method used to create a job; POST unless set.
    #[serde(default = "HttpMethod::post")]
    pub create_method: HttpMethod,
    /// Path that creates a job (`/runs`).
    pub create_path: String,
    /// JSON body template.
    #[serde(default)]
    pub create_body: Option<serde_json::Value>,
    /// Header sent with a new key for every job created
    /// (`Idempotency-Key`), for targets that take the key as a header.
    #[serde(default)]
    pub idempotency_header: Option<String>,
    /// JSON pointer to the job id in the create answer (`/id`). When unset,
    /// the id is the last segment of the answer's `Location` header (a 201
    /// or 202 that points at the new job).
    #[serde(default)]
    pub id_pointer: Option<String>,
    /// Path that reports a job (`/runs/{id}`).
    pub status_path: String,
    /// JSON pointer to the status in that answer (`/status`).
    pub status_pointer: String,
    /// Statuses of a job that waits to be worked on (`["queued"]`).
    #[serde(default)]
    pub queued_statuses: Vec<serde_json::Value>,
    /// Statuses of a job being worked on (`["running"]`). When empty, every
    /// status that is neither queued nor terminal counts as in flight.
    #[serde(default)]
    pub in_flight_statuses: Vec<serde_json::Value>,
    /// Statuses after which a job no longer changes.
    pub terminal_statuses: Vec<serde_json::Value>,
    /// Terminal statuses that count as success (or, with `outcome_pointer`,
    /// the outcome values that do).
    pub success_statuses: Vec<serde_json::Value>,
    /// JSON pointer to what tells a terminal job's success when the status
    /// does not (`status_pointer = "/done"`, `outcome_pointer = "/ok"`,
    /// `success_statuses = [true]`).
    #[serde(default)]
    pub outcome_pointer: Option<String>,
    /// JSON pointer to the job's result, when it has one.
    #[serde(default)]
    pub result_pointer: Option<String>,
    /// JSON pointer to the key of the job's artifact. A successful job
    /// without a key there has no artifact to check.
    #[serde(default)]
    pub artifact_pointer: Option<String>,
    /// JSON pointer to the sha256 the target reports for the artifact.
    #[serde(default)]
    pub artifact_sha256_pointer: Option<String>,
    /// Path that serves an artifact (`/artifacts/{artifact}`); when set,
    /// export checks download it and compare its sha256.
    #[serde(default)]
    pub artifact_path: Option<String>,
    /// SSE path with a job's events (`/runs/{id}/events`).
    #[serde(default)]
    pub events_path: Option<String>,
    /// How the end of a job's event stream is recognised; when unset, the
    /// stream closing once the job is terminal.
    #[serde(default)]
    pub stream_end: Option<StreamEnd>,
    /// Time between status polls, in milliseconds (250 unless set).
    #[serde(default)]
    pub poll_interval_ms: Option<Positive>,
    /// Where the target reports its queue backlog.
    #[serde(default)]
    pub queue_metric: Option<QueueMetric>,
}

/// What marks the last event of a job's stream. Give `event` (an event
/// name), or `pointer` with `equals` (a value in the event's JSON data), or
/// neither (the stream closing after the job is terminal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamEnd {
    /// The name (`event:` field) of the last event (`end`, `completed`).
    #[serde(default)]
    pub event: Option<String>,
    /// Several names that each end a stream (`["completed", "failed"]`).
    #[serde(default)]
    pub events: Vec<String>,
    /// JSON pointer into an event's data whose value marks the last event.
    #[serde(default)]
    pub pointer: Option<String>,
    /// That value (`true` unless set).
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
}

impl StreamEnd {
    /// Whether an event with this name and data is the stream's last one.
    /// `None` when this end names neither an event nor a pointer (the
    /// stream's close after a terminal status ends it).
    pub fn is_last(&self, event: &str, data: &str) -> Option<bool> {
        let by_name = self.event.is_some() || !self.events.is_empty();
        if !by_name && self.pointer.is_none() {
            return None;
        }
        if self.event.as_deref() == Some(event) || self.events.iter().any(|e| e == event) {
            return Some(true);
        }
        let Some(pointer) = &self.pointer else {
            return Some(false);
        };
        let Ok(data) = serde_json::from_str::<serde_json::Value>(data) else {
            return Some(false);
        };
        let wanted = self.equals.clone().unwrap_or(serde_json::Value::Bool(true));
        Some(data.pointer(pointer).is_some_and(|v| status_eq(v, &wanted)))
    }
}

/// Where a job is in its life, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    /// Waiting to be worked on.
    Queued,
    /// Being worked on.
    InFlight,
    /// Ended; `true` for success.
    Terminal(bool),
}

/// Two status values are the same: equal JSON, numbers compared by value
/// (`2` and `2.0`).
pub fn status_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

/// A status as text for messages: strings bare, anything else as JSON.
pub fn status_text(status: &serde_json::Value) -> String {
    match status {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn listed(list: &[serde_json::Value], status: &serde_json::Value) -> bool {
    list.iter().any(|s| status_eq(s, status))
}

impl JobProtocol {
    /// The phase of a job whose answer is `document` with `status` at
    /// `status_pointer`.
    pub fn phase(&self, status: &serde_json::Value, document: &serde_json::Value) -> JobPhase {
        if listed(&self.terminal_statuses, status) {
            let success = match &self.outcome_pointer {
                Some(pointer) => document
                    .pointer(pointer)
                    .is_some_and(|outcome| listed(&self.success_statuses, outcome)),
                None => listed(&self.success_statuses, status),
            };
            JobPhase::Terminal(success)
        } else if listed(&self.queued_statuses, status) {
            JobPhase::Queued
        } else if self.in_flight_statuses.is_empty() || listed(&self.in_flight_statuses, status) {
            JobPhase::InFlight
        } else {
            JobPhase::Queued
        }
    }

    /// Whether a status is terminal.
    pub fn is_terminal(&self, status: &serde_json::Value) -> bool {
        listed(&self.terminal_statuses, status)
    }
}

/// Where the queue backlog is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueMetric {
    /// Path that reports it (`/metrics/queue`).
    pub path: String,
    /// JSON pointer to a number in that answer (`/depth`).
    pub pointer: String,
    /// Sampling interval in milliseconds (250 unless set).
    #[serde(default)]
    pub interval_ms: Option<Positive>,
}
