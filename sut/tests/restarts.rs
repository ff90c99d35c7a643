//! Real restarts on SQLite: SIGKILL of the worker mid-run (runs complete
//! exactly once through lease expiry; `lose-on-restart` leaves them stuck;
//! `duplicate-results` records a second result), SIGTERM of the worker
//! (graceful), and the event stream across an API restart (resumes with
//! Last-Event-ID; does not with `no-stream-resume`).

mod common;

use common::{sha256_hex, SseEvent, Stack};
use serde_json::json;
use std::time::Duration;

const LEASE: &[&str] = &[
    "--lease-ms",
    "1200",
    "--worker-concurrency",
    "4",
    "--poll-ms",
    "50",
];

/// Starts api + worker, submits `n` runs of 6×250 ms, SIGKILLs the worker
/// once the first run is half-way, and starts a new worker with `faults`.
async fn kill_worker_mid_run(faults: &[&str], n: usize) -> (Stack, Vec<String>) {
    let mut stack = Stack::new(LEASE);
    stack.start_api(&[]).await;
    stack.start_worker(faults);
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            stack
                .create_run(
                    "calibration",
                    json!({ "seed": i, "steps": 6, "step_ms": 250 }),
                    None,
                )
                .await,
        );
    }
    stack
        .wait_progress(&ids[0], 2, Duration::from_secs(20))
        .await;
    stack.kill_worker(0).await;
    let running: Vec<String> = {
        let mut v = Vec::new();
        for id in &ids {
            if stack.run(id).await["status"] == "running" {
                v.push(id.clone());
            }
        }
        v
    };
    assert!(
        !running.is_empty(),
        "no run was in flight when the worker died"
    );
    stack.start_worker(faults);
    (stack, ids)
}

#[tokio::test]
async fn worker_sigkill_mid_run_still_completes_every_run_exactly_once() {
    let (stack, ids) = kill_worker_mid_run(&[], 6).await;
    let runs = stack.wait_terminal(&ids, Duration::from_secs(60)).await;
    let mut reclaimed = 0;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        let id = run["id"].as_str().unwrap();
        assert_eq!(
            stack.results(id).await.len(),
            1,
            "run {id} has not exactly one result"
        );
        let bytes = stack
            .artifact(run["artifact_key"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(sha256_hex(&bytes), run["artifact_sha256"].as_str().unwrap());
        if run["attempts"].as_i64().unwrap() > 1 {
            reclaimed += 1;
        }
    }
    assert!(reclaimed >= 1, "no run was re-claimed after the kill");
}

#[tokio::test]
async fn lose_on_restart_leaves_runs_stuck() {
    let (stack, ids) = kill_worker_mid_run(&["--fault", "lose-on-restart"], 6).await;
    // Well past the lease, the runs the dead worker held are still running.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut stuck = 0;
    let mut completed = 0;
    for id in &ids {
        let run = stack.run(id).await;
        match run["status"].as_str().unwrap() {
            "running" => {
                assert!(run["lease_until_ms"].as_i64().unwrap() < now_ms(), "{run}");
                stuck += 1;
            }
            "completed" => completed += 1,
            other => panic!("unexpected status {other}: {run}"),
        }
    }
    assert!(stuck >= 1, "no stuck run");
    assert_eq!(stuck + completed, ids.len());
    let (_, queue) = stack.get_json("/metrics/queue").await;
    assert_eq!(queue["running"].as_i64().unwrap(), stuck as i64);
}

#[tokio::test]
async fn duplicate_results_shows_a_second_result_for_reclaimed_runs() {
    let (stack, ids) = kill_worker_mid_run(&["--fault", "duplicate-results"], 6).await;
    let runs = stack.wait_terminal(&ids, Duration::from_secs(60)).await;
    let mut duplicated = 0;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        let results = stack.results(run["id"].as_str().unwrap()).await;
        let attempts = run["attempts"].as_i64().unwrap();
        assert_eq!(results.len() as i64, attempts, "{run} {results:?}");
        if results.len() > 1 {
            duplicated += 1;
        }
    }
    assert!(duplicated >= 1, "no duplicate result");
}

#[tokio::test]
async fn worker_sigterm_finishes_or_releases_its_runs() {
    let mut stack = Stack::new(&[
        "--lease-ms",
        "30000",
        "--shutdown-grace-ms",
        "400",
        "--poll-ms",
        "50",
    ]);
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            stack
                .create_run(
                    "export",
                    json!({ "seed": i, "steps": 8, "step_ms": 250 }),
                    None,
                )
                .await,
        );
    }
    stack
        .wait_progress(&ids[0], 1, Duration::from_secs(20))
        .await;
    let status = stack.term_worker(0, Duration::from_secs(10)).await;
    assert!(status.success(), "{status:?}");
    // The lease is long: only a release lets a new worker take them now.
    stack.start_worker(&[]);
    let runs = stack.wait_terminal(&ids, Duration::from_secs(30)).await;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(stack.results(run["id"].as_str().unwrap()).await.len(), 1);
    }
    let events = stack
        .read_events(&ids[0], None, Duration::from_secs(5), None)
        .await;
    assert!(events.iter().any(|e| e.event == "released"), "{events:?}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Reads some events, SIGKILLs and restarts the API, reconnects with the
/// last id seen; returns (events before, events after).
async fn stream_across_api_restart(api_flags: &[&str]) -> (Stack, Vec<SseEvent>, Vec<SseEvent>) {
    let mut stack = Stack::new(&["--poll-ms", "50"]);
    stack.start_api(api_flags).await;
    stack.start_worker(&[]);
    let id = stack
        .create_run("simulation", json!({ "steps": 12, "step_ms": 200 }), None)
        .await;
    let before = stack
        .read_events(&id, None, Duration::from_secs(20), Some(4))
        .await;
    assert_eq!(before.len(), 4, "{before:?}");
    stack.kill_api().await;
    stack.start_api(api_flags).await;
    let last = before.last().unwrap().id.unwrap();
    let after = stack
        .read_events(&id, Some(last), Duration::from_secs(30), None)
        .await;
    (stack, before, after)
}

#[tokio::test]
async fn event_stream_resumes_across_an_api_restart() {
    let (_stack, before, after) = stream_across_api_restart(&[]).await;
    let last = before.last().unwrap().id.unwrap();
    let ids: Vec<i64> = after.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids.first(), Some(&(last + 1)), "no gap, no repeat: {ids:?}");
    assert_eq!(
        ids,
        (last + 1..=last + ids.len() as i64).collect::<Vec<_>>()
    );
    let end = after.last().unwrap();
    assert_eq!(end.event, "completed");
    assert_eq!(end.data["final"], true);
}

#[tokio::test]
async fn no_stream_resume_replays_from_the_start_after_a_restart() {
    let (_stack, before, after) = stream_across_api_restart(&["--fault", "no-stream-resume"]).await;
    let last = before.last().unwrap().id.unwrap();
    let first = after.first().expect("stream answered").id.unwrap();
    assert_eq!(first, 1, "Last-Event-ID was honoured");
    assert!(first <= last, "the client sees repeated ids");
}
