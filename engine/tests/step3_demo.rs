//! `examples/step3.toml`'s load part (L1-L3 and the integrity assert) against the demo
//! target (`shakedown-sut` api + worker on SQLite, 127.0.0.1, port 0): GO on
//! the clean target, NO-GO with the `slow` fault switch against L1's p95
//! criterion.

use engine::events::NullSink;
use engine::metrics::TestMetrics;
use engine::plan::load_str;
use engine::results::{RunResults, TestStatus};
use engine::run::{RunStatus, Verdict};
use engine::runner::run_plan;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Builds the demo target's binary with the cargo running these tests.
fn sut_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "sut", "--bin", "shakedown-sut"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building shakedown-sut failed");
    target.join("debug/shakedown-sut")
}

/// API and worker processes, killed on drop.
struct Demo {
    children: Vec<Child>,
    base_url: String,
    _data: tempdir::Dir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

mod tempdir {
    /// A directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path =
                std::env::temp_dir().join(format!("shakedown-step3-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_demo(bin: &Path, tag: &str, faults: &[&str]) -> Demo {
    let data = tempdir::Dir::new(tag);
    let mut api = Command::new(bin);
    api.args(["api", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data.0)
        .args(faults)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut api = api.spawn().unwrap();
    let stdout = api.stdout.take().unwrap();
    let mut base_url = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(url) = line.split("listening on ").nth(1) {
            base_url = url.trim().to_owned();
            break;
        }
    }
    assert!(
        base_url.starts_with("http://127.0.0.1:"),
        "api printed no address"
    );
    let worker = Command::new(bin)
        .args(["worker", "--data-dir"])
        .arg(&data.0)
        .args(faults)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Demo {
        children: vec![api, worker],
        base_url,
        _data: data,
    }
}

async fn run_step3(demo: &Demo) -> RunResults {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/step3.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let text = text.replace("http://127.0.0.1:8080", &demo.base_url);
    let mut loaded = load_str(&text, "step3.toml").unwrap();
    // The load part and the integrity check; the chaos part needs the
    // supervisor of `shakedown run --demo` (server/tests/chaos_demo.rs).
    let part = ["L1", "L2", "L3", "G1"];
    loaded.plan.tests.retain(|t| part.contains(&t.id.as_str()));
    loaded
        .plan
        .criteria
        .retain(|c| part.iter().any(|id| c.expr.starts_with(&format!("{id}."))));
    run_plan(&loaded, None, CancellationToken::new(), Arc::new(NullSink))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step3_load_part_is_go_on_the_clean_demo_and_no_go_when_slow() {
    let bin = sut_binary();

    let demo = start_demo(&bin, "clean", &[]);
    let results = run_step3(&demo).await;
    drop(demo);
    let summary: Vec<(String, TestStatus)> = results
        .tests
        .iter()
        .map(|t| (t.id.clone(), t.status))
        .collect();
    assert_eq!(
        results.verdict,
        Some(Verdict::Go),
        "{summary:?} {:#?}",
        results.criteria
    );
    assert_eq!(results.status, RunStatus::Finished);
    match &results.tests[0].metrics {
        Some(TestMetrics::HttpLoad(m)) => assert_eq!((m.requests, m.ok), (60, 60)),
        other => panic!("L1: {other:?}"),
    }
    match &results.tests[1].metrics {
        Some(TestMetrics::JobWorkload(m)) => {
            assert_eq!((m.jobs, m.ok), (20, 20));
            assert_eq!(m.by_kind["calibration"].ok, 10);
            assert_eq!(m.by_kind["auto_tune"].ok, 10);
            assert!(m.queue_samples > 0 && m.queue_backlog_peak.is_some());
            assert!(m.latency.p50_ms > 0.0);
        }
        other => panic!("L2: {other:?}"),
    }
    match &results.tests[2].metrics {
        Some(TestMetrics::Stream(m)) => {
            assert_eq!(
                (m.sessions_ok, m.exports_ok, m.bucket_failures),
                (10, 10, 0)
            );
            assert!(m.events >= 10 && m.first_event.count == 10);
        }
        other => panic!("L3: {other:?}"),
    }
    match &results.tests[3].metrics {
        Some(TestMetrics::Assert(m)) => {
            assert!(m.ok);
            assert_eq!(m.values.get("integrity_errors"), Some(&0.0));
        }
        other => panic!("G1: {other:?}"),
    }

    let slow = start_demo(&bin, "slow", &["--fault", "slow", "--slow-ms", "2500"]);
    let results = run_step3(&slow).await;
    drop(slow);
    assert_eq!(results.verdict, Some(Verdict::NoGo));
    assert_eq!(results.tests[0].status, TestStatus::Fail);
    let failed: Vec<&str> = results
        .criteria
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.expr.as_str())
        .collect();
    assert_eq!(failed, vec!["L1.p95_ms < 2000"]);
}

/// A weighted mix (weights and a total) whose jobs are followed over the
/// target's event stream instead of polled: every job is counted once, the
/// kinds split by their weights, and all reach success through the events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_mix_followed_by_events_completes_every_job() {
    let bin = sut_binary();
    let demo = start_demo(&bin, "weighted", &[]);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/step3.toml");
    let text = std::fs::read_to_string(example)
        .unwrap()
        .replace("http://127.0.0.1:8080", &demo.base_url);
    // step3's environments, services and job protocol, with one test of ours.
    let head = text.split("[[tests]]").next().unwrap();
    let plan = format!(
        r#"{head}
[[tests]]
id = "W1"
title = "Weighted mix followed by events"
[tests.job_workload]
mix = [{{ kind = "calibration", weight = 3 }}, {{ kind = "auto_tune", weight = 1 }}]
total = 12
concurrency = 4
follow = "events"
timeout_s = 60

[[criteria]]
expr = "W1.fail == 0"
"#
    );
    let loaded = load_str(&plan, "weighted.toml").unwrap();
    let results = run_plan(&loaded, None, CancellationToken::new(), Arc::new(NullSink))
        .await
        .unwrap();
    drop(demo);
    assert_eq!(results.verdict, Some(Verdict::Go), "{:#?}", results.tests);
    match &results.tests[0].metrics {
        Some(TestMetrics::JobWorkload(m)) => {
            assert_eq!(
                (m.jobs, m.submitted, m.ok, m.fail),
                (12, 12, 12, 0),
                "{m:?}"
            );
            assert_eq!(m.by_kind["calibration"].ok, 9, "{m:?}");
            assert_eq!(m.by_kind["auto_tune"].ok, 3, "{m:?}");
            assert_eq!(m.timed_out, 0);
        }
        other => panic!("W1: {other:?}"),
    }
}
