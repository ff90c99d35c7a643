//! Tests (`[[tests]]`): the fields every test has, the kinds of test, and
//! the tables of the HTTP load, job workload, stream and assert kinds (the
//! chaos, storage probe and health tables are in [`super::chaos`]).

use super::{ChaosSpec, HealthSpec, HttpMethod, Positive, Stage, StorageProbeSpec, ThinkTime};
use crate::data_file::DataRows;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most requests in flight in the open model when the plan sets no
/// concurrency.
pub const DEFAULT_OPEN_CONCURRENCY: u32 = 64;

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
    /// The id of an earlier test this one starts together with and runs
    /// concurrently with (see [`super::parallel`]); unset, it runs after
    /// the tests before it, one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alongside: Option<String>,
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
/// Either model can ramp through `stages` instead (workers or arrival rate
/// over time, see [`super::ramp`]). The path, header values and body may
/// hold `{{seq}}`, `{{uuid}}` and `{{row.COLUMN}}` (a row of `data_file`).
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
    /// Ramping stages: each `{ duration_s, concurrency }` (closed model) or
    /// `{ duration_s, rate }` (open model) moves linearly from the previous
    /// target (the first from `concurrency` or `rate`, 0 unless set) to its
    /// own. Replaces `duration_s` and `rounds`.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Closed model: a worker's pause between its requests, milliseconds
    /// (`100`) or a range drawn uniformly from a seeded generator
    /// (`[50, 150]`).
    #[serde(default)]
    pub think_time_ms: Option<ThinkTime>,
    /// A CSV (header line first) or JSON (array of objects) file, relative
    /// to the plan file, whose rows fill `{{row.COLUMN}}`: each request
    /// takes the next row, wrapping around. Not in pasted plans.
    #[serde(default)]
    pub data_file: Option<String>,
    /// Load agents that share this load (`shakedown agent` processes that
    /// a `shakedown serve` coordinates), each sending its exact share by
    /// execution segments; unset, the load runs here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Positive>,
    /// With `agents`: an agent lost while it runs is a warning instead of
    /// making the test an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_agent_loss: bool,
    /// The rows of `data_file`, read when the plan file is loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub data: Option<Arc<DataRows>>,
}

/// The one walk behind [`TestSpec::http_loads`] and
/// [`TestSpec::http_loads_mut`]: the HTTP loads in `$kind` (a `&` or `&mut`
/// [`TestKind`], its background loads read with `$iter`), each with its
/// field path in `tests[$index]`.
macro_rules! http_loads_in {
    ($kind:expr, $index:expr, $iter:ident) => {{
        let test = super::read::FieldPath::default().key("tests").index($index);
        match $kind {
            TestKind::HttpLoad(spec) => vec![(test.key("http_load"), spec)],
            TestKind::Chaos(spec) => spec
                .background_load
                .$iter()
                .enumerate()
                .map(|(j, load)| (test.key("chaos").key("background_load").index(j), load))
                .collect(),
            _ => Vec::new(),
        }
    }};
}

impl TestSpec {
    /// Every HTTP load the test runs, with the field path of each (the
    /// test being `tests[index]`): an `http_load` test's own, a chaos
    /// test's `background_load` entries.
    pub fn http_loads(&self, index: usize) -> Vec<(super::read::FieldPath, &HttpLoadSpec)> {
        http_loads_in!(&self.kind, index, iter)
    }

    /// [`TestSpec::http_loads`], to change them.
    pub fn http_loads_mut(
        &mut self,
        index: usize,
    ) -> Vec<(super::read::FieldPath, &mut HttpLoadSpec)> {
        http_loads_in!(&mut self.kind, index, iter_mut)
    }
}

impl HttpLoadSpec {
    /// Whether this is the open model (a `rate`, or stages of rates).
    pub fn is_open(&self) -> bool {
        self.rate.is_some() || self.stages.iter().any(|s| s.rate.is_some())
    }

    /// The most workers the load runs: its concurrency, else its stages'
    /// peak, else the default of its model (the open model's request
    /// slots, the closed model's one worker).
    pub fn peak_workers(&self) -> u32 {
        self.concurrency
            .map(Positive::get)
            .or_else(|| self.stages.iter().filter_map(|s| s.concurrency).max())
            .unwrap_or(if self.is_open() {
                DEFAULT_OPEN_CONCURRENCY
            } else {
                1
            })
    }

    /// The texts that may hold request placeholders, by field name: the
    /// path, each header value (`headers.NAME`), and the body (`body` or
    /// `json`, as JSON text).
    pub fn templated_texts(&self) -> Vec<(String, String)> {
        let mut texts = vec![("path".to_owned(), self.path.clone())];
        for (name, value) in &self.headers {
            texts.push((format!("headers.{name}"), value.clone()));
        }
        if let Some(body) = &self.body {
            texts.push(("body".to_owned(), body.clone()));
        }
        if let Some(json) = &self.json {
            texts.push(("json".to_owned(), json.to_string()));
        }
        texts
    }
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
    /// How many jobs of this kind.
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
