//! `shakedown run` without `--demo` supervises the programs a plan's
//! services name (`restart.process.program`, here the demo target's
//! `shakedown-sut`, found beside `shakedown`): started before the tests,
//! stopped after; a program that cannot start is named with exit code 2;
//! and neither Ctrl-C nor a SIGKILL of Shakedown mid-run leaves a program
//! running.

mod common;

use common::{build_sut, free_port};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A plan against the demo target's API on `port`, which Shakedown starts
/// itself (its data in `sut-data` under Shakedown's working folder), with
/// one load test.
fn plan(port: u16, listen: &str, load: &str) -> String {
    format!(
        r#"
[plan]
name = "local-programs"
default_environment = "local"

[environments.local]
base_url = "http://127.0.0.1:{port}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[services.api]
health = "/health"
restart.process = {{ program = "shakedown-sut", args = ["api", "--listen", "{listen}", "--data-dir", "sut-data"], grace_ms = 5000 }}

[[tests]]
id = "L1"
title = "load"
[tests.http_load]
{load}

[[criteria]]
expr = "L1.fail == 0"
"#
    )
}

fn shakedown(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shakedown"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_DATA_DIR")
        .arg("run")
        .arg(dir.join("plan.toml"))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdin(Stdio::null());
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Whether the process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, after) = stat.rsplit_once(')')?;
                after.split_whitespace().next().map(|state| state != "Z")
            })
            .unwrap_or(false)
}

/// The live children of `parent`, from /proc.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, after) = stat.rsplit_once(')')?;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// GET `path` on 127.0.0.1:`port` (HTTP/1.0, so the answer ends with the
/// connection): the body, when something answered 200.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

/// Polls `check` every 50 ms until it gives a value; panics after `limit`.
fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    eventually("shakedown to exit", limit, || {
        child.try_wait().ok().flatten()
    })
}

#[test]
fn run_supervises_the_plans_programs_without_demo() {
    build_sut();
    let dir = tempfile::Builder::new()
        .prefix("local-programs-")
        .tempdir()
        .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.path().join("plan.toml"),
        plan(
            port,
            &listen,
            "path = \"/health\"\nconcurrency = 2\nrounds = 10",
        ),
    )
    .unwrap();
    let out = shakedown(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("verdict: GO"), "{}", text(&out));
    // (Read as JSON: typed reading of load tests' status maps needs the
    // server's own reader.)
    let results: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out").join("results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["verdict"], "GO");
    assert!(results.get("unplanned_exits").is_none(), "{results}");
    // It ran in Shakedown's working folder, and is stopped now.
    assert!(dir.path().join("sut-data").is_dir());
    assert!(!listening(port), "the API outlived the run");
}

#[test]
fn a_program_that_cannot_start_is_named_with_exit_code_2() {
    build_sut();
    let dir = tempfile::Builder::new()
        .prefix("local-programs-")
        .tempdir()
        .unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("plan.toml"),
        plan(
            port,
            "not-an-address",
            "path = \"/health\"\nconcurrency = 1\nrounds = 1",
        ),
    )
    .unwrap();
    let out = shakedown(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("cannot start service \"api\" (program shakedown-sut)")
            && said.contains("exited during start-up"),
        "{said}"
    );
    // Its own complaint is quoted from its output.
    assert!(said.contains("not-an-address"), "{said}");
}

/// Starts `shakedown run` with a minute of load that creates runs in the
/// target (no worker takes them, so they stay queued), and returns once
/// the load is under way, with the pids of Shakedown's children.
fn mid_run(dir: &Path) -> (Child, u16, Vec<u32>) {
    build_sut();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.join("plan.toml"),
        plan(
            port,
            &listen,
            "method = \"POST\"\npath = \"/runs\"\njson = { kind = \"simulation\" }\nconcurrency = 1\nduration_s = 60",
        ),
    )
    .unwrap();
    let mut run = shakedown(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the load to create runs", Duration::from_secs(60), || {
        if let Ok(Some(status)) = run.try_wait() {
            panic!("shakedown ended early: {status}");
        }
        let queue: serde_json::Value = serde_json::from_str(&get(port, "/metrics/queue")?).ok()?;
        (queue["queued"].as_i64()? > 0).then_some(())
    });
    let kids = children(run.id());
    assert!(!kids.is_empty(), "no program under shakedown");
    (run, port, kids)
}

#[test]
fn ctrl_c_mid_run_stops_the_programs() {
    let dir = tempfile::Builder::new()
        .prefix("local-programs-")
        .tempdir()
        .unwrap();
    let (mut run, port, kids) = mid_run(dir.path());
    kill(Pid::from_raw(run.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_exit(&mut run, Duration::from_secs(60));
    // Aborted: what was measured is kept.
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(dir.path().join("out").join("results.json").is_file());
    // Shakedown stopped (and reaped) its programs before it exited.
    for pid in kids {
        assert!(!alive(pid), "pid {pid} outlived Ctrl-C");
    }
    assert!(!listening(port));
}

#[test]
fn a_sigkilled_shakedown_leaves_no_program_running() {
    let dir = tempfile::Builder::new()
        .prefix("local-programs-")
        .tempdir()
        .unwrap();
    let (mut run, _, kids) = mid_run(dir.path());
    run.kill().unwrap();
    wait_exit(&mut run, Duration::from_secs(10));
    // The kernel kills each orphan (parent-death signal).
    for pid in kids {
        eventually(
            &format!("pid {pid} to die"),
            Duration::from_secs(10),
            || (!alive(pid)).then_some(()),
        );
    }
}
