//! The places a plan runs against (`[environments.NAME]`), how a run
//! picks one, and every URL a run against one of them uses (for the
//! report's environment block).

use super::{BucketAccess, Plan, Positive, RestartMethod};
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
    /// The hosting platform's project id (a Railway project), shown in the
    /// report's environment block.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The network-fault proxy chaos tests put toxics on (`shakedown proxy`
    /// or a Toxiproxy), and its links.
    #[serde(default)]
    pub network: Option<NetworkAccess>,
}

/// A Toxiproxy-compatible API and the links it carries: pointing a plan at
/// a real Toxiproxy is a change of `api`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkAccess {
    /// The proxy's HTTP API (`http://127.0.0.1:8474`).
    pub api: String,
    /// Link name (what `fault.network.link` says) → the proxy's name there.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
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

/// Every URL a run of `plan` against `env` uses, each with what it is:
/// the base URL, the bucket endpoint, the services' health and restart
/// URLs, and any absolute URL the tests or the job protocol name. Each URL
/// once, in that order, without any user name, password or query (which
/// could carry a credential).
pub fn urls_used(plan: &Plan, env: &Environment) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |what: String, url: &str| {
        if let Some(url) = shown_url(url) {
            if !out.iter().any(|(_, u)| *u == url) {
                out.push((what, url));
            }
        }
    };
    add("API base URL".to_owned(), &env.base_url);
    if let Some(BucketAccess::S3(s3)) = &env.bucket {
        if let Some(endpoint) = &s3.endpoint {
            add("Bucket endpoint".to_owned(), endpoint);
        }
    }
    if let Some(network) = &env.network {
        add("Network-fault proxy API".to_owned(), &network.api);
    }
    for (name, service) in &plan.services {
        if let Some(health) = &service.health {
            add(format!("Service {name} health"), health);
        }
        match &service.restart {
            RestartMethod::Http(http) => add(format!("Service {name} restart"), &http.url),
            RestartMethod::Railway(railway) => add(
                format!("Service {name} restart (Railway API)"),
                railway
                    .endpoint
                    .as_deref()
                    .unwrap_or(super::validate::RAILWAY_ENDPOINT),
            ),
            RestartMethod::Process(_) | RestartMethod::Command(_) => {}
        }
    }
    for test in &plan.tests {
        let mut found = Vec::new();
        absolute_urls(&serde_json::to_value(test).unwrap_or_default(), &mut found);
        for url in found {
            add(format!("Test {} URL", test.id), &url);
        }
    }
    if let Some(jobs) = &plan.jobs {
        let mut found = Vec::new();
        absolute_urls(&serde_json::to_value(jobs).unwrap_or_default(), &mut found);
        for url in found {
            add("Jobs URL".to_owned(), &url);
        }
    }
    out
}

/// The string values of `value` that are absolute http(s) URLs.
fn absolute_urls(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
            out.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| absolute_urls(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| absolute_urls(v, out)),
        _ => {}
    }
}

/// `url` fit for a report: an absolute http(s) URL without user name,
/// password, query or fragment; `None` for anything else.
fn shown_url(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return None;
    }
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

#[cfg(test)]
mod tests {
    use super::urls_used;
    use crate::plan::Plan;

    #[test]
    fn a_bad_project_id_is_named_with_file_line_and_field() {
        let plan = |id: &str| {
            let text = format!(
                "[plan]\nname = \"x\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\nproject_id = {id:?}\n"
            );
            match crate::plan::load_str(&text, "p.toml") {
                Ok(_) => String::new(),
                Err(e) => e.to_string(),
            }
        };
        assert_eq!(plan("30cf5498-5aeb-4cf6"), "");
        let said = plan("my project");
        assert!(said.contains("p.toml:5"), "{said}");
        assert!(said.contains("environments.local.project_id"), "{said}");
    }

    #[test]
    fn every_url_the_plan_uses_once_without_credentials() {
        let plan: Plan = toml::from_str(
            r#"
            [plan]
            name = "p"
            [environments.staging]
            base_url = "http://127.0.0.1:8080"
            project_id = "30cf5498"
            bucket.s3 = { endpoint = "http://user:pw@127.0.0.1:9000?token=x", access_key_secret = "A", secret_key_secret = "B" }
            [services.api]
            health = "http://127.0.0.1:8080/health"
            restart.railway = { deployment_id = "d1", token_secret = "T" }
            [[tests]]
            id = "W1"
            [tests.http_load]
            path = "http://127.0.0.1:3000/"
            rounds = 1
            "#,
        )
        .expect("a plan");
        let env = &plan.environments["staging"];
        assert_eq!(env.project_id.as_deref(), Some("30cf5498"));
        let urls: Vec<String> = urls_used(&plan, env)
            .into_iter()
            .map(|(what, url)| format!("{what}: {url}"))
            .collect();
        assert_eq!(
            urls,
            [
                "API base URL: http://127.0.0.1:8080/",
                "Bucket endpoint: http://127.0.0.1:9000/",
                "Service api health: http://127.0.0.1:8080/health",
                "Service api restart (Railway API): https://backboard.railway.app/graphql/v2",
                "Test W1 URL: http://127.0.0.1:3000/",
            ]
        );
    }
}
