//! The chaos, storage probe and health tests: the service a chaos test
//! restarts and what it verifies, a bucket to probe, and the readiness
//! answer a health test reads.

use super::Validator;
use crate::plan::read::FieldPath;
use crate::plan::{ChaosSpec, Environment, HealthSpec, Plan};

impl Validator {
    /// A chaos test: a service of the plan, and, when it runs jobs or
    /// streams, the job protocol and what its verification reads.
    pub(super) fn chaos(
        &mut self,
        kind_path: &FieldPath,
        spec: &ChaosSpec,
        plan: &Plan,
        envs: &[(&String, &Environment)],
    ) {
        if !plan.services.contains_key(&spec.service) {
            let known: Vec<&str> = plan.services.keys().map(String::as_str).collect();
            self.problem(
                kind_path.key("service"),
                format!(
                    "no service named {:?}; the plan's services are: {}",
                    spec.service,
                    known.join(", ")
                ),
            );
        }
        if (spec.jobs.is_some() || spec.streams.is_some())
            && !self.needs_jobs(kind_path, plan.jobs.as_ref())
        {
            return;
        }
        if let Some(jobs) = &spec.jobs {
            if jobs.count.is_none() {
                self.problem(kind_path.key("jobs").key("count"), "expected a count");
            }
        }
        if let Some(path) = &spec.results_path {
            self.target(&kind_path.key("results_path"), path, envs);
        }
        for (field, pointer) in [
            ("results_count_pointer", &spec.results_count_pointer),
            ("results_key_pointer", &spec.results_key_pointer),
        ] {
            if let Some(pointer) = pointer {
                self.pointer(&kind_path.key(field), pointer);
            }
        }
        if let Some(pointer) = spec.streams.as_ref().and_then(|s| s.final_pointer.as_ref()) {
            self.pointer(&kind_path.key("streams").key("final_pointer"), pointer);
        }
        if let Some(checks) = &spec.after_checks {
            self.target(
                &kind_path.key("after_checks").key("path"),
                &checks.path,
                envs,
            );
        }
    }

    /// A storage probe: every environment has a bucket to probe.
    pub(super) fn storage_probe(
        &mut self,
        kind_path: &FieldPath,
        envs: &[(&String, &Environment)],
    ) {
        for (name, env) in envs {
            if env.bucket.is_none() {
                self.problem(
                    kind_path.clone(),
                    format!("environment {name:?} has no [bucket] to probe"),
                );
            }
        }
    }

    /// A health test: its pointers, a readiness path in every environment,
    /// and the job protocol when it looks up an artifact.
    pub(super) fn health(
        &mut self,
        kind_path: &FieldPath,
        spec: &HealthSpec,
        plan: &Plan,
        envs: &[(&String, &Environment)],
    ) {
        for (field, pointer) in [
            ("dependencies_pointer", &spec.dependencies_pointer),
            ("dependency_name_pointer", &spec.dependency_name_pointer),
            ("dependency_status_pointer", &spec.dependency_status_pointer),
            (
                "dependency_latency_pointer",
                &spec.dependency_latency_pointer,
            ),
            ("bucket_pointer", &spec.bucket_pointer),
            ("artifact_bucket_pointer", &spec.artifact_bucket_pointer),
        ] {
            if let Some(pointer) = pointer {
                self.pointer(&kind_path.key(field), pointer);
            }
        }
        for (name, env) in envs {
            if env.readiness_path.is_none() {
                self.problem(
                    kind_path.clone(),
                    format!("environment {name:?} has no readiness_path"),
                );
            }
        }
        if spec.artifact_job.is_some() {
            self.needs_jobs(kind_path, plan.jobs.as_ref());
        }
    }
}
