//! The API and the worker on SQLite with a local bucket: health endpoints,
//! idempotent run creation, runs completing with intact artifacts, the
//! event stream, the universe graph and the queue metrics.

mod common;

use common::{sha256_hex, Stack};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn health_endpoints_report_process_dependencies_and_storage() {
    let mut stack = Stack::new(&["--step-ms", "50", "--environment", "staging-test"]);
    stack.start_api(&[]).await;
    let (status, health) = stack.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["environment"], "staging-test");
    assert_eq!(
        health["pid"].as_u64().unwrap(),
        u64::from(stack.api.as_ref().unwrap().id().unwrap())
    );
    for field in ["version", "uptime_seconds", "started_at"] {
        assert!(!health[field].is_null(), "{field} missing: {health}");
    }
    // No worker yet: not ready, and the worker dependency says why.
    let (status, ready) = stack.get_json("/health/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["dependencies"][2]["name"], "worker");
    assert_eq!(ready["dependencies"][2]["status"], "unhealthy");
    let worker_port = common::free_port().to_string();
    let worker_health = [
        "--worker-health-listen",
        &format!("127.0.0.1:{worker_port}"),
    ]
    .map(str::to_owned);
    stack.start_worker(&[&worker_health[0], &worker_health[1]]);
    let ready = stack.wait_ready(Duration::from_secs(20)).await;
    let worker_pid = u64::from(stack.workers[0].id().unwrap());
    assert_eq!(
        ready["dependencies"][2]["details"]["workers"][0]["pid"].as_u64(),
        Some(worker_pid),
        "{ready}"
    );
    let wh: serde_json::Value = stack
        .http
        .get(format!("http://127.0.0.1:{worker_port}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wh["role"], "worker");
    assert_eq!(wh["pid"].as_u64(), Some(worker_pid));
    assert_eq!(
        wh["worker_id"],
        ready["dependencies"][2]["details"]["workers"][0]["id"]
    );
    let deps = ready["dependencies"].as_array().unwrap();
    let names: Vec<&str> = deps.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["database", "storage", "worker"]);
    for d in deps {
        assert_eq!(d["status"], "healthy", "{d}");
        assert!(d["latency_ms"].as_f64().is_some(), "{d}");
    }
    let storage = &deps[1]["details"];
    assert_eq!(storage["bucket"], "shakedown-staging-artifacts");
    assert_eq!(storage["backend"], "local");
    assert_eq!(
        storage["path"].as_str().unwrap(),
        stack
            .bucket_dir("shakedown-staging-artifacts")
            .display()
            .to_string()
    );
    assert_eq!(deps[0]["details"]["backend"], "sqlite");

    let (status, probe) = stack.get_json("/health/storage-test").await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(probe["status"], "success");
    assert_eq!(probe["content_verified"], true);
    assert_eq!(probe["storage_bucket"], "shakedown-staging-artifacts");
    let key = probe["test_object_key"].as_str().unwrap();
    assert!(
        key.starts_with("smoke-tests/storage-test-") && key.ends_with(".txt"),
        "{key}"
    );
    assert!(
        probe["write_latency_ms"].as_f64().is_some() && probe["read_latency_ms"].as_f64().is_some()
    );
    assert!(stack
        .bucket_dir("shakedown-staging-artifacts")
        .join(key)
        .is_file());
}

#[tokio::test]
async fn same_idempotency_key_returns_the_same_run() {
    let mut stack = Stack::new(&[]);
    stack.start_api(&[]).await;
    let body = json!({ "kind": "simulation", "params": { "seed": 1 }, "idempotency_key": "once" });
    let (first, run) = stack.post_json("/runs", &body).await;
    let (second, again) = stack.post_json("/runs", &body).await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(run["id"], again["id"]);
    assert_eq!(run["status"], "queued");
    // The key as a header works the same.
    let r = stack
        .http
        .post(format!("{}/runs", stack.base()))
        .header("idempotency-key", "once")
        .json(&json!({ "kind": "simulation", "params": { "seed": 1 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["id"],
        run["id"]
    );
    // Reusing the key for another request is a conflict, not a new run.
    let (status, _) = stack
        .post_json(
            "/runs",
            &json!({ "kind": "export", "params": {}, "idempotency_key": "once" }),
        )
        .await;
    assert_eq!(status, 409);
    // Concurrent creations with one key: one run.
    let mut handles = Vec::new();
    for _ in 0..10 {
        let http = stack.http.clone();
        let url = format!("{}/runs", stack.base());
        handles.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .json(&json!({ "kind": "export", "idempotency_key": "burst" }))
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    // Without a key every request is a new run.
    let a = stack.create_run("export", json!({}), None).await;
    let b = stack.create_run("export", json!({}), None).await;
    assert_ne!(a, b);
    // Bad requests are refused.
    let (status, _) = stack.post_json("/runs", &json!({ "kind": "nope" })).await;
    assert_eq!(status, 400);
    let (status, _) = stack
        .post_json(
            "/runs",
            &json!({ "kind": "export", "params": { "steps": 0 } }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = stack.get_json("/runs/does-not-exist").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn runs_complete_once_with_artifacts_matching_their_sha256() {
    let mut stack = Stack::new(&["--step-ms", "60", "--run-steps", "4"]);
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    let mut ids = Vec::new();
    for (i, kind) in ["simulation", "calibration", "auto_tune", "export"]
        .iter()
        .cycle()
        .take(8)
        .enumerate()
    {
        ids.push(stack.create_run(kind, json!({ "seed": i }), None).await);
    }
    let (_, queue) = stack.get_json("/metrics/queue").await;
    assert!(
        queue["queued"].as_i64().unwrap() + queue["running"].as_i64().unwrap() >= 1,
        "{queue}"
    );
    let runs = stack.wait_terminal(&ids, Duration::from_secs(60)).await;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["attempts"], 1);
        let key = run["artifact_key"].as_str().unwrap();
        let sha = run["artifact_sha256"].as_str().unwrap();
        assert_eq!(run["artifact_bucket"], "shakedown-staging-artifacts");
        let served = stack.artifact(key).await.expect("artifact served");
        assert_eq!(sha256_hex(&served), sha);
        let on_disk =
            std::fs::read(stack.bucket_dir("shakedown-staging-artifacts").join(key)).unwrap();
        assert_eq!(on_disk, served);
        let rep: serde_json::Value = serde_json::from_slice(&on_disk).unwrap();
        assert_eq!(rep["run_id"], run["id"]);
        assert_eq!(rep["kind"], run["kind"]);
        let results = stack.results(run["id"].as_str().unwrap()).await;
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0]["value"], rep["result"]);
    }
    // The stream of a finished run replays every event, ids 1..n, and ends.
    let events = stack
        .read_events(&ids[0], None, Duration::from_secs(10), None)
        .await;
    let seqs: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "queued",
            "claimed",
            "progress",
            "progress",
            "progress",
            "progress",
            "completed"
        ]
    );
    assert_eq!(events.last().unwrap().data["final"], true);
    // Resuming after id 5 gives exactly 6 and 7.
    let rest = stack
        .read_events(&ids[0], Some(5), Duration::from_secs(10), None)
        .await;
    assert_eq!(
        rest.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        [6, 7]
    );
    let (_, queue) = stack.get_json("/metrics/queue").await;
    assert_eq!(queue["queued"], 0);
    assert_eq!(queue["running"], 0);
    assert_eq!(queue["completed"], 8);
    assert!(queue["oldest_queued_age_ms"].is_null());
}

#[tokio::test]
async fn universe_expansion_keeps_the_graph_consistent() {
    let mut stack = Stack::new(&["--expand-children", "3"]);
    stack.start_api(&[]).await;
    let (status, first) = stack
        .post_json("/universe/nodes/root/expand", &json!({}))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["children"].as_array().unwrap().len(), 3);
    // Concurrent expansions of the root and of its children.
    let mut handles = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 {
            "root".to_owned()
        } else {
            first["children"][i % 3].as_str().unwrap().to_owned()
        };
        let http = stack.http.clone();
        let url = format!("{}/universe/nodes/{node}/expand", stack.base());
        handles.push(tokio::spawn(async move {
            http.post(url).send().await.unwrap().status().as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 200);
    }
    let (_, integrity) = stack.get_json("/universe/integrity").await;
    assert_eq!(integrity["nodes"], 1 + 13 * 3, "{integrity}");
    assert_eq!(integrity["edges"], 13 * 3);
    assert_eq!(integrity["dangling_edges"], 0);
    assert_eq!(integrity["integrity_errors"], 0);
    assert_eq!(integrity["status"], "ok");
    let (status, _) = stack
        .post_json("/universe/nodes/bad%20id/expand", &json!({}))
        .await;
    assert_eq!(status, 400);
}
