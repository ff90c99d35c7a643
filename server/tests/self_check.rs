//! `examples/self-check.toml` against a real `shakedown serve` (SQLite,
//! 127.0.0.1) kept alive by a restart loop: the plan is valid, its load on
//! Shakedown's pages passes, its restart of Shakedown (SIGTERM through the
//! loop, so the graceful shutdown runs) is observed by a new pid, readiness
//! answers 30 times after it, and the run is GO. The plan also starts
//! Shakedown runs through the server's API with an operator's token: their
//! streams are followed to the end, their evidence checked against its
//! manifest, and a SIGKILL of the server mid-stream must leave every stream
//! resumed with Last-Event-ID (no gap, no repeat) and no run running. The
//! run's own evidence pack is then read back through the restarted server's
//! evidence API and verified.

mod common;

use common::server::{get, shakedown_bin, wait_until};
use common::{free_port, root};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `shakedown serve` started again every time it exits, until `stop` exists
/// or the test process is gone (a killed test leaves no loop behind).
struct RestartLoop {
    child: Child,
    dir: std::path::PathBuf,
}

impl RestartLoop {
    fn start(dir: &std::path::Path, port: u16) -> RestartLoop {
        let test = std::process::id();
        let script = format!(
            r#"while [ ! -e stop ] && kill -0 {test} 2>/dev/null; do
  "$BIN" serve --addr 127.0.0.1:{port} --data-dir data --plans-dir plans --site-root data/site --shutdown-grace-s 15 >>serve.log 2>&1 &
  echo $! >shakedown.pid
  wait $!
done"#
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("BIN", shakedown_bin())
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        RestartLoop {
            child,
            dir: dir.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

impl Drop for RestartLoop {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("stop"), "");
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

#[test]
fn the_self_check_plan_is_go_against_a_running_shakedown_it_restarts() {
    let plan_file = root().join("examples/self-check.toml");
    let check = Command::new(shakedown_bin())
        .arg("check")
        .arg(&plan_file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    let dir = tempfile::Builder::new()
        .prefix("self-check-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("plans")).unwrap();
    // The server under test has accounts (no local mode): the plan starts
    // runs with an operator's API token; the evidence API is read here with
    // a viewer's.
    let data = dir.path().join("data");
    let operator = add_user_with_token(&data, "selfcheck", "operator");
    let viewer = add_user_with_token(&data, "checker", "viewer");
    let bearer = format!("Bearer {viewer}");
    let auth = [("Authorization", bearer.as_str())];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = RestartLoop::start(dir.path(), port);
    wait_until("shakedown serve", Duration::from_secs(60), || {
        get(&format!("{base}/readyz"), &[], 2.0).0 == 200
    });
    let pid_before = std::fs::read_to_string(dir.path().join("shakedown.pid")).unwrap();

    // The runs the plan starts use this folder plan of the server under test.
    let target = std::fs::read_to_string(root().join("examples/self-check-target.toml"))
        .unwrap()
        .replace("http://127.0.0.1:3000", &base);
    std::fs::write(dir.path().join("plans/self-check-target.toml"), target).unwrap();
    let plan = std::fs::read_to_string(&plan_file)
        .unwrap()
        .replace("http://127.0.0.1:3000", &base);
    let plan_path = dir.path().join("self-check.toml");
    std::fs::write(&plan_path, plan).unwrap();
    let out = dir.path().join("out");
    let pid_file = dir.path().join("shakedown.pid");
    let run = Command::new(shakedown_bin())
        .arg("run")
        .arg(&plan_path)
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("SHAKEDOWN_SELF_CHECK_TOKEN", &operator)
        .env(
            "SHAKEDOWN_SELF_CHECK_RESTART",
            format!("kill -TERM \"$(cat '{}')\"", pid_file.display()),
        )
        .env(
            "SHAKEDOWN_SELF_CHECK_CRASH",
            format!("kill -KILL \"$(cat '{}')\"", pid_file.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let json = std::fs::read_to_string(out.join("results.json"))
        .unwrap_or_else(|e| panic!("no results ({e}): {stdout}\n{stderr}\n{}", server.log()));
    let results: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        results["verdict"],
        "GO",
        "{stdout}\n{stderr}\n{}",
        server.log()
    );
    assert_eq!(run.status.code(), Some(0));
    let test = |id: &str| {
        results["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    };
    let c1 = test("C1");
    let fault = &c1["faults"][0];
    assert_eq!(fault["restart_observed"], true, "{c1}");
    // Shakedown really restarted: another process serves now.
    let pid_after = std::fs::read_to_string(&pid_file).unwrap();
    assert_ne!(pid_before, pid_after);
    assert!(
        server.log().contains("SIGTERM: refusing new runs"),
        "the restart went through the graceful shutdown: {}",
        server.log()
    );
    for id in ["L1", "L2", "L3", "L4", "H1", "S1", "C1", "C2"] {
        let t = test(id);
        assert_eq!(t["status"], "PASS", "{t}");
    }
    let metric = |id: &str, name: &str| test(id)["metrics"][name].as_u64().unwrap_or(u64::MAX);
    // Runs started through the API: streams to their end, evidence intact.
    assert_eq!(metric("S1", "sessions_ok"), 2);
    assert_eq!(metric("S1", "exports_ok"), 2);
    assert_eq!(metric("S1", "bucket_failures"), 0);
    // The graceful restart: the runs in flight finished within the grace
    // period with intact evidence, the stream completed.
    assert_eq!(metric("C1", "runs_started"), 2);
    assert_eq!(metric("C1", "runs_completed"), 2, "{}", test("C1"));
    // The two runs', and the one behind the stream (verified like them).
    assert_eq!(metric("C1", "artifacts_checked"), 3);
    assert_eq!(metric("C1", "corrupted"), 0);
    assert_eq!(metric("C1", "stuck"), 0);
    assert_eq!(metric("C1", "streams_completed"), 1, "{}", test("C1"));
    // The crash: every stream was cut, and resumed on the new server with
    // Last-Event-ID to its end, with no event skipped or repeated.
    let c2 = test("C2");
    assert_eq!(c2["faults"][0]["restart_observed"], true, "{c2}");
    assert_eq!(metric("C2", "streams_interrupted"), 2, "{c2}");
    assert_eq!(metric("C2", "streams_reconnected"), 2, "{c2}");
    assert_eq!(metric("C2", "event_gaps"), 0);
    assert_eq!(metric("C2", "event_repeats"), 0);
    assert_eq!(metric("C2", "stuck"), 0);
    assert!(
        server.log().contains("was interrupted by a restart"),
        "the crashed server's runs were sealed on the next start: {}",
        server.log()
    );

    // What the server under test did with the runs the plan started: none
    // left queued or running, the crash's marked interrupted, and every
    // finished one's evidence intact.
    let inner = server_runs(&data);
    assert_eq!(inner.len(), 10, "{inner:?}");
    assert!(
        inner
            .iter()
            .all(|(_, status)| status == "finished" || status == "interrupted"),
        "{inner:?}"
    );
    assert!(inner.iter().any(|(_, status)| status == "interrupted"));
    for (id, status) in inner.iter().filter(|(_, s)| s == "finished") {
        let (code, body) = get(&format!("{base}/api/runs/{id}"), &auth, 10.0);
        assert_eq!(code, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], status.as_str());
        assert_eq!(answer["evidence"]["intact"], true, "{body}");
    }

    // Evidence integrity, through the restarted server's API and the CLI.
    let run_id = results["run_id"].as_str().unwrap();
    let (code, listing) = get(&format!("{base}/api/runs/{run_id}/evidence"), &auth, 10.0);
    assert_eq!(code, 200, "{listing}");
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing["intact"], true, "{listing}");
    assert!(listing["files"].as_array().unwrap().len() >= 5, "{listing}");
    let (code, served) = get(
        &format!("{base}/api/runs/{run_id}/evidence/results.json"),
        &auth,
        10.0,
    );
    assert_eq!(code, 200);
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(served, results);
    let verify = Command::new(shakedown_bin())
        .args(["verify", run_id, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");

    // Keep the report for the record.
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("self-check-report.md");
    std::fs::copy(out.join("report.md"), &report).unwrap();
    eprintln!("self-check report: {}", report.display());
}

/// Adds a user with `role` through the CLI and returns a new API token of it.
fn add_user_with_token(data: &std::path::Path, name: &str, role: &str) -> String {
    let add = Command::new(shakedown_bin())
        .args(["user", "add", name, "--role", role, "--data-dir"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            common::feed_stdin(&mut child, b"self-check password\n");
            child.wait()
        })
        .unwrap();
    assert!(add.success());
    let token = Command::new(shakedown_bin())
        .args(["token", "add", "--user", name, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    String::from_utf8_lossy(&token.stdout).trim().to_owned()
}

/// The (id, status) of every run the server under test started for the
/// plan, from its database.
fn server_runs(data: &std::path::Path) -> Vec<(String, String)> {
    use sqlx::Row;
    let url = format!("sqlite://{}?mode=ro", data.join("shakedown.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let rows = sqlx::query("SELECT id, status FROM runs WHERE plan = 'self-check-target'")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.iter()
            .map(|r| (r.get::<String, _>("id"), r.get::<String, _>("status")))
            .collect()
    })
}
