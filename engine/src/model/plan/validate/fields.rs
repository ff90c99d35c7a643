//! Checks of one field that every step uses: paths and URLs on the
//! allowed hosts, declared secrets, HTTP statuses, JSON pointers and
//! JSON checks.

use super::{resolve, secret_refs, Validator};
use crate::criteria;
use crate::plan::read::FieldPath;
use crate::plan::{Environment, JsonCheck, StreamEnd};
use std::collections::{BTreeMap, BTreeSet};

impl Validator {
    /// A path on the base URL or an absolute URL on an allowed host, for
    /// every environment.
    pub(super) fn target(
        &mut self,
        path: &FieldPath,
        value: &str,
        envs: &[(&String, &Environment)],
    ) {
        for (name, env) in envs {
            if let Err(e) = resolve(env, value) {
                let message = if name.is_empty() {
                    e
                } else {
                    format!("{e} (environment {name:?})")
                };
                self.problem(path.clone(), message);
                return;
            }
        }
    }

    /// An absolute URL on an allowed host of every environment.
    pub(super) fn absolute(
        &mut self,
        path: &FieldPath,
        value: &str,
        envs: &[(&String, &Environment)],
    ) {
        if value.starts_with('/') {
            self.problem(
                path.clone(),
                format!("expected an absolute URL, got {value:?}"),
            );
            return;
        }
        self.target(path, value, envs);
    }

    pub(super) fn header_secrets(
        &mut self,
        path: &FieldPath,
        headers: &BTreeMap<String, String>,
        envs: &[(&String, &Environment)],
    ) {
        for (header, value) in headers {
            for secret in secret_refs(value) {
                match secret {
                    Err(e) => self.problem(path.key(header), e),
                    Ok(secret) => {
                        for (env_name, env) in envs {
                            if !env.secrets.contains_key(secret) {
                                let whose = if env_name.is_empty() {
                                    "the environment".to_owned()
                                } else {
                                    format!("environment {env_name:?}")
                                };
                                self.problem(
                                    path.key(header),
                                    format!("{whose} declares no secret named {secret:?}"),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn status(&mut self, path: &FieldPath, status: u16) {
        if !(100..=599).contains(&status) {
            self.problem(
                path.clone(),
                format!("expected an HTTP status from 100 to 599, got {status}"),
            );
        }
    }

    pub(super) fn statuses(&mut self, path: &FieldPath, statuses: &[u16]) {
        for (i, status) in statuses.iter().enumerate() {
            self.status(&path.index(i), *status);
        }
    }

    pub(super) fn pointer(&mut self, path: &FieldPath, pointer: &str) {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            self.problem(
                path.clone(),
                format!("expected a JSON pointer (empty or starting with /), got {pointer:?}"),
            );
        }
    }

    pub(super) fn stream_end(&mut self, path: &FieldPath, end: &StreamEnd) {
        if let Some(pointer) = &end.pointer {
            self.pointer(&path.key("pointer"), pointer);
        } else if end.equals.is_some() {
            self.problem(path.key("equals"), "equals needs a pointer to compare with");
        }
    }

    pub(super) fn checks(&mut self, path: &FieldPath, checks: &[JsonCheck], names_allowed: bool) {
        let mut names = BTreeSet::new();
        for (i, check) in checks.iter().enumerate() {
            self.pointer(&path.index(i).key("pointer"), &check.pointer);
            if let Some(name) = &check.name {
                let name_path = path.index(i).key("name");
                if !names_allowed {
                    self.problem(name_path, "only checks of assert tests can be named");
                } else if !criteria::is_identifier(name) {
                    self.problem(
                        name_path,
                        format!("expected a letter then letters, digits or _, got {name:?}"),
                    );
                } else if crate::metrics::AssertMetrics::names().contains(&name.as_str()) {
                    self.problem(
                        name_path,
                        format!("{name:?} is already an assert metric; choose another name"),
                    );
                } else if !names.insert(name.as_str()) {
                    self.problem(name_path, format!("check name {name:?} is used twice"));
                }
            }
        }
    }
}
