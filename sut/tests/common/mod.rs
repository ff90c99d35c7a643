//! Test harness: starts the real `shakedown-sut` binary (api and worker
//! roles) on loopback ports with a temporary data directory, and talks to
//! it over HTTP. Every wait is bounded in time.

#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_shakedown-sut");

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One demo stack: a data dir, a database, an API port, and the processes.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub database_url: Option<String>,
    /// Flags given to every process (e.g. `--step-ms 100`).
    pub common: Vec<String>,
    pub api: Option<Child>,
    pub workers: Vec<Child>,
    /// Extra environment variables for every process.
    pub env: Vec<(String, String)>,
    logs: u32,
    pub http: reqwest::Client,
}

impl Stack {
    /// A stack on SQLite (in the temp dir) with these common flags.
    pub fn new(common: &[&str]) -> Stack {
        Stack::with_database(None, common)
    }

    /// A stack on the given database URL (None: SQLite in the temp dir).
    pub fn with_database(database_url: Option<String>, common: &[&str]) -> Stack {
        Stack {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            database_url,
            common: common.iter().map(|s| s.to_string()).collect(),
            api: None,
            workers: Vec::new(),
            env: Vec::new(),
            logs: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&mut self, role: &str, extra: &[&str]) -> Command {
        let listen = format!("127.0.0.1:{}", self.port);
        self.command_on(role, &listen, extra)
    }

    fn command_on(&mut self, role: &str, listen: &str, extra: &[&str]) -> Command {
        self.logs += 1;
        let log = self.dir.path().join(format!("{role}-{}.log", self.logs));
        let mut cmd = Command::new(BIN);
        cmd.arg(role)
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--listen")
            .arg(listen)
            .args(&self.common)
            .args(extra)
            .env_remove("SUT_FAULTS")
            .env_remove("SUT_DATABASE_URL")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd
    }

    /// Starts the API and waits until `/health` answers.
    pub async fn start_api(&mut self, extra: &[&str]) {
        let child = self.command("api", extra).spawn().unwrap();
        self.api = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.api.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("API exited at start: {status}\n{}", self.logs_text());
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/health", self.base()))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("API not healthy within 30s\n{}", self.logs_text());
    }

    /// Starts the API on a port the system picks (`--listen 127.0.0.1:0`)
    /// and waits for its `listening on http://ADDR` line; `base()` then
    /// names that address. Needs no route of either shape to answer.
    pub async fn start_api_any_port(&mut self, extra: &[&str]) {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut cmd = self.command_on("api", "127.0.0.1:0", extra);
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().expect("stdout is piped");
        self.api = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let port = loop {
            let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Err(_) => panic!("API printed no address within 30s\n{}", self.logs_text()),
                Ok(Err(e)) => panic!("reading the API's stdout: {e}\n{}", self.logs_text()),
                Ok(Ok(None)) => panic!("API exited at start\n{}", self.logs_text()),
                Ok(Ok(Some(line))) => line,
            };
            let port = line
                .strip_prefix("listening on http://")
                .and_then(|addr| addr.trim().parse::<std::net::SocketAddr>().ok())
                .map(|addr| addr.port());
            if let Some(port) = port {
                break port;
            }
        };
        self.port = port;
        // Keep reading so the API never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }

    /// Sends SIGTERM to the API; returns its exit status (bounded wait).
    pub async fn term_api(&mut self, within: Duration) -> std::process::ExitStatus {
        let api = self.api.as_mut().expect("API started");
        let pid = api.id().expect("API still running") as i32;
        // SAFETY: plain kill(2) on a child we spawned and still own.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        tokio::time::timeout(within, api.wait())
            .await
            .expect("API did not exit after SIGTERM")
            .unwrap()
    }

    /// Starts a worker; returns its index.
    pub fn start_worker(&mut self, extra: &[&str]) -> usize {
        let child = self.command("worker", extra).spawn().unwrap();
        self.workers.push(child);
        self.workers.len() - 1
    }

    /// SIGKILLs the API and waits for it to be gone.
    pub async fn kill_api(&mut self) {
        if let Some(mut api) = self.api.take() {
            api.kill().await.unwrap();
        }
    }

    /// SIGKILLs worker `i` and waits for it to be gone.
    pub async fn kill_worker(&mut self, i: usize) {
        self.workers[i].kill().await.unwrap();
    }

    /// Sends SIGTERM to worker `i`; returns its exit status (bounded wait).
    pub async fn term_worker(&mut self, i: usize, within: Duration) -> std::process::ExitStatus {
        let pid = self.workers[i].id().unwrap() as i32;
        // SAFETY: plain kill(2) on a child we spawned and still own.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        tokio::time::timeout(within, self.workers[i].wait())
            .await
            .expect("worker did not exit after SIGTERM")
            .unwrap()
    }

    /// Polls `/health` until it answers 200.
    pub async fn wait_health(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(r) = self
                .http
                .get(format!("{}/health", self.base()))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("API not healthy within {within:?}\n{}", self.logs_text());
    }

    /// Polls `/health/ready` until it answers 200; returns its body.
    pub async fn wait_ready(&self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Ok(r) = self
                .http
                .get(format!("{}/health/ready", self.base()))
                .send()
                .await
            {
                let ok = r.status().is_success();
                last = r.json().await.unwrap_or(Value::Null);
                if ok {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not ready within {within:?}: {last}\n{}", self.logs_text());
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base()))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a run; returns its id.
    pub async fn create_run(&self, kind: &str, params: Value, key: Option<&str>) -> String {
        let (status, run) = self
            .post_json(
                "/runs",
                &json!({ "kind": kind, "params": params, "idempotency_key": key }),
            )
            .await;
        assert!(status == 201 || status == 200, "POST /runs: {status} {run}");
        run["id"].as_str().unwrap().to_owned()
    }

    pub async fn run(&self, id: &str) -> Value {
        let (status, run) = self.get_json(&format!("/runs/{id}")).await;
        assert_eq!(status, 200, "GET /runs/{id}: {run}");
        run
    }

    pub async fn results(&self, id: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/runs/{id}/results")).await;
        assert_eq!(status, 200, "results of {id}: {body}");
        body["results"].as_array().unwrap().clone()
    }

    /// Waits until every run is completed or failed; panics on timeout.
    pub async fn wait_terminal(&self, ids: &[String], within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let mut runs = Vec::new();
            for id in ids {
                runs.push(self.run(id).await);
            }
            let open: Vec<&Value> = runs
                .iter()
                .filter(|r| r["status"] != "completed" && r["status"] != "failed")
                .collect();
            if open.is_empty() {
                return runs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "runs not terminal within {within:?}: {open:?}\n{}",
                    self.logs_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the run has emitted at least `n` progress events.
    pub async fn wait_progress(&self, id: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let events = self
                .read_events(id, None, Duration::from_millis(300), None)
                .await;
            if events.iter().filter(|e| e.event == "progress").count() >= n {
                return;
            }
        }
        panic!(
            "run {id} made no progress within {within:?}\n{}",
            self.logs_text()
        );
    }

    /// Reads the run's SSE stream for at most `within`, or until `max`
    /// events, or until the stream ends. `Err` on a connection failure.
    pub async fn read_events(
        &self,
        id: &str,
        last_event_id: Option<i64>,
        within: Duration,
        max: Option<usize>,
    ) -> Vec<SseEvent> {
        read_sse(
            &self.http,
            &format!("{}/runs/{id}/events", self.base()),
            last_event_id,
            within,
            max,
        )
        .await
        .unwrap_or_default()
    }

    /// The artifact bytes as served by the API.
    pub async fn artifact(&self, key: &str) -> Option<Vec<u8>> {
        let r = self
            .http
            .get(format!("{}/artifacts/{key}", self.base()))
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            return None;
        }
        assert!(r.status().is_success());
        Some(r.bytes().await.unwrap().to_vec())
    }

    /// The local bucket directory of a bucket name.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir.path().join("buckets").join(bucket)
    }

    /// All process logs, for failure messages.
    pub fn logs_text(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
            {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                out.push_str(&format!("---- {}\n", p.display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// One event read from an SSE stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `id:` line as a number, when it is one.
    pub id: Option<i64>,
    /// The `id:` line as sent; `None` when the event had none.
    pub raw_id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// Reads an SSE stream (bounded by time and count).
pub async fn read_sse(
    http: &reqwest::Client,
    url: &str,
    last_event_id: Option<i64>,
    within: Duration,
    max: Option<usize>,
) -> Result<Vec<SseEvent>, String> {
    let last = last_event_id.map(|id| id.to_string());
    read_sse_from(http, url, last.as_deref(), within, max).await
}

/// Reads an SSE stream (bounded by time and count), resuming after an
/// event id of any form.
pub async fn read_sse_from(
    http: &reqwest::Client,
    url: &str,
    last_event_id: Option<&str>,
    within: Duration,
    max: Option<usize>,
) -> Result<Vec<SseEvent>, String> {
    use futures_util::StreamExt;
    let mut req = http.get(url).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let deadline = tokio::time::Instant::now() + within;
    let resp = tokio::time::timeout_at(deadline, req.send())
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return Ok(out),
            Ok(None) => return Ok(out),
            Ok(Some(Err(_))) => return Ok(out),
            Ok(Some(Ok(c))) => c,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if data.is_empty() {
                continue; // keep-alive comment
            }
            out.push(SseEvent {
                id: id.as_deref().and_then(|v| v.parse().ok()),
                raw_id: id,
                event,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            });
            if max.is_some_and(|m| out.len() >= m) {
                return Ok(out);
            }
        }
    }
}

impl Drop for Stack {
    /// On failure (or with `SUT_TEST_SHOW_LOGS=1`) prints the processes' logs.
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var("SUT_TEST_SHOW_LOGS").is_ok_and(|v| v == "1") {
            eprintln!("{}", self.logs_text());
        }
    }
}
