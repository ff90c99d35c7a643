//! Plans: the TOML file that says what to validate and how.
//!
//! A plan names its environments, the services that can be restarted and
//! how, the target's job protocol (how to create a job and follow it to a
//! terminal state), the tests to run in order, and the criteria that turn
//! the measurements into PASS/FAIL and GO/NO-GO.
//!
//! These types are plain data (serde + JSON Schema) and build everywhere,
//! the browser bundle included. Reading a file with exact error positions
//! is in [`read`]; the checks that need more than one field are in
//! [`validate`].

pub mod chaos;
mod data_files;
mod environment;
mod jobs;
mod kind_table;
mod kinds;
pub mod limits;
pub mod parallel;
pub mod pasted;
mod positive;
pub mod ramp;
pub mod read;
mod services;
pub mod validate;

pub use chaos::{
    AfterChecks, BucketAccess, ChaosFault, ChaosSpec, ChaosStreams, Direction, HealthSpec,
    HoldUntil, LocalBuckets, NetworkFault, NetworkToxic, S3Buckets, Signal, StorageProbeSpec,
};
pub use environment::{urls_used, Environment, NetworkAccess};
pub use jobs::{status_eq, status_text, JobPhase, JobProtocol, QueueMetric, StreamEnd};
pub use kinds::{
    AssertSpec, Follow, HttpLoadSpec, JobMix, JobWorkloadSpec, JsonCheck, StreamSpec, TestKind,
    TestSpec, DEFAULT_OPEN_CONCURRENCY,
};
pub use limits::{excesses, Excess, Limits, DEFAULT_MAX_ANSWER_BYTES};
pub use positive::Positive;
pub use ramp::{Ramp, Stage, ThinkTime};
pub use read::{load_file, load_str, LoadedPlan, Located, PlanError, PlanOrigin};
pub use services::{
    CommandRestart, HttpRestart, ProcessRestart, RailwayRestart, RestartMethod, Service,
};

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
    /// The tests, run in this order (one at a time, except tests that run
    /// `alongside` an earlier one: [`parallel`]).
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
    /// When true, a metric that got worse than in the previous run of the
    /// same plan and environment (by the metric's direction, beyond noise)
    /// counts against the verdict like a failed criterion.
    #[serde(default)]
    pub regressions_fail: bool,
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

/// One condition over a test metric: `TEST.metric OP value`, e.g.
/// `L1.fail == 0`, `L1.p95_ms < 2000`, `G1.integrity_ok == true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// The condition as written (`L1.p95_ms < 2000`).
    pub expr: String,
    /// Group in the report's executive summary (`Stuck runs`, `Load`).
    #[serde(default)]
    pub group: Option<String>,
    /// What the condition means, in words.
    #[serde(default)]
    pub label: Option<String>,
    /// A stricter condition of the same form (`L1.p95_ms < 1500`): when
    /// `expr` holds but this does not, the criterion is WARN (the run can
    /// still be GO, with warnings).
    #[serde(default)]
    pub warn: Option<String>,
    /// `fail` (the default): a criterion that does not hold makes the run
    /// NO-GO. `warn`: it makes the criterion WARN and the run GO with
    /// warnings.
    #[serde(default)]
    pub level: Option<CriterionLevel>,
}

/// What a criterion that does not hold does to the verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CriterionLevel {
    /// It fails the run (NO-GO).
    #[default]
    Fail,
    /// It warns: the run can be GO with warnings.
    Warn,
}

impl Plan {
    /// The JSON Schema of plan files.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(Plan)
    }
}

#[cfg(test)]
mod tests;
