//! The plan's name and default environment, and each environment: its base
//! URL, allowed hosts, probe paths, secrets and headers.

use super::{host_allowed, host_port, root, Validator};
use crate::plan::read::FieldPath;
use crate::plan::{Environment, Plan};
use url::Url;

impl Validator {
    /// The plan's name, its environments and its default environment.
    pub(super) fn environments(&mut self, plan: &Plan) {
        if plan.plan.name.trim().is_empty() {
            self.problem(root().key("plan").key("name"), "expected a non-empty name");
        }
        if plan.environments.is_empty() {
            self.problem(
                root().key("environments"),
                "expected at least one environment",
            );
        }
        if let Some(default) = &plan.plan.default_environment {
            if !plan.environments.contains_key(default) {
                self.problem(
                    root().key("plan").key("default_environment"),
                    format!("no environment named {default:?}"),
                );
            }
        }
        for (name, env) in &plan.environments {
            self.environment(&root().key("environments").key(name), env);
        }
    }

    fn environment(&mut self, path: &FieldPath, env: &Environment) {
        let base = match Url::parse(&env.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => url,
            Ok(_) | Err(_) => {
                self.problem(
                    path.key("base_url"),
                    format!(
                        "expected an http or https URL with a host, got {:?}",
                        env.base_url
                    ),
                );
                return;
            }
        };
        for (i, host) in env.allowed_hosts.iter().enumerate() {
            if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
                self.problem(
                    path.key("allowed_hosts").index(i),
                    format!("expected a host, host:port or *.domain, got {host:?}"),
                );
            }
        }
        if !host_allowed(env, &base) {
            self.problem(
                path.key("base_url"),
                format!(
                    "host {} is not in allowed_hosts ({})",
                    host_port(&base),
                    env.allowed_hosts.join(", ")
                ),
            );
        }
        for (field, value) in [
            ("health_path", &env.health_path),
            ("readiness_path", &env.readiness_path),
        ] {
            if let Some(value) = value {
                self.target(&path.key(field), value, &[(&String::new(), env)]);
            }
        }
        for (name, var) in &env.secrets {
            let valid = !var.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                self.problem(
                    path.key("secrets").key(name),
                    format!("expected the name of an environment variable (like API_TOKEN), got {var:?}"),
                );
            }
        }
        let own = [(&String::new(), env)];
        self.header_secrets(&path.key("headers"), &env.headers, &own);
        if let Some(id) = &env.project_id {
            let valid =
                !id.is_empty() && id.len() <= 200 && id.chars().all(|c| c.is_ascii_graphic());
            if !valid {
                self.problem(
                    path.key("project_id"),
                    format!("expected a project id (letters, digits, `-`, no spaces), got {id:?}"),
                );
            }
        }
        if let Some(network) = &env.network {
            self.network_access(&path.key("network"), env, network);
        }
    }
}
