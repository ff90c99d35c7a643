//! Plans: the TOML file that says what to validate and how.
//!
//! A plan names its environments, the services that can be restarted and
//! how, the target's job protocol (how to create a job and follow it to a
//! terminal state), the tests to run in order, and the criteria that turn
//! the measurements into PASS/FAIL and GO/NO-GO.
//!
//! These types are plain data (serde + JSON Schema) and build everywhere,
//! the browser bundle included. Reading a file with exact error positions
//! is in [`load`]; the checks that need more than one field are in
//! [`validate`].

pub mod chaos;
mod kind_table;
pub mod limits;
pub mod pasted;
mod positive;
pub mod read;
pub mod validate;

pub use chaos::{
    AfterChecks, BucketAccess, ChaosSpec, ChaosStreams, HealthSpec, LocalBuckets, S3Buckets,
    Signal, StorageProbeSpec,
};
pub use limits::{excesses, Excess, Limits, DEFAULT_MAX_ANSWER_BYTES};
pub use positive::Positive;
pub use read::{load_file, load_str, LoadedPlan, Located, PlanError, PlanOrigin};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Name, title and description.
    pub plan: PlanMeta,
    /// Where the plan can run, by name (`staging`, `demo`, ...). A plan
    /// pasted in the browser has none: it names a folder plan in
    /// `[plan] environments_from` and runs against that plan's.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    /// Services that chaos tests can restart, by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// How to create and follow the target's jobs; needed by `job_workload`
    /// and by `stream` tests that follow jobs or run exports.
    #[serde(default)]
    pub jobs: Option<JobProtocol>,
    /// The tests, run in this order.
    #[serde(default)]
    pub tests: Vec<TestSpec>,
    /// Conditions over test metrics; all must hold for GO.
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    /// Caps the plan's own tests must stay within (rate, concurrency,
    /// duration); the server may cap further.
    #[serde(default)]
    pub limits: Limits,
}

/// Who the plan is and what it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanMeta {
    /// Short machine-friendly name (`step3`); used in file names and lists.
    pub name: String,
    /// Title shown at the top of reports.
    #[serde(default)]
    pub title: Option<String>,
    /// What this plan validates, in a sentence or two.
    #[serde(default)]
    pub description: Option<String>,
    /// The environment used when none is named on the command line.
    #[serde(default)]
    pub default_environment: Option<String>,
    /// For a plan pasted in the browser: the plan in the server's plans
    /// folder whose environments, services and job protocol it runs with
    /// (`step3.toml`).
    #[serde(default)]
    pub environments_from: Option<String>,
    /// How many approvers must sign GO before a run's final decision is GO
    /// (an environment may ask for more); default 1.
    #[serde(default)]
    pub required_approvals: Option<Positive>,
}

/// One place the plan can run against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Base URL that test paths are resolved against (`https://api.staging.example.com`).
    pub base_url: String,
    /// Hosts the plan may send requests to (`api.example.com`, `api.example.com:8443`,
    /// `*.example.com`). Empty means only the host of `base_url`. Every URL the
    /// plan names is checked against this list before any request is sent.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Liveness path, probed before the run to tell an unreachable environment.
    #[serde(default)]
    pub health_path: Option<String>,
    /// Readiness path that reports the dependencies.
    #[serde(default)]
    pub readiness_path: Option<String>,
    /// The storage bucket this environment must use (bucket isolation).
    #[serde(default)]
    pub expected_bucket: Option<String>,
    /// Secrets by name → the environment variable that holds the value.
    /// Values are read at run time and never stored.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Headers sent with every request; `${secret.NAME}` in a value is
    /// replaced by that secret at run time.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Approvals needed for this environment, overriding the plan's.
    #[serde(default)]
    pub required_approvals: Option<Positive>,
    /// PEM file of extra certificate authorities to trust for `https://`
    /// (a private staging CA); the system's roots are trusted as well.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// How Shakedown itself reaches the environment's bucket (to read
    /// artifacts back, probe storage and check isolation).
    #[serde(default)]
    pub bucket: Option<BucketAccess>,
}

/// A service of the environment that chaos tests can restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Path (on the environment's base URL) or URL whose success means the
    /// service is up again after a restart. Probed every 100 ms from the
    /// fault: a restart is observed when it fails and then passes again,
    /// or when the identity read through the pointers below changes.
    #[serde(default)]
    pub health: Option<String>,
    /// JSON pointer to the process id in the health answer (`/pid`).
    #[serde(default)]
    pub pid_pointer: Option<String>,
    /// JSON pointer to the start time in the health answer (`/started_at`).
    #[serde(default)]
    pub started_at_pointer: Option<String>,
    /// JSON pointer to any other value that changes when the service
    /// restarts (a boot id, a version, a deployment id: `/boot`).
    #[serde(default)]
    pub identity_pointer: Option<String>,
    /// Give up observing the restart after this many seconds (60 unless set).
    #[serde(default)]
    pub observe_timeout_s: Option<Positive>,
    /// How to restart it.
    pub restart: RestartMethod,
}

/// How a service is restarted. Written as a table with one key, e.g.
/// `restart.command = { run = "docker restart api", timeout_s = 60 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestartMethod {
    /// A process Shakedown's supervisor started: SIGTERM, grace, SIGKILL, respawn.
    Process(ProcessRestart),
    /// Any shell command, with a timeout; its exit status is checked.
    Command(CommandRestart),
    /// A webhook.
    Http(HttpRestart),
    /// Railway's GraphQL `deploymentRestart` mutation.
    Railway(RailwayRestart),
}

/// A process under Shakedown's supervisor (`shakedown run --demo`, or a
/// program the plan names, which Shakedown starts before the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessRestart {
    /// The supervised process's name; the service's name unless set.
    #[serde(default)]
    pub name: Option<String>,
    /// The signal the stop begins with; the process's own unless set.
    #[serde(default)]
    pub signal: Option<Signal>,
    /// Program to start when no process of that name is supervised yet.
    #[serde(default)]
    pub program: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables for it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Time between SIGTERM and SIGKILL, in milliseconds.
    #[serde(default)]
    pub grace_ms: Option<Positive>,
}

/// A shell command that restarts the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRestart {
    /// The command line, run with `sh -c`.
    pub run: String,
    /// Give up after this many seconds.
    #[serde(default)]
    pub timeout_s: Option<Positive>,
}

/// A webhook that restarts the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRestart {
    /// Absolute URL; its host must be in the environment's allowed hosts.
    pub url: String,
    /// Method, POST unless set.
    #[serde(default = "HttpMethod::post")]
    pub method: HttpMethod,
    /// Headers; `${secret.NAME}` is replaced by that secret at run time.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Status the webhook must answer; any 2xx when unset.
    #[serde(default)]
    pub expect_status: Option<u16>,
}

/// A Railway deployment restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RailwayRestart {
    /// The deployment to restart.
    pub deployment_id: String,
    /// Name of the environment secret that holds the API token.
    pub token_secret: String,
    /// GraphQL endpoint; Railway's public API when unset. Its host must be
    /// in the environment's allowed hosts.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// HTTP methods a plan can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// HEAD
    Head,
    /// OPTIONS
    Options,
}

impl HttpMethod {
    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }
    fn get() -> Self {
        HttpMethod::Get
    }
    fn post() -> Self {
        HttpMethod::Post
    }
}

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

/// One test: an id that criteria refer to, a title, and exactly one kind
/// table (`[tests.http_load]`, `[tests.job_workload]`, `[tests.stream]`,
/// `[tests.assert]`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TestSpec {
    /// Identifier used by criteria and reports (`L1`, `C2`): a letter, then
    /// letters, digits or `_`.
    pub id: String,
    /// Title shown in reports.
    #[serde(default)]
    pub title: Option<String>,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// What the test does.
    #[serde(flatten)]
    pub kind: TestKind,
}

/// The kinds of test. Each is a table named after the kind inside the test.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// HTTP load, closed or open model.
    HttpLoad(HttpLoadSpec),
    /// Jobs submitted through the job protocol and followed to the end.
    JobWorkload(JobWorkloadSpec),
    /// Concurrent SSE sessions and export jobs.
    Stream(StreamSpec),
    /// One request whose JSON answer must hold given values.
    Assert(AssertSpec),
    /// A workload plus a real restart of a service, then verification.
    Chaos(ChaosSpec),
    /// Write, read back, compare and delete an object in the bucket.
    StorageProbe(StorageProbeSpec),
    /// Readiness dependencies and bucket isolation.
    Health(HealthSpec),
}

impl TestKind {
    /// Every kind's table name, in the order the schema lists them.
    pub const NAMES: [&'static str; 7] = [
        "http_load",
        "job_workload",
        "stream",
        "assert",
        "chaos",
        "storage_probe",
        "health",
    ];

    /// The table name of this kind.
    pub fn name(&self) -> &'static str {
        match self {
            TestKind::HttpLoad(_) => "http_load",
            TestKind::JobWorkload(_) => "job_workload",
            TestKind::Stream(_) => "stream",
            TestKind::Assert(_) => "assert",
            TestKind::Chaos(_) => "chaos",
            TestKind::StorageProbe(_) => "storage_probe",
            TestKind::Health(_) => "health",
        }
    }
}

impl TestSpec {
    /// Title, or the id when there is none.
    pub fn display_title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }
}

/// HTTP load.
///
/// Closed model: `concurrency` workers, each sending its next request when
/// the previous answer arrives, for `rounds` (concurrency × rounds requests
/// in all) or for `duration_s`. Open model: `rate` requests per second for
/// `duration_s`, latency measured from each request's intended send time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpLoadSpec {
    /// Method, GET unless set.
    #[serde(default = "HttpMethod::get")]
    pub method: HttpMethod,
    /// Path on the base URL, or an absolute URL on an allowed host.
    pub path: String,
    /// Extra headers; `${secret.NAME}` is replaced at run time.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Raw request body.
    #[serde(default)]
    pub body: Option<String>,
    /// JSON request body (sent with `content-type: application/json`).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Statuses that count as success; any 2xx when empty.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// Checks on the JSON body of each answer.
    #[serde(default)]
    pub checks: Vec<JsonCheck>,
    /// Workers (closed model) or most requests in flight (open model, 64
    /// unless set).
    #[serde(default)]
    pub concurrency: Option<Positive>,
    /// Closed model: requests per worker.
    #[serde(default)]
    pub rounds: Option<Positive>,
    /// Test length in seconds (closed model without rounds, or open model).
    #[serde(default)]
    pub duration_s: Option<Positive>,
    /// Open model: requests per second.
    #[serde(default)]
    pub rate: Option<Positive>,
    /// Open a new connection for every request instead of reusing them.
    #[serde(default)]
    pub new_connection_per_request: bool,
    /// Per-request timeout in milliseconds (30000 unless set).
    #[serde(default)]
    pub timeout_ms: Option<Positive>,
}

/// A check on a JSON answer: the value at `pointer` must equal `equals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// JSON pointer (`/errors`, `/nodes/0/id`).
    pub pointer: String,
    /// Expected value.
    pub equals: serde_json::Value,
    /// When set, the value found is also a metric of the test under this
    /// name (numbers and booleans only), for criteria and reports.
    #[serde(default)]
    pub name: Option<String>,
}

/// Jobs of several kinds submitted through the job protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobWorkloadSpec {
    /// The kinds of job, each with a count, or each with a weight and a `total`.
    pub mix: Vec<JobMix>,
    /// Jobs in all when the mix has weights.
    #[serde(default)]
    pub total: Option<Positive>,
    /// Most jobs in flight at once; all of them unless set.
    #[serde(default)]
    pub concurrency: Option<Positive>,
    /// How jobs are followed to their end.
    #[serde(default)]
    pub follow: Follow,
    /// A job not terminal after this many seconds counts as timed out (120
    /// unless set).
    #[serde(default)]
    pub timeout_s: Option<Positive>,
}

/// One kind of job in a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobMix {
    /// The job kind, as the target names it (`calibration`).
    pub kind: String,
    /// How many.
    #[serde(default)]
    pub count: Option<Positive>,
    /// Share of `total`.
    #[serde(default)]
    pub weight: Option<Positive>,
    /// Params put into the create body's `"{{params}}"`.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
}

/// How a job is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Follow {
    /// Poll `status_path` every `poll_interval_ms`.
    #[default]
    Poll,
    /// Read `events_path` (SSE) until it ends, then read the status once.
    Events,
}

/// Concurrent SSE sessions, plus export jobs whose artifacts must exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Sessions opened at once.
    #[serde(default)]
    pub sessions: u32,
    /// Each session reads this SSE path. When unset, each session creates a
    /// job of `session_job` and reads its `events_path`.
    #[serde(default)]
    pub path: Option<String>,
    /// The job each session follows when `path` is unset.
    #[serde(default)]
    pub session_job: Option<JobMix>,
    /// When set, a session ends cleanly only after an event of this name
    /// (for sessions that follow a job, the job protocol's `stream_end`
    /// applies when this is unset).
    #[serde(default)]
    pub end_event: Option<String>,
    /// Export jobs run alongside the sessions; each must end successfully
    /// with an artifact.
    #[serde(default)]
    pub exports: Option<JobMix>,
    /// Sessions and exports not done after this many seconds fail (120
    /// unless set).
    #[serde(default)]
    pub timeout_s: Option<Positive>,
}

/// One request whose JSON answer must hold given values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertSpec {
    /// Method, GET unless set.
    #[serde(default = "HttpMethod::get")]
    pub method: HttpMethod,
    /// Path on the base URL, or an absolute URL on an allowed host.
    pub path: String,
    /// Statuses that count as success; any 2xx when empty.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// The checks; at least one.
    pub checks: Vec<JsonCheck>,
    /// Timeout in milliseconds (30000 unless set).
    #[serde(default)]
    pub timeout_ms: Option<Positive>,
}

/// One condition over a test metric: `TEST.metric OP value`, e.g.
/// `L1.fail == 0`, `L1.p95_ms < 2000`, `G1.integrity_ok == true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// The condition.
    pub expr: String,
    /// Group in the report's executive summary (`Stuck runs`, `Load`).
    #[serde(default)]
    pub group: Option<String>,
    /// What the condition means, in words.
    #[serde(default)]
    pub label: Option<String>,
}

impl Plan {
    /// The environment to use: the one named, else the plan's default, else
    /// the only one.
    pub fn environment(&self, name: Option<&str>) -> Result<(&str, &Environment), String> {
        let wanted = name.or(self.plan.default_environment.as_deref());
        match wanted {
            Some(wanted) => self
                .environments
                .get_key_value(wanted)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| {
                    format!(
                        "no environment named {wanted:?}; the plan has {}",
                        self.environment_names()
                    )
                }),
            None if self.environments.len() == 1 => self
                .environments
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| "the plan has no environment".to_owned()),
            None => Err(format!(
                "the plan has several environments ({}); name one with --env",
                self.environment_names()
            )),
        }
    }

    fn environment_names(&self) -> String {
        self.environments
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The JSON Schema of plan files.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(Plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn protocol(toml_text: &str) -> JobProtocol {
        let base = r#"
create_path = "/jobs"
status_path = "/jobs/{id}"
status_pointer = "/state"
"#;
        toml::from_str(&format!("{base}{toml_text}")).expect("a job protocol")
    }

    #[test]
    fn statuses_may_be_words_numbers_or_booleans() {
        let words = protocol(
            r#"queued_statuses = ["queued"]
terminal_statuses = ["done", "failed"]
success_statuses = ["done"]"#,
        );
        let doc = json!({});
        assert_eq!(words.phase(&json!("queued"), &doc), JobPhase::Queued);
        assert_eq!(words.phase(&json!("running"), &doc), JobPhase::InFlight);
        assert_eq!(words.phase(&json!("done"), &doc), JobPhase::Terminal(true));
        assert_eq!(
            words.phase(&json!("failed"), &doc),
            JobPhase::Terminal(false)
        );

        let numbers = protocol(
            r#"queued_statuses = [0]
in_flight_statuses = [1]
terminal_statuses = [2, 3]
success_statuses = [2]"#,
        );
        assert_eq!(numbers.phase(&json!(0), &doc), JobPhase::Queued);
        assert_eq!(numbers.phase(&json!(1), &doc), JobPhase::InFlight);
        assert_eq!(numbers.phase(&json!(2.0), &doc), JobPhase::Terminal(true));
        assert_eq!(numbers.phase(&json!(3), &doc), JobPhase::Terminal(false));
        assert_eq!(numbers.phase(&json!("2"), &doc), JobPhase::Queued);

        let booleans = protocol(
            r#"in_flight_statuses = [false]
terminal_statuses = [true]
outcome_pointer = "/ok"
success_statuses = [true]"#,
        );
        assert_eq!(booleans.phase(&json!(false), &doc), JobPhase::InFlight);
        assert_eq!(
            booleans.phase(&json!(true), &json!({"ok": true})),
            JobPhase::Terminal(true)
        );
        assert_eq!(
            booleans.phase(&json!(true), &json!({"ok": false})),
            JobPhase::Terminal(false)
        );
        assert_eq!(
            booleans.phase(&json!(true), &json!({})),
            JobPhase::Terminal(false)
        );
    }

    #[test]
    fn a_stream_ends_by_event_name_by_a_value_or_by_its_close() {
        let named = StreamEnd {
            events: vec!["completed".to_owned(), "failed".to_owned()],
            ..StreamEnd::default()
        };
        assert_eq!(named.is_last("failed", ""), Some(true));
        assert_eq!(named.is_last("progress", "{}"), Some(false));
        let marked = StreamEnd {
            pointer: Some("/final".to_owned()),
            ..StreamEnd::default()
        };
        assert_eq!(marked.is_last("x", r#"{"final": true}"#), Some(true));
        assert_eq!(marked.is_last("x", r#"{"final": false}"#), Some(false));
        assert_eq!(marked.is_last("x", "not json"), Some(false));
        assert_eq!(StreamEnd::default().is_last("end", "{}"), None);
    }
}
