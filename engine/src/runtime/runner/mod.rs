//! The runner: executes a plan's tests in order against one environment
//! (tests that run `alongside` one another concurrently, [`groups`]),
//! reports progress to a sink, evaluates the criteria and returns the
//! results. Cancelling the token stops the running tests within a second;
//! what was measured is kept and the run is marked aborted.

pub mod context;
mod groups;
pub mod programs;
pub mod target;

use crate::criteria;
use crate::events::{ProgressEvent, Sink, TestHeader};
use crate::metrics::resilience::FaultEvidence;
use crate::plan::{LoadedPlan, Plan, TestKind, TestSpec};
use crate::results::{
    rfc3339, EnvironmentInfo, PlanInfo, RunResults, TestResult, TestStatus, ToolInfo,
    UnplannedExit, UsedUrl, SCHEMA_VERSION,
};
use crate::run::RunStatus;
use crate::runner::context::{TestContext, TestOutcome};
use crate::runner::target::Target;
use crate::supervisor::Supervisor;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the reachability probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A run that could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The plan or the environment cannot be used as they are.
    #[error("{0}")]
    Invalid(String),
    /// The environment did not answer its health check.
    #[error("environment {name} is unreachable: {reason}")]
    Unreachable { name: String, reason: String },
    /// A program a service names could not be started (or did not pass
    /// its health check).
    #[error("cannot start service {service:?} (program {program}): {reason}")]
    Start {
        service: String,
        program: String,
        reason: String,
    },
    /// The run was cancelled before its first test (while its programs
    /// were starting).
    #[error("{0}")]
    Interrupted(String),
}

/// What a run may use beyond the plan.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The supervisor of the environment's local processes (`shakedown run
    /// --demo`, `shakedown demo`). Without one, a plan whose services name
    /// programs gets a supervisor of its own for the run
    /// ([`crate::runner::programs`]). Its unplanned exits during the run go into
    /// the results and make the run NO-GO.
    pub supervisor: Option<Arc<Supervisor>>,
    /// The run relative criteria compare with (`baseline.L1.p95_ms`): the
    /// last GO run of the plan and environment, or one an approver pinned.
    pub baseline: Option<Arc<crate::results::Baseline>>,
    /// The previous run of the plan and environment, for a plan with
    /// `regressions_fail` ([`crate::diff`]).
    pub previous: Option<Arc<RunResults>>,
    /// The server's load agents (`shakedown serve`), for `http_load`
    /// tests with `agents = N`; without them such a test is an error.
    pub agents: Option<Arc<dyn crate::agents::LoadAgents>>,
}

/// Runs a plan.
pub async fn run_plan(
    loaded: &LoadedPlan,
    environment: Option<&str>,
    cancel: CancellationToken,
    sink: Arc<dyn Sink>,
) -> Result<RunResults, RunError> {
    run_plan_with(loaded, environment, cancel, sink, RunOptions::default()).await
}

/// Runs a plan with options (a supervisor for `process` restarts). The
/// programs the plan's services name are started first and stopped at the
/// end, whatever the outcome ([`crate::runner::programs`]).
pub async fn run_plan_with(
    loaded: &LoadedPlan,
    environment: Option<&str>,
    cancel: CancellationToken,
    sink: Arc<dyn Sink>,
    options: RunOptions,
) -> Result<RunResults, RunError> {
    let plan = &loaded.plan;
    let (env_name, env) = plan.environment(environment).map_err(RunError::Invalid)?;
    let target = Arc::new(
        Target::new(env_name, env)
            .map_err(|e| RunError::Invalid(e.to_string()))?
            .with_answer_limit(plan.limits.answer_bytes()),
    );
    // Unplanned exits from here on belong to this run.
    let since_ms = now_ms();
    let programs =
        crate::runner::programs::start(plan, options.supervisor.clone(), &target, &cancel).await?;
    if let Err(e) = probe(&target).await {
        programs.stop().await;
        return Err(e);
    }
    Ok(run_tests(loaded, target, cancel, sink, programs, since_ms, &options).await)
}

/// Runs the tests, stops the programs the run started, and decides.
async fn run_tests(
    loaded: &LoadedPlan,
    target: Arc<Target>,
    cancel: CancellationToken,
    sink: Arc<dyn Sink>,
    programs: crate::runner::programs::Programs,
    since_ms: i64,
    options: &RunOptions,
) -> RunResults {
    let plan = &loaded.plan;
    let supervisor = programs.supervisor().cloned();

    let run_id = new_id();
    let started_at_ms = now_ms();
    let headers: Vec<TestHeader> = plan
        .tests
        .iter()
        .enumerate()
        .map(|(index, test)| header(index, test))
        .collect();
    sink.emit(&ProgressEvent::RunStarted {
        run_id: run_id.clone(),
        plan: plan.plan.name.clone(),
        environment: target.name.clone(),
        tests: headers.clone(),
    });
    // What every test shares; each gets a copy with its own id.
    let shared = TestContext {
        test_id: String::new(),
        target: target.clone(),
        cancel: cancel.clone(),
        sink: sink.clone(),
        jobs: plan.jobs.clone().map(Arc::new),
        services: Arc::new(plan.services.clone()),
        supervisor: supervisor.clone(),
        agents: options.agents.clone(),
    };
    let mut tests = groups::run_groups(plan, headers, &shared).await;
    let aborted = cancel.is_cancelled();
    // Stopped before the exits are read: a process that died before its
    // stop was requested is among them, whoever noticed it first.
    programs.stop().await;
    let unplanned_exits = supervisor
        .as_ref()
        .map(|s| attribute(s.unplanned_exits_since(since_ms), &mut tests))
        .unwrap_or_default();
    let baseline = options.baseline.as_deref();
    let criteria_results =
        criteria::evaluate_run(plan, &tests, baseline, options.previous.as_deref());
    let verdict = criteria::decide(plan, &mut tests, &criteria_results, &unplanned_exits);
    let finished_at_ms = now_ms();
    let results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        run_id,
        plan: plan_info(loaded),
        environment: environment_info(plan, &target),
        status: if aborted {
            RunStatus::Aborted
        } else {
            RunStatus::Finished
        },
        verdict: (!aborted).then_some(verdict),
        started_at_ms,
        finished_at_ms,
        started_at: rfc3339(started_at_ms),
        finished_at: rfc3339(finished_at_ms),
        tests,
        criteria: criteria_results,
        error: aborted.then(|| "aborted by request".to_owned()),
        tester: None,
        signoff: None,
        unplanned_exits,
        baseline: baseline.map(|b| b.reference.clone()),
    };
    sink.emit(&ProgressEvent::RunFinished {
        results: Box::new(results.clone()),
    });
    results
}

/// The plan as the results name it: the file, its hash and its text.
fn plan_info(loaded: &LoadedPlan) -> PlanInfo {
    PlanInfo {
        name: loaded.plan.plan.name.clone(),
        title: loaded.plan.plan.title.clone(),
        file: loaded.file.clone(),
        sha256: loaded.sha256.clone(),
        origin: Some(loaded.origin.clone()),
        text: Some(loaded.text.clone()),
        deselected_tests: loaded.deselected.clone(),
    }
}

/// The environment as the results name it, with the approvals its runs
/// need (the environment's number, else the plan's, else one).
fn environment_info(plan: &Plan, target: &Target) -> EnvironmentInfo {
    let env = &target.env;
    EnvironmentInfo {
        name: target.name.clone(),
        base_url: env.base_url.clone(),
        expected_bucket: env.expected_bucket.clone(),
        required_approvals: env
            .required_approvals
            .or(plan.plan.required_approvals)
            .map_or(1, |n| n.get()),
        project_id: env.project_id.clone(),
        urls: crate::plan::urls_used(plan, env)
            .into_iter()
            .map(|(what, url)| UsedUrl { what, url })
            .collect(),
    }
}

/// Names the tests each unplanned exit happened in (every test running at
/// the time, `, `-separated, when tests ran together), and warns those
/// tests' readers.
fn attribute(mut exits: Vec<UnplannedExit>, tests: &mut [TestResult]) -> Vec<UnplannedExit> {
    for exit in &mut exits {
        let mut hit = Vec::new();
        for test in tests
            .iter_mut()
            .filter(|t| t.started_at_ms <= exit.at_ms && exit.at_ms <= t.finished_at_ms)
        {
            test.warnings
                .push(format!("unplanned process exit: {}", exit.describe()));
            hit.push(test.id.clone());
        }
        if !hit.is_empty() {
            exit.test = Some(hit.join(", "));
        }
    }
    exits
}

/// Runs one test of any kind.
pub async fn run_test(spec: &TestSpec, ctx: &TestContext) -> TestOutcome {
    run_test_with_evidence(spec, ctx).await.0
}

/// Runs one test of any kind; chaos tests also return their faults' proof.
pub async fn run_test_with_evidence(
    spec: &TestSpec,
    ctx: &TestContext,
) -> (TestOutcome, Vec<FaultEvidence>) {
    let outcome = match &spec.kind {
        TestKind::HttpLoad(s) => crate::kinds::http_load::run(s, ctx).await,
        TestKind::JobWorkload(s) => crate::kinds::job_workload::run(s, ctx).await,
        TestKind::Stream(s) => crate::kinds::stream::run(s, ctx).await,
        TestKind::Assert(s) => crate::kinds::assert::run(s, ctx).await,
        TestKind::Chaos(s) => return crate::kinds::chaos::run(s, ctx).await,
        TestKind::StorageProbe(s) => crate::kinds::storage_probe::run(s, ctx).await,
        TestKind::Health(s) => crate::kinds::health::run(s, ctx).await,
    };
    (outcome, Vec::new())
}

fn header(index: usize, test: &TestSpec) -> TestHeader {
    let (planned, duration_s) = match &test.kind {
        TestKind::HttpLoad(s) => (
            crate::kinds::http_load::planned(s),
            s.duration_s.map(|d| d.get()),
        ),
        TestKind::JobWorkload(s) => (Some(crate::kinds::job_workload::planned(s)), None),
        TestKind::Stream(s) => (
            Some(
                u64::from(s.sessions)
                    + s.exports
                        .as_ref()
                        .and_then(|e| e.count)
                        .map_or(0, |c| u64::from(c.get())),
            ),
            None,
        ),
        TestKind::Assert(_) | TestKind::StorageProbe(_) | TestKind::Health(_) => (Some(1), None),
        TestKind::Chaos(s) => (
            Some(
                s.jobs
                    .as_ref()
                    .and_then(|j| j.count)
                    .map_or(0, |c| u64::from(c.get()))
                    + s.streams
                        .as_ref()
                        .map_or(0, |st| u64::from(st.sessions.get())),
            ),
            None,
        ),
    };
    TestHeader {
        index,
        id: test.id.clone(),
        title: test.display_title().to_owned(),
        kind: test.kind.name().to_owned(),
        planned,
        duration_s,
    }
}

fn test_result(
    spec: &TestSpec,
    outcome: TestOutcome,
    started_at_ms: i64,
    aborted: bool,
) -> TestResult {
    let status = if aborted {
        TestStatus::Aborted
    } else if outcome.error.is_some() {
        TestStatus::Error
    } else {
        TestStatus::Pass
    };
    TestResult {
        id: spec.id.clone(),
        title: spec.display_title().to_owned(),
        kind: spec.kind.name().to_owned(),
        status,
        started_at_ms,
        finished_at_ms: now_ms(),
        parameters: serde_json::to_value(spec).unwrap_or(serde_json::Value::Null),
        metrics: Some(outcome.metrics),
        windows: outcome.windows,
        histogram: outcome.histogram,
        warnings: outcome.warnings,
        error: outcome.error,
        faults: Vec::new(),
        agents: outcome.agents,
    }
}

/// Checks that the environment answers: its health path must answer 2xx;
/// without one, the base URL must answer at all.
async fn probe(target: &Target) -> Result<(), RunError> {
    let unreachable = |reason: String| RunError::Unreachable {
        name: target.name.clone(),
        reason,
    };
    let path = target.env.health_path.as_deref().unwrap_or("/");
    let url = target
        .url(path)
        .map_err(|e| RunError::Invalid(e.to_string()))?;
    let response = target
        .get(url.clone())
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(format!("GET {url}: {e}")))?;
    if target.env.health_path.is_some() && !response.status().is_success() {
        return Err(unreachable(format!(
            "GET {url} answered {}",
            response.status()
        )));
    }
    Ok(())
}

use crate::run::now_ms;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(id: &str, started_at_ms: i64, finished_at_ms: i64) -> TestResult {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": id, "kind": "http_load", "status": "PASS",
            "started_at_ms": started_at_ms, "finished_at_ms": finished_at_ms,
            "parameters": {}
        }))
        .expect("a test result")
    }

    #[test]
    fn an_exit_while_tests_ran_together_names_each_of_them() {
        let exit: UnplannedExit = serde_json::from_value(serde_json::json!({
            "service": "api", "pid": 7, "exit": "exit code 1", "at_ms": 150
        }))
        .expect("an exit");
        let mut tests = vec![
            test("L1", 100, 300),
            test("L2", 100, 200),
            test("G1", 300, 400),
        ];
        let exits = attribute(vec![exit], &mut tests);
        assert_eq!(exits[0].test.as_deref(), Some("L1, L2"));
        let warned: Vec<usize> = tests.iter().map(|t| t.warnings.len()).collect();
        assert_eq!(warned, [1, 1, 0]);
    }
}
