//! The demo's bucket link (#19): with its bucket on an S3-compatible
//! server, the demo target reaches the bucket through the built-in proxy
//! `sut_s3`. `shakedown demo --s3-endpoint` shows the link in its banner
//! and the target signs its requests for the proxy's address (its storage
//! check passes through it, and fails while the proxy is disabled);
//! examples/bucket-link.toml under `shakedown run --demo` puts the link
//! down while jobs store their artifacts: 4 s, which the worker's retries
//! ride out (GO), and 30 s, longer than they last, so every job fails
//! (NO-GO) and the target recovers once the link is back. Settings the
//! demo cannot use are refused before anything starts. Figures come from
//! the results (the load's windows, the runs' ends, the proxy's evidence),
//! never from the wall clock of the test itself.
//!
//! Needs the throwaway S3 server that `scripts/test` starts
//! (`SHAKEDOWN_TEST_S3_*`); skipped without it unless
//! `SHAKEDOWN_TEST_REQUIRE_S3` is set.

mod common;

use common::plans::{chaos, example, failed_criteria, run_plan, test, text_on_port};
use common::{build_sut, free_port};
use engine::metrics::TestMetrics;
use engine::results::RunResults;
use engine::run::Verdict;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Held while a demo runs: the outage's effects are read from a workload
/// that a second demo beside it on a small machine would slow down.
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The S3 server of the tests, when there is one.
fn s3_endpoint() -> Option<String> {
    match std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") {
        Ok(endpoint) => Some(endpoint),
        Err(_) => {
            assert!(
                std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").is_err(),
                "SHAKEDOWN_TEST_REQUIRE_S3 is set but SHAKEDOWN_TEST_S3_ENDPOINT is not"
            );
            eprintln!("skipped: SHAKEDOWN_TEST_S3_ENDPOINT is not set");
            None
        }
    }
}

/// examples/bucket-link.toml against the tests' S3 server (its keys in
/// `SHAKEDOWN_TEST_S3_KEY` / `_SECRET`), the target and the proxy's API on
/// the ports given, the bucket link down for `down_s` within a deadline of
/// `deadline_s`; readiness may come back 11 s after the link does, as the
/// example allows for its 4 s (recovery is measured from the fault).
fn bucket_link_plan(
    endpoint: &str,
    sut_port: u16,
    proxy_port: u16,
    down_s: i64,
    deadline_s: i64,
) -> String {
    let mut plan = example("bucket-link.toml");
    let env = plan["environments"]["demo"].as_table_mut().unwrap();
    let secrets = env["secrets"].as_table_mut().unwrap();
    secrets.insert("s3_key".into(), "SHAKEDOWN_TEST_S3_KEY".into());
    secrets.insert("s3_secret".into(), "SHAKEDOWN_TEST_S3_SECRET".into());
    env["bucket"]["s3"]
        .as_table_mut()
        .unwrap()
        .insert("endpoint".into(), endpoint.into());
    let chaos = common::plans::chaos_table(&mut plan, "B1");
    chaos.insert("deadline_s".into(), deadline_s.into());
    chaos["fault"]["network"]
        .as_table_mut()
        .unwrap()
        .insert("duration_s".into(), down_s.into());
    text_on_port(&plan, 8080, sut_port)
        .replace("127.0.0.1:8474", &format!("127.0.0.1:{proxy_port}"))
        .replace(
            "B1.recovery_ms < 15000",
            &format!("B1.recovery_ms < {}", (down_s + 11) * 1000),
        )
}

/// Runs the plan under `shakedown run --demo`; the results and a log for
/// failure messages.
fn run(plan: &str, tag: &str) -> (RunResults, String) {
    let run = run_plan(plan, Some(&[]), &format!("netbucket-{tag}"));
    (
        run.results(),
        format!("{}\n{}\n{}", run.stdout, run.stderr, run.json),
    )
}

/// What the link-down fault of B1 left in the evidence: on the bucket
/// link's proxy, disabled while it lasted, and its removal read back.
fn assert_bucket_link_was_down(results: &RunResults) {
    let t = test(results, "B1");
    assert_eq!(t.error, None, "{t:?}");
    assert_eq!(t.faults.len(), 1, "{t:?}");
    let fault = &t.faults[0];
    let network = fault.network.clone().expect("network evidence");
    assert_eq!(
        (network.link.as_str(), network.proxy.as_str()),
        ("bucket", "sut_s3")
    );
    assert_eq!(network.toxic, "down");
    assert!(
        network.seen_at_proxy.contains("enabled=false"),
        "{network:?}"
    );
    assert!(network.removal_verified, "{network:?}");
    // Readiness checks the bucket through the link: it failed while the
    // link was down and passed again after.
    assert!(fault.timeline.iter().any(|p| !p.healthy), "{fault:?}");
    assert!(
        fault.timeline.last().is_some_and(|p| p.healthy),
        "{fault:?}"
    );
}

#[test]
fn artifacts_go_through_the_bucket_proxy_and_a_short_outage_is_ridden_out() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let plan = bucket_link_plan(&endpoint, free_port(), free_port(), 4, 30);
    let (results, log) = run(&plan, "short");
    assert_eq!(
        results.verdict,
        Some(Verdict::Go),
        "failed: {:?}\n{log}",
        failed_criteria(&results)
    );
    let upstream = endpoint.trim_start_matches("http://");
    assert!(
        log.contains("bucket link: sut_s3: 127.0.0.1:")
            && log.contains(&format!("-> S3 on {upstream}")),
        "{log}"
    );

    assert_bucket_link_was_down(&results);
    let m = chaos(&results, "B1");
    assert_eq!(
        m.jobs_in_flight_at_fault, 4,
        "the fault landed mid-run: {m:?}"
    );
    // Every job stored its artifact (the worker signs for the proxy's
    // address; the server checks the Host header it relayed), and
    // Shakedown, reading the S3 server directly, found each one intact.
    assert_eq!((m.runs_completed, m.runs_failed), (4, 0), "{m:?}");
    assert_eq!((m.artifacts_in_bucket, m.corrupted), (4, 0), "{m:?}");
    assert_eq!((m.stuck, m.duplicates), (0, 0), "{m:?}");
    // The API's storage checks felt the outage, and passed once it ended.
    let load = *m.load.expect("B1 has a load through the fault");
    assert!(load.before.count > 0 && load.before.fail == 0, "{load:?}");
    assert!(load.during.fail > 0, "no storage check failed: {load:?}");
    assert!(load.after.count > 0 && load.after.fail == 0, "{load:?}");

    // After the fault, new artifacts written through the link are in the
    // expected bucket.
    match &test(&results, "H1").metrics {
        Some(TestMetrics::Health(h)) => {
            assert_eq!(h.isolation_ok, 1, "{h:?}");
            assert_eq!(h.artifacts_in_expected_bucket, 2, "{h:?}");
        }
        other => panic!("H1: {other:?}"),
    }
}

#[test]
fn an_outage_longer_than_the_workers_retries_fails_the_jobs_and_the_target_recovers() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    // The jobs' steps end within 2 s of the fault; the worker then tries
    // each write six times over about 6 s (each try with the S3 client's
    // own three attempts, at most about 3 s): all of it inside 30 s.
    let plan = bucket_link_plan(&endpoint, free_port(), free_port(), 30, 60);
    let (results, log) = run(&plan, "long");
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    assert_eq!(
        failed_criteria(&results),
        vec!["B1.runs_completed".to_owned()],
        "{log}"
    );
    assert_bucket_link_was_down(&results);
    let m = chaos(&results, "B1");
    assert_eq!(m.jobs_in_flight_at_fault, 4, "{m:?}");
    // No artifact could be stored: every job ended failed, none stuck.
    assert_eq!((m.runs_completed, m.runs_failed), (0, 4), "{m:?}");
    assert_eq!((m.stuck, m.artifacts_checked), (0, 0), "{m:?}");
    let load = *m.load.expect("B1 has a load through the fault");
    assert!(load.during.fail > 0, "{load:?}");
    assert!(
        m.recovery_ms >= 30_000.0,
        "measured from the fault: {}",
        m.recovery_ms
    );
    // Recovered: storage checks pass again, and new jobs store their
    // artifacts in the expected bucket.
    assert!(load.after.count > 0 && load.after.fail == 0, "{load:?}");
    match &test(&results, "H1").metrics {
        Some(TestMetrics::Health(h)) => assert_eq!(h.isolation_ok, 1, "{h:?}"),
        other => panic!("H1: {other:?}"),
    }
}

/// `shakedown demo`, stopped with SIGINT when dropped.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.0.wait();
    }
}

/// `curl` a URL with `method` (and a JSON body): status and body.
fn call(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--max-time",
        "20",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(body) = body {
        cmd.args(["-H", "content-type: application/json", "-d", body]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn the_demo_banner_shows_the_bucket_link_and_the_target_signs_through_it() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let (web, sut, proxy) = (free_port(), free_port(), free_port());
    // On SQLite: the bucket link does not need the database one.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "demo",
            "--no-postgres",
            "--addr",
            &format!("127.0.0.1:{web}"),
        ])
        .args(["--sut-port", &sut.to_string()])
        .args(["--proxy-port", &proxy.to_string()])
        .args(["--s3-endpoint", &endpoint])
        .args(["--s3-access-key-env", "SHAKEDOWN_TEST_S3_KEY"])
        .args(["--s3-secret-key-env", "SHAKEDOWN_TEST_S3_SECRET"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _demo = Demo(child);
    let mut banner = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let up = line.starts_with("Press Ctrl-C");
        banner.push(line);
        if up {
            break;
        }
    }
    let banner = banner.join("\n");
    assert!(
        banner.contains("Press Ctrl-C"),
        "the demo did not come up: {banner}"
    );
    assert!(banner.contains("database link none"), "{banner}");
    assert!(
        banner.contains(&format!("its bucket    S3 at {endpoint}")),
        "{banner}"
    );
    let upstream = endpoint.trim_start_matches("http://");
    let link = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("bucket link   sut_s3: "))
        .unwrap_or_else(|| panic!("no bucket link: {banner}"));
    let (listen, to) = link.split_once(" -> ").unwrap();
    assert_eq!(to, format!("S3 on {upstream}"), "{banner}");

    // The proxy has it, and the target was given the proxy's address.
    let api = format!("http://127.0.0.1:{proxy}/proxies/sut_s3");
    let (code, body) = call("GET", &api, None);
    assert_eq!(code, 200, "{body}");
    let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["listen"], listen, "{body}");
    assert_eq!(shown["upstream"], upstream, "{body}");
    let base = format!("http://127.0.0.1:{sut}");
    let (code, body) = call("GET", &format!("{base}/health/ready"), None);
    assert_eq!(code, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    let bucket = &ready["dependencies"][1]["details"];
    assert_eq!(bucket["backend"], "s3", "{body}");
    assert_eq!(bucket["endpoint"], format!("http://{listen}"), "{body}");

    // A write and a read back, signed for the proxy's address, pass
    // through it; with the proxy disabled they fail, and pass again once
    // it is enabled.
    let storage = format!("{base}/health/storage-test");
    let check = || {
        let (code, body) = call("GET", &storage, None);
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        (code, answer)
    };
    let (code, answer) = check();
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["content_verified"], true, "{answer}");
    let (code, body) = call("POST", &api, Some(r#"{"enabled":false}"#));
    assert_eq!(code, 200, "{body}");
    let (code, answer) = check();
    assert_eq!(code, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("write")),
        "{answer}"
    );
    let (code, body) = call("POST", &api, Some(r#"{"enabled":true}"#));
    assert_eq!(code, 200, "{body}");
    let (code, answer) = check();
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["content_verified"], true, "{answer}");
}

/// `shakedown demo` with `args`: it must fail before starting anything,
/// saying `expected`; returns what it said.
fn refused(args: &[&str], expected: &str) -> String {
    let (web, sut, proxy) = (free_port(), free_port(), free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "demo",
            "--no-postgres",
            "--addr",
            &format!("127.0.0.1:{web}"),
        ])
        .args(["--sut-port", &sut.to_string()])
        .args(["--proxy-port", &proxy.to_string()])
        .args(args)
        .env_remove("SHAKEDOWN_TEST_UNSET_KEY")
        .env("SHAKEDOWN_TEST_SET_KEY", "k")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} started: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Press Ctrl-C"),
        "{args:?}"
    );
    // Nothing was started: the proxy's API port is free.
    assert!(std::net::TcpListener::bind(("127.0.0.1", proxy)).is_ok());
    stderr.into_owned()
}

#[test]
fn s3_settings_the_demo_cannot_use_are_refused_before_anything_starts() {
    build_sut();
    let keys = [
        "--s3-access-key-env",
        "SHAKEDOWN_TEST_SET_KEY",
        "--s3-secret-key-env",
        "SHAKEDOWN_TEST_SET_KEY",
    ];
    let with = |endpoint: &str| {
        let mut args = vec!["--s3-endpoint", endpoint];
        args.extend(keys);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = with("http://192.0.2.1:9000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(
        &args,
        "S3 endpoint \"http://192.0.2.1:9000\": the server must be on this machine",
    );
    let args = with("https://127.0.0.1:9000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, "must be http://");
    let args = with("http://user:s3cr3tpw@127.0.0.1:9000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stderr = refused(&args, "may not carry a user name or password");
    assert!(
        !stderr.contains("s3cr3tpw") && stderr.contains("http://***@127.0.0.1:9000"),
        "the refusal repeats the password: {stderr}"
    );
    refused(
        &[
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-access-key-env",
            "SHAKEDOWN_TEST_UNSET_KEY",
            "--s3-secret-key-env",
            "SHAKEDOWN_TEST_SET_KEY",
        ],
        "environment variable SHAKEDOWN_TEST_UNSET_KEY (named by --s3-access-key-env) is not set",
    );
}
