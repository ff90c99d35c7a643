//! The fault switches that need no restart: each produces its anomaly
//! (`corrupt-artifact`, `wrong-bucket`, `graph-corruption`, `slow`), and
//! several can be on at once.

mod common;

use common::{sha256_hex, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

const FAST: &[&str] = &["--step-ms", "40", "--run-steps", "3", "--poll-ms", "50"];

#[tokio::test]
async fn corrupt_artifact_stores_bytes_that_do_not_match_the_sha256() {
    let mut stack = Stack::new(FAST);
    stack.start_api(&[]).await;
    stack.start_worker(&["--fault", "corrupt-artifact"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(stack.create_run("export", json!({ "seed": i }), None).await);
    }
    for run in stack.wait_terminal(&ids, Duration::from_secs(30)).await {
        assert_eq!(run["status"], "completed");
        let bytes = stack
            .artifact(run["artifact_key"].as_str().unwrap())
            .await
            .unwrap();
        assert_ne!(sha256_hex(&bytes), run["artifact_sha256"].as_str().unwrap());
        assert_eq!(stack.results(run["id"].as_str().unwrap()).await.len(), 1);
    }
}

#[tokio::test]
async fn wrong_bucket_writes_and_reports_another_bucket() {
    let mut stack = Stack::new(
        &[
            FAST,
            &[
                "--bucket",
                "acme-staging-artifacts",
                "--fault",
                "wrong-bucket",
            ],
        ]
        .concat(),
    );
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    let ready = stack.wait_ready(Duration::from_secs(20)).await;
    let storage = &ready["dependencies"][1];
    assert_eq!(storage["name"], "storage");
    assert_eq!(storage["details"]["bucket"], "acme-production-artifacts");
    let id = stack.create_run("export", json!({}), None).await;
    let run = stack
        .wait_terminal(&[id], Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(run["artifact_bucket"], "acme-production-artifacts");
    let key = run["artifact_key"].as_str().unwrap();
    assert!(!stack
        .bucket_dir("acme-staging-artifacts")
        .join(key)
        .exists());
    assert!(stack
        .bucket_dir("acme-production-artifacts")
        .join(key)
        .is_file());
    let (_, probe) = stack.get_json("/health/storage-test").await;
    assert_eq!(probe["storage_bucket"], "acme-production-artifacts");
}

#[tokio::test]
async fn graph_corruption_leaves_dangling_edges() {
    let mut stack = Stack::new(&[
        "--fault",
        "graph-corruption",
        "--graph-corruption-every",
        "3",
    ]);
    stack.start_api(&[]).await;
    for i in 0..6 {
        let (status, _) = stack
            .post_json(&format!("/universe/nodes/node-{i}/expand"), &json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let (_, integrity) = stack.get_json("/universe/integrity").await;
    assert_eq!(integrity["dangling_edges"], 2, "{integrity}");
    assert_eq!(integrity["integrity_errors"], 2);
    assert_eq!(integrity["status"], "corrupt");
    assert_eq!(integrity["dangling_examples"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn slow_delays_expansion_only() {
    let mut stack = Stack::new(&["--fault", "slow", "--slow-ms", "2000"]);
    stack.start_api(&[]).await;
    let start = Instant::now();
    let body = json!({});
    // /health, asked while an expansion is being held, answers before the
    // expansion does: an order of events, not a time limit.
    let ((expand_status, _, expanded_at), (health_status, _, healthy_at)) = tokio::join!(
        async {
            let (status, value) = stack.post_json("/universe/nodes/root/expand", &body).await;
            (status, value, Instant::now())
        },
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (status, value) = stack.get_json("/health").await;
            (status, value, Instant::now())
        }
    );
    assert_eq!(expand_status, 200);
    assert_eq!(health_status, 200);
    assert!(healthy_at < expanded_at);
    assert!(
        expanded_at - start >= Duration::from_millis(2000),
        "{:?}",
        expanded_at - start
    );
    let (_, integrity) = stack.get_json("/universe/integrity").await;
    assert_eq!(integrity["integrity_errors"], 0);
}

#[tokio::test]
async fn faults_combine_and_come_from_the_environment_too() {
    let mut stack = Stack::new(FAST);
    let mut cmd = tokio::process::Command::new(common::BIN);
    cmd.args(["api", "--data-dir"]).arg(stack.data_dir());
    // Unknown switches are refused at start.
    let out = cmd
        .env("SUT_FAULTS", "slow,nonsense")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
    stack
        .start_api(&["--fault", "slow,graph-corruption", "--slow-ms", "10"])
        .await;
    let (_, health) = stack.get_json("/health").await;
    assert_eq!(health["faults"], json!(["graph-corruption", "slow"]));
}

#[tokio::test]
async fn errors_during_restart_refuse_work_while_health_passes() {
    // Within --restart-errors-ms of its start the API refuses work (503)
    // while its health answers 200.
    let mut stack = Stack::new(&[
        "--fault",
        "errors-during-restart",
        "--restart-errors-ms",
        "600000",
    ]);
    stack.start_api(&[]).await;
    let (status, body) = stack
        .post_json("/universe/nodes/root/expand", &json!({}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(stack.get_json("/health").await.0, 200);

    // Past that time, with no worker draining, it serves.
    let mut stack = Stack::new(&[
        "--fault",
        "errors-during-restart",
        "--restart-errors-ms",
        "1",
    ]);
    stack.start_api(&[]).await;
    let (status, body) = stack
        .post_json("/universe/nodes/root/expand", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}
