//! A run killed in the middle of a network fault leaves no toxic behind
//! once Shakedown starts again: `shakedown run` is SIGKILLed while its
//! chaos test holds a latency toxic on the built-in proxy; the toxic is
//! still there (nothing else removed it), and the next `shakedown run` on
//! the same data folder removes it from the ledger before anything else.

use axum::routing::get;
use axum::Router;
use engine::netfault::{NetFaultOptions, ProxyRegistry};
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn plan(proxy: SocketAddr, api: SocketAddr, test: &str) -> String {
    format!(
        r#"
[plan]
name = "crash"

[environments.local]
base_url = "http://{proxy}"
allowed_hosts = ["127.0.0.1"]
network = {{ api = "http://{api}", links = {{ api = "sut_api" }} }}

[[tests]]
id = "T1"
{test}
"#
    )
}

/// The run under test, killed if an assertion fails before the test
/// kills it, so no run holding a 100 s toxic outlives the test.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_left_by_a_killed_run_is_removed_by_the_next_start() {
    let target = serve(Router::new().route("/ok", get(|| async { "ok" }))).await;
    let registry = Arc::new(ProxyRegistry::new(NetFaultOptions::default()));
    let view = registry
        .create(
            &json!({"name": "sut_api", "listen": "127.0.0.1:0", "upstream": target.to_string()}),
        )
        .unwrap();
    let proxy: SocketAddr = view.listen.parse().unwrap();
    let api = serve(server::proxy_api::router(registry.clone(), true)).await;
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.toml");
    std::fs::write(
        &long,
        plan(
            proxy,
            api,
            "[tests.chaos]\ndeadline_s = 120\nfault.network = { link = \"api\", toxic = \"latency\", latency_ms = 500, duration_s = 100 }\n",
        ),
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("run")
            .arg(&long)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--out")
            .arg(dir.path().join("out1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait for the toxic (a hang guard only: the run injects at once).
    let waited = Instant::now();
    while registry.toxics("sut_api").unwrap().is_empty() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the run never injected its toxic"
        );
        assert!(child.0.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ledger = dir.path().join("netfaults");
    let recorded = std::fs::read_dir(&ledger).unwrap().count();
    assert_eq!(recorded, 1, "the fault is recorded before it is injected");
    child.0.kill().unwrap(); // SIGKILL: no clean-up of its own.
    child.0.wait().unwrap();
    let left = registry.toxics("sut_api").unwrap();
    assert_eq!(left.len(), 1, "the killed run's toxic is still in place");
    assert!(left[0].name.starts_with("shakedown_T1_latency"), "{left:?}");

    // The next start removes it before running anything.
    let quick = dir.path().join("quick.toml");
    std::fs::write(
        &quick,
        plan(
            proxy,
            api,
            "[tests.http_load]\npath = \"/ok\"\nrounds = 1\nconcurrency = 1\n",
        ),
    )
    .unwrap();
    let output = tokio::task::spawn_blocking({
        let quick = quick.clone();
        let data = dir.path().to_owned();
        move || {
            Command::new(env!("CARGO_BIN_EXE_shakedown"))
                .arg("run")
                .arg(&quick)
                .arg("--data-dir")
                .arg(&data)
                .arg("--out")
                .arg(data.join("out2"))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        registry.toxics("sut_api").unwrap().is_empty(),
        "toxic still in place after the next start: {stderr}"
    );
    assert!(
        stderr.contains("removed a network fault a stopped run left"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&ledger).unwrap().count(), 0);
}
