//! `shakedown proxy` as a program: started with a `--config` file, driven
//! over HTTP like a Toxiproxy, and refusing what it must refuse.

mod common;

use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Guards against a hang only.
const HANG: Duration = Duration::from_secs(60);

fn shakedown() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shakedown"))
}

/// A blocking echo server on 127.0.0.1.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match socket.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn http(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        req = req.body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits (bounded) for the API to answer.
async fn wait_for_api(base: &str, child: &mut Child) {
    let start = Instant::now();
    loop {
        if let Ok(resp) = reqwest::get(format!("{base}/version")).await {
            if resp.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("shakedown proxy exited early: {status}");
        }
        assert!(start.elapsed() < HANG, "the proxy API never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn round_trip(addr: SocketAddr, msg: &[u8]) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .expect("the echo came back")
        .unwrap();
    assert_eq!(back, msg);
    start.elapsed()
}

#[tokio::test]
async fn runs_the_proxies_of_its_config_and_obeys_its_api() {
    let echo = echo_server();
    let listen = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let api_port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxies.json");
    std::fs::write(
        &config,
        json!([{"name": "db", "listen": listen.to_string(), "upstream": echo.to_string()}])
            .to_string(),
    )
    .unwrap();
    let child = shakedown()
        .args([
            "proxy",
            "--api",
            &format!("127.0.0.1:{api_port}"),
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let base = format!("http://127.0.0.1:{api_port}");
    wait_for_api(&base, &mut running.0).await;

    let (status, all) = http("GET", &format!("{base}/proxies"), None).await;
    assert_eq!(status, 200);
    assert_eq!(all["db"]["listen"], listen.to_string());
    assert_eq!(all["db"]["upstream"], echo.to_string());
    round_trip(listen, b"through").await;

    let (status, _) = http(
        "POST",
        &format!("{base}/proxies/db/toxics"),
        Some(json!({"name": "slow_db", "type": "latency", "attributes": {"latency": 300}})),
    )
    .await;
    assert_eq!(status, 200);
    let rtt = round_trip(listen, b"slow").await;
    assert!(
        rtt >= Duration::from_millis(240),
        "{rtt:?} through 300 ms of latency"
    );
    let (_, db) = http("GET", &format!("{base}/proxies/db"), None).await;
    // The connection of the first round trip may still be closing when the
    // toxic arrives, and then counts too.
    let affected = db["stats"]["connections_affected_by_toxic"]["slow_db"].as_u64();
    assert!(affected >= Some(1), "{db}");

    let (status, _) = http(
        "POST",
        &format!("{base}/proxies/db"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let refused = TcpStream::connect(listen).map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    let (status, _) = http("POST", &format!("{base}/reset"), None).await;
    assert_eq!(status, 204);
    let (_, db) = http("GET", &format!("{base}/proxies/db"), None).await;
    assert_eq!(db["toxics"], json!([]));
    assert_eq!(db["enabled"], true);
    round_trip(listen, b"back").await;
}

#[test]
fn a_bad_config_is_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxies.json");
    std::fs::write(
        &config,
        r#"[{"name": "db", "listen": "127.0.0.1:0", "upstream": "198.51.100.4:5432"}]"#,
    )
    .unwrap();
    let out = shakedown()
        .args([
            "proxy",
            "--api",
            &format!("127.0.0.1:{}", common::free_port()),
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("proxies.json") && err.contains("field `[0].upstream`"),
        "{err}"
    );

    std::fs::write(&config, "[{\"name\": \"db\",\n \"listen\" \"x\"}]").unwrap();
    let out = shakedown()
        .args([
            "proxy",
            "--api",
            &format!("127.0.0.1:{}", common::free_port()),
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("proxies.json: line 2 column"), "{err}");
}

#[test]
fn the_api_stays_on_loopback_unless_told() {
    let out = shakedown()
        .args(["proxy", "--api", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api-open-to-network"), "{err}");
}
