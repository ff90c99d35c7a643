//! [`Report`], the view-model every rendering reads: built once from a
//! run's results, the previous comparable run, the sign-offs and the list of
//! the pack's files. Secrets never enter it: the results hold none, and URLs
//! lose any user name or password here.
//!
//! One module per part of the report: [`criteria`] (executive summary and
//! checklist), [`test_sections`] (a section per test with its charts and
//! restart proofs), [`checks`] (integrity, storage and dependency health),
//! [`performance`] (latencies, operation totals, failures by class),
//! [`restarts`] (every restart performed, in one table), [`timeline`]
//! (when each test ran, and which ran together), [`agents`] (each load
//! agent's share of a test split across agents) and [`signoffs`].

pub mod agents;
pub mod checks;
pub mod criteria;
pub mod load_through_fault;
pub mod performance;
pub mod restarts;
pub mod signoffs;
pub mod test_sections;
pub mod timeline;

pub use checks::{CheckRow, DependencyRow};
pub use criteria::{CriterionRow, SummaryRow};
pub use performance::{PerfRow, TotalsRow};
pub use restarts::RestartRow;
pub use signoffs::SignOff;
pub use test_sections::{RestartProof, TestSection};
pub use timeline::TimelineRow;

use super::compare::{compare, Comparison};
use super::values::redact_url;
use engine::results::RunResults;
use engine::run::{RunStatus, Verdict};
use serde::Serialize;

/// A `(label, value)` row.
pub type Row = (String, String);

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `PLAN TITLE: Validation Evidence`.
    pub title: String,
    pub run_id: String,
    /// PASS, FAIL, ABORTED, INTERRUPTED or INCOMPLETE.
    pub status: String,
    /// GO, NO-GO, or absent for runs that did not finish.
    pub verdict: Option<String>,
    /// The recommendation in a sentence.
    pub decision: String,
    /// Tests of the plan this run left out (a partial run).
    pub left_out_tests: Vec<String>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// `shakedown x.y.z`.
    pub tool: String,
    /// Who launched the run (a user, an API token's owner, the `--tester`
    /// of `shakedown run` or its operating-system user); `not recorded` for
    /// files written before it was.
    pub tester: String,
    /// Why the run stopped early.
    pub error: Option<String>,
    /// Supervised processes that exited unasked during the run: each one
    /// makes the run NO-GO whatever the criteria say.
    pub anomalies: Vec<AnomalyRow>,
    /// One row per criterion group.
    pub summary: Vec<SummaryRow>,
    /// Environment and plan settings (never secrets); the environment's
    /// name first.
    pub environment: Vec<Row>,
    /// When each test ran and which ran together, in plan order.
    pub timeline: Vec<TimelineRow>,
    /// One section per test, in plan order.
    pub tests: Vec<TestSection>,
    /// Storage probes, assert checks, and criteria over integrity metrics.
    pub integrity: Vec<CheckRow>,
    /// Dependency health seen by health tests.
    pub dependencies: Vec<DependencyRow>,
    /// Latency of each test that measured some.
    pub performance: Vec<PerfRow>,
    /// Operations per category, then a total row.
    pub totals: Vec<TotalsRow>,
    /// Every restart performed, over all chaos tests.
    pub restarts: Vec<RestartRow>,
    /// Failed operations by class over all tests.
    pub failures_by_class: Vec<(String, u64)>,
    /// Chaos tests' background load before, during and after the fault.
    pub load_through_fault: Vec<load_through_fault::LoadFaultTable>,
    /// Each load agent's share of the tests split across agents.
    pub agents: Vec<agents::AgentRow>,
    pub criteria: Vec<CriterionRow>,
    /// Differences from the previous run of the same plan and environment.
    pub differences: Option<Comparison>,
    /// Empty means not signed yet.
    pub signoffs: Vec<SignOff>,
    /// What the sign-offs add up to, with the approvals required.
    pub signoff_decision: Option<String>,
    /// The pack's files.
    pub files: Vec<String>,
}

/// A supervised process that exited unasked during the run.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyRow {
    /// The supervised process's name.
    pub service: String,
    /// The test running at the time, when one was.
    pub test: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub at: String,
    /// The whole story in a sentence: pid, how it ended, what the
    /// supervisor did.
    pub what: String,
}

impl Report {
    /// Builds the report.
    pub fn build(
        results: &RunResults,
        previous: Option<&RunResults>,
        files: Vec<String>,
    ) -> Report {
        let verdict = results.verdict.map(|v| v.as_str().to_owned());
        Report {
            title: format!(
                "{}: Validation Evidence",
                results.plan.title.as_deref().unwrap_or(&results.plan.name)
            ),
            run_id: results.run_id.clone(),
            status: status(results).to_owned(),
            decision: decision(results, verdict.as_deref()),
            verdict,
            started_at: results.started_at.clone(),
            left_out_tests: results.plan.deselected_tests.clone(),
            finished_at: results.finished_at.clone(),
            duration_s: (results.finished_at_ms - results.started_at_ms) as f64 / 1000.0,
            tool: format!("{} {}", results.tool.name, results.tool.version),
            tester: results
                .tester
                .clone()
                .unwrap_or_else(|| "not recorded".to_owned()),
            error: results.error.clone(),
            anomalies: anomalies(results),
            summary: criteria::summary(results),
            environment: environment(results),
            timeline: timeline::timeline(results),
            integrity: checks::integrity(results),
            dependencies: checks::dependencies(results),
            performance: results
                .tests
                .iter()
                .filter_map(performance::perf_row)
                .collect(),
            totals: performance::totals(results),
            restarts: restarts::restarts(results),
            failures_by_class: performance::failures_by_class(results),
            load_through_fault: load_through_fault::tables(results),
            agents: agents::agents(results),
            criteria: criteria::checklist(results),
            differences: previous.map(|p| compare(p, results)),
            signoffs: results
                .signoff
                .as_ref()
                .map(SignOff::rows)
                .unwrap_or_default(),
            signoff_decision: results.signoff.as_ref().map(|s| s.decision.describe()),
            files,
            tests: results
                .tests
                .iter()
                .map(test_sections::test_section)
                .collect(),
        }
    }
}

/// The overall status word.
fn status(results: &RunResults) -> &'static str {
    match results.status {
        RunStatus::Finished if results.verdict == Some(Verdict::Go) => "PASS",
        RunStatus::Finished => "FAIL",
        RunStatus::Aborted => "ABORTED",
        RunStatus::Interrupted => "INTERRUPTED",
        RunStatus::Queued | RunStatus::Running => "INCOMPLETE",
    }
}

/// The recommendation in a sentence: the verdict with what it rests on.
fn decision(results: &RunResults, verdict: Option<&str>) -> String {
    let failed = results.criteria.iter().filter(|c| !c.passed).count();
    let crashes = match results.unplanned_exits.len() {
        0 => String::new(),
        1 => "1 service exited unasked; ".to_owned(),
        n => format!("{n} unplanned service exits; "),
    };
    match (verdict, failed) {
        (Some(v), 0) => format!("{v} - {crashes}all {} criteria met", results.criteria.len()),
        (Some(v), n) => format!(
            "{v} - {crashes}{n} of {} criteria not met",
            results.criteria.len()
        ),
        (None, _) => format!(
            "No decision - the run did not finish ({})",
            results.error.as_deref().unwrap_or("stopped early")
        ),
    }
}

fn environment(results: &RunResults) -> Vec<Row> {
    let env = &results.environment;
    let mut rows = vec![
        ("Environment".to_owned(), env.name.clone()),
        (
            "Base URL".to_owned(),
            format!("`{}`", redact_url(&env.base_url)),
        ),
    ];
    // Every other URL the run used (the base URL is the first of them);
    // redacted again, for files written by hand or by older versions.
    for used in env
        .urls
        .iter()
        .filter(|u| u.url.trim_end_matches('/') != env.base_url.trim_end_matches('/'))
    {
        rows.push((used.what.clone(), format!("`{}`", redact_url(&used.url))));
    }
    if let Some(b) = &env.expected_bucket {
        rows.push(("Storage bucket".to_owned(), format!("`{b}`")));
    }
    if let Some(id) = &env.project_id {
        rows.push(("Platform project ID".to_owned(), format!("`{id}`")));
    }
    rows.push((
        "Plan".to_owned(),
        format!("{} (`{}`)", results.plan.name, results.plan.file),
    ));
    rows.push((
        "Plan sha256".to_owned(),
        format!("`{}`", results.plan.sha256),
    ));
    rows.push(("Run ID".to_owned(), format!("`{}`", results.run_id)));
    rows
}

fn anomalies(results: &RunResults) -> Vec<AnomalyRow> {
    results
        .unplanned_exits
        .iter()
        .map(|e| AnomalyRow {
            service: e.service.clone(),
            test: e.test.clone(),
            at: engine::run::format_utc(e.at_ms),
            what: e.describe(),
        })
        .collect()
}
