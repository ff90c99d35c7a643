//! The results of a run, as written to `results.json`.
//!
//! Versioned by [`SCHEMA_VERSION`]: readers check it before trusting the
//! rest. Later versions add fields (restart proofs, health timelines) with
//! defaults, so older files stay readable.

use crate::metrics::{TestMetrics, Window};
use crate::run::{RunStatus, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod criteria;
pub use criteria::{CriterionOutcome, CriterionResult};

/// The version of this format. Bump it when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunResults {
    /// Always [`SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// The tool that produced the file.
    pub tool: ToolInfo,
    /// Stable identifier of the run (a UUID).
    pub run_id: String,
    /// The plan, by name and digest.
    pub plan: PlanInfo,
    /// The environment it ran against.
    pub environment: EnvironmentInfo,
    /// Finished (every test ran), aborted or interrupted.
    pub status: RunStatus,
    /// GO or NO-GO for finished runs; absent for aborted or interrupted ones.
    pub verdict: Option<Verdict>,
    /// Start, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// End, milliseconds since the Unix epoch.
    pub finished_at_ms: i64,
    /// Start as RFC 3339.
    pub started_at: String,
    /// End as RFC 3339.
    pub finished_at: String,
    /// The tests that ran, in plan order.
    pub tests: Vec<TestResult>,
    /// Each criterion with its result.
    pub criteria: Vec<CriterionResult>,
    /// Why the run stopped early, when it did.
    pub error: Option<String>,
    /// Who launched the run: the signed-in user (or the owner of the API
    /// token) for runs started through the server, the `--tester` flag or
    /// the operating-system user for `shakedown run`. Absent in files
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tester: Option<String>,
    /// Sign-offs, in packs re-exported after approvers signed (absent in
    /// the pack a run writes when it ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signoff: Option<crate::access::SignOffState>,
    /// Supervised processes that exited without being asked to while the
    /// run went on (a crash, an OOM kill, a `kill -9` from a shell). Each
    /// one makes the run NO-GO whatever the criteria say. Absent in files
    /// written before supervisors restarted crashed processes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unplanned_exits: Vec<UnplannedExit>,
    /// The run relative criteria were compared with; absent when the plan
    /// has none or no baseline run was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineRef>,
}

/// A supervised process that exited unasked (not through a restart or a
/// stop Shakedown requested), and what the supervisor did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnplannedExit {
    /// The supervised process's name (the service).
    pub service: String,
    /// Its PID.
    pub pid: u32,
    /// How it ended: `exit code 1`, `killed by SIGKILL`.
    pub exit: String,
    /// Its exit code, when it exited.
    #[serde(default)]
    pub code: Option<i32>,
    /// The signal that ended it (`SIGKILL`), when one did.
    #[serde(default)]
    pub signal: Option<String>,
    /// When it ended, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// How long it had run, in milliseconds.
    #[serde(default)]
    pub uptime_ms: u64,
    /// How long the supervisor waited before starting it again (its
    /// back-off, doubling while the process keeps crashing).
    #[serde(default)]
    pub restart_delay_ms: Option<u64>,
    /// When the supervisor started it again, milliseconds since the Unix
    /// epoch; absent when it did not (yet).
    #[serde(default)]
    pub restarted_at_ms: Option<i64>,
    /// The PID of the process started in its place.
    #[serde(default)]
    pub new_pid: Option<u32>,
    /// Anything else the reader must know (a restart that failed, a
    /// requested restart or stop that took over).
    #[serde(default)]
    pub note: Option<String>,
    /// The test that was running when it happened (the tests, `, `
    /// -separated, when tests ran together).
    #[serde(default)]
    pub test: Option<String>,
}

impl UnplannedExit {
    /// One line for reports and warnings: what ended, how, and what the
    /// supervisor did.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} (pid {}) exited unasked ({}) after {:.1} s",
            self.service,
            self.pid,
            self.exit,
            self.uptime_ms as f64 / 1000.0
        );
        match (self.new_pid, self.restart_delay_ms) {
            (Some(pid), Some(delay)) => {
                line.push_str(&format!(
                    "; the supervisor started it again as pid {pid} after {delay} ms"
                ));
            }
            (Some(pid), None) => {
                line.push_str(&format!("; the supervisor started it again as pid {pid}"));
            }
            (None, _) => line.push_str("; not started again by the supervisor"),
        }
        if let Some(note) = &self.note {
            line.push_str(&format!(" ({note})"));
        }
        line
    }
}

/// Name and version of the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    /// `shakedown`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl ToolInfo {
    /// This build of the engine.
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: "shakedown".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Which plan ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanInfo {
    /// The plan's name.
    pub name: String,
    /// Its title.
    pub title: Option<String>,
    /// The file as the user named it.
    pub file: String,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// Where the plan came from: a file of the command line, the server's
    /// plans folder, or text pasted in the browser (with the folder plan
    /// whose environments it used). Absent in files written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<crate::plan::PlanOrigin>,
    /// The plan's text itself, as it was run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Tests of the plan left out of this run: a partial run, whose
    /// criteria cover only what ran (GO on it needs an override reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deselected_tests: Vec<String>,
}

/// Which environment the run used (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentInfo {
    /// Its name in the plan.
    pub name: String,
    /// Its base URL.
    pub base_url: String,
    /// The bucket it must use, when the plan names one.
    pub expected_bucket: Option<String>,
    /// GO sign-offs needed for a final GO (environment, else plan, else 1).
    #[serde(default = "one")]
    pub required_approvals: u32,
    /// The hosting platform's project id, when the plan names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Every URL the run used (base URL, bucket endpoint, services, tests'
    /// absolute URLs), without user names, passwords or queries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<UsedUrl>,
}

/// A URL a run used, and what it is (`API base URL`, `Bucket endpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UsedUrl {
    /// What it is.
    pub what: String,
    /// The URL, without credentials.
    pub url: String,
}

fn one() -> u32 {
    1
}

/// How a test came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TestStatus {
    /// It ran and every criterion naming it held.
    Pass,
    /// It ran and a criterion naming it failed.
    Fail,
    /// It could not be run to the end (target unreachable, bad answer).
    Error,
    /// The run was stopped while it ran; its metrics are partial.
    Aborted,
}

impl TestStatus {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Pass => "PASS",
            TestStatus::Fail => "FAIL",
            TestStatus::Error => "ERROR",
            TestStatus::Aborted => "ABORTED",
        }
    }
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResult {
    /// Its id in the plan.
    pub id: String,
    /// Its title (the id when the plan gives none).
    pub title: String,
    /// Its kind (`http_load`, ...).
    pub kind: String,
    /// PASS, FAIL, ERROR or ABORTED.
    pub status: TestStatus,
    /// Start, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// End, milliseconds since the Unix epoch.
    pub finished_at_ms: i64,
    /// The test's table from the plan, as run.
    pub parameters: serde_json::Value,
    /// What it measured; absent when it could not start.
    pub metrics: Option<TestMetrics>,
    /// Per-second windows.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// The whole test's latency histogram in microseconds, HdrHistogram V2
    /// deflate serialisation in base64 (mergeable across agents).
    #[serde(default)]
    pub histogram: Option<String>,
    /// Things a reader must know to trust the figures (for example that the
    /// closed model under-reports a stall).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Why it could not run to the end.
    #[serde(default)]
    pub error: Option<String>,
    /// Chaos tests: each fault's proof (what was called, what it answered,
    /// what Shakedown observed) with the service's health timeline.
    #[serde(default)]
    pub faults: Vec<crate::metrics::resilience::FaultEvidence>,
    /// A load split across load agents (`agents = N`): each agent's share
    /// and what became of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<AgentShare>,
}

/// One load agent's share of a test, and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgentShare {
    /// The agent's name (`(none)` when no agent took the share).
    pub agent: String,
    /// Its execution segment (`1/3:2/3`).
    pub segment: String,
    /// Its share of the workers (closed model) or request slots (open).
    pub workers: u32,
    /// Its share of the rate, requests per second (open model).
    #[serde(default)]
    pub rate: Option<u32>,
    /// Requests it sent whose figures were merged.
    pub requests: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// `done`, `stopped` (its agent was stopped on purpose before the
    /// share ended), `lost` (it stopped heartbeating while it ran) or
    /// `cancelled`.
    pub state: String,
    /// When it was lost, seconds after the common start.
    #[serde(default)]
    pub lost_after_s: Option<f64>,
}

/// How many of a test's operations succeeded and how many failed: what the
/// report's operation totals add up and `shakedown run`'s summary shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that failed.
    pub failed: u64,
}

impl Tally {
    /// Operations counted, succeeded or failed.
    pub fn total(self) -> u64 {
        self.ok + self.failed
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
    }
}

impl TestResult {
    /// Its operations as succeeded and failed: requests, jobs, or sessions
    /// and exports for the load tests; for chaos tests, the workload's runs
    /// and its SSE sessions (see [`chaos_tally`]); the test itself, by its
    /// status, for the checks (assert, storage probe, health). `None` when
    /// it measured nothing.
    pub fn tally(&self) -> Option<Tally> {
        use crate::metrics::TestMetrics;
        let counts = |ok, failed| Tally { ok, failed };
        Some(match self.metrics.as_ref()? {
            TestMetrics::HttpLoad(m) => counts(m.ok, m.fail),
            TestMetrics::JobWorkload(m) => counts(m.ok, m.fail),
            TestMetrics::Stream(m) => counts(m.ok, m.fail),
            TestMetrics::Chaos(m) => chaos_tally(m),
            TestMetrics::Assert(_) | TestMetrics::StorageProbe(_) | TestMetrics::Health(_) => {
                let ok = u64::from(self.status == TestStatus::Pass);
                counts(ok, 1 - ok)
            }
        })
    }
}

/// A chaos test's operations. Runs: the completed ones succeeded; those
/// that failed (cleanly), were stuck (not terminal by the deadline, or never
/// verified because the test stopped before) or could not be submitted
/// failed. SSE sessions, each planned one counted: those that reached their
/// last event cleanly on a job that completed succeeded; every other one
/// (its job failed, it did not reconnect, it broke, it never ended) failed.
/// The jobs behind the sessions are counted through their sessions only.
pub fn chaos_tally(m: &crate::metrics::resilience::ChaosMetrics) -> Tally {
    let runs_ended = m.runs_completed + m.runs_failed;
    let runs_stuck = m.runs_started.saturating_sub(runs_ended);
    let sessions_ended = m.streams_completed
        + m.streams_failed_gracefully
        + m.streams_not_reconnected
        + m.streams_failed;
    let sessions = m.streams.max(sessions_ended);
    Tally {
        ok: m.runs_completed + m.streams_completed,
        failed: m.runs_failed
            + runs_stuck
            + m.submit_errors
            + sessions.saturating_sub(m.streams_completed),
    }
}

/// The metrics of a test that are text, not numbers, by name: what criteria
/// compare with `==` and `!=` (`C1.restart_method == "railway"`).
pub const TEXT_METRICS: &[(&str, &str, &str)] = &[(
    "chaos",
    "restart_method",
    "how the service was restarted (`process`, `command`, `http`, `railway`; `,`-separated when the faults differ)",
)];

impl TestResult {
    /// The value of a text metric (see [`TEXT_METRICS`]); `None` when the
    /// kind has no such metric or nothing was measured.
    pub fn text_metric(&self, name: &str) -> Option<String> {
        match (self.kind.as_str(), name) {
            ("chaos", "restart_method") => {
                let mut methods: Vec<&str> = Vec::new();
                for fault in &self.faults {
                    if !methods.contains(&fault.method.as_str()) {
                        methods.push(&fault.method);
                    }
                }
                (!methods.is_empty()).then(|| methods.join(","))
            }
            _ => None,
        }
    }
}

/// The names of the text metrics of a test kind (`chaos`).
pub fn text_metric_names(kind: &str) -> Vec<&'static str> {
    TEXT_METRICS
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .map(|(_, name, _)| *name)
        .collect()
}

/// The run relative criteria were compared with (`baseline.L1.p95_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BaselineRef {
    /// Its run id.
    pub run_id: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// When it started, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Its verdict (`GO`, `NO-GO`), when it had one.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Why this run: `last GO run` or `pinned by NAME`.
    pub chosen: String,
}

/// A baseline run's reference and results, handed to the criteria.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Which run, and why.
    pub reference: BaselineRef,
    /// Its tests' results.
    pub tests: Vec<TestResult>,
}

impl Baseline {
    /// The baseline `results` chosen for the reason given (`last GO run`,
    /// `pinned by alice`).
    pub fn of(results: &RunResults, chosen: impl Into<String>) -> Baseline {
        Baseline {
            reference: BaselineRef {
                run_id: results.run_id.clone(),
                started_at: results.started_at.clone(),
                started_at_ms: results.started_at_ms,
                verdict: results.verdict,
                chosen: chosen.into(),
            },
            tests: results.tests.clone(),
        }
    }
}

impl RunResults {
    /// The JSON Schema of `results.json`.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(RunResults)
    }
}

/// Milliseconds since the Unix epoch as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
