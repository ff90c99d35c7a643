//! The programs a plan's services name, run by the runner without any
//! supervisor handed in: started before the tests, stopped after; a crash
//! during a test is recorded in the results, named in that test's warnings
//! and makes the run NO-GO whatever the criteria say; a program that cannot
//! start is named with its output; a run cancelled while its programs start
//! leaves nothing running.

mod common;

use axum::routing::get;
use axum::Router;
use engine::events::NullSink;
use engine::plan::load_str;
use engine::run::Verdict;
use engine::runner::{run_plan_with, RunError, RunOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "programs-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    let exists = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok();
    exists
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after) = stat.rsplit_once(')')?;
                after.split_whitespace().next().map(|state| state != "Z")
            })
            .unwrap_or(false)
}

fn read_pid(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Polls `check` every 20 ms until it gives a value; `None` after `limit`.
async fn poll<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plan against `base` with one service, `victim`, whose program is
/// `sh -c SCRIPT` (with `DIR` in its environment), and one quick load test
/// of `path`.
fn plan(base: &str, dir: &Path, program: &str, script: &str, health: &str, path: &str) -> String {
    format!(
        r#"
[plan]
name = "programs"
default_environment = "local"

[environments.local]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[services.victim]
health = "{health}"
restart.process = {{ program = "{program}", args = ["-c", '{script}'], env = {{ DIR = "{dir}" }}, grace_ms = 2000 }}

[[tests]]
id = "L1"
title = "work"
[tests.http_load]
path = "{path}"
concurrency = 1
rounds = 3

[[criteria]]
expr = "L1.fail == 0"
"#,
        dir = dir.display()
    )
}

/// `GET /ready`: 200 once the program wrote its pid (its health check, so
/// a started program has always written it), 503 before.
fn ready(pid_file: PathBuf) -> axum::routing::MethodRouter {
    get(move || {
        let pid_file = pid_file.clone();
        async move {
            if read_pid(&pid_file).is_some() {
                axum::http::StatusCode::OK
            } else {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        }
    })
}

/// Writes its pid to `$DIR/victim.pid` (atomically) and sleeps.
const SLEEPER: &str = r#"echo $$ > "$DIR/victim.pid.tmp" && mv "$DIR/victim.pid.tmp" "$DIR/victim.pid" && exec sleep 300"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_run_makes_it_no_go_and_is_named() {
    let dir = temp_dir("crash");
    let pid_file = dir.join("victim.pid");
    let killed = Arc::new(AtomicBool::new(false));
    // The first request of the test kills the program from outside (as an
    // OOM kill would) and answers once the supervisor has started a new one
    // (it records the exit before it restarts).
    let work = {
        let (pid_file, killed) = (pid_file.clone(), killed.clone());
        move || {
            let (pid_file, killed) = (pid_file.clone(), killed.clone());
            async move {
                if killed.swap(true, Ordering::SeqCst) {
                    return "ok";
                }
                let Some(old) = read_pid(&pid_file) else {
                    return "no pid";
                };
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(old as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let restarted = poll(Duration::from_secs(15), || {
                    read_pid(&pid_file).filter(|&pid| pid != old)
                })
                .await;
                if restarted.is_some() {
                    "ok"
                } else {
                    "not restarted"
                }
            }
        }
    };
    let server = common::serve(
        Router::new()
            .route("/health", get(|| async { "up" }))
            .route("/ready", ready(pid_file.clone()))
            .route("/work", get(work)),
    )
    .await;
    let text = plan(&server.base_url(), &dir, "sh", SLEEPER, "/ready", "/work");
    let loaded = load_str(&text, "programs.toml").unwrap();
    let results = run_plan_with(
        &loaded,
        None,
        CancellationToken::new(),
        Arc::new(NullSink),
        RunOptions::default(),
    )
    .await
    .unwrap();

    assert!(killed.load(Ordering::SeqCst), "the test never ran");
    // Every criterion held, and still NO-GO: a service crashed.
    assert!(results.criteria.iter().all(|c| c.passed), "{results:?}");
    assert_eq!(results.verdict, Some(Verdict::NoGo));
    assert_eq!(results.unplanned_exits.len(), 1, "{results:?}");
    let exit = &results.unplanned_exits[0];
    assert_eq!(exit.service, "victim");
    assert_eq!(exit.signal.as_deref(), Some("SIGKILL"));
    assert_eq!(exit.test.as_deref(), Some("L1"));
    let new_pid = exit.new_pid.expect("restarted");
    assert_eq!(read_pid(&pid_file), Some(new_pid));
    assert!(
        results.tests[0]
            .warnings
            .iter()
            .any(|w| w.starts_with("unplanned process exit: victim (pid")),
        "{:?}",
        results.tests[0].warnings
    );
    // The results file keeps them.
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json["unplanned_exits"][0]["service"], "victim");
    // The run stopped what it started.
    assert!(!alive(new_pid));
    assert!(!alive(exit.pid));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_run_records_no_exit_and_stops_its_program() {
    let dir = temp_dir("clean");
    let server = common::serve(
        Router::new()
            .route("/health", get(|| async { "up" }))
            .route("/ready", ready(dir.join("victim.pid")))
            .route("/work", get(|| async { "ok" })),
    )
    .await;
    let text = plan(&server.base_url(), &dir, "sh", SLEEPER, "/ready", "/work");
    let loaded = load_str(&text, "programs.toml").unwrap();
    let results = run_plan_with(
        &loaded,
        None,
        CancellationToken::new(),
        Arc::new(NullSink),
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(results.verdict, Some(Verdict::Go), "{results:?}");
    assert!(results.unplanned_exits.is_empty());
    // Old results files (without the field) still read.
    let mut json = serde_json::to_value(&results).unwrap();
    assert!(json.get("unplanned_exits").is_none());
    // (Tests aside: their status-count maps need the server's reader.)
    json["tests"] = serde_json::json!([]);
    let back: engine::results::RunResults = serde_json::from_value(json).unwrap();
    assert!(back.unplanned_exits.is_empty());

    let pid = read_pid(&dir.join("victim.pid")).expect("the program ran");
    assert!(!alive(pid), "the program outlived the run");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_program_that_cannot_start_is_named_with_its_output() {
    let dir = temp_dir("broken");
    let server = common::serve(
        Router::new()
            .route("/health", get(|| async { "up" }))
            .route("/ready", ready(dir.join("victim.pid"))),
    )
    .await;
    let missing = dir.join("no-such-program");
    let text = plan(
        &server.base_url(),
        &dir,
        &missing.display().to_string(),
        "true",
        "/health",
        "/health",
    );
    let loaded = load_str(&text, "programs.toml").unwrap();
    let err = run_plan_with(
        &loaded,
        None,
        CancellationToken::new(),
        Arc::new(NullSink),
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, RunError::Start { service, program, .. }
            if service == "victim" && program == &missing.display().to_string()),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot start service \"victim\" (program {})",
            missing.display()
        )) && message.contains("No such file"),
        "{message}"
    );

    let text = plan(
        &server.base_url(),
        &dir,
        "sh",
        "echo the database is gone >&2; exit 4",
        "/ready",
        "/health",
    );
    let loaded = load_str(&text, "programs.toml").unwrap();
    // It exits before its health check can pass (it never writes its pid).
    let err = run_plan_with(
        &loaded,
        None,
        CancellationToken::new(),
        Arc::new(NullSink),
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    let RunError::Start { reason, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        reason.contains("exited during start-up (exit code 4)"),
        "{reason}"
    );
    assert!(reason.contains("the database is gone"), "{reason}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_its_programs_start_leaves_nothing_running() {
    let dir = temp_dir("cancel");
    let server = common::serve(
        Router::new()
            .route("/health", get(|| async { "up" }))
            .route(
                "/never",
                get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not yet") }),
            ),
    )
    .await;
    let text = plan(&server.base_url(), &dir, "sh", SLEEPER, "/never", "/health");
    let loaded = load_str(&text, "programs.toml").unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            run_plan_with(
                &loaded,
                None,
                cancel,
                Arc::new(NullSink),
                RunOptions::default(),
            )
            .await
        }
    });
    let pid_file = dir.join("victim.pid");
    let pid = poll(Duration::from_secs(15), || read_pid(&pid_file))
        .await
        .expect("the program started");
    assert!(alive(pid));
    cancel.cancel();
    let err = run.await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::Interrupted(_)), "{err}");
    assert!(err.to_string().contains("victim"), "{err}");
    let gone = poll(Duration::from_secs(10), || (!alive(pid)).then_some(())).await;
    assert!(gone.is_some(), "the program outlived the cancelled run");
    std::fs::remove_dir_all(&dir).unwrap();
}
