//! `shakedown serve` with its evidence in an S3-compatible bucket: readiness
//! names and probes the bucket, a run launched from the web app writes its
//! pack there (nothing in the local folder), the web app lists and serves
//! the pack's files back from the bucket, and `shakedown verify` reading
//! the same bucket finds the pack intact. Needs the throwaway S3 server
//! that `scripts/test` starts (`SHAKEDOWN_TEST_S3_*`).

mod common;

use common::free_port;
use common::server::{
    get, load_plan, plans_dir, shakedown_bin, wait_until, ServeOptions, Server, Sut,
};
use std::process::Command;
use std::time::Duration;

#[test]
fn serve_keeps_evidence_in_the_bucket_and_serves_it_back() {
    let Ok(endpoint) = std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").is_err(),
            "SHAKEDOWN_TEST_REQUIRE_S3 is set but SHAKEDOWN_TEST_S3_ENDPOINT is not"
        );
        eprintln!("skipped: SHAKEDOWN_TEST_S3_ENDPOINT is not set");
        return;
    };
    let sut = Sut::start();
    let dir = tempfile::tempdir().unwrap();
    let plans = plans_dir(dir.path(), "short.toml", &load_plan(&sut.base, 2));
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let bucket = format!("serve-{}", uuid::Uuid::new_v4().simple());
    let store_args = vec![
        "--evidence-s3-endpoint".to_owned(),
        endpoint.clone(),
        "--evidence-s3-bucket".to_owned(),
        bucket.clone(),
        "--evidence-s3-access-key-env".to_owned(),
        "SHAKEDOWN_TEST_S3_KEY".to_owned(),
        "--evidence-s3-secret-key-env".to_owned(),
        "SHAKEDOWN_TEST_S3_SECRET".to_owned(),
    ];
    let options = ServeOptions {
        port: free_port(),
        data_dir: data_dir.clone(),
        plans_dir: plans,
        database_url: None,
        extra: store_args.clone(),
    };
    let server = Server::start(&options);

    let (code, body) = get(&format!("{}/readyz", server.base), &[], 10.0);
    assert_eq!(code, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let evidence = &ready["dependencies"][1];
    assert_eq!(evidence["status"], "ok", "{body}");
    assert!(
        evidence["detail"].as_str().unwrap().contains(&bucket),
        "{body}"
    );

    let run = server.start_run("short.toml").unwrap();
    let url = format!("{}/api/runs/{run}", server.base);
    let mut answer = serde_json::Value::Null;
    wait_until(
        "the run has an evidence pack",
        Duration::from_secs(90),
        || {
            let (code, body) = get(&url, &[], 5.0);
            answer = serde_json::from_str(&body).unwrap_or_default();
            code == 200 && !answer["evidence"].is_null()
        },
    );
    assert_eq!(answer["status"], "finished", "{answer}");
    assert_eq!(answer["evidence"]["intact"], true, "{answer}");

    // Nothing went to the local folder.
    let local = data_dir.join("evidence");
    let local_files = std::fs::read_dir(&local)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(local_files, 0, "{} is not empty", local.display());

    // The web app lists the pack and serves its files from the bucket.
    let (code, body) = get(&format!("{url}/evidence"), &[], 10.0);
    assert_eq!(code, 200, "{body}");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listing["intact"], true, "{body}");
    let (code, results) = get(&format!("{url}/evidence/results.json"), &[], 10.0);
    assert_eq!(code, 200, "{results}");
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    assert_eq!(results["run_id"], run.as_str());

    // The CLI reading the same bucket finds the same pack intact.
    let out = Command::new(shakedown_bin())
        .arg("verify")
        .arg(&run)
        .arg("--data-dir")
        .arg(dir.path().join("elsewhere"))
        .args(&store_args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(answer["evidence"]["manifest_sha256"].as_str().unwrap()),
        "{text}"
    );
}
