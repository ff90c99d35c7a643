//! Load agents (#17) as real processes on loopback: a `shakedown serve` and
//! three `shakedown agent` processes with an agent account's token split an
//! open-model test at 3,000 requests/s against a small HTTP server in this
//! test. The merged figures are exact (the request count is the agents'
//! sum, p50/p99/max are those of one histogram of every sample each agent
//! logged) and each agent sent a third. Killing one agent mid-run (SIGKILL)
//! makes the test an ERROR naming the lost agent and its share, never GO.
//! The agent account may not read runs. On SQLite always; on PostgreSQL
//! too when `SHAKEDOWN_TEST_PG_URL` is set.

mod common;

use common::free_port;
use common::server::{
    get, plans_dir, read_events, shakedown_bin, wait_until, ServeOptions, Server,
};
use engine::load::recorder::{summarize, Outcome, Recorder, Sample};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A small HTTP server on 127.0.0.1 answering 200 to everything, on a
/// runtime of its own.
struct Target {
    base: String,
    _runtime: tokio::runtime::Runtime,
}

impl Target {
    fn start() -> Target {
        Target::serving(axum::Router::new().fallback(|| async { "ok" }))
    }

    /// Serves `app` instead.
    fn serving(app: axum::Router) -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Target {
            base,
            _runtime: runtime,
        }
    }
}

/// A `shakedown agent` process, its samples and its log in `dir`.
struct Agent {
    name: String,
    child: Child,
    samples: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn start(dir: &Path, name: &str, server: &str, token: &str) -> Agent {
        let samples = dir.join(format!("{name}.samples"));
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(shakedown_bin())
            .args(["agent", "--server", server, "--name", name])
            .arg("--samples-log")
            .arg(&samples)
            .env("SHAKEDOWN_AGENT_TOKEN", token)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Agent {
            name: name.to_owned(),
            child,
            samples,
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The latencies it logged, in microseconds.
    fn latencies(&self) -> Vec<u64> {
        std::fs::read_to_string(&self.samples)
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `shakedown ARGS` on the server's database; its standard output.
fn shakedown(options: &ServeOptions, args: &[&str], stdin: &str) -> String {
    let mut cmd = Command::new(shakedown_bin());
    cmd.args(args).arg("--data-dir").arg(&options.data_dir);
    if let Some(url) = &options.database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::feed_stdin(&mut child, stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An `agent` account and an API token of it.
fn agent_token(options: &ServeOptions) -> String {
    shakedown(
        options,
        &["user", "add", "loadagents", "--role", "agent"],
        "a long enough password\n",
    );
    shakedown(
        options,
        &["token", "add", "--user", "loadagents", "--label", "agents"],
        "",
    )
}

fn plan(target: &str, rate: u32, duration_s: u32) -> String {
    format!(
        r#"
[plan]
name = "agents"
default_environment = "local"

[environments.local]
base_url = "{target}"
allowed_hosts = ["127.0.0.1"]

[[tests]]
id = "L1"
[tests.http_load]
path = "/"
rate = {rate}
duration_s = {duration_s}
concurrency = 192
agents = 3
"#
    )
}

/// A server with the plan, and three agents.
struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    token: String,
    agents: Vec<Agent>,
}

fn setup(target: &Target, rate: u32, duration_s: u32, database_url: Option<String>) -> Setup {
    let dir = tempfile::Builder::new()
        .prefix("agents-")
        .tempdir()
        .unwrap();
    let plans = plans_dir(
        dir.path(),
        "agents.toml",
        &plan(&target.base, rate, duration_s),
    );
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans,
        database_url,
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let server = Server::start(&options);
    let token = agent_token(&options);
    let agents = ["a1", "a2", "a3"]
        .iter()
        .map(|name| Agent::start(dir.path(), name, &server.base, &token))
        .collect();
    Setup {
        _dir: dir,
        server,
        token,
        agents,
    }
}

/// Waits for the run to end; its results.json.
fn finished(setup: &Setup, id: &str) -> serde_json::Value {
    let base = &setup.server.base;
    wait_until(&format!("run {id}"), Duration::from_secs(180), || {
        let (status, body) = get(&format!("{base}/api/runs/{id}"), &[], 5.0);
        status == 200 && !body.contains("\"queued\"") && !body.contains("\"running\"")
    });
    let (status, body) = get(
        &format!("{base}/api/runs/{id}/evidence/results.json"),
        &[],
        10.0,
    );
    assert_eq!(status, 200, "{body}\n{}", setup.server.log_text());
    serde_json::from_str(&body).unwrap()
}

fn three_agents_merge_exactly(database_url: Option<String>) {
    let target = Target::start();
    let setup = setup(&target, 3_000, 3, database_url);
    let id = setup.server.start_run("agents.toml").unwrap();
    let results = finished(&setup, &id);
    let test = &results["tests"][0];
    let logs: Vec<String> = setup.agents.iter().map(Agent::log_text).collect();
    assert_eq!(test["status"], "PASS", "{test}\n{logs:?}");
    let metrics = &test["metrics"];
    let total = metrics["requests"].as_u64().unwrap();
    assert_eq!(total, 9_000, "3,000/s for 3 s");
    assert_eq!(metrics["fail"], 0);

    // Each agent did its third, and the merged count is their sum.
    let rows = test["agents"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{test}");
    let counted: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(counted, total);
    let mut names: Vec<&str> = rows.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a1", "a2", "a3"]);
    for row in rows {
        assert_eq!(row["state"], "done", "{row}");
        assert_eq!(row["rate"], 1_000, "{row}");
        let share = row["requests"].as_u64().unwrap() as f64 / total as f64;
        assert!((share - 1.0 / 3.0).abs() <= 0.01 / 3.0, "{row}");
    }

    // One histogram of every sample the agents logged gives the same
    // percentiles, exactly.
    let mut recorder = Recorder::new();
    let mut logged = 0;
    for agent in &setup.agents {
        let latencies = agent.latencies();
        let row = rows
            .iter()
            .find(|r| r["agent"] == agent.name.as_str())
            .unwrap();
        assert_eq!(latencies.len() as u64, row["requests"].as_u64().unwrap());
        logged += latencies.len() as u64;
        for latency_us in latencies {
            recorder.record(&Sample {
                start_us: 0,
                latency_us,
                outcome: Outcome::Ok(200),
                late: false,
            });
        }
    }
    assert_eq!(logged, total);
    let whole = summarize(recorder.histogram());
    let latency = &metrics["latency"];
    assert_eq!(latency["p50_ms"].as_f64(), Some(whole.p50_ms), "{latency}");
    assert_eq!(latency["p99_ms"].as_f64(), Some(whole.p99_ms), "{latency}");
    assert_eq!(latency["max_ms"].as_f64(), Some(whole.max_ms), "{latency}");

    // The agent account reads no run.
    let auth = format!("Bearer {}", setup.token);
    let (status, body) = get(
        &format!("{}/api/runs/{id}", setup.server.base),
        &[("Authorization", &auth)],
        5.0,
    );
    assert_eq!(status, 403, "{body}");
}

#[test]
fn three_agents_split_a_load_and_its_figures_merge_exactly_on_sqlite() {
    three_agents_merge_exactly(None);
}

#[test]
fn three_agents_split_a_load_and_its_figures_merge_exactly_on_postgres() {
    if std::env::var("SHAKEDOWN_TEST_PG_URL").is_err() {
        eprintln!("SHAKEDOWN_TEST_PG_URL not set: PostgreSQL part skipped");
        return;
    }
    let db = common::pg::TestDatabase::new("agents");
    three_agents_merge_exactly(Some(db.url.clone()));
}

/// Waits until every agent runs its share, then two seconds more.
fn running_a_while(setup: &Setup) {
    wait_until("the agents to start", Duration::from_secs(90), || {
        setup
            .agents
            .iter()
            .all(|a| a.log_text().contains("started"))
    });
    std::thread::sleep(Duration::from_secs(2));
}

/// A 10 s test on three agents, the second of which gets `signal` once
/// every agent runs its share; the setup, the run's id and its results.
fn one_agent_signalled(
    target: &Target,
    signal: nix::sys::signal::Signal,
) -> (Setup, String, serde_json::Value) {
    let mut setup = setup(target, 300, 10, None);
    let id = setup.server.start_run("agents.toml").unwrap();
    running_a_while(&setup);
    let victim = &mut setup.agents[1];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim.child.id() as i32), signal).unwrap();
    victim.child.wait().unwrap();
    let results = finished(&setup, &id);
    (setup, id, results)
}

#[test]
fn an_agent_stopped_with_sigterm_makes_the_test_an_error() {
    let target = Target::start();
    let (setup, _, results) = one_agent_signalled(&target, nix::sys::signal::Signal::SIGTERM);
    let logs: Vec<String> = setup.agents.iter().map(Agent::log_text).collect();
    assert_ne!(results["verdict"], "GO", "{results}");
    let test = &results["tests"][0];
    assert_eq!(test["status"], "ERROR", "{test}\n{logs:?}");
    let error = test["error"].as_str().unwrap();
    assert!(
        error.contains("load agent a2 was stopped before its share ended"),
        "{error}"
    );
    // Its heartbeat lasted until its end was sent: stopped, not lost.
    let rows = test["agents"].as_array().unwrap();
    let states: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["agent"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&("a2", "stopped")), "{states:?}");
    assert_eq!(
        states.iter().filter(|(_, s)| *s == "done").count(),
        2,
        "{states:?}"
    );
}

#[test]
fn a_killed_agent_is_named_with_its_share_and_the_test_is_an_error() {
    let target = Target::start();
    // Once every agent runs its share, one of them dies.
    let (setup, id, results) = one_agent_signalled(&target, nix::sys::signal::Signal::SIGKILL);
    assert_ne!(results["verdict"], "GO", "{results}");
    let test = &results["tests"][0];
    assert_eq!(test["status"], "ERROR", "{test}");
    let rows = test["agents"].as_array().unwrap();
    let lost: Vec<&serde_json::Value> = rows.iter().filter(|r| r["state"] == "lost").collect();
    assert_eq!(lost.len(), 1, "{test}");
    assert_eq!(lost[0]["agent"], "a2");
    let error = test["error"].as_str().unwrap();
    assert!(error.contains("load agent a2 was lost"), "{error}");
    let segment = lost[0]["segment"].as_str().unwrap();
    assert!(error.contains(&format!("segment {segment},")), "{error}");
    assert!(
        error.contains("its share rate 100/s and 64 request slots"),
        "{error}"
    );
    assert!(
        error.contains("of the whole rate 300/s and 192 request slots"),
        "{error}"
    );
    assert!(lost[0]["lost_after_s"].as_f64().unwrap() > 0.0, "{test}");
    // What it sent before it died is merged with the others' whole shares.
    let merged = test["metrics"]["requests"].as_u64().unwrap();
    let sent: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(merged, sent);
    assert!(lost[0]["requests"].as_u64().unwrap() < 1_000, "{test}");
    assert!(
        rows.iter().filter(|r| r["state"] == "done").count() == 2,
        "{test}"
    );
    // The merged figures went out live too, a window a second.
    let events = read_events(&setup.server.base, &id, None, 10.0);
    let windows = events.iter().filter(|e| e.kind == "window").count();
    assert!(windows >= 3, "{windows} live windows");
}

/// Aborts run `id` as the run page's button does.
fn abort(base: &str, id: &str) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-X", "POST"])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
        .args(["-H", "Accept: application/json"])
        .args(["-H", &format!("Origin: {base}")])
        .arg("--data")
        .arg(format!("id={id}"))
        .arg(format!("{base}/api/abort_run"))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.contains("true"), "abort_run answered {answer:?}");
}

#[test]
fn an_aborted_run_merges_what_every_agent_measured_up_to_the_abort() {
    let target = Target::start();
    let setup = setup(&target, 300, 30, None);
    let id = setup.server.start_run("agents.toml").unwrap();
    running_a_while(&setup);
    abort(&setup.server.base, &id);
    let results = finished(&setup, &id);
    let logs: Vec<String> = setup.agents.iter().map(Agent::log_text).collect();
    assert_eq!(results["status"], "aborted", "{results}");
    let test = &results["tests"][0];
    // Each agent was asked to stop and sent its last snapshot and its end
    // before its shard was withdrawn: every sample it logged is merged.
    let rows = test["agents"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{test}");
    for agent in &setup.agents {
        let row = rows
            .iter()
            .find(|r| r["agent"] == agent.name.as_str())
            .unwrap();
        assert_eq!(row["state"], "done", "{row}\n{logs:?}");
        let logged = agent.latencies().len() as u64;
        assert!(logged > 0, "{}", agent.name);
        assert_eq!(row["requests"].as_u64(), Some(logged), "{row}\n{logs:?}");
    }
    let merged = test["metrics"]["requests"].as_u64().unwrap();
    let logged: u64 = setup
        .agents
        .iter()
        .map(|a| a.latencies().len() as u64)
        .sum();
    assert_eq!(merged, logged, "{test}");
    assert!(merged < 9_000, "stopped before its 30 s: {merged}");
}

/// An agent refused by a server of another agents' protocol (a stand-in
/// on 127.0.0.1 that answers a registration 409 as such a server does and
/// keeps the body it got) exits with code 2 and the server's message, and
/// it sent its version and protocol.
#[test]
fn an_agent_refused_for_its_protocol_exits_2_with_the_servers_message() {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let keep = got.clone();
    let refuse = move |axum::Json(body): axum::Json<serde_json::Value>| async move {
        *keep.lock().unwrap() = Some(body);
        let error = "the agent speaks protocol 1 and this server protocol 99 (shakedown 9.9.9)";
        (
            axum::http::StatusCode::CONFLICT,
            axum::Json(serde_json::json!({ "error": error })),
        )
    };
    let app = axum::Router::new().route("/api/agents", axum::routing::post(refuse));
    let server = Target::serving(app);
    let mut child = Command::new(shakedown_bin())
        .args(["agent", "--server", &server.base, "--name", "old"])
        .env("SHAKEDOWN_AGENT_TOKEN", "t")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // At most 30 s; one still running then is killed.
    let exited = (0..300).find_map(|_| {
        let status = child.try_wait().unwrap();
        if status.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        status
    });
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the refused agent did not exit within 30 s");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("409") && stderr.contains("this server protocol 99 (shakedown 9.9.9)"),
        "{stderr}"
    );
    let body = got.lock().unwrap().clone().unwrap_or_default();
    assert_eq!(body["protocol"], engine::agents::AGENT_PROTOCOL, "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
}
