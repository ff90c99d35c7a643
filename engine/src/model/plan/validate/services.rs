//! The services chaos tests restart: the health path and identity
//! pointers that show a restart, and each restart method's fields.

use super::{root, Validator};
use crate::plan::read::FieldPath;
use crate::plan::{Environment, Plan, RestartMethod, Service};

/// Railway's public GraphQL endpoint.
pub const RAILWAY_ENDPOINT: &str = "https://backboard.railway.app/graphql/v2";

impl Validator {
    /// Every service of the plan.
    pub(super) fn services(&mut self, plan: &Plan, envs: &[(&String, &Environment)]) {
        for (name, service) in &plan.services {
            self.service(&root().key("services").key(name), service, envs);
        }
    }

    fn service(&mut self, path: &FieldPath, service: &Service, envs: &[(&String, &Environment)]) {
        if let Some(health) = &service.health {
            self.target(&path.key("health"), health, envs);
        }
        for (field, pointer) in [
            ("pid_pointer", &service.pid_pointer),
            ("started_at_pointer", &service.started_at_pointer),
            ("identity_pointer", &service.identity_pointer),
        ] {
            if let Some(pointer) = pointer {
                self.pointer(&path.key(field), pointer);
            }
        }
        self.restart(&path.key("restart"), &service.restart, envs);
    }

    fn restart(
        &mut self,
        restart: &FieldPath,
        method: &RestartMethod,
        envs: &[(&String, &Environment)],
    ) {
        match method {
            RestartMethod::Process(p) => {
                if p.program.as_deref().is_some_and(|p| p.trim().is_empty()) {
                    self.problem(
                        restart.key("process").key("program"),
                        "expected a program to run",
                    );
                }
            }
            RestartMethod::Command(c) => {
                if c.run.trim().is_empty() {
                    self.problem(restart.key("command").key("run"), "expected a command");
                }
            }
            RestartMethod::Http(h) => {
                let path = restart.key("http");
                self.absolute(&path.key("url"), &h.url, envs);
                self.header_secrets(&path.key("headers"), &h.headers, envs);
                if let Some(status) = h.expect_status {
                    self.status(&path.key("expect_status"), status);
                }
            }
            RestartMethod::Railway(r) => {
                let path = restart.key("railway");
                for (env_name, env) in envs {
                    if !env.secrets.contains_key(&r.token_secret) {
                        self.problem(
                            path.key("token_secret"),
                            format!(
                                "environment {env_name:?} declares no secret named {:?}",
                                r.token_secret
                            ),
                        );
                    }
                }
                let endpoint = r.endpoint.as_deref().unwrap_or(RAILWAY_ENDPOINT);
                self.absolute(&path.key("endpoint"), endpoint, envs);
            }
        }
    }
}
