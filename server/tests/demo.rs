//! `shakedown demo` as a user runs it: the whole stack comes up on loopback,
//! answers, and Ctrl-C leaves no process and no temporary folder behind.
//! Needs `shakedown-sut` built beside `shakedown` (`cargo test --workspace`).

mod common;

use common::free_port;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn alive(pid: i32) -> bool {
    // A zombie is gone for our purposes; /proc/PID/stat shows state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

fn get_json(url: &str) -> serde_json::Value {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "GET {url} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_demo_starts_everything_and_ctrl_c_stops_everything() {
    let (web, sut, proxy) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["demo", "--addr", &format!("127.0.0.1:{web}")])
        .args(["--sut-port", &sut.to_string()])
        .args(["--proxy-port", &proxy.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut data_dir = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(dir) = line.trim().strip_prefix("data") {
            data_dir = Some(std::path::PathBuf::from(dir.trim()));
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    let data_dir = data_dir.expect("the demo prints its data folder");
    assert!(data_dir.is_dir());

    let ready = get_json(&format!("http://127.0.0.1:{web}/readyz"));
    assert_eq!(ready["status"], "ready");
    let health = get_json(&format!("http://127.0.0.1:{sut}/health"));
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["environment"], "demo");
    let api_pid = health["pid"].as_i64().unwrap() as i32;
    let target_ready = get_json(&format!("http://127.0.0.1:{sut}/health/ready"));
    assert_eq!(target_ready["status"], "ready", "{target_ready}");
    assert!(alive(api_pid));
    let children: Vec<i32> =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("every process ended")),
        "{rest:?}"
    );
    assert!(!alive(api_pid), "the target's API outlived the demo");
    for pid in children {
        assert!(!alive(pid), "process {pid} outlived the demo");
    }
    assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
}
