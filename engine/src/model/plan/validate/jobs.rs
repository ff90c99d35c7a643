//! The job protocol: its paths, pointers and statuses, and the tests that
//! need one.

use super::Validator;
use crate::plan::read::FieldPath;
use crate::plan::{Environment, JobProtocol};

impl Validator {
    /// The `[jobs]` table.
    pub(super) fn jobs(
        &mut self,
        path: &FieldPath,
        jobs: &JobProtocol,
        envs: &[(&String, &Environment)],
    ) {
        self.target(&path.key("create_path"), &jobs.create_path, envs);
        self.target(&path.key("status_path"), &jobs.status_path, envs);
        if !jobs.status_path.contains("{id}") {
            self.problem(
                path.key("status_path"),
                "expected {id} where the job id goes",
            );
        }
        if let Some(events) = &jobs.events_path {
            self.target(&path.key("events_path"), events, envs);
            if !events.contains("{id}") {
                self.problem(
                    path.key("events_path"),
                    "expected {id} where the job id goes",
                );
            }
        }
        if let Some(artifact) = &jobs.artifact_path {
            self.target(&path.key("artifact_path"), artifact, envs);
            if !artifact.contains("{artifact}") {
                self.problem(
                    path.key("artifact_path"),
                    "expected {artifact} where the artifact key goes",
                );
            }
            if jobs.artifact_pointer.is_none() {
                self.problem(
                    path.key("artifact_path"),
                    "artifact_path needs artifact_pointer to find the artifact key",
                );
            }
        }
        self.pointer(&path.key("status_pointer"), &jobs.status_pointer);
        for (field, pointer) in [
            ("id_pointer", &jobs.id_pointer),
            ("outcome_pointer", &jobs.outcome_pointer),
            ("result_pointer", &jobs.result_pointer),
            ("artifact_pointer", &jobs.artifact_pointer),
            ("artifact_sha256_pointer", &jobs.artifact_sha256_pointer),
        ] {
            if let Some(pointer) = pointer {
                self.pointer(&path.key(field), pointer);
            }
        }
        if let Some(end) = &jobs.stream_end {
            self.stream_end(&path.key("stream_end"), end);
        }
        self.job_statuses(path, jobs);
        if let Some(queue) = &jobs.queue_metric {
            self.target(&path.key("queue_metric").key("path"), &queue.path, envs);
            self.pointer(&path.key("queue_metric").key("pointer"), &queue.pointer);
        }
        if let Some(body) = &jobs.create_body {
            if let Err(e) = crate::template::check_body(body) {
                self.problem(path.key("create_body"), e);
            }
        }
    }

    /// The status lists: plain values, at least one terminal and one
    /// success status, terminal ones not also queued or in flight, success
    /// ones terminal (unless an outcome pointer tells success).
    fn job_statuses(&mut self, path: &FieldPath, jobs: &JobProtocol) {
        for (field, list) in [
            ("queued_statuses", &jobs.queued_statuses),
            ("in_flight_statuses", &jobs.in_flight_statuses),
            ("terminal_statuses", &jobs.terminal_statuses),
            ("success_statuses", &jobs.success_statuses),
        ] {
            for (i, status) in list.iter().enumerate() {
                if !(status.is_string() || status.is_number() || status.is_boolean()) {
                    self.problem(
                        path.key(field).index(i),
                        format!("expected a string, number or boolean status, got {status}"),
                    );
                }
            }
        }
        if jobs.terminal_statuses.is_empty() {
            self.problem(
                path.key("terminal_statuses"),
                "expected at least one terminal status",
            );
        }
        for (field, list) in [
            ("queued_statuses", &jobs.queued_statuses),
            ("in_flight_statuses", &jobs.in_flight_statuses),
        ] {
            for (i, status) in list.iter().enumerate() {
                if jobs.is_terminal(status) {
                    self.problem(
                        path.key(field).index(i),
                        format!("{status} is also one of terminal_statuses"),
                    );
                }
            }
        }
        if jobs.outcome_pointer.is_none() {
            for (i, status) in jobs.success_statuses.iter().enumerate() {
                if !jobs.is_terminal(status) {
                    self.problem(
                        path.key("success_statuses").index(i),
                        format!("{status} is not one of terminal_statuses"),
                    );
                }
            }
        }
        if jobs.success_statuses.is_empty() {
            self.problem(
                path.key("success_statuses"),
                "expected at least one success status",
            );
        }
    }

    /// Whether the plan has a job protocol; a problem at `path` when not.
    pub(super) fn needs_jobs(&mut self, path: &FieldPath, jobs: Option<&JobProtocol>) -> bool {
        if jobs.is_none() {
            self.problem(
                path.clone(),
                "this needs the plan's [jobs] table (the job protocol)",
            );
        }
        jobs.is_some()
    }
}
