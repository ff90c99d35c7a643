//! Evidence packs and reports as a CI user meets them: two real runs of the
//! example plan's L1 against the demo target (clean, then with the `slow`
//! fault switch), their JUnit files, `shakedown diff` marking the
//! regression, and `shakedown report` naming a file altered by one byte.

mod common;

use common::{build_sut, free_port, root};
use quick_xml::events::Event;
use std::path::Path;
use std::process::{Command, Output};

/// The example plan's L1 and its criteria only, against `port`.
fn l1_plan(port: u16) -> String {
    let text = std::fs::read_to_string(root().join("examples/step3.toml")).unwrap();
    let mut plan: toml::Table = text.parse().unwrap();
    let keep = |v: &toml::Value, key: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                let s = t[key].as_str().unwrap();
                s == "L1" || s.starts_with("L1.")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    plan["tests"] = toml::Value::Array(keep(&plan["tests"], "id"));
    plan["criteria"] = toml::Value::Array(keep(&plan["criteria"], "expr"));
    // A platform project id, for the report's environment block.
    plan["environments"]["demo"]
        .as_table_mut()
        .unwrap()
        .insert("project_id".into(), "demo-project-7".into());
    toml::to_string(&plan)
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
}

fn shakedown(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        // The demo target inherits it: with `slow`, 3 s per expansion.
        .env("SUT_SLOW_MS", "3000")
        // The Tester of runs without --tester.
        .env("USER", "os-user-1")
        .env_remove("USERNAME")
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_EVIDENCE_S3_ENDPOINT")
        .output()
        .unwrap()
}

/// Runs the plan with `--demo`; returns the run id and its `--out` folder.
fn run(plan: &Path, data: &Path, out: &Path, faults: &[&str]) -> (i32, String) {
    let mut args = vec![
        "run",
        plan.to_str().unwrap(),
        "--demo",
        "--out",
        out.to_str().unwrap(),
    ];
    // The clean run names its tester; the other one is the OS user's.
    if faults.is_empty() {
        args.extend(["--tester", "release-bot"]);
    }
    let fault_arg;
    if !faults.is_empty() {
        fault_arg = format!("--demo-fault={}", faults.join(","));
        args.push(&fault_arg);
    }
    let output = shakedown(&args, data);
    // The run, its pack version and manifest digest are in the database.
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("recorded in sqlite://"), "{said}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    (
        output.status.code().unwrap(),
        results["run_id"].as_str().unwrap().to_owned(),
    )
}

/// Testsuite and testcase names, and the failure messages, of a JUnit file.
fn junit(path: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    let mut suites = 0;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| {
                            String::from_utf8_lossy(&a.value)
                                .replace("&lt;", "<")
                                .replace("&gt;", ">")
                                .replace("&quot;", "\"")
                                .replace("&amp;", "&")
                        })
                        .unwrap_or_default()
                };
                match e.name().as_ref() {
                    b"testsuite" => suites += 1,
                    b"testcase" => cases.push((attr(b"classname"), attr(b"name"))),
                    b"failure" => failures.push(attr(b"message")),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(suites >= 1, "no testsuite in {text}");
    (cases, failures)
}

#[test]
fn packs_reports_junit_diff_and_tamper_detection() {
    build_sut();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plan = dir.path().join("l1.toml");
    std::fs::write(&plan, l1_plan(free_port())).unwrap();

    let (clean_code, clean) = run(&plan, &data, &dir.path().join("a"), &[]);
    assert_eq!(clean_code, 0, "the clean target is GO");
    let (slow_code, slow) = run(&plan, &data, &dir.path().join("b"), &["slow"]);
    assert_eq!(slow_code, 1, "the slow target is NO-GO");

    // JUnit: one testcase per test; the failed criterion is the failure.
    let (cases, failures) = junit(&dir.path().join("a/junit.xml"));
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert!(cases[0].1.contains("L1"), "{cases:?}");
    assert!(failures.is_empty(), "{failures:?}");
    let (cases, failures) = junit(&dir.path().join("b/junit.xml"));
    assert_eq!(cases.len(), 1);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("L1.p95_ms < 2000"), "{failures:?}");

    // Seed rows: who ran it, the project id, the plan itself in the pack.
    let report =
        |run: &str| std::fs::read_to_string(dir.path().join(run).join("report.md")).unwrap();
    assert!(
        report("a").contains("**Tester:** release-bot"),
        "{}",
        report("a")
    );
    assert!(
        report("b").contains("**Tester:** os-user-1"),
        "{}",
        report("b")
    );
    assert!(
        report("a").contains("| Platform project ID |"),
        "{}",
        report("a")
    );
    assert!(report("a").contains("demo-project-7"));
    assert_eq!(
        std::fs::read(dir.path().join("a/plan.toml")).unwrap(),
        std::fs::read(&plan).unwrap(),
        "the pack's plan.toml is the plan file as it ran"
    );
    let manifest = std::fs::read_to_string(dir.path().join("a/manifest.json")).unwrap();
    assert!(manifest.contains("\"plan.toml\""), "{manifest}");

    // The comparison marks the regression.
    let diff = shakedown(&["diff", &clean, &slow], &data);
    let text = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff.status.code(), Some(1), "{text}");
    assert!(text.to_lowercase().contains("regression"), "{text}");
    assert!(text.contains("p95"), "{text}");

    // The stored pack reads back intact; one byte changed is named.
    let ok = shakedown(&["report", &slow, "--format", "md"], &data);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("NO-GO"));
    let file = data.join("evidence/runs").join(&slow).join("v1/report.md");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let bad = shakedown(&["report", &slow, "--format", "md"], &data);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(said.contains("report.md: altered"), "{said}");
    let verify = shakedown(&["verify", &slow], &data);
    assert_eq!(verify.status.code(), Some(1));

    // The plan file is covered too: one byte changed is named.
    let ok = shakedown(&["verify", &clean], &data);
    assert_eq!(ok.status.code(), Some(0));
    let file = data.join("evidence/runs").join(&clean).join("v1/plan.toml");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[2] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let bad = shakedown(&["verify", &clean], &data);
    let said = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(said.contains("plan.toml: altered"), "{said}");
}
