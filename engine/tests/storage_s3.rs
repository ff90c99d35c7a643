//! `storage_probe` against a real S3-compatible server on 127.0.0.1: the
//! one named by `SHAKEDOWN_TEST_S3_ENDPOINT` (keys in
//! `SHAKEDOWN_TEST_S3_KEY` / `SHAKEDOWN_TEST_S3_SECRET`),
//! or SeaweedFS (`weed`) started here. Skipped when neither is available,
//! unless `SHAKEDOWN_TEST_REQUIRE_S3=1`.

mod common;

use engine::metrics::TestMetrics;
use engine::plan::{BucketAccess, S3Buckets, StorageProbeSpec};
use engine::runner::target::Target;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Weed(tokio::process::Child, std::path::PathBuf);

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn server() -> Option<(String, String, String, Option<Weed>)> {
    if let Ok(endpoint) = std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") {
        return Some((
            endpoint,
            std::env::var("SHAKEDOWN_TEST_S3_KEY").unwrap(),
            std::env::var("SHAKEDOWN_TEST_S3_SECRET").unwrap(),
            None,
        ));
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("weed").is_file()));
    if !on_path {
        assert!(
            std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").as_deref() != Ok("1"),
            "SHAKEDOWN_TEST_REQUIRE_S3=1 but no S3 endpoint and no `weed` on PATH"
        );
        eprintln!("skipped: no S3 endpoint and no `weed` on PATH");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("shakedown-s3-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (access, secret) = ("probe-ak".to_owned(), format!("sk-{}", std::process::id()));
    let config = serde_json::json!({ "identities": [{ "name": "probe",
        "credentials": [{ "accessKey": access, "secretKey": secret }],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"] }] });
    std::fs::write(dir.join("s3.json"), config.to_string()).unwrap();
    let port = free_port();
    let mut cmd = tokio::process::Command::new("weed");
    cmd.arg("mini")
        .arg(format!("-dir={}", dir.join("data").display()))
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
        .arg(format!("-s3.config={}", dir.join("s3.json").display()))
        .arg(format!("-s3.port={port}"));
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
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let weed = Weed(child, dir);
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(&endpoint).await.is_err() {
        assert!(Instant::now() < deadline, "SeaweedFS did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Some((endpoint, access, secret, Some(weed)))
}

#[tokio::test]
async fn storage_probe_writes_reads_compares_and_deletes_in_s3() {
    let Some((endpoint, access, secret, _weed)) = server().await else {
        return;
    };
    std::env::set_var("SHAKEDOWN_TEST_PROBE_AK", &access);
    std::env::set_var("SHAKEDOWN_TEST_PROBE_SK", &secret);
    let bucket = format!("probe-{}", std::process::id());
    let mut env = common::environment(&endpoint);
    env.expected_bucket = Some(bucket.clone());
    env.secrets
        .insert("ak".into(), "SHAKEDOWN_TEST_PROBE_AK".into());
    env.secrets
        .insert("sk".into(), "SHAKEDOWN_TEST_PROBE_SK".into());
    env.bucket = Some(BucketAccess::S3(S3Buckets {
        endpoint: Some(endpoint.clone()),
        region: None,
        access_key_secret: "ak".into(),
        secret_key_secret: "sk".into(),
        path_style: None,
    }));
    let target = Target::new("s3", &env).unwrap();
    let access_cfg = env.bucket.clone().unwrap();
    let buckets = engine::clients::bucket::Buckets::open(&target, &access_cfg)
        .await
        .unwrap();
    let engine::clients::bucket::Buckets::S3(client) = &buckets else {
        panic!("not S3");
    };
    // The bucket may take a moment to be creatable after start-up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.create_bucket().bucket(&bucket).send().await.is_err() {
        assert!(Instant::now() < deadline, "cannot create the bucket");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (ctx, _) = common::context(&endpoint, "S1");
    let ctx = engine::runner::context::TestContext {
        target: Arc::new(target),
        ..ctx
    };
    let spec = StorageProbeSpec {
        prefix: None,
        size_bytes: None,
    };
    let outcome = engine::kinds::storage_probe::run(&spec, &ctx).await;
    assert_eq!(outcome.error, None, "{:?}", outcome.warnings);
    let TestMetrics::StorageProbe(m) = outcome.metrics else {
        panic!("{:?}", outcome.metrics);
    };
    assert_eq!(
        (m.write_ok, m.read_ok, m.deleted, m.ok),
        (1, 1, 1, 1),
        "{m:?}"
    );
    assert_eq!(m.backend, "s3");
    assert!(m.write_ms > 0.0 && m.read_ms > 0.0);
    assert_eq!(buckets.get(&bucket, &m.key).await.unwrap(), None, "removed");

    // A wrong secret key: the server refuses the write and the probe says so.
    std::env::set_var("SHAKEDOWN_TEST_PROBE_BAD_SK", "not-the-secret");
    let mut env = ctx.target.env.clone();
    env.secrets
        .insert("sk".into(), "SHAKEDOWN_TEST_PROBE_BAD_SK".into());
    let ctx = engine::runner::context::TestContext {
        target: Arc::new(Target::new("s3", &env).unwrap()),
        ..ctx
    };
    let outcome = engine::kinds::storage_probe::run(&spec, &ctx).await;
    assert!(outcome.error.is_some(), "{:?}", outcome.metrics);
}
