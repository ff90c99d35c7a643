//! [`Report`], the view-model every rendering reads: built once from a
//! run's results, the previous comparable run, the sign-offs and the list of
//! the pack's files. Secrets never enter it: the results hold none, and URLs
//! lose any user name or password here.

use super::compare::{compare, Comparison};
use super::values::{label, leaves, number, redact_url, show};
use app::charts::{self, Chart, PercentilePoint};
use engine::results::{RunResults, TestResult, TestStatus};
use engine::run::{RunStatus, Verdict};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One approver's decision, bound to a pack's manifest digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignOff {
    /// Who signed.
    pub approver: String,
    /// GO or NO-GO.
    pub decision: String,
    /// Their comment.
    pub comment: String,
    /// Why they signed GO over failed criteria.
    pub override_reason: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    /// The manifest digest they signed.
    pub manifest_digest: String,
    /// `counts`, `superseded` or `VOID` (evidence changed since).
    pub state: String,
}

impl SignOff {
    fn rows(state: &engine::access::SignOffState) -> Vec<SignOff> {
        state
            .signoffs
            .iter()
            .map(|v| SignOff {
                approver: v.signoff.approver.clone(),
                decision: v.signoff.decision.label().to_owned(),
                comment: v.signoff.comment.clone(),
                override_reason: v.signoff.override_reason.clone(),
                at: engine::run::format_utc(v.signoff.at_ms),
                manifest_digest: v.signoff.manifest_sha256.clone(),
                state: if v.void {
                    "VOID"
                } else if v.superseded {
                    "superseded"
                } else {
                    "counts"
                }
                .to_owned(),
            })
            .collect()
    }
}

/// A `(label, value)` row.
pub type Row = (String, String);

/// Everything a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Document title.
    pub title: String,
    /// The run's id.
    pub run_id: String,
    /// PASS, FAIL, ABORTED or INTERRUPTED.
    pub status: String,
    /// GO, NO-GO, or absent for runs that did not finish.
    pub verdict: Option<String>,
    /// The recommendation in a sentence.
    pub decision: String,
    /// Tests of the plan this run left out (a partial run).
    pub left_out_tests: Vec<String>,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// `shakedown x.y.z`.
    pub tool: String,
    /// Why the run stopped early.
    pub error: Option<String>,
    /// Supervised processes that exited unasked during the run: each one
    /// makes the run NO-GO whatever the criteria say.
    pub anomalies: Vec<AnomalyRow>,
    /// One row per criterion group.
    pub summary: Vec<SummaryRow>,
    /// Environment and plan settings (never secrets).
    pub environment: Vec<Row>,
    /// One section per test, in plan order.
    pub tests: Vec<TestSection>,
    /// Storage and integrity checks (storage probes, asserts, integrity metrics).
    pub integrity: Vec<CheckRow>,
    /// Dependency health seen by health tests.
    pub dependencies: Vec<DependencyRow>,
    /// Latency per test.
    pub performance: Vec<PerfRow>,
    /// Operations per category, then a total row.
    pub totals: Vec<TotalsRow>,
    /// Failed operations by class over all tests.
    pub failures_by_class: Vec<(String, u64)>,
    /// Each criterion.
    pub criteria: Vec<CriterionRow>,
    /// Differences from the previous run of the same plan and environment.
    pub differences: Option<Comparison>,
    /// Sign-offs; empty means not signed yet.
    pub signoffs: Vec<SignOff>,
    /// What the sign-offs add up to, with the approvals required.
    pub signoff_decision: Option<String>,
    /// The pack's files.
    pub files: Vec<String>,
}

/// A supervised process that exited unasked during the run.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyRow {
    /// The service (supervised process name).
    pub service: String,
    /// The test running at the time, when one was.
    pub test: Option<String>,
    /// When, as `YYYY-MM-DD HH:MM:SS UTC`.
    pub at: String,
    /// The whole story in a sentence: pid, how it ended, what the
    /// supervisor did.
    pub what: String,
}

/// A criterion group in the executive summary.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// The group (or the criterion's label when it has none).
    pub group: String,
    /// `3/3` criteria held, or the single measured value.
    pub result: String,
    /// Whether every criterion in the group held.
    pub passed: bool,
    /// What the criteria were.
    pub notes: String,
}

/// One test's section.
#[derive(Debug, Clone, Serialize)]
pub struct TestSection {
    /// Id in the plan.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind.
    pub kind: String,
    /// PASS, FAIL, ERROR, ABORTED.
    pub status: String,
    /// Metric table.
    pub metrics: Vec<Row>,
    /// Parameters and metrics as pretty JSON.
    pub evidence_json: String,
    /// Caveats.
    pub warnings: Vec<String>,
    /// Why it did not finish.
    pub error: Option<String>,
    /// Restart proofs (chaos tests).
    pub restarts: Vec<RestartProof>,
    /// Charts (drawn by the HTML renderer).
    #[serde(skip)]
    pub charts: Vec<Chart>,
}

/// Proof that a fault happened and the service came back.
#[derive(Debug, Clone, Serialize)]
pub struct RestartProof {
    /// The service.
    pub service: String,
    /// Every field of the fault's evidence except its timeline.
    pub rows: Vec<Row>,
    /// Recovery time, when seen.
    pub recovery: Option<String>,
    /// Whether the restart was observed (not only requested).
    pub observed: bool,
}

/// An integrity or storage check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    /// The test.
    pub test: String,
    /// What was checked.
    pub check: String,
    /// What was seen.
    pub actual: String,
    /// Whether it held (`None`: informational).
    pub passed: Option<bool>,
}

/// One dependency in a health answer.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyRow {
    /// The health test.
    pub test: String,
    /// The dependency.
    pub name: String,
    /// Its status word.
    pub status: String,
    /// Its latency.
    pub latency: String,
}

/// Latency of one test.
#[derive(Debug, Clone, Serialize)]
pub struct PerfRow {
    /// Test id.
    pub test: String,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Test status.
    pub status: String,
}

/// Operations of one category (test kind), or the total.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsRow {
    /// Category.
    pub category: String,
    /// Operations.
    pub requests: u64,
    /// Succeeded.
    pub ok: u64,
    /// Failed.
    pub fail: u64,
}

/// One criterion.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionRow {
    /// The expression.
    pub expr: String,
    /// Its label.
    pub label: String,
    /// Measured value.
    pub actual: String,
    /// Whether it held.
    pub passed: bool,
    /// Why it could not be evaluated.
    pub note: Option<String>,
}

impl Report {
    /// Builds the report.
    pub fn build(
        results: &RunResults,
        previous: Option<&RunResults>,
        files: Vec<String>,
    ) -> Report {
        let status = match results.status {
            RunStatus::Finished if results.verdict == Some(Verdict::Go) => "PASS",
            RunStatus::Finished => "FAIL",
            RunStatus::Aborted => "ABORTED",
            RunStatus::Interrupted => "INTERRUPTED",
            RunStatus::Queued | RunStatus::Running => "INCOMPLETE",
        };
        let verdict = results.verdict.map(|v| match v {
            Verdict::Go => "GO".to_owned(),
            Verdict::NoGo => "NO-GO".to_owned(),
        });
        let failed = results.criteria.iter().filter(|c| !c.passed).count();
        let crashes = match results.unplanned_exits.len() {
            0 => String::new(),
            1 => "1 service exited unasked; ".to_owned(),
            n => format!("{n} unplanned service exits; "),
        };
        let decision = match (&verdict, failed) {
            (Some(v), 0) => format!("{v} - {crashes}all {} criteria met", results.criteria.len()),
            (Some(v), n) => format!(
                "{v} - {crashes}{n} of {} criteria not met",
                results.criteria.len()
            ),
            (None, _) => format!(
                "No decision - the run did not finish ({})",
                results.error.as_deref().unwrap_or("stopped early")
            ),
        };
        let title = format!(
            "{}: Validation Evidence",
            results.plan.title.as_deref().unwrap_or(&results.plan.name)
        );
        let mut environment = vec![
            ("Environment".to_owned(), results.environment.name.clone()),
            (
                "Base URL".to_owned(),
                format!("`{}`", redact_url(&results.environment.base_url)),
            ),
        ];
        if let Some(b) = &results.environment.expected_bucket {
            environment.push(("Storage bucket".to_owned(), format!("`{b}`")));
        }
        environment.push((
            "Plan".to_owned(),
            format!("{} (`{}`)", results.plan.name, results.plan.file),
        ));
        environment.push((
            "Plan sha256".to_owned(),
            format!("`{}`", results.plan.sha256),
        ));
        environment.push(("Run ID".to_owned(), format!("`{}`", results.run_id)));
        let tests: Vec<TestSection> = results.tests.iter().map(test_section).collect();
        Report {
            title,
            run_id: results.run_id.clone(),
            status: status.to_owned(),
            verdict,
            decision,
            started_at: results.started_at.clone(),
            left_out_tests: results.plan.deselected_tests.clone(),
            finished_at: results.finished_at.clone(),
            duration_s: (results.finished_at_ms - results.started_at_ms) as f64 / 1000.0,
            tool: format!("{} {}", results.tool.name, results.tool.version),
            error: results.error.clone(),
            anomalies: results
                .unplanned_exits
                .iter()
                .map(|e| AnomalyRow {
                    service: e.service.clone(),
                    test: e.test.clone(),
                    at: engine::run::format_utc(e.at_ms),
                    what: e.describe(),
                })
                .collect(),
            summary: summary(results),
            environment,
            integrity: integrity(results),
            dependencies: dependencies(results),
            performance: results.tests.iter().filter_map(perf_row).collect(),
            totals: totals(results),
            failures_by_class: failures_by_class(results),
            criteria: results
                .criteria
                .iter()
                .map(|c| CriterionRow {
                    expr: c.expr.clone(),
                    label: c.label.clone().unwrap_or_else(|| c.expr.clone()),
                    actual: c.actual.map_or_else(|| "—".to_owned(), number),
                    passed: c.passed,
                    note: c.note.clone(),
                })
                .collect(),
            differences: previous.map(|p| compare(p, results)),
            signoffs: results
                .signoff
                .as_ref()
                .map(SignOff::rows)
                .unwrap_or_default(),
            signoff_decision: results.signoff.as_ref().map(|s| s.decision.describe()),
            files,
            tests,
        }
    }
}

fn summary(results: &RunResults) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<String, Vec<&engine::results::CriterionResult>> = BTreeMap::new();
    let mut order = Vec::new();
    for c in &results.criteria {
        let key = c
            .group
            .clone()
            .or_else(|| c.label.clone())
            .unwrap_or_else(|| c.expr.clone());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(c);
    }
    order
        .into_iter()
        .filter_map(|g| groups.remove(&g).map(|cs| (g, cs)))
        .map(|(group, cs)| {
            let held = cs.iter().filter(|c| c.passed).count();
            let result = match cs.as_slice() {
                [one] => one.actual.map_or_else(
                    || {
                        if one.passed {
                            "MET".to_owned()
                        } else {
                            "NOT MET".to_owned()
                        }
                    },
                    number,
                ),
                _ => format!("{held}/{}", cs.len()),
            };
            SummaryRow {
                group,
                result,
                passed: held == cs.len(),
                notes: cs
                    .iter()
                    .map(|c| c.label.clone().unwrap_or_else(|| c.expr.clone()))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
        .collect()
}

fn metrics_json(t: &TestResult) -> Value {
    t.metrics
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(Value::Null)
}

fn test_section(t: &TestResult) -> TestSection {
    let metrics = metrics_json(t);
    let mut rows: Vec<Row> = vec![
        ("Test ID".to_owned(), format!("`{}`", t.id)),
        ("Status".to_owned(), format!("**{}**", t.status.as_str())),
        (
            // From start to end of the test, set-up and verification
            // included; the metrics' own `duration_ms` is the measured part.
            "Wall time (ms)".to_owned(),
            (t.finished_at_ms - t.started_at_ms).to_string(),
        ),
    ];
    rows.extend(
        leaves(&metrics)
            .into_iter()
            .map(|(k, v)| (label(&k), show(&v))),
    );
    let evidence = serde_json::json!({
        "test": t.id,
        "title": t.title,
        "kind": t.kind,
        "parameters": t.parameters,
        "metrics": metrics,
        "error": t.error,
    });
    let whole = serde_json::to_value(t).unwrap_or(Value::Null);
    let restarts = restart_proofs(&whole);
    let mut charts = Vec::new();
    if t.windows.iter().any(|w| w.count > 0) {
        charts.push(charts::latency_over_time(
            &format!("{} latency percentiles per second", t.id),
            &t.windows,
        ));
        charts.push(charts::throughput_over_time(
            &format!("{} throughput and errors per second", t.id),
            &t.windows,
        ));
    }
    if let Some(points) = t
        .histogram
        .as_deref()
        .and_then(super::hgrm::percentile_points)
    {
        charts.push(charts::latency_distribution(
            &format!("{} latency distribution", t.id),
            &points
                .iter()
                .map(|&(percentile, ms)| PercentilePoint { percentile, ms })
                .collect::<Vec<_>>(),
        ));
    }
    if let Some(chart) = recovery_chart(&t.id, &t.faults) {
        charts.push(chart);
    }
    TestSection {
        id: t.id.clone(),
        title: t.title.clone(),
        kind: t.kind.clone(),
        status: t.status.as_str().to_owned(),
        metrics: rows,
        evidence_json: serde_json::to_string_pretty(&evidence).unwrap_or_default(),
        warnings: t.warnings.clone(),
        error: t.error.clone(),
        restarts,
        charts,
    }
}

/// The `faults` list of a test (chaos tests), read generically.
fn faults(whole: &Value) -> &[Value] {
    whole
        .get("faults")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn restart_proofs(whole: &Value) -> Vec<RestartProof> {
    faults(whole)
        .iter()
        .map(|f| {
            let service = f
                .get("service")
                .and_then(Value::as_str)
                .unwrap_or("service")
                .to_owned();
            let mut rows = Vec::new();
            if let Value::Object(map) = f {
                for (k, v) in map {
                    if k == "timeline" {
                        continue;
                    }
                    if let Value::Object(_) = v {
                        rows.extend(leaves(v).into_iter().map(|(sk, sv)| {
                            (format!("{} {}", label(k), sk.replace('_', " ")), show(&sv))
                        }));
                    } else if !v.is_null() {
                        rows.push((label(k), show(v)));
                    }
                }
            }
            RestartProof {
                service,
                rows,
                recovery: f
                    .get("recovery_ms")
                    .and_then(Value::as_f64)
                    .map(|ms| format!("{:.1} s", ms / 1000.0)),
                observed: f
                    .get("restart_observed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }
        })
        .collect()
}

/// The recovery timeline of a chaos test, from its faults' evidence (the
/// live page builds its own with the same function).
fn recovery_chart(
    id: &str,
    faults: &[engine::metrics::resilience::FaultEvidence],
) -> Option<Chart> {
    let t0 = faults.iter().map(|f| f.requested_at_ms).min()?;
    let (lanes, markers) = charts::fault_lanes(faults, t0);
    Some(charts::recovery_timeline(
        &format!("{id} recovery timeline (health per service)"),
        lanes,
        markers,
    ))
}

fn integrity(results: &RunResults) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for t in &results.tests {
        let m = metrics_json(t);
        if let Some(checks) = m.get("checks").and_then(Value::as_array) {
            for c in checks {
                rows.push(CheckRow {
                    test: t.id.clone(),
                    check: format!(
                        "{} == {}",
                        c.get("pointer").map(show).unwrap_or_default(),
                        c.get("expected").map(|v| v.to_string()).unwrap_or_default()
                    ),
                    actual: c
                        .get("actual")
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "—".into()),
                    passed: c.get("passed").and_then(Value::as_bool),
                });
            }
        }
        if t.kind == "storage_probe" || m.get("write_ms").is_some() {
            for (k, v) in leaves(&m) {
                rows.push(CheckRow {
                    test: t.id.clone(),
                    check: label(&k),
                    actual: show(&v),
                    passed: None,
                });
            }
        }
    }
    // Criteria over integrity-style metrics (corruption, stuck, duplicates, bucket).
    for c in &results.criteria {
        let m = c.metric.to_ascii_lowercase();
        if [
            "corrupt",
            "stuck",
            "duplicate",
            "bucket",
            "integrity",
            "missing",
        ]
        .iter()
        .any(|w| m.contains(w))
        {
            rows.push(CheckRow {
                test: c.test.clone(),
                check: c.label.clone().unwrap_or_else(|| c.expr.clone()),
                actual: c.actual.map_or_else(|| "—".to_owned(), number),
                passed: Some(c.passed),
            });
        }
    }
    rows
}

fn dependencies(results: &RunResults) -> Vec<DependencyRow> {
    let mut rows = Vec::new();
    for t in &results.tests {
        let m = metrics_json(t);
        if let Some(deps) = m.get("dependencies").and_then(Value::as_array) {
            for d in deps {
                rows.push(DependencyRow {
                    test: t.id.clone(),
                    name: d.get("name").map(show).unwrap_or_default(),
                    status: d.get("status").map(show).unwrap_or_default(),
                    latency: d
                        .get("latency_ms")
                        .and_then(Value::as_f64)
                        .map_or_else(|| "—".to_owned(), |ms| format!("{ms:.1} ms")),
                });
            }
        }
    }
    rows
}

fn perf_row(t: &TestResult) -> Option<PerfRow> {
    let m = t.metrics.as_ref()?;
    let p50 = m.metric("p50_ms");
    let p95 = m.metric("p95_ms");
    if p50.is_none() && p95.is_none() {
        return None;
    }
    Some(PerfRow {
        test: t.id.clone(),
        p50_ms: p50,
        p95_ms: p95,
        p99_ms: m.metric("p99_ms"),
        status: t.status.as_str().to_owned(),
    })
}

/// Category name of a test kind.
fn category(kind: &str) -> String {
    match kind {
        "http_load" | "job_workload" | "stream" => "Load tests".to_owned(),
        "chaos" => "Chaos tests".to_owned(),
        "storage_probe" | "health" | "assert" => "Checks".to_owned(),
        other => label(other),
    }
}

fn totals(results: &RunResults) -> Vec<TotalsRow> {
    let mut by: Vec<TotalsRow> = Vec::new();
    for t in &results.tests {
        let Some(m) = &t.metrics else { continue };
        let (ok, fail) = match (m.metric("ok"), m.metric("fail")) {
            (Some(ok), Some(fail)) if t.kind != "assert" => (ok as u64, fail as u64),
            _ => match (m.metric("runs_completed"), m.metric("runs_failed")) {
                (Some(ok), Some(fail)) => (ok as u64, fail as u64),
                _ => {
                    let ok = u64::from(t.status == TestStatus::Pass);
                    (ok, 1 - ok)
                }
            },
        };
        let cat = category(&t.kind);
        match by.iter_mut().find(|r| r.category == cat) {
            Some(row) => {
                row.requests += ok + fail;
                row.ok += ok;
                row.fail += fail;
            }
            None => by.push(TotalsRow {
                category: cat,
                requests: ok + fail,
                ok,
                fail,
            }),
        }
    }
    let total = TotalsRow {
        category: "Total".to_owned(),
        requests: by.iter().map(|r| r.requests).sum(),
        ok: by.iter().map(|r| r.ok).sum(),
        fail: by.iter().map(|r| r.fail).sum(),
    };
    by.push(total);
    by
}

fn failures_by_class(results: &RunResults) -> Vec<(String, u64)> {
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for t in &results.tests {
        for (k, v) in super::values::numbers(&metrics_json(t)) {
            let class = if let Some(c) = k.strip_prefix("errors.") {
                c.to_owned()
            } else if [
                "timed_out",
                "submit_errors",
                "bucket_failures",
                "stuck",
                "duplicates",
                "corrupted",
            ]
            .contains(&k.as_str())
            {
                k.clone()
            } else {
                continue;
            };
            *classes.entry(class).or_default() += v as u64;
        }
    }
    classes.into_iter().collect()
}
