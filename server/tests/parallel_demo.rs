//! Tests in parallel: `shakedown run --demo examples/parallel.toml` against
//! the demo target (127.0.0.1 only). L2 runs alongside L1: the recorded
//! times overlap, the report's Timeline names each as running with the
//! other, and G1 starts after both. The same plan without `alongside`
//! runs L1 then L2, and its timeline shows no overlap: the check can fail.

mod common;

use common::plans::{example, test, text_on_port};
use common::{build_sut, free_port};
use engine::results::RunResults;
use engine::run::Verdict;
use std::process::Command;

/// Runs a plan with `--demo`; returns its results, its report.md and a log.
fn run(plan: &toml::Table, tag: &str) -> (RunResults, String, String) {
    build_sut();
    let dir = tempfile::Builder::new()
        .prefix(&format!("parallel-{tag}-"))
        .tempdir()
        .unwrap();
    let file = dir.path().join("plan.toml");
    std::fs::write(&file, text_on_port(plan, 8080, free_port())).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .arg("run")
        .arg(&file)
        .arg("--demo")
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let json = std::fs::read_to_string(out.join("results.json")).unwrap_or_else(|e| {
        panic!("{tag}: no results.json ({e}); stdout {stdout} stderr {stderr}")
    });
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let results: RunResults = serde_json::from_str(&json).unwrap();
    (results, report, format!("{stdout}\n{stderr}\n{json}"))
}

/// The Timeline's row of a test, as its cells.
fn timeline_row(report: &str, id: &str) -> Vec<String> {
    let section = report
        .split("## Timeline")
        .nth(1)
        .unwrap_or_else(|| panic!("no Timeline in {report}"));
    let line = section
        .lines()
        .find(|l| l.starts_with(&format!("| {id} |")))
        .unwrap_or_else(|| panic!("no {id} row in {section}"));
    line.trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_owned())
        .collect()
}

#[test]
fn loads_alongside_each_other_overlap_in_the_results_and_the_report() {
    let (results, report, log) = run(&example("parallel.toml"), "together");
    assert_eq!(results.verdict, Some(Verdict::Go), "{log}");
    let ids: Vec<&str> = results.tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["L1", "L2", "G1"], "plan order");
    let (l1, l2, g1) = (
        test(&results, "L1"),
        test(&results, "L2"),
        test(&results, "G1"),
    );
    assert!(
        l2.started_at_ms < l1.finished_at_ms && l1.started_at_ms < l2.finished_at_ms,
        "L1 and L2 overlap: {log}"
    );
    assert!(g1.started_at_ms >= l1.finished_at_ms.max(l2.finished_at_ms));
    // Column 5 is "Ran with".
    assert_eq!(timeline_row(&report, "L1")[5], "L2", "{report}");
    assert_eq!(timeline_row(&report, "L2")[5], "L1", "{report}");
    assert_eq!(timeline_row(&report, "G1")[5], "—", "{report}");
}

#[test]
fn without_alongside_the_same_loads_run_one_after_the_other() {
    let mut plan = example("parallel.toml");
    let tests = plan["tests"].as_array_mut().unwrap();
    for t in tests.iter_mut() {
        t.as_table_mut().unwrap().remove("alongside");
    }
    let (results, report, log) = run(&plan, "sequence");
    assert_eq!(results.verdict, Some(Verdict::Go), "{log}");
    let (l1, l2) = (test(&results, "L1"), test(&results, "L2"));
    assert!(l2.started_at_ms >= l1.finished_at_ms, "{log}");
    for id in ["L1", "L2", "G1"] {
        assert_eq!(timeline_row(&report, id)[5], "—", "{report}");
    }
}

#[test]
fn check_names_who_runs_alongside_whom_and_where_alongside_is_wrong() {
    let check = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("check")
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = check(&common::root().join("examples/parallel.toml"));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        stdout.contains("test L2 (http_load, alongside L1):"),
        "{stdout}"
    );
    assert!(stdout.contains("test G1 (assert):"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("later.toml");
    let text = std::fs::read_to_string(common::root().join("examples/parallel.toml"))
        .unwrap()
        .replace("alongside = \"L1\"", "alongside = \"G1\"");
    std::fs::write(&file, text).unwrap();
    let bad = check(&file);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        stderr.contains(":38:13: tests[1].alongside: test \"G1\" comes later in the plan"),
        "{stderr}"
    );
}
