//! Local mode (no login, everyone is the admin `local`) against a real
//! `shakedown serve`: it refuses to listen on a non-loopback address
//! without the loudly named flag, and answers only requests addressed to a
//! loopback name, from pages of that same origin. A page on a rebinding
//! domain (its name resolving to 127.0.0.1) sends `Host: evil.example`,
//! and is refused.

mod common;

use common::free_port;
use common::server::{get, shakedown_bin, ServeOptions, Server};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn options(dir: &std::path::Path) -> ServeOptions {
    ServeOptions {
        port: free_port(),
        data_dir: dir.to_path_buf(),
        plans_dir: common::root().join("examples"),
        database_url: None,
        extra: Vec::new(),
    }
}

#[test]
fn local_mode_refuses_a_non_loopback_address_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(shakedown_bin())
        .args([
            "serve",
            "--local-mode",
            "--addr",
            &format!("0.0.0.0:{port}"),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("SHAKEDOWN_LOCAL_MODE_OPEN_TO_NETWORK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve --local-mode kept listening on 0.0.0.0:{port}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("listens only on loopback")
            && stderr.contains("--local-mode-open-to-network"),
        "{stderr}"
    );
}

#[test]
fn local_mode_answers_only_loopback_hosts_and_its_own_origin() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
    let server = Server::start(&options);
    let port = options.port;
    let url = format!("{}/api/runs/none", server.base);

    // Rebinding: the browser sends the attacker's name as Host.
    let evil_host = format!("evil.example:{port}");
    let (status, body) = get(&url, &[("Host", &evil_host)], 5.0);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("loopback"), "{body}");
    let (status, _) = get(&format!("{}/", server.base), &[("Host", &evil_host)], 5.0);
    assert_eq!(status, 403);

    // A foreign page's request to 127.0.0.1 names its own origin.
    let (status, _) = get(&url, &[("Origin", "http://evil.example")], 5.0);
    assert_eq!(status, 403);
    let (status, _) = get(&url, &[("Origin", "null")], 5.0);
    assert_eq!(status, 403);

    // The app's own pages and tools on loopback work.
    let (status, _) = get(&url, &[], 5.0);
    assert_eq!(status, 404, "an unknown run, answered");
    let own = format!("http://127.0.0.1:{port}");
    let (status, _) = get(&url, &[("Origin", &own)], 5.0);
    assert_eq!(status, 404);
    let (status, _) = get(&url, &[("Host", &format!("localhost:{port}"))], 5.0);
    assert_eq!(status, 404);
}
