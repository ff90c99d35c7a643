//! A real `shakedown serve` and demo target for the integration tests, all
//! on 127.0.0.1: start them, launch runs through the web app's server
//! function, read a run's event stream (with `Last-Event-ID`), and read the
//! database behind the server directly.

use super::{build_sut, free_port};
use leptos::server_fn::ServerFn;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `shakedown` binary under test.
pub fn shakedown_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shakedown"))
}

/// `shakedown-sut`, built beside it.
pub fn sut_bin() -> PathBuf {
    build_sut();
    shakedown_bin().with_file_name("shakedown-sut")
}

/// Polls `check` every 100 ms until it holds; panics after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET with curl: (HTTP status, body); status 0 when nothing answered.
pub fn get(url: &str, headers: &[(&str, &str)], max_time_s: f64) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-N", "--max-time", &max_time_s.to_string()])
        .args(["-w", "\n%{http_code}"]);
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The demo target's API alone, on SQLite in its own folder.
pub struct Sut {
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Sut {
    pub fn start() -> Sut {
        let dir = tempfile::Builder::new().prefix("sut-").tempdir().unwrap();
        let port = free_port();
        let child = Command::new(sut_bin())
            .args(["api", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--environment", "test"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_until("the demo target", Duration::from_secs(30), || {
            get(&format!("{base}/health"), &[], 2.0).0 == 200
        });
        Sut {
            base,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Sut {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plan of one `http_load` test on the target's `/health` at a steady
/// rate for `duration_s` seconds.
pub fn load_plan(base: &str, duration_s: u32) -> String {
    format!(
        r#"
[plan]
name = "long-load"
default_environment = "test"

[environments.test]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[[tests]]
id = "L1"
title = "Health endpoint under steady load"
[tests.http_load]
path = "/health"
rate = 20
duration_s = {duration_s}

[[criteria]]
expr = "L1.fail == 0"
"#
    )
}

/// How to start `shakedown serve`.
pub struct ServeOptions {
    pub port: u16,
    pub data_dir: PathBuf,
    pub plans_dir: PathBuf,
    pub database_url: Option<String>,
    pub extra: Vec<String>,
}

impl ServeOptions {
    /// The command line (everything after the binary).
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![
            "serve".to_owned(),
            "--addr".to_owned(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".to_owned(),
            self.data_dir.display().to_string(),
            "--plans-dir".to_owned(),
            self.plans_dir.display().to_string(),
            "--site-root".to_owned(),
            self.data_dir.join("site").display().to_string(),
            // These tests are about runs, not accounts: no login.
            "--local-mode".to_owned(),
        ];
        if let Some(url) = &self.database_url {
            argv.push("--database-url".to_owned());
            argv.push(url.clone());
        }
        argv.extend(self.extra.iter().cloned());
        argv
    }

    /// The database the server uses.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                self.data_dir.join("shakedown.db").display()
            )
        })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A `shakedown serve` process, its output in `log`.
pub struct Server {
    pub child: Child,
    pub log: PathBuf,
    pub base: String,
}

impl Server {
    pub fn start(options: &ServeOptions) -> Server {
        let log = options.data_dir.join(format!("serve-{}.log", free_port()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(shakedown_bin())
            .args(options.argv())
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            log,
            base: options.base(),
        };
        let url = format!("{}/readyz", server.base);
        let start = Instant::now();
        while get(&url, &[], 2.0).0 != 200 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited with {status}: {}", server.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "serve not ready: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the process to end, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Calls the web app's `start_run` server function with a plan file of
    /// the plans folder: `Ok(run id)` or `Err(the launch error's message)`.
    pub fn start_run(&self, plan_file: &str) -> Result<String, String> {
        start_run(&self.base, plan_file)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `start_run` on the server at `base`, as the New run page calls it.
pub fn start_run(base: &str, plan_file: &str) -> Result<String, String> {
    let body = serde_json::json!({ "request": { "plan": { "File": plan_file } } });
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", "Accept: application/json"])
        .args(["-H", &format!("Origin: {base}")])
        .arg("--data")
        .arg(body.to_string())
        .arg(format!("{base}{}", app::routes::new_run::StartRun::PATH))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let answer: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("start_run answered {text:?}: {e}"));
    if let Some(run) = answer.get("Ok") {
        Ok(run["id"].as_str().unwrap().to_owned())
    } else if let Some(err) = answer.get("Err") {
        Err(err["message"].as_str().unwrap_or_default().to_owned())
    } else {
        panic!("start_run answered {text}")
    }
}

/// One SSE message of a run's stream: its id and the stored event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: i64,
    pub seq: i64,
    pub kind: String,
    pub data: String,
}

/// Reads `/api/runs/{id}/events` for at most `max_time_s` seconds (or until
/// the stream ends), from after `last_event_id` when given.
pub fn read_events(
    base: &str,
    run: &str,
    last_event_id: Option<i64>,
    max_time_s: f64,
) -> Vec<SseEvent> {
    let last = last_event_id.map(|n| n.to_string());
    let headers: Vec<(&str, &str)> = last
        .as_deref()
        .map(|l| vec![("Last-Event-ID", l)])
        .unwrap_or_default();
    let (_, body) = get(
        &format!("{base}/api/runs/{run}/events"),
        &headers,
        max_time_s,
    );
    parse_sse(&body)
}

/// The complete messages of an SSE body.
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut id = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("data:") {
                data = Some(v.trim().to_owned());
            }
        }
        let (Some(id), Some(data)) = (id, data) else {
            continue;
        };
        let Ok(stored) = serde_json::from_str::<serde_json::Value>(&data) else {
            continue; // cut off by the time limit
        };
        events.push(SseEvent {
            id,
            seq: stored["seq"].as_i64().unwrap(),
            kind: stored["kind"].as_str().unwrap().to_owned(),
            data: stored["data"].as_str().unwrap_or_default().to_owned(),
        });
    }
    events
}

/// A run's row as stored: status, error, finished_at_ms, evidence version.
#[derive(Debug)]
pub struct StoredRun {
    pub status: String,
    pub verdict: Option<String>,
    pub error: Option<String>,
    pub finished_at_ms: Option<i64>,
    pub evidence_version: Option<i64>,
}

/// Reads a run and its events' (seq, kind) straight from the database.
pub fn read_db(url: &str, run: &str) -> (StoredRun, Vec<(i64, String)>) {
    use sqlx::Row;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap();
        let row = sqlx::query(
            "SELECT status, verdict, error, finished_at_ms, evidence_version FROM runs WHERE id = $1",
        )
        .bind(run)
        .fetch_one(&pool)
        .await
        .unwrap();
        let stored = StoredRun {
            status: row.get("status"),
            verdict: row.get("verdict"),
            error: row.get("error"),
            finished_at_ms: row.get("finished_at_ms"),
            evidence_version: row.get("evidence_version"),
        };
        let events = sqlx::query("SELECT seq, kind FROM run_events WHERE run_id = $1 ORDER BY seq")
            .bind(run)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<i64, _>("seq"), r.get::<String, _>("kind")))
            .collect();
        pool.close().await;
        (stored, events)
    })
}

/// Asserts `seqs` is exactly 1, 2, …, n.
pub fn assert_gap_free(seqs: &[i64], context: &str) {
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected.as_slice(), "{context}");
}

/// A folder holding one plan file.
pub fn plans_dir(parent: &Path, file: &str, text: &str) -> PathBuf {
    let dir = parent.join("plans");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
    dir
}
