//! `examples/self-check.toml` against a real `shakedown serve` (SQLite,
//! 127.0.0.1) kept alive by a restart loop: the plan is valid, its load on
//! Shakedown's pages passes, its restart of Shakedown (SIGTERM through the
//! loop, so the graceful shutdown runs) is observed by a new pid, readiness
//! answers 30 times after it, and the run is GO. Its evidence pack is then
//! read back through the restarted server's evidence API and verified.

mod common;

use common::server::{get, shakedown_bin, wait_until};
use common::{free_port, root};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `shakedown serve` started again every time it exits, until `stop` exists.
struct RestartLoop {
    child: Child,
    dir: std::path::PathBuf,
}

impl RestartLoop {
    fn start(dir: &std::path::Path, port: u16) -> RestartLoop {
        let script = format!(
            r#"while [ ! -e stop ]; do
  "$BIN" serve --addr 127.0.0.1:{port} --data-dir data --plans-dir plans --site-root data/site --shutdown-grace-s 5 >>serve.log 2>&1 &
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
    // The server under test has accounts (no local mode): its evidence API
    // is read with a viewer's API token.
    let data = dir.path().join("data");
    let add = Command::new(shakedown_bin())
        .args(["user", "add", "checker", "--role", "viewer", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"self-check password\n")?;
            child.wait()
        })
        .unwrap();
    assert!(add.success());
    let token = Command::new(shakedown_bin())
        .args(["token", "add", "--user", "checker", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(token.status.success(), "{token:?}");
    let bearer = format!("Bearer {}", String::from_utf8_lossy(&token.stdout).trim());
    let auth = [("Authorization", bearer.as_str())];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = RestartLoop::start(dir.path(), port);
    wait_until("shakedown serve", Duration::from_secs(60), || {
        get(&format!("{base}/readyz"), &[], 2.0).0 == 200
    });
    let pid_before = std::fs::read_to_string(dir.path().join("shakedown.pid")).unwrap();

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
        .env(
            "SHAKEDOWN_SELF_CHECK_RESTART",
            format!("kill -TERM \"$(cat '{}')\"", pid_file.display()),
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
    for id in ["L1", "L2", "L3"] {
        let t = test(id);
        assert_eq!(t["status"], "PASS", "{t}");
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
