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
        if let Some(service) = spec
            .service
            .as_ref()
            .filter(|s| !plan.services.contains_key(*s))
        {
            let known: Vec<&str> = plan.services.keys().map(String::as_str).collect();
            self.problem(
                kind_path.key("service"),
                format!(
                    "no service named {service:?}; the plan's services are: {}",
                    known.join(", ")
                ),
            );
        }
        self.chaos_fault(kind_path, spec, envs);
        self.background_load(kind_path, spec, envs);
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

    /// A chaos test's background load: each entry an `http_load` request
    /// and model whose length the chaos test decides, and a tolerance of at
    /// least 1.
    fn background_load(
        &mut self,
        kind_path: &FieldPath,
        spec: &ChaosSpec,
        envs: &[(&String, &Environment)],
    ) {
        for (i, load) in spec.background_load.iter().enumerate() {
            let path = kind_path.key("background_load").index(i);
            self.http_request(&path, load, envs);
            for (field, set) in [
                ("rounds", load.rounds.is_some()),
                ("duration_s", load.duration_s.is_some()),
                ("stages", !load.stages.is_empty()),
            ] {
                if set {
                    self.problem(
                        path.key(field),
                        format!(
                            "background load runs from baseline_s before the workload to after_s after recovery; remove {field}"
                        ),
                    );
                }
            }
            if load.rate.is_none() && load.concurrency.is_none() {
                self.problem(
                    path.clone(),
                    "expected concurrency (closed model: the number of workers) or rate (open model: requests per second)",
                );
            }
        }
        let loads = !spec.background_load.is_empty();
        for (field, set) in [
            ("baseline_s", spec.baseline_s.is_some()),
            ("after_s", spec.after_s.is_some()),
            ("baseline_tolerance", spec.baseline_tolerance.is_some()),
            ("baseline_window_ms", spec.baseline_window_ms.is_some()),
        ] {
            if set && !loads {
                self.problem(
                    kind_path.key(field),
                    format!(
                        "{field} is about background load, and this test has no background_load"
                    ),
                );
            }
        }
        if let Some(tolerance) = spec.baseline_tolerance {
            if !(tolerance.is_finite() && tolerance >= 1.0) {
                self.problem(
                    kind_path.key("baseline_tolerance"),
                    format!("expected a ratio of at least 1 (1.5: within 1.5 times the baseline), found {tolerance}"),
                );
            }
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
