//! The run report: one view-model ([`Report`]) built from a run's results
//! (plus the previous comparable run and the sign-offs), rendered as
//! Markdown, single-file HTML and JUnit XML; HDR percentile files and the
//! comparison table come from the same data.

pub mod compare;
pub mod hgrm;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod rows;
pub mod sections;
mod values;

pub use compare::compare;
pub use model::Report;

use engine::results::RunResults;

/// Every file of a run's evidence pack except the manifest: results.json,
/// the plan as it ran ([`PLAN_FILE`], when the results hold its text),
/// report.md, report.html, junit.xml and one `.hgrm` per test with a
/// histogram. `previous` feeds "Key differences from previous run".
pub fn pack_files(
    results: &RunResults,
    previous: Option<&RunResults>,
) -> Result<Vec<(String, Vec<u8>)>, serde_json::Error> {
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "results.json".to_owned(),
        serde_json::to_vec_pretty(results)?,
    )];
    if let Some(text) = &results.plan.text {
        files.push((PLAN_FILE.to_owned(), text.clone().into_bytes()));
    }
    for t in &results.tests {
        if let Some(text) = t.histogram.as_deref().and_then(hgrm::hgrm) {
            files.push((format!("{}.hgrm", safe_name(&t.id)), text.into_bytes()));
        }
    }
    files.push(("junit.xml".to_owned(), junit::render(results).into_bytes()));
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.extend(["report.md", "report.html", "manifest.json"].map(str::to_owned));
    let report = Report::build(results, previous, names);
    files.push((
        "report.md".to_owned(),
        markdown::render(&report).into_bytes(),
    ));
    files.push(("report.html".to_owned(), html::render(&report).into_bytes()));
    Ok(files)
}

/// The plan file in a pack: the plan's bytes as they ran, whose sha256 is
/// the one results.json records.
pub const PLAN_FILE: &str = "plan.toml";

/// A test id usable as a file name.
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads `results.json`.
pub fn parse_results(bytes: &[u8]) -> Result<RunResults, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use engine::results::{RunResults, UnplannedExit};
    use engine::run::Verdict;

    /// A finished NO-GO run whose one criterion held.
    pub(super) fn results(exits: Vec<UnplannedExit>) -> RunResults {
        let mut results = crate::evidence::testing::results("r1", "p", "e", 1_700_000_000_000);
        results.verdict = Some(Verdict::NoGo);
        results.unplanned_exits = exits;
        results
    }

    #[test]
    fn the_html_checklist_badges_each_criterion_by_its_outcome() {
        let mut r = results(Vec::new());
        r.criteria = serde_json::from_value(serde_json::json!([
            {"expr": "L1.fail == 0", "group": null, "label": null, "test": "L1",
             "metric": "fail", "actual": 0.0, "passed": true, "note": null, "outcome": "pass"},
            {"expr": "L1.p95_ms < 2000", "group": null, "label": null, "test": "L1",
             "metric": "p95_ms", "actual": 1700.0, "passed": true,
             "note": "warning: L1.p95_ms < 1500 does not hold", "outcome": "warn"},
            {"expr": "L1.p95_ms < baseline.L1.p95_ms", "group": null, "label": null,
             "test": "L1", "metric": "p95_ms", "actual": 1700.0, "passed": false,
             "note": null, "outcome": "no_baseline"}
        ]))
        .unwrap();
        let html = super::html::render(&super::Report::build(&r, None, Vec::new()));
        for badge in ["PASS", "WARN", "NO BASELINE"] {
            assert!(
                html.contains(&format!("<span class=\"badge {badge}\">{badge}</span>")),
                "{badge}: {html}"
            );
        }
    }

    #[test]
    fn unplanned_exits_are_named_as_anomalies_in_every_rendering() {
        let exit = UnplannedExit {
            service: "worker".into(),
            pid: 4242,
            exit: "killed by SIGKILL".into(),
            code: None,
            signal: Some("SIGKILL".into()),
            at_ms: 1_700_000_005_000,
            uptime_ms: 4_000,
            restart_delay_ms: Some(100),
            restarted_at_ms: Some(1_700_000_005_100),
            new_pid: Some(4343),
            note: None,
            test: Some("C1".into()),
        };
        let files = super::pack_files(&results(vec![exit]), None).unwrap();
        let file = |name: &str| {
            let (_, bytes) = files.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(bytes.clone()).unwrap()
        };
        let md = file("report.md");
        assert!(md.contains("## Anomalies: Unplanned Process Exits"), "{md}");
        assert!(md.contains("| worker | C1 | 2023-11-14 22:13:25 UTC | worker (pid 4242) exited unasked (killed by SIGKILL) after 4.0 s; the supervisor started it again as pid 4343 after 100 ms |"), "{md}");
        assert!(
            md.contains("NO-GO - 1 service exited unasked; all 1 criteria met"),
            "{md}"
        );
        let html = file("report.html");
        assert!(html.contains("Anomalies: unplanned process exits"));
        assert!(html.contains("worker (pid 4242) exited unasked"));
        let junit = file("junit.xml");
        assert!(
            junit.contains("name=\"unplanned process exits\""),
            "{junit}"
        );
        assert!(junit.contains("tests=\"1\" failures=\"1\""), "{junit}");

        // Without any, no section.
        let files = super::pack_files(&results(vec![]), None).unwrap();
        let (_, md) = files.iter().find(|(n, _)| n == "report.md").unwrap();
        assert!(!String::from_utf8_lossy(md).contains("Anomalies"));
    }

    /// A chaos test with 4 stuck runs and 2 SSE sessions, its restart of
    /// the worker from pid 11 to pid 22, launched by `alice` against an
    /// environment with a project id and a bucket endpoint with credentials.
    fn chaos_run() -> RunResults {
        let mut r = results(vec![]);
        r.tester = Some("alice".into());
        r.environment.project_id = Some("30cf5498-5aeb".into());
        r.environment.urls = vec![
            engine::results::UsedUrl {
                what: "API base URL".into(),
                url: "http://127.0.0.1:9/".into(),
            },
            engine::results::UsedUrl {
                what: "Bucket endpoint".into(),
                url: "http://minio:s3cr3t@127.0.0.1:9000/".into(),
            },
        ];
        r.plan.text = Some("[plan]\nname = \"p\"\n".into());
        let test: engine::results::TestResult = serde_json::from_value(serde_json::json!({
            "id": "C1", "title": "Worker restart", "kind": "chaos", "status": "FAIL",
            "started_at_ms": 0, "finished_at_ms": 0, "parameters": {},
            "metrics": {
                "kind": "chaos", "restart_observed": 1, "recovery_ms": 2100.0,
                "runs_started": 10, "runs_completed": 6, "runs_failed": 0, "stuck": 4,
                "duplicates": 0, "runs_recovered": 6, "submit_errors": 0,
                "artifacts_checked": 6, "corrupted": 0, "artifacts_in_bucket": 0,
                "streams": 2, "streams_opened": 2, "streams_completed": 2,
                "streams_interrupted": 2, "streams_reconnected": 2,
                "streams_not_reconnected": 0, "streams_failed_gracefully": 0,
                "streams_failed": 0, "event_gaps": 0, "event_repeats": 0,
                "health_checks_after": 0, "health_checks_after_ok": 0, "duration_ms": 1.0
            },
            "faults": [{
                "service": "worker", "method": "process", "called": "SIGTERM pid 11",
                "answer": "exited", "call_ok": true, "requested_at_ms": 0,
                "restart_observed": true, "observation": "pid 11 -> 22",
                "recovery_ms": 2100, "identity_before": "11", "identity_after": "22",
                "timeline": [],
                "supervisor": {
                    "old_pid": 11, "new_pid": 22, "old_exit": "SIGTERM",
                    "stop_signal": "SIGTERM", "killed": false, "stop_ms": 5,
                    "recovery_ms": 2100, "timeline": []
                }
            }]
        }))
        .unwrap();
        r.tests = vec![test];
        r
    }

    #[test]
    fn seed_rows_tester_environment_restarts_totals_and_the_plan_file() {
        let files = super::pack_files(&chaos_run(), None).unwrap();
        let file = |name: &str| {
            let (_, bytes) = files.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(bytes.clone()).unwrap()
        };
        assert_eq!(file("plan.toml"), "[plan]\nname = \"p\"\n");
        let md = file("report.md");
        assert!(md.contains("**Tester:** alice"), "{md}");
        // Cells are escaped Markdown (`\``), so only the values are matched.
        let row = |label: &str| {
            md.lines()
                .find(|l| l.starts_with(&format!("| {label} |")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(row("Platform project ID").contains("30cf5498-5aeb"), "{md}");
        assert!(
            row("Bucket endpoint").contains("http://127.0.0.1:9000/"),
            "{md}"
        );
        assert!(!md.contains("s3cr3t"), "{md}");
        // The 4 stuck runs are failures; the 2 sessions are operations.
        assert!(md.contains("| Chaos tests | 12 | 8 | 4 |"), "{md}");
        assert!(
            md.contains("| C1 | worker | process | `pid 11` | `pid 22` | 2.1 s | yes |"),
            "{md}"
        );
        assert!(md.contains("| `plan.toml` |"), "{md}");
        let html = file("report.html");
        assert!(html.contains("<b id=\"tester\">alice</b>"), "{html}");
        assert!(html.contains("Restarts performed"), "{html}");
        assert!(!html.contains("s3cr3t"));
        // Without faults, no restart table; without text, no plan file.
        let mut plain = chaos_run();
        plain.tests[0].faults.clear();
        plain.plan.text = None;
        let files = super::pack_files(&plain, None).unwrap();
        assert!(files.iter().all(|(n, _)| n != "plan.toml"));
        let (_, md) = files.iter().find(|(n, _)| n == "report.md").unwrap();
        assert!(!String::from_utf8_lossy(md).contains("Restarts Performed"));
    }
}
