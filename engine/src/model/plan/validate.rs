//! Checks that need more than one field: ids that criteria refer to, test
//! models that must be complete, paths and URLs that must stay on the
//! environment's allowed hosts, secrets that must be declared.

use super::read::FieldPath;
use super::{
    AssertSpec, Environment, HttpLoadSpec, JobMix, JobProtocol, JobWorkloadSpec, JsonCheck, Plan,
    RestartMethod, StreamSpec, TestKind,
};
use crate::criteria;
use std::collections::{BTreeMap, BTreeSet};
use url::Url;

/// One problem found, at a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub path: FieldPath,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem in a plan that parsed.
pub fn validate(plan: &Plan) -> Vec<Problem> {
    let mut v = Validator::default();
    v.check(plan);
    v.problems
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

fn root() -> FieldPath {
    FieldPath::default()
}

impl Validator {
    fn problem(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
        });
    }

    fn check(&mut self, plan: &Plan) {
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
        // Environments whose base URL is broken were reported above; checking
        // paths against them would only repeat that.
        let envs: Vec<(&String, &Environment)> = plan
            .environments
            .iter()
            .filter(|(_, env)| Url::parse(&env.base_url).is_ok())
            .collect();
        for (name, service) in &plan.services {
            let path = root().key("services").key(name);
            if let Some(health) = &service.health {
                self.target(&path.key("health"), health, &envs);
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
            let restart = path.key("restart");
            match &service.restart {
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
                    self.absolute(&path.key("url"), &h.url, &envs);
                    self.header_secrets(&path.key("headers"), &h.headers, &envs);
                    if let Some(status) = h.expect_status {
                        self.status(&path.key("expect_status"), status);
                    }
                }
                RestartMethod::Railway(r) => {
                    let path = restart.key("railway");
                    for (env_name, env) in &envs {
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
                    self.absolute(&path.key("endpoint"), endpoint, &envs);
                }
            }
        }
        if let Some(jobs) = &plan.jobs {
            self.jobs(&root().key("jobs"), jobs, &envs);
        }
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
            let kind_path = path.key(test.kind.name());
            match &test.kind {
                TestKind::HttpLoad(spec) => self.http_load(&kind_path, spec, &envs),
                TestKind::JobWorkload(spec) => {
                    self.job_workload(&kind_path, spec, plan.jobs.as_ref())
                }
                TestKind::Stream(spec) => self.stream(&kind_path, spec, plan.jobs.as_ref(), &envs),
                TestKind::Assert(spec) => self.assert(&kind_path, spec, &envs),
                TestKind::Chaos(spec) => {
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
                        && !self.needs_jobs(&kind_path, plan.jobs.as_ref())
                    {
                        continue;
                    }
                    if let Some(jobs) = &spec.jobs {
                        if jobs.count.is_none() {
                            self.problem(kind_path.key("jobs").key("count"), "expected a count");
                        }
                    }
                    if let Some(path) = &spec.results_path {
                        self.target(&kind_path.key("results_path"), path, &envs);
                    }
                    for (field, pointer) in [
                        ("results_count_pointer", &spec.results_count_pointer),
                        ("results_key_pointer", &spec.results_key_pointer),
                    ] {
                        if let Some(pointer) = pointer {
                            self.pointer(&kind_path.key(field), pointer);
                        }
                    }
                    if let Some(pointer) =
                        spec.streams.as_ref().and_then(|s| s.final_pointer.as_ref())
                    {
                        self.pointer(&kind_path.key("streams").key("final_pointer"), pointer);
                    }
                    if let Some(checks) = &spec.after_checks {
                        self.target(
                            &kind_path.key("after_checks").key("path"),
                            &checks.path,
                            &envs,
                        );
                    }
                }
                TestKind::StorageProbe(_) => {
                    for (name, env) in &envs {
                        if env.bucket.is_none() {
                            self.problem(
                                kind_path.clone(),
                                format!("environment {name:?} has no [bucket] to probe"),
                            );
                        }
                    }
                }
                TestKind::Health(spec) => {
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
                    for (name, env) in &envs {
                        if env.readiness_path.is_none() {
                            self.problem(
                                kind_path.clone(),
                                format!("environment {name:?} has no readiness_path"),
                            );
                        }
                    }
                    if spec.artifact_job.is_some() {
                        self.needs_jobs(&kind_path, plan.jobs.as_ref());
                    }
                }
            }
        }
        for excess in super::limits::excesses(plan, &plan.limits) {
            let path = match &excess.test {
                Some((index, _, kind)) => root()
                    .key("tests")
                    .index(*index)
                    .key(kind)
                    .key(excess.field),
                None => root().key("tests"),
            };
            self.problem(
                path,
                format!(
                    "{} {} is over the plan's limits.{} of {}",
                    excess.field, excess.value, excess.cap_name, excess.cap
                ),
            );
        }
        for (i, criterion) in plan.criteria.iter().enumerate() {
            let path = root().key("criteria").index(i).key("expr");
            let expr = match criteria::parse(&criterion.expr) {
                Ok(expr) => expr,
                Err(e) => {
                    self.problem(path, e);
                    continue;
                }
            };
            let Some(test) = plan.tests.iter().find(|t| t.id == expr.test) else {
                let known: Vec<&str> = plan.tests.iter().map(|t| t.id.as_str()).collect();
                self.problem(
                    path,
                    format!(
                        "no test with id {:?}; the plan's tests are: {}",
                        expr.test,
                        known.join(", ")
                    ),
                );
                continue;
            };
            let names = criteria::metric_names(test);
            if !names.contains(&expr.metric) {
                self.problem(
                    path,
                    format!(
                        "{} test {} has no metric {:?}; expected one of: {}",
                        test.kind.name(),
                        test.id,
                        expr.metric,
                        names.join(", ")
                    ),
                );
            }
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
    }

    /// A path on the base URL or an absolute URL on an allowed host, for
    /// every environment.
    fn target(&mut self, path: &FieldPath, value: &str, envs: &[(&String, &Environment)]) {
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
    fn absolute(&mut self, path: &FieldPath, value: &str, envs: &[(&String, &Environment)]) {
        if value.starts_with('/') {
            self.problem(
                path.clone(),
                format!("expected an absolute URL, got {value:?}"),
            );
            return;
        }
        self.target(path, value, envs);
    }

    fn header_secrets(
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

    fn status(&mut self, path: &FieldPath, status: u16) {
        if !(100..=599).contains(&status) {
            self.problem(
                path.clone(),
                format!("expected an HTTP status from 100 to 599, got {status}"),
            );
        }
    }

    fn statuses(&mut self, path: &FieldPath, statuses: &[u16]) {
        for (i, status) in statuses.iter().enumerate() {
            self.status(&path.index(i), *status);
        }
    }

    fn pointer(&mut self, path: &FieldPath, pointer: &str) {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            self.problem(
                path.clone(),
                format!("expected a JSON pointer (empty or starting with /), got {pointer:?}"),
            );
        }
    }

    fn stream_end(&mut self, path: &FieldPath, end: &crate::plan::StreamEnd) {
        if let Some(pointer) = &end.pointer {
            self.pointer(&path.key("pointer"), pointer);
        } else if end.equals.is_some() {
            self.problem(path.key("equals"), "equals needs a pointer to compare with");
        }
    }

    fn checks(&mut self, path: &FieldPath, checks: &[JsonCheck], names_allowed: bool) {
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

    fn http_load(
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

    fn jobs(&mut self, path: &FieldPath, jobs: &JobProtocol, envs: &[(&String, &Environment)]) {
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

    fn needs_jobs(&mut self, path: &FieldPath, jobs: Option<&JobProtocol>) -> bool {
        if jobs.is_none() {
            self.problem(
                path.clone(),
                "this needs the plan's [jobs] table (the job protocol)",
            );
        }
        jobs.is_some()
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
        if spec.follow == super::Follow::Events && jobs.is_some_and(|j| j.events_path.is_none()) {
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

/// Railway's public GraphQL endpoint.
pub const RAILWAY_ENDPOINT: &str = "https://backboard.railway.app/graphql/v2";

/// `host` or `host:port` of a URL.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// Whether the environment allows requests to this URL's host.
pub fn host_allowed(env: &Environment, url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let with_port = url
        .port_or_known_default()
        .map(|port| format!("{host}:{port}"));
    if env.allowed_hosts.is_empty() {
        return Url::parse(&env.base_url).is_ok_and(|base| {
            base.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str())
                && base.port_or_known_default() == url.port_or_known_default()
        });
    }
    env.allowed_hosts.iter().any(|allowed| {
        let allowed = allowed.to_ascii_lowercase();
        let allowed = allowed.trim_start_matches('[').replace("]:", ":");
        let allowed = allowed.trim_end_matches(']');
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(domain) = allowed.strip_prefix("*.") {
            bare_host.ends_with(&format!(".{domain}"))
        } else {
            allowed == bare_host
                || with_port
                    .as_deref()
                    .is_some_and(|hp| hp.trim_start_matches('[').replace("]:", ":") == allowed)
        }
    })
}

/// The URL a plan's path or URL stands for in an environment, refused when
/// its host is not allowed.
pub fn resolve(env: &Environment, path_or_url: &str) -> Result<Url, String> {
    let base = Url::parse(&env.base_url)
        .map_err(|e| format!("base_url {:?} is not a URL: {e}", env.base_url))?;
    let url = if path_or_url.starts_with('/') {
        let joined = format!("{}{}", env.base_url.trim_end_matches('/'), path_or_url);
        Url::parse(&joined).map_err(|e| format!("{path_or_url:?} does not form a URL: {e}"))?
    } else if path_or_url.contains("://") {
        Url::parse(path_or_url).map_err(|e| format!("{path_or_url:?} is not a URL: {e}"))?
    } else {
        return Err(format!(
            "expected a path starting with / or an http(s) URL, got {path_or_url:?}"
        ));
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "expected an http or https URL, got {path_or_url:?}"
        ));
    }
    if !host_allowed(env, &url) {
        let allowed = if env.allowed_hosts.is_empty() {
            format!("only {} (base_url) is allowed", host_port(&base))
        } else {
            format!("allowed_hosts: {}", env.allowed_hosts.join(", "))
        };
        return Err(format!(
            "host {} is not an allowed host ({allowed})",
            host_port(&url)
        ));
    }
    Ok(url)
}

/// The secret names referred to as `${secret.NAME}` in a value.
pub fn secret_refs(value: &str) -> Vec<Result<&str, String>> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            found.push(Err(format!("unclosed ${{ in {value:?}")));
            break;
        };
        let inner = &after[..end];
        match inner.strip_prefix("secret.") {
            Some(name) if !name.is_empty() => found.push(Ok(name)),
            _ => found.push(Err(format!("expected ${{secret.NAME}}, got ${{{inner}}}"))),
        }
        rest = &after[end + 1..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(base: &str, allowed: &[&str]) -> Environment {
        Environment {
            base_url: base.to_owned(),
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            health_path: None,
            readiness_path: None,
            expected_bucket: None,
            secrets: BTreeMap::new(),
            headers: BTreeMap::new(),
            description: None,
            required_approvals: None,
            ca_file: None,
            bucket: None,
        }
    }

    #[test]
    fn paths_resolve_on_the_base_url() {
        let e = env("http://127.0.0.1:8080/api", &[]);
        assert_eq!(
            resolve(&e, "/runs/1").unwrap().as_str(),
            "http://127.0.0.1:8080/api/runs/1"
        );
        assert!(resolve(&e, "http://127.0.0.1:9090/x").is_err());
        assert!(resolve(&e, "http://example.com/x").is_err());
        assert!(resolve(&e, "runs").is_err());
    }

    #[test]
    fn allowed_hosts_match_host_port_and_wildcards() {
        let e = env(
            "https://api.example.com",
            &[
                "api.example.com",
                "127.0.0.1:9000",
                "*.internal.example.com",
            ],
        );
        assert!(resolve(&e, "https://api.example.com:8443/x").is_ok());
        assert!(resolve(&e, "http://127.0.0.1:9000/x").is_ok());
        assert!(resolve(&e, "http://127.0.0.1:9001/x").is_err());
        assert!(resolve(&e, "http://db.internal.example.com/x").is_ok());
        assert!(resolve(&e, "http://internal.example.com.evil.org/x").is_err());
    }

    #[test]
    fn secret_references_are_found() {
        let refs = secret_refs("Bearer ${secret.token} ${secret.other}");
        assert_eq!(refs, vec![Ok("token"), Ok("other")]);
        assert!(secret_refs("${env.X}")[0].is_err());
    }
}
