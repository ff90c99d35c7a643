//! The places a plan runs against (`[environments.NAME]`) and how a run
//! picks one.

use super::{BucketAccess, Plan, Positive};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
}
