//! Plan tables of the chaos, storage and health tests (`[tests.chaos]`,
//! `[tests.storage_probe]`, `[tests.health]`) and of the environment's
//! bucket access (`[environments.NAME.bucket]`). A chaos test's fault is a
//! restart of a service or a network fault on a link (`fault.network`).

use super::{HttpLoadSpec, JobMix, Positive};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The signal a `process` restart begins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Signal {
    /// Polite stop; most services finish their work and exit.
    #[serde(rename = "SIGTERM")]
    Sigterm,
    /// PostgreSQL's fast shutdown.
    #[serde(rename = "SIGINT")]
    Sigint,
    /// No chance to clean up: a crash.
    #[serde(rename = "SIGKILL")]
    Sigkill,
}

/// A workload plus a fault on a named service at a chosen moment, then
/// verification with a deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    /// The service to restart (a key of `[services]`). With
    /// `fault.network` it is optional: the service whose health is watched
    /// through the fault and whose recovery is measured after its removal.
    #[serde(default)]
    pub service: Option<String>,
    /// A network fault instead of a restart: `fault.network = { link =
    /// "db", toxic = "latency", latency_ms = 2000, duration_s = 10 }`.
    #[serde(default)]
    pub fault: Option<ChaosFault>,
    /// Runs submitted through the job protocol (`count` of one kind).
    #[serde(default)]
    pub jobs: Option<JobMix>,
    /// SSE sessions, each following a new job's events.
    #[serde(default)]
    pub streams: Option<ChaosStreams>,
    /// Fault this many milliseconds after the workload started.
    #[serde(default)]
    pub fault_after_ms: Option<u32>,
    /// Fault once this many jobs are in flight (a status the job protocol
    /// counts as in flight, not queued and not terminal) plus sessions that
    /// got their first event; with `fault_after_ms` too, whichever comes
    /// first. A trigger that does not fire within 60 s makes the test an
    /// error, and so does a fault that finds nothing in flight.
    #[serde(default)]
    pub fault_after_started: Option<Positive>,
    /// `process` restarts only: the signal to stop with, instead of the
    /// service's own.
    #[serde(default)]
    pub signal: Option<Signal>,
    /// Runs and streams not terminal this many seconds after the fault
    /// count as stuck (60 unless set).
    #[serde(default)]
    pub deadline_s: Option<Positive>,
    /// Path of a run's results (`/runs/{id}/results`); when set, a run
    /// with more than one result counts as a duplicate.
    #[serde(default)]
    pub results_path: Option<String>,
    /// JSON pointer to the results in that answer: a number (how many) or
    /// a list (its length counts). `/count` unless set.
    #[serde(default)]
    pub results_count_pointer: Option<String>,
    /// With a list of results: JSON pointer inside each item to what makes
    /// it unique (`/step`); a value seen twice is a duplicate, instead of
    /// any second item.
    #[serde(default)]
    pub results_key_pointer: Option<String>,
    /// Read every completed run's artifact back (over `artifact_path` and,
    /// when the environment has a reachable bucket, from the bucket) and
    /// compare its sha256 with the API's (true unless set).
    #[serde(default)]
    pub verify_artifacts: Option<bool>,
    /// Health checks made once the service has recovered (counted in the
    /// `health_checks_after` and `health_checks_after_ok` metrics).
    #[serde(default)]
    pub after_checks: Option<AfterChecks>,
    /// HTTP load running through the fault: each entry is an `http_load`
    /// spec (closed or open model) without `rounds` or `duration_s`, since
    /// the test decides how long it runs: from `baseline_s` before the
    /// workload to `after_s` after recovery. Its requests are split into
    /// windows before, during and after the fault.
    #[serde(default)]
    pub background_load: Vec<HttpLoadSpec>,
    /// Seconds the background load runs before the workload starts, so the
    /// window before the fault has a baseline (3 unless set).
    #[serde(default)]
    pub baseline_s: Option<Positive>,
    /// Seconds the background load runs on after recovery (5 unless set).
    #[serde(default)]
    pub after_s: Option<Positive>,
    /// The background load is back to baseline once the p95 (and error
    /// rate) over a sliding window after recovery is at most this many
    /// times the baseline's (1.5 unless set; at least 1).
    #[serde(default)]
    pub baseline_tolerance: Option<f64>,
    /// Length of that sliding window in milliseconds (1000 unless set).
    #[serde(default)]
    pub baseline_window_ms: Option<Positive>,
}

/// A chaos test's fault other than a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChaosFault {
    /// A toxic on a link of the environment's network-fault proxy.
    Network(Box<NetworkFault>),
}

/// What a network fault does on a link, in which direction, for how long.
/// The parameters are those of the toxic: `latency_ms` (and `jitter_ms`)
/// for `latency`, `rate_kbps` for `bandwidth`, `timeout_ms` for `timeout`
/// and `reset_peer` (0 unless set: stall forever / reset at once),
/// `delay_ms` for `slow_close`, `bytes` for `limit_data`; `down` takes none
/// (the proxy is disabled: connections are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkFault {
    /// The link: a key of the environment's `network.links`.
    pub link: String,
    /// What happens on it.
    pub toxic: NetworkToxic,
    /// Which way it acts (`downstream`, service → client, unless set).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// How long the fault stays, in seconds; it is removed then (and on
    /// abort). Shorter than the test's `deadline_s`. Set this or `until`.
    #[serde(default)]
    pub duration_s: Option<Positive>,
    /// Hold the fault until the test says so instead of for a fixed
    /// window: `until = "runs_settled"` removes it once every run the test
    /// submitted has reached a terminal status, or at the test's
    /// `deadline_s` after the fault, whichever comes first (runs still open
    /// then count as stuck). Set this or `duration_s`.
    #[serde(default)]
    pub until: Option<HoldUntil>,
    /// `latency`: the delay added to each chunk.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// `latency`: up to this much more or less, drawn per chunk.
    #[serde(default)]
    pub jitter_ms: Option<u64>,
    /// `bandwidth`: at most this many KB/s.
    #[serde(default)]
    pub rate_kbps: Option<u64>,
    /// `timeout`, `reset_peer`: the connection is closed (reset) this long
    /// after the toxic takes hold; 0 (the default) stalls forever / resets
    /// at once.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// `slow_close`: the close waits this long.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// `limit_data`: the connection is closed once this many bytes passed.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Share of connections the toxic acts on, 0 to 1 (1 unless set).
    #[serde(default)]
    pub toxicity: Option<f64>,
}

/// What ends a network fault held by the test rather than for a fixed
/// window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldUntil {
    /// Every run the test submitted (its `jobs`) is terminal.
    RunsSettled,
}

impl HoldUntil {
    /// The plan's name.
    pub fn name(self) -> &'static str {
        match self {
            HoldUntil::RunsSettled => "runs_settled",
        }
    }
}

/// The toxics a network fault can put on a link (Toxiproxy's types, plus
/// `down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkToxic {
    /// Added latency with jitter.
    Latency,
    /// A bandwidth limit.
    Bandwidth,
    /// The connection accepts but nothing passes.
    Timeout,
    /// Connections are reset.
    ResetPeer,
    /// Closes are delayed.
    SlowClose,
    /// Connections are closed after a number of bytes.
    LimitData,
    /// The link refuses connections.
    Down,
}

impl NetworkToxic {
    /// The plan's (and Toxiproxy's) name.
    pub fn name(self) -> &'static str {
        match self {
            NetworkToxic::Latency => "latency",
            NetworkToxic::Bandwidth => "bandwidth",
            NetworkToxic::Timeout => "timeout",
            NetworkToxic::ResetPeer => "reset_peer",
            NetworkToxic::SlowClose => "slow_close",
            NetworkToxic::LimitData => "limit_data",
            NetworkToxic::Down => "down",
        }
    }

    /// The parameters it takes, and whether each is required.
    pub fn parameters(self) -> &'static [(&'static str, bool)] {
        match self {
            NetworkToxic::Latency => &[("latency_ms", true), ("jitter_ms", false)],
            NetworkToxic::Bandwidth => &[("rate_kbps", true)],
            NetworkToxic::Timeout | NetworkToxic::ResetPeer => &[("timeout_ms", false)],
            NetworkToxic::SlowClose => &[("delay_ms", true)],
            NetworkToxic::LimitData => &[("bytes", true)],
            NetworkToxic::Down => &[],
        }
    }
}

impl NetworkFault {
    /// Every parameter field with its value, when set.
    pub fn parameter_values(&self) -> [(&'static str, Option<u64>); 6] {
        [
            ("latency_ms", self.latency_ms),
            ("jitter_ms", self.jitter_ms),
            ("rate_kbps", self.rate_kbps),
            ("timeout_ms", self.timeout_ms),
            ("delay_ms", self.delay_ms),
            ("bytes", self.bytes),
        ]
    }

    /// How long it is held, in words: `for 10 s`, `until runs_settled`.
    pub fn held(&self) -> String {
        match (self.duration_s, self.until) {
            (Some(window), _) => format!("for {window} s"),
            (None, Some(until)) => format!("until {}", until.name()),
            (None, None) => "for no set time".to_owned(),
        }
    }

    /// The direction, `downstream` unless set.
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(Direction::Downstream)
    }
}

/// The way a toxic acts on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client → service.
    Upstream,
    /// Service → client.
    Downstream,
}

impl Direction {
    /// The plan's (and Toxiproxy's `stream`) name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }
}

/// SSE sessions of a chaos test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosStreams {
    /// How many sessions run through the fault.
    pub sessions: Positive,
    /// The job each session creates and follows.
    pub job: JobMix,
    /// JSON pointer in an event's data that marks the last event; when
    /// unset, the job protocol's `stream_end` says.
    #[serde(default)]
    pub final_pointer: Option<String>,
    /// The value at `final_pointer` that marks the last event, when it is
    /// not `true` (e.g. `final_pointer = "/kind"`, `final_equals = "end"`).
    #[serde(default)]
    pub final_equals: Option<serde_json::Value>,
}

/// Health checks after the service recovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterChecks {
    /// Path or URL checked; must answer 2xx.
    pub path: String,
    /// How many checks to make.
    pub count: Positive,
    /// Time between them in milliseconds (100 unless set).
    #[serde(default)]
    pub interval_ms: Option<Positive>,
}

/// Write, read back, compare and delete an object in the environment's bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageProbeSpec {
    /// Key prefix of the probe object (`smoke-tests/` unless set).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Size of the probe object in bytes (1024 unless set).
    #[serde(default)]
    pub size_bytes: Option<Positive>,
}

/// The readiness endpoint's dependencies and bucket isolation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// JSON pointer to the dependencies in the readiness answer
    /// (`/dependencies` unless set): a list of objects with a name, or an
    /// object keyed by dependency name (`/checks`).
    #[serde(default)]
    pub dependencies_pointer: Option<String>,
    /// JSON pointer inside a list entry to its name (`/name` unless set).
    #[serde(default)]
    pub dependency_name_pointer: Option<String>,
    /// JSON pointer inside a dependency to its status (`/status` unless
    /// set; `/ok` for `{"ok": true}`).
    #[serde(default)]
    pub dependency_status_pointer: Option<String>,
    /// JSON pointer inside a dependency to its latency in ms (`/latency_ms`
    /// unless set).
    #[serde(default)]
    pub dependency_latency_pointer: Option<String>,
    /// Status of a healthy dependency, a word or a boolean. When unset:
    /// `true`, or one of the words `healthy`, `ok`, `up`, `pass` in any case.
    #[serde(default)]
    pub healthy_status: Option<serde_json::Value>,
    /// JSON pointer to the bucket name the target reports
    /// (`/dependencies/1/details/bucket`).
    #[serde(default)]
    pub bucket_pointer: Option<String>,
    /// Runs of this job kind are created and their artifacts looked up:
    /// `artifact_bucket_pointer` in the run must name the expected bucket
    /// and the object must exist there (when the bucket is reachable).
    #[serde(default)]
    pub artifact_job: Option<JobMix>,
    /// JSON pointer to the bucket a run reports its artifact in (`/artifact_bucket`).
    #[serde(default)]
    pub artifact_bucket_pointer: Option<String>,
    /// How long the artifact jobs may take, in seconds (60 unless set).
    #[serde(default)]
    pub timeout_s: Option<Positive>,
}

/// How Shakedown itself reaches the environment's bucket: a local folder of
/// buckets, or an S3-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketAccess {
    /// Buckets are folders of one directory.
    Local(LocalBuckets),
    /// An S3-compatible server (path-style).
    S3(S3Buckets),
}

/// Buckets as folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalBuckets {
    /// The folder holding one folder per bucket.
    #[serde(default)]
    pub root: Option<String>,
    /// Instead of `root`: a JSON pointer into the readiness answer to the
    /// folder of the bucket the target uses
    /// (`/dependencies/1/details/path`); its parent folder is the root.
    #[serde(default)]
    pub root_from_readiness: Option<String>,
}

/// An S3-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Buckets {
    /// Endpoint URL (`http://127.0.0.1:9000`); AWS when unset.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region (`us-east-1` unless set).
    #[serde(default)]
    pub region: Option<String>,
    /// Name of the environment secret holding the access key id.
    pub access_key_secret: String,
    /// Name of the environment secret holding the secret access key.
    pub secret_key_secret: String,
    /// Path-style addressing (true unless set).
    #[serde(default)]
    pub path_style: Option<bool>,
}
