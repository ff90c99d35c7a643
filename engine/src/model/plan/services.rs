//! The services chaos tests restart (`[services.NAME]`) and the ways a
//! restart is asked for: a supervised process, a command, a webhook or a
//! Railway deployment.

use super::{HttpMethod, Positive, Signal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Arguments passed to `program`.
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
