//! Example plans cut down to some of their tests, moved to a free port,
//! and changed where a test needs it; and the figures tests read back
//! from a run's results.

use super::root;
use engine::metrics::resilience::ChaosMetrics;
use engine::metrics::TestMetrics;
use engine::results::{RunResults, TestResult};

/// An example plan (`examples/NAME`) as a TOML table.
pub fn example(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(root().join("examples").join(name)).unwrap();
    text.parse().unwrap()
}

/// Keeps only the tests named, and the criteria about them.
pub fn keep(plan: &mut toml::Table, ids: &[&str]) {
    let tests = plan["tests"].as_array().unwrap().clone();
    plan["tests"] = toml::Value::Array(
        tests
            .into_iter()
            .filter(|t| ids.contains(&t["id"].as_str().unwrap()))
            .collect(),
    );
    let criteria = plan["criteria"].as_array().unwrap().clone();
    plan["criteria"] = toml::Value::Array(
        criteria
            .into_iter()
            .filter(|c| {
                let expr = c["expr"].as_str().unwrap();
                ids.iter().any(|id| expr.starts_with(&format!("{id}.")))
            })
            .collect(),
    );
}

/// The chaos table of test `id`, to change.
pub fn chaos_table<'a>(plan: &'a mut toml::Table, id: &str) -> &'a mut toml::Table {
    plan["tests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["id"].as_str() == Some(id))
        .unwrap()["chaos"]
        .as_table_mut()
        .unwrap()
}

/// Makes chaos test `id` fault long after its (now short) jobs ended.
pub fn fault_after_the_workload(plan: &mut toml::Table, id: &str) {
    let chaos = chaos_table(plan, id);
    chaos.remove("fault_after_started");
    chaos.insert("fault_after_ms".into(), toml::Value::Integer(12_000));
    let jobs = chaos["jobs"].as_table_mut().unwrap();
    let mut params = toml::Table::new();
    params.insert("steps".into(), toml::Value::Integer(2));
    params.insert("step_ms".into(), toml::Value::Integer(20));
    jobs.insert("params".into(), toml::Value::Table(params));
}

/// The plan's text with every `127.0.0.1:FROM` moved to `127.0.0.1:TO`.
pub fn text_on_port(plan: &toml::Table, from: u16, to: u16) -> String {
    toml::to_string(plan)
        .unwrap()
        .replace(&format!("127.0.0.1:{from}"), &format!("127.0.0.1:{to}"))
}

/// Test `id` of a run.
pub fn test<'a>(results: &'a RunResults, id: &str) -> &'a TestResult {
    results.tests.iter().find(|t| t.id == id).unwrap()
}

/// The chaos figures of test `id`.
pub fn chaos(results: &RunResults, id: &str) -> ChaosMetrics {
    match &test(results, id).metrics {
        Some(TestMetrics::Chaos(m)) => m.clone(),
        other => panic!("{id}: {other:?}"),
    }
}

/// What `shakedown run` of a plan text left: its output, its results.json
/// text, and the folders (kept while `dir` lives).
pub struct PlanRun {
    pub stdout: String,
    pub stderr: String,
    pub json: String,
    pub out: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

impl PlanRun {
    /// The results, parsed.
    pub fn results(&self) -> RunResults {
        serde_json::from_str(&self.json).unwrap()
    }
}

/// Runs a plan text with `shakedown run`, with `--demo` and the fault
/// switches when `demo` is given; panics, naming `tag`, when it wrote no
/// results.
pub fn run_plan(plan: &str, demo: Option<&[&str]>, tag: &str) -> PlanRun {
    run_plan_with(plan, demo, tag, |_, _| {})
}

/// As [`run_plan`], with `prepare` given the command and the run's folder
/// first: to set the working folder or the environment, or to write files
/// the plan's programs read.
pub fn run_plan_with(
    plan: &str,
    demo: Option<&[&str]>,
    tag: &str,
    prepare: impl FnOnce(&mut std::process::Command, &std::path::Path),
) -> PlanRun {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{tag}-"))
        .tempdir()
        .unwrap();
    let file = dir.path().join("plan.toml");
    std::fs::write(&file, plan).unwrap();
    let out = dir.path().join("out");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"));
    cmd.arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.path());
    if let Some(faults) = demo {
        cmd.arg("--demo");
        if !faults.is_empty() {
            cmd.arg(format!("--demo-fault={}", faults.join(",")));
        }
    }
    prepare(&mut cmd, dir.path());
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = std::fs::read_to_string(out.join("results.json")).unwrap_or_else(|e| {
        panic!("{tag}: no results.json ({e}); stdout {stdout} stderr {stderr}")
    });
    PlanRun {
        stdout,
        stderr,
        json,
        out,
        dir,
    }
}

/// The criteria of the run that did not hold, as `TEST.metric`.
pub fn failed_criteria(results: &RunResults) -> Vec<String> {
    results
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}.{}", c.test, c.metric))
        .collect()
}
