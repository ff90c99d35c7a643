//! `shakedown launch` (#17) against a real `shakedown serve` on loopback,
//! with an operator's API token: `--agents 2` splits the plan's load
//! across two `shakedown agent` processes (the run's result lists both
//! shares) and `--wait` exits 0 on GO; a NO-GO run exits 1; agents past
//! the server's cap are refused before anything runs, naming `--agents`
//! and the test (exit 2), and so is a missing token.

mod common;

use common::free_port;
use common::server::{get, load_plan, plans_dir, shakedown_bin, ServeOptions, Server, Sut};
use std::process::{Child, Command, Output, Stdio};

/// `shakedown ARGS` with `env` set and `stdin` fed; its output.
fn shakedown(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(shakedown_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::feed_stdin(&mut child, stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An operator account on the server's database and an API token of it.
fn operator_token(options: &ServeOptions) -> String {
    let data_dir = options.data_dir.display().to_string();
    let at = ["--data-dir", data_dir.as_str()];
    let add = [&["user", "add", "ci", "--role", "operator"][..], &at].concat();
    let added = shakedown(&add, &[], "a long enough password\n");
    assert!(added.status.success(), "{}", text(&added.stderr));
    let token = [
        &["token", "add", "--user", "ci", "--label", "launch"][..],
        &at,
    ]
    .concat();
    let made = shakedown(&token, &[], "");
    assert!(made.status.success(), "{}", text(&made.stderr));
    text(&made.stdout).trim().to_owned()
}

/// A `shakedown agent` process named `name`, its output in `dir`.
fn agent(dir: &std::path::Path, name: &str, server: &str, token: &str) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(shakedown_bin())
        .args(["agent", "--server", server, "--name", name])
        .env("SHAKEDOWN_AGENT_TOKEN", token)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The run id `shakedown launch` printed.
fn launched_id(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("run ") && l.contains(" started"))
        .unwrap_or_else(|| panic!("no run started in {stdout:?}"));
    line["run ".len()..].split(' ').next().unwrap().to_owned()
}

#[test]
fn launch_splits_the_load_across_agents_and_exits_by_verdict() {
    let sut = Sut::start();
    let dir = tempfile::Builder::new()
        .prefix("launch-")
        .tempdir()
        .unwrap();
    let go = load_plan(&sut.base, 3);
    let plans = plans_dir(dir.path(), "health.toml", &go);
    let no_go = go.replace("L1.fail == 0", "L1.requests == 0");
    std::fs::write(plans.join("nogo.toml"), no_go).unwrap();
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans,
        database_url: None,
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let server = Server::start(&options);
    let base = server.base.clone();
    let token = operator_token(&options);
    let with_token = [("SHAKEDOWN_TOKEN", token.as_str())];
    let launch = |extra: &[&str], env: &[(&str, &str)]| {
        let args = [&["launch", "--server", base.as_str(), "--plan"][..], extra].concat();
        shakedown(&args, env, "")
    };

    // Past the server's cap (--max-agents, 100 by default): refused, named.
    let refused = launch(&["health.toml", "--agents", "101"], &with_token);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains(
            "--agents: test L1: agents 101 is over max_agents 100 (this server's cap, --max-agents)"
        ),
        "{}",
        text(&refused.stderr)
    );
    let unsigned = launch(&["health.toml", "--agents", "2"], &[]);
    assert_eq!(unsigned.status.code(), Some(2));
    assert!(
        text(&unsigned.stderr).contains("set SHAKEDOWN_TOKEN to an operator's API token"),
        "{}",
        text(&unsigned.stderr)
    );

    let mut agents: Vec<Child> = ["a1", "a2"]
        .iter()
        .map(|name| agent(dir.path(), name, &base, &token))
        .collect();
    let done = launch(&["health.toml", "--agents", "2", "--wait"], &with_token);
    let stdout = text(&done.stdout);
    let logs: Vec<String> = ["a1", "a2"]
        .iter()
        .map(|a| std::fs::read_to_string(dir.path().join(format!("{a}.log"))).unwrap_or_default())
        .collect();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{stdout}\n{}\n{logs:?}\n{}",
        text(&done.stderr),
        server.log_text()
    );
    let id = launched_id(&stdout);
    assert!(
        stdout.contains(&format!("report: {base}/runs/{id}/report")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("run {id}: finished, GO")),
        "{stdout}"
    );

    // The load ran on the two agents: a share each, adding up to the whole.
    let (status, body) = get(
        &format!("{base}/api/runs/{id}/evidence/results.json"),
        &[("Authorization", &format!("Bearer {token}"))],
        10.0,
    );
    assert_eq!(status, 200, "{body}");
    let results: serde_json::Value = serde_json::from_str(&body).unwrap();
    let test = &results["tests"][0];
    let rows = test["agents"].as_array().unwrap();
    let mut names: Vec<&str> = rows.iter().map(|r| r["agent"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a1", "a2"], "{test}");
    let counted: u64 = rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(counted, test["metrics"]["requests"].as_u64().unwrap());
    assert!(counted > 0, "{test}");

    // NO-GO: exit 1.
    let no_go = launch(&["nogo.toml", "--wait"], &with_token);
    let stdout = text(&no_go.stdout);
    assert_eq!(
        no_go.status.code(),
        Some(1),
        "{stdout}{}",
        text(&no_go.stderr)
    );
    assert!(stdout.contains(": finished, NO-GO"), "{stdout}");

    for agent in &mut agents {
        let _ = agent.kill();
        let _ = agent.wait();
    }
}
