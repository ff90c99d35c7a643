//! The tests: ids criteria can name, each kind's table (the HTTP load, job
//! workload, stream and assert kinds here; chaos, storage probe and health
//! in `chaos.rs`), and the plan's own limits.

use super::{root, Validator};
use crate::criteria;
use crate::plan::read::FieldPath;
use crate::plan::{
    AssertSpec, Environment, Follow, HttpLoadSpec, JobMix, JobProtocol, JobWorkloadSpec, Plan,
    StreamSpec, TestKind, TestSpec,
};
use std::collections::BTreeSet;

impl Validator {
    /// Every test: a unique id, and its kind's table.
    pub(super) fn tests(&mut self, plan: &Plan, envs: &[(&String, &Environment)]) {
        let mut ids = BTreeSet::new();
        for (i, test) in plan.tests.iter().enumerate() {
            let path = root().key("tests").index(i);
            if !criteria::is_identifier(&test.id) {
                self.problem(
                    path.key("id"),
                    format!(
                        "expected an id of a letter then letters, digits or _ (like L1), got {:?}",
                        test.id
                    ),
                );
            } else if !ids.insert(test.id.as_str()) {
                self.problem(
                    path.key("id"),
                    format!("test id {:?} is used twice", test.id),
                );
            }
            self.kind(&path.key(test.kind.name()), test, plan, envs);
        }
    }

    fn kind(
        &mut self,
        kind_path: &FieldPath,
        test: &TestSpec,
        plan: &Plan,
        envs: &[(&String, &Environment)],
    ) {
        let jobs = plan.jobs.as_ref();
        match &test.kind {
            TestKind::HttpLoad(spec) => self.http_load(kind_path, spec, envs),
            TestKind::JobWorkload(spec) => self.job_workload(kind_path, spec, jobs),
            TestKind::Stream(spec) => self.stream(kind_path, spec, jobs, envs),
            TestKind::Assert(spec) => self.assert(kind_path, spec, envs),
            TestKind::Chaos(spec) => self.chaos(kind_path, spec, plan, envs),
            TestKind::StorageProbe(_) => self.storage_probe(kind_path, envs),
            TestKind::Health(spec) => self.health(kind_path, spec, plan, envs),
        }
    }

    /// The tests stay within the plan's `[limits]`.
    pub(super) fn limits(&mut self, plan: &Plan) {
        for excess in crate::plan::limits::excesses(plan, &plan.limits) {
            let path = match &excess.test {
                // Tests that run together: at the `alongside` that joined
                // the last of them.
                Some((index, _, _)) if !excess.together.is_empty() => {
                    root().key("tests").index(*index).key("alongside")
                }
                Some((index, _, kind)) => excess
                    .field
                    .split('.')
                    .fold(root().key("tests").index(*index).key(kind), |path, key| {
                        path.key(key)
                    }),
                None => root().key("tests"),
            };
            self.problem(
                path,
                format!(
                    "{}{} {} is over the plan's limits.{} of {}",
                    if excess.together.is_empty() {
                        String::new()
                    } else {
                        format!("tests {} run together: ", excess.together.join(", "))
                    },
                    excess.field,
                    excess.value,
                    excess.cap_name,
                    excess.cap
                ),
            );
        }
    }

    fn http_load(
        &mut self,
        path: &FieldPath,
        spec: &HttpLoadSpec,
        envs: &[(&String, &Environment)],
    ) {
        self.http_request(path, spec, envs);
        if let Some(think) = spec.think_time_ms {
            if spec.is_open() {
                self.problem(
                    path.key("think_time_ms"),
                    format!(
                        "think time ({}) is for the closed model; the open model sends at its rate",
                        serde_json::to_string(&think).unwrap_or_default()
                    ),
                );
            }
        }
        if !spec.stages.is_empty() {
            self.stages(path, spec);
            return;
        }
        match (spec.rate, spec.rounds, spec.duration_s, spec.concurrency) {
            (Some(_), Some(_), _, _) => self.problem(
                path.key("rounds"),
                "rounds belong to the closed model; with rate (open model) set duration_s",
            ),
            (Some(_), None, None, _) => {
                self.problem(path.key("rate"), "the open model (rate) needs duration_s")
            }
            (None, Some(_), Some(_), _) => self.problem(
                path.key("duration_s"),
                "the closed model runs for rounds or for duration_s, not both",
            ),
            (None, None, None, _) => self.problem(
                path.clone(),
                "expected rounds or duration_s (closed model), or rate and duration_s (open model)",
            ),
            (None, _, _, None) => self.problem(
                path.clone(),
                "the closed model needs concurrency (the number of workers)",
            ),
            _ => {}
        }
    }

    /// Stages: all of one model, a target each, and no other length.
    fn stages(&mut self, path: &FieldPath, spec: &HttpLoadSpec) {
        let stages_path = path.key("stages");
        let only = |rate: bool| {
            spec.stages
                .iter()
                .filter(|s| s.rate.is_some() == rate && s.concurrency.is_some() != rate)
                .count()
        };
        let (rates, workers) = (only(true), only(false));
        for (i, stage) in spec.stages.iter().enumerate() {
            match (stage.rate, stage.concurrency) {
                (Some(_), Some(_)) => self.problem(
                    stages_path.index(i),
                    "a stage sets rate (open model) or concurrency (closed model), not both",
                ),
                (None, None) => self.problem(
                    stages_path.index(i),
                    "a stage needs its target: rate (open model) or concurrency (closed model)",
                ),
                _ => {}
            }
        }
        if rates > 0 && workers > 0 {
            self.problem(
                stages_path.clone(),
                "every stage sets rate (open model) or every stage sets concurrency (closed model), not a mix",
            );
            return;
        }
        if spec.duration_s.is_some() {
            self.problem(
                path.key("duration_s"),
                "with stages the test lasts as long as its stages; remove duration_s",
            );
        }
        if spec.rounds.is_some() {
            self.problem(
                path.key("rounds"),
                "with stages the test runs for the stages' duration; remove rounds",
            );
        }
        if workers > 0 && spec.rate.is_some() {
            self.problem(
                path.key("rate"),
                "rate is the open model; these stages set concurrency (closed model)",
            );
        }
        let open = rates > 0;
        let start = if open {
            spec.rate.map_or(0, |r| r.get())
        } else {
            spec.concurrency.map_or(0, |c| c.get())
        };
        let peak = crate::plan::Ramp::of_stages(start, &spec.stages, open).peak();
        if peak < 1.0 && rates + workers == spec.stages.len() {
            self.problem(
                stages_path,
                if open {
                    "the stages never send: every rate is 0"
                } else {
                    "the stages never send: every concurrency is 0"
                },
            );
        }
    }

    /// The request an HTTP load sends (an `http_load` test's, or a chaos
    /// test's background load): its target, header secrets, expected
    /// statuses, checks, one body, and the placeholders in it.
    pub(super) fn http_request(
        &mut self,
        path: &FieldPath,
        spec: &HttpLoadSpec,
        envs: &[(&String, &Environment)],
    ) {
        self.target(&path.key("path"), &spec.path, envs);
        self.header_secrets(&path.key("headers"), &spec.headers, envs);
        self.statuses(&path.key("expect_status"), &spec.expect_status);
        self.checks(&path.key("checks"), &spec.checks, false);
        if spec.body.is_some() && spec.json.is_some() {
            self.problem(path.key("json"), "set either body or json, not both");
        }
        self.request_templates(path, spec);
    }

    /// Placeholders in the path, headers and body are known ones; columns
    /// need a data file; the host of an absolute URL stays fixed.
    fn request_templates(&mut self, path: &FieldPath, spec: &HttpLoadSpec) {
        let mut columns = false;
        for (field, text) in spec.templated_texts() {
            let field_path = match field.split_once('.') {
                Some((headers, name)) => path.key(headers).key(name),
                None => path.key(&field),
            };
            match crate::template::RequestText::parse(&text) {
                Err(e) => self.problem(field_path, e),
                Ok(t) => {
                    columns |= t.columns().next().is_some();
                    if field == "path" && !t.is_plain() && !text.starts_with('/') {
                        self.problem(
                            field_path,
                            "placeholders go in a path starting with / (the host of an absolute URL is fixed)",
                        );
                    }
                }
            }
        }
        match &spec.data_file {
            Some(file) if !(file.ends_with(".csv") || file.ends_with(".json")) => self.problem(
                path.key("data_file"),
                format!("expected a .csv or .json file, got {file:?}"),
            ),
            None if columns => self.problem(
                path.clone(),
                "{{row.COLUMN}} placeholders need data_file (a CSV or JSON file of rows)",
            ),
            _ => {}
        }
    }

    fn job_workload(
        &mut self,
        path: &FieldPath,
        spec: &JobWorkloadSpec,
        jobs: Option<&JobProtocol>,
    ) {
        self.needs_jobs(path, jobs);
        if spec.mix.is_empty() {
            self.problem(path.key("mix"), "expected at least one job kind");
        }
        let counted = spec.mix.iter().filter(|m| m.count.is_some()).count();
        let weighted = spec.mix.iter().filter(|m| m.weight.is_some()).count();
        for (i, mix) in spec.mix.iter().enumerate() {
            self.mix(&path.key("mix").index(i), mix);
            if mix.count.is_some() && mix.weight.is_some() {
                self.problem(path.key("mix").index(i), "set count or weight, not both");
            }
        }
        if counted > 0 && weighted > 0 {
            self.problem(
                path.key("mix"),
                "give every kind a count, or every kind a weight and the test a total",
            );
        } else if weighted > 0 && spec.total.is_none() {
            self.problem(path.key("total"), "weights need a total number of jobs");
        } else if counted < spec.mix.len() && weighted < spec.mix.len() {
            self.problem(
                path.key("mix"),
                "every kind needs a count (or every kind a weight)",
            );
        } else if counted > 0 && spec.total.is_some() {
            self.problem(
                path.key("total"),
                "total is for weights; with counts the total is their sum",
            );
        }
        if spec.follow == Follow::Events && jobs.is_some_and(|j| j.events_path.is_none()) {
            self.problem(
                path.key("follow"),
                "following events needs jobs.events_path",
            );
        }
    }

    fn mix(&mut self, path: &FieldPath, mix: &JobMix) {
        if mix.kind.trim().is_empty() {
            self.problem(path.key("kind"), "expected a job kind");
        }
    }

    fn stream(
        &mut self,
        path: &FieldPath,
        spec: &StreamSpec,
        jobs: Option<&JobProtocol>,
        envs: &[(&String, &Environment)],
    ) {
        if spec.sessions == 0 && spec.exports.is_none() {
            self.problem(
                path.clone(),
                "expected sessions above 0, or exports, or both",
            );
        }
        if let Some(p) = &spec.path {
            self.target(&path.key("path"), p, envs);
            if spec.session_job.is_some() {
                self.problem(
                    path.key("session_job"),
                    "set path (a fixed SSE path) or session_job, not both",
                );
            }
        } else if spec.sessions > 0 {
            match &spec.session_job {
                None => self.problem(
                    path.key("sessions"),
                    "sessions need path (a fixed SSE path) or session_job (a job whose events are read)",
                ),
                Some(job) => {
                    self.mix(&path.key("session_job"), job);
                    if self.needs_jobs(&path.key("session_job"), jobs)
                        && jobs.is_some_and(|j| j.events_path.is_none())
                    {
                        self.problem(
                            path.key("session_job"),
                            "following a job's events needs jobs.events_path",
                        );
                    }
                }
            }
        }
        if let Some(exports) = &spec.exports {
            let p = path.key("exports");
            self.mix(&p, exports);
            if exports.weight.is_some() {
                self.problem(p.key("weight"), "exports take a count, not a weight");
            }
            if exports.count.is_none() {
                self.problem(p.clone(), "exports need a count");
            }
            if self.needs_jobs(&p, jobs) && jobs.is_some_and(|j| j.artifact_pointer.is_none()) {
                self.problem(
                    p,
                    "exports need jobs.artifact_pointer to find each artifact",
                );
            }
        }
    }

    fn assert(&mut self, path: &FieldPath, spec: &AssertSpec, envs: &[(&String, &Environment)]) {
        self.target(&path.key("path"), &spec.path, envs);
        self.statuses(&path.key("expect_status"), &spec.expect_status);
        if spec.checks.is_empty() {
            self.problem(path.key("checks"), "expected at least one check");
        }
        self.checks(&path.key("checks"), &spec.checks, true);
    }
}
