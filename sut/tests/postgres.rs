//! The stack on PostgreSQL: two workers sharing the queue through
//! `FOR UPDATE SKIP LOCKED`, and both roles riding out a real PostgreSQL
//! restart. Needs `SHAKEDOWN_TEST_PG_URL` (a throwaway cluster; each test
//! creates its own database) and, for the restart, `SHAKEDOWN_TEST_PG_DATADIR`.
//! Skipped without them, unless `SHAKEDOWN_TEST_REQUIRE_PG=1`: then missing
//! variables fail the tests.

mod common;

use common::{sha256_hex, Stack};
use serde_json::json;
use sqlx::Connection;
use std::time::Duration;

/// PostgreSQL tests share one cluster, and one of them restarts it.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn required() -> bool {
    std::env::var("SHAKEDOWN_TEST_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// The cluster URL, or None (test skipped) when it is not configured.
fn cluster_url() -> Option<String> {
    match std::env::var("SHAKEDOWN_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => {
            panic!("SHAKEDOWN_TEST_REQUIRE_PG=1 but SHAKEDOWN_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!("skipped: SHAKEDOWN_TEST_PG_URL is not set");
            None
        }
    }
}

/// Drops a test database (its processes may still be connected).
async fn drop_database(cluster: &str, url: &str) {
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = sqlx::PgConnection::connect(cluster).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A fresh database in the cluster; returns its URL.
async fn fresh_database(cluster: &str) -> String {
    let name = format!("sut_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(cluster).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(cluster).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

#[tokio::test]
async fn two_workers_share_the_postgres_queue_without_double_claims() {
    let Some(cluster) = cluster_url() else { return };
    let _guard = CLUSTER.lock().await;
    let db = fresh_database(&cluster).await;
    let mut stack = Stack::with_database(
        Some(db.clone()),
        &["--worker-concurrency", "3", "--poll-ms", "20"],
    );
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    stack.start_worker(&[]);
    let ready = stack.wait_ready(Duration::from_secs(30)).await;
    assert_eq!(ready["dependencies"][0]["details"]["backend"], "postgresql");
    assert_eq!(ready["dependencies"][2]["details"]["workers_alive"], 2);
    let mut ids = Vec::new();
    for i in 0..18 {
        let kind = ["simulation", "calibration", "auto_tune", "export"][i % 4];
        ids.push(
            stack
                .create_run(kind, json!({ "seed": i, "steps": 3, "step_ms": 150 }), None)
                .await,
        );
    }
    let runs = stack.wait_terminal(&ids, Duration::from_secs(90)).await;
    let mut workers = std::collections::BTreeSet::new();
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["attempts"], 1, "claimed twice: {run}");
        assert_eq!(stack.results(run["id"].as_str().unwrap()).await.len(), 1);
        let bytes = stack
            .artifact(run["artifact_key"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(sha256_hex(&bytes), run["artifact_sha256"].as_str().unwrap());
        workers.insert(run["worker_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(workers.len(), 2, "both workers took runs: {workers:?}");
    drop(stack);
    drop_database(&cluster, &db).await;
}

/// Restarts the cluster with `pg_ctl restart` as the postgres user.
async fn restart_postgres(datadir: &str) {
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("runuser")
            .args([
                "-u", "postgres", "--", "pg_ctl", "-D", datadir, "restart", "-w", "-m", "fast",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status(),
    )
    .await
    .expect("pg_ctl restart took over 60 s")
    .unwrap();
    assert!(status.success(), "pg_ctl restart: {status}");
}

#[tokio::test]
async fn both_roles_survive_a_postgres_restart() {
    let Some(cluster) = cluster_url() else { return };
    let datadir = match std::env::var("SHAKEDOWN_TEST_PG_DATADIR") {
        Ok(d) if !d.is_empty() => d,
        _ if required() => {
            panic!("SHAKEDOWN_TEST_REQUIRE_PG=1 but SHAKEDOWN_TEST_PG_DATADIR is not set")
        }
        _ => {
            eprintln!("skipped: SHAKEDOWN_TEST_PG_DATADIR is not set");
            return;
        }
    };
    let _guard = CLUSTER.lock().await;
    let db = fresh_database(&cluster).await;
    let mut stack =
        Stack::with_database(Some(db.clone()), &["--lease-ms", "3000", "--poll-ms", "50"]);
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    stack.wait_ready(Duration::from_secs(30)).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            stack
                .create_run(
                    "calibration",
                    json!({ "seed": i, "steps": 8, "step_ms": 250 }),
                    None,
                )
                .await,
        );
    }
    // A client following one run across the outage.
    let http = stack.http.clone();
    let url = format!("{}/runs/{}/events", stack.base(), ids[0]);
    let follower = tokio::spawn(async move {
        common::read_sse(&http, &url, None, Duration::from_secs(90), None).await
    });
    stack
        .wait_progress(&ids[0], 2, Duration::from_secs(20))
        .await;
    restart_postgres(&datadir).await;

    let runs = stack.wait_terminal(&ids, Duration::from_secs(90)).await;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            stack.results(run["id"].as_str().unwrap()).await.len(),
            1,
            "{run}"
        );
        let bytes = stack
            .artifact(run["artifact_key"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(sha256_hex(&bytes), run["artifact_sha256"].as_str().unwrap());
    }
    // Same processes: no crash, no restart.
    assert!(
        stack.api.as_mut().unwrap().try_wait().unwrap().is_none(),
        "api exited"
    );
    assert!(
        stack.workers[0].try_wait().unwrap().is_none(),
        "worker exited"
    );
    stack.wait_ready(Duration::from_secs(30)).await;
    let after = stack
        .create_run("export", json!({ "steps": 2, "step_ms": 50 }), None)
        .await;
    let run = stack
        .wait_terminal(&[after], Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(run["status"], "completed");
    // The stream that was open through the restart reached the end, in order.
    let events = follower.await.unwrap().expect("stream opened");
    let seqs: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap().event, "completed", "{events:?}");
    drop(stack);
    drop_database(&cluster, &db).await;
}

#[tokio::test]
async fn worker_sigkill_on_postgres_still_completes_every_run_exactly_once() {
    let Some(cluster) = cluster_url() else { return };
    let _guard = CLUSTER.lock().await;
    let db = fresh_database(&cluster).await;
    let mut stack =
        Stack::with_database(Some(db.clone()), &["--lease-ms", "1200", "--poll-ms", "50"]);
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            stack
                .create_run(
                    "auto_tune",
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
    stack.start_worker(&[]);
    let runs = stack.wait_terminal(&ids, Duration::from_secs(60)).await;
    let mut reclaimed = 0;
    for run in &runs {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            stack.results(run["id"].as_str().unwrap()).await.len(),
            1,
            "{run}"
        );
        reclaimed += usize::from(run["attempts"].as_i64().unwrap() > 1);
    }
    assert!(reclaimed >= 1, "no run was re-claimed");
    drop(stack);
    drop_database(&cluster, &db).await;
}
