//! A secret named in a plan reaches the target and nowhere else: a known
//! value is planted in the environment variable a plan's header refers to;
//! a run launched from the web app (then signed and shared) and a headless
//! `shakedown run` both send it to a loopback target, which counts it; then
//! the database files, the server's log (at debug level), every file of the
//! evidence packs and every page and API answer are searched for it, and it
//! is in none of them. A pasted plan that names the same variable as its own
//! secret is refused before it sends anything.

mod common;

use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET_VAR: &str = "SHAKEDOWN_TEST_PLANTED_TOKEN";

/// A loopback target that counts requests carrying the planted secret.
async fn target(secret: String) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().route(
        "/ping",
        get(move |headers: HeaderMap| {
            let counter = counter.clone();
            let secret = secret.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if auth == format!("Bearer {secret}") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                "pong"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn write_plan(dir: &Path, base: &str) {
    std::fs::write(
        dir.join("secret.toml"),
        format!(
            r#"
[plan]
name = "secret-plan"
default_environment = "loop"

[environments.loop]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
secrets = {{ api_token = "{SECRET_VAR}" }}
headers = {{ Authorization = "Bearer ${{secret.api_token}}" }}

[[tests]]
id = "L1"
title = "Authorised ping"
[tests.http_load]
path = "/ping"
concurrency = 2
rounds = 25

[[criteria]]
expr = "L1.fail == 0"
"#
        ),
    )
    .unwrap();
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_secret_is_in_no_database_log_evidence_file_or_page() {
    let secret = format!("planted-{}", uuid::Uuid::new_v4().simple());
    let (base, seen) = target(secret.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let plans = work.path().join("plans");
    let data = work.path().join("data");
    std::fs::create_dir_all(&plans).unwrap();
    write_plan(&plans, &base);
    let log_path = work.path().join("server.log");
    let port = common::free_port();
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "serve",
            "--local-mode",
            "--allow-pasted-plans",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--plans-dir")
        .arg(&plans)
        .env(SECRET_VAR, &secret)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let web = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{web}/readyz"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let post = |path: &str, body: Value| {
        http.post(format!("{web}{path}"))
            .header("origin", &web)
            .json(&body)
    };
    let form = |path: &str, body: String| {
        http.post(format!("{web}{path}"))
            .header("origin", &web)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };

    // A run from the web app, followed to its end.
    let started: Value = post(
        "/api/start_run",
        json!({ "request": { "plan": { "File": "secret.toml" }, "environment": null, "tests": null,
            "concurrency": null, "rounds": null, "duration_s": null } }),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = started["Ok"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run: Value = form("/api/load_run", format!("id={id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["run"]["status"] == "finished" {
            assert_eq!(run["run"]["verdict"], "GO", "{run}");
            break;
        }
        assert!(Instant::now() < deadline, "run did not finish: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Signed and shared, so the re-exported pack and the share page exist too.
    let signed = post(
        "/api/sign_run",
        json!({ "id": id, "request": { "decision": "go", "comment": "ok", "override_reason": null } }),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(signed.contains("\"Ok\""), "{signed}");
    let shared: Value = form("/api/create_share_link", format!("id={id}&days=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let share_path = shared["path"].as_str().unwrap().to_owned();

    // A pasted plan that names the server's variable as its own secret,
    // sent to the same target: refused before any request is made.
    let before = seen.load(Ordering::SeqCst);
    let pasted = format!(
        r#"
[plan]
name = "steal"
environments_from = "secret.toml"
[environments.mine]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
secrets = {{ stolen = "{SECRET_VAR}" }}
headers = {{ Authorization = "Bearer ${{secret.stolen}}" }}
[[tests]]
id = "X1"
[tests.http_load]
path = "/ping"
concurrency = 1
rounds = 1
"#
    );
    let refused = post(
        "/api/start_run",
        json!({ "request": { "plan": { "Text": { "name": "steal.toml", "text": pasted } },
            "environment": "mine", "tests": null, "concurrency": null, "rounds": null, "duration_s": null } }),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        refused.contains("a pasted plan may not define environments"),
        "{refused}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), before, "no request was made");

    // A headless run of the same plan, with its own output folder.
    let out_dir = work.path().join("out");
    let headless = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .arg("run")
        .arg(plans.join("secret.toml"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&out_dir)
        .env(SECRET_VAR, &secret)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(
        headless.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&headless.stderr)
    );
    assert!(
        seen.load(Ordering::SeqCst) >= 100,
        "the secret reached the target on every request"
    );

    // Every page and answer.
    let mut pages = vec![
        "/".to_owned(),
        format!("/runs/{id}"),
        format!("/runs/{id}/report"),
        share_path.clone(),
        format!("/api/runs/{id}/events"),
        format!("/api/runs/{id}/evidence"),
        format!("/api/runs/{id}/signoffs"),
        "/api/audit.jsonl".to_owned(),
        "/audit".to_owned(),
    ];
    let listing: Value = http
        .get(format!("{web}/api/runs/{id}/evidence"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for f in listing["files"].as_array().unwrap() {
        pages.push(format!(
            "/api/runs/{id}/evidence/{}",
            f["name"].as_str().unwrap()
        ));
    }
    let token = share_path.trim_start_matches("/share/");
    pages.push(format!("/api/share/{token}/evidence/report.html"));
    let mut bodies = vec![form("/api/load_report", format!("id={id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()];
    for page in &pages {
        let res = http.get(format!("{web}{page}")).send().await.unwrap();
        assert!(res.status().is_success(), "{page}: {}", res.status());
        bodies.push(res.text().await.unwrap());
    }
    for (page, body) in pages.iter().zip(bodies.iter().skip(1)) {
        assert!(!body.contains(&secret), "the secret is on {page}");
    }
    assert!(!bodies[0].contains(&secret), "the secret is in load_report");

    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();

    // Every file Shakedown wrote: database (with its journal), evidence
    // packs, the headless run's output, the server's log.
    let mut written = files(&data);
    written.extend(files(&out_dir));
    written.push(log_path.clone());
    assert!(written.iter().any(|p| p.ends_with("shakedown.db")));
    assert!(
        written
            .iter()
            .filter(|p| p.ends_with("manifest.json"))
            .count()
            >= 3
    );
    for file in &written {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, &secret),
            "the secret is in {}",
            file.display()
        );
    }
    let stdout = String::from_utf8_lossy(&headless.stdout);
    let stderr = String::from_utf8_lossy(&headless.stderr);
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "the secret is in the CLI's output"
    );
    // The log really was written at debug level (the search was not vacuous),
    // and the share link's token is not in it either.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("DEBUG"), "{log}");
    assert!(
        !log.contains(token),
        "the share token is in the server's log"
    );
    for file in files(&data) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, token),
            "the share token is in {}",
            file.display()
        );
    }
}
