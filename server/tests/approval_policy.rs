//! Separation of duties (#15): the approvals a run needs come from the
//! server (`--required-approvals ENV=N`, `SHAKEDOWN_REQUIRED_APPROVALS`,
//! `--default-required-approvals N`); a plan may ask for more, never fewer.
//! Runs are recorded headless (`shakedown run`), then signed through a real
//! `shakedown serve` with approvers' API tokens (`shakedown signoff`).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `shakedown ARGS --data-dir DATA`, with no token or database from the
/// caller's environment.
fn shakedown(args: &[&str], data: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    match stdin {
        Some(input) => common::feed_stdin(&mut child, input.as_bytes()),
        None => drop(child.stdin.take()),
    }
    child.wait_with_output().unwrap()
}

/// A target answering `/ping`, in this process.
async fn target() -> SocketAddr {
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A data folder with approvers `ann`, `bob` and `cat` (their API tokens)
/// and a plan of environments `staging` and `dev` asking `asks` approvals.
struct Site {
    dir: tempfile::TempDir,
    data: PathBuf,
    plan: PathBuf,
    tokens: Vec<(String, String)>,
}

impl Site {
    async fn new(asks: u32) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let addr = target().await;
        let environment = |name: &str| {
            format!(
                "[environments.{name}]\nbase_url = \"http://{addr}\"\nallowed_hosts = [\"127.0.0.1\"]\n"
            )
        };
        let plan = dir.path().join("p.toml");
        std::fs::write(
            &plan,
            format!(
                "[plan]\nname = \"p\"\ndefault_environment = \"staging\"\nrequired_approvals = {asks}\n\
                 {}{}[[tests]]\nid = \"L1\"\ntitle = \"ping\"\n[tests.http_load]\n\
                 path = \"/ping\"\nconcurrency = 1\nrounds = 3\n[[criteria]]\nexpr = \"L1.fail == 0\"\n",
                environment("staging"),
                environment("dev"),
            ),
        )
        .unwrap();
        let mut tokens = Vec::new();
        for name in ["ann", "bob", "cat"] {
            let out = shakedown(
                &["user", "add", name, "--role", "approver"],
                &data,
                Some("a long enough password\n"),
            );
            assert!(out.status.success(), "{}", text(&out));
            let out = shakedown(
                &["token", "add", "--user", name, "--label", "ci"],
                &data,
                None,
            );
            assert!(out.status.success(), "{}", text(&out));
            let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            tokens.push((name.to_owned(), token));
        }
        Site {
            dir,
            data,
            plan,
            tokens,
        }
    }

    /// Runs the plan on `env` headless, recorded in the data folder: the
    /// run's id.
    fn record_run(&self, env: &str) -> String {
        let out_dir = self.dir.path().join(format!("out-{env}"));
        let run = shakedown(
            &[
                "run",
                self.plan.to_str().unwrap(),
                "--env",
                env,
                "--out",
                out_dir.to_str().unwrap(),
            ],
            &self.data,
            None,
        );
        assert!(run.status.success(), "{}", text(&run));
        let output = text(&run);
        output
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .find(|w| w.len() == 36)
            .unwrap_or_else(|| panic!("no run id in {output}"))
            .to_owned()
    }

    fn token(&self, user: &str) -> &str {
        &self.tokens.iter().find(|(u, _)| u == user).unwrap().1
    }

    /// `shakedown serve` on this data folder with `args` and `env`.
    async fn serve(&self, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let port = common::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("SHAKEDOWN_REQUIRED_APPROVALS")
            .env_remove("SHAKEDOWN_DEFAULT_REQUIRED_APPROVALS")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut serve = Serve {
            child,
            web: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{}/readyz", serve.web))
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("serve exited with {status}");
            }
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        serve
    }
}

/// A running `shakedown serve`, stopped when dropped.
struct Serve {
    child: Child,
    web: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Signs `run` GO as `user` with `shakedown signoff`: the final
    /// decision it prints.
    fn go(&self, site: &Site, run: &str, user: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .args(["signoff", run, "--decision", "go"])
            .args(["--comment", &format!("{user} checked it")])
            .args(["--server", &self.web])
            .env("SHAKEDOWN_TOKEN", site.token(user))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let output = text(&out);
        output
            .lines()
            .find_map(|l| l.strip_prefix("final decision: "))
            .unwrap_or_else(|| panic!("no final decision in {output}"))
            .to_owned()
    }

    /// The run's sign-off block as the API answers it.
    async fn state(&self, site: &Site, run: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}/api/runs/{run}/signoffs", self.web))
            .bearer_auth(site.token("ann"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_asking_one_where_the_server_requires_two_needs_two() {
    let site = Site::new(1).await;
    let staging = site.record_run("staging");
    let dev = site.record_run("dev");
    let serve = site
        .serve(
            &[],
            &[("SHAKEDOWN_REQUIRED_APPROVALS", "staging=2, production=3")],
        )
        .await;

    let before = serve.state(&site, &staging).await;
    assert_eq!(before["required_approvals"], 2, "{before}");
    assert_eq!(
        before["required_approvals_source"], "the server's policy for staging (the plan asks 1)",
        "{before}"
    );
    let first = serve.go(&site, &staging, "ann");
    assert_eq!(first, "Pending: 1 of 2 required GO sign-offs");
    let after_one = serve.state(&site, &staging).await;
    assert_eq!(after_one["decision"]["state"], "pending", "{after_one}");
    assert_eq!(after_one["decision"]["required"], 2, "{after_one}");
    let second = serve.go(&site, &staging, "bob");
    assert_eq!(second, "GO: 2 of 2 required approvals, no NO-GO");

    // An environment the server does not name: its default (1) and the
    // plan's 1.
    assert_eq!(
        serve.go(&site, &dev, "ann"),
        "GO: 1 of 1 required approvals, no NO-GO"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_asking_three_where_the_server_requires_two_needs_three() {
    let site = Site::new(3).await;
    let staging = site.record_run("staging");
    let serve = site
        .serve(&["--required-approvals", "staging=2"], &[])
        .await;
    let before = serve.state(&site, &staging).await;
    assert_eq!(before["required_approvals"], 3, "{before}");
    assert_eq!(
        before["required_approvals_source"], "the plan (the server's policy for staging is 2)",
        "{before}"
    );
    assert_eq!(
        serve.go(&site, &staging, "ann"),
        "Pending: 1 of 3 required GO sign-offs"
    );
    assert_eq!(
        serve.go(&site, &staging, "bob"),
        "Pending: 2 of 3 required GO sign-offs"
    );
    assert_eq!(
        serve.go(&site, &staging, "cat"),
        "GO: 3 of 3 required approvals, no NO-GO"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_not_named_get_the_servers_default() {
    let site = Site::new(1).await;
    let dev = site.record_run("dev");
    let serve = site
        .serve(
            &[
                "--required-approvals",
                "staging=3",
                "--default-required-approvals",
                "2",
            ],
            &[],
        )
        .await;
    assert_eq!(
        serve.go(&site, &dev, "ann"),
        "Pending: 1 of 2 required GO sign-offs"
    );
    let state = serve.state(&site, &dev).await;
    assert_eq!(
        state["required_approvals_source"], "the server's default (the plan asks 1)",
        "{state}"
    );
    assert_eq!(
        serve.go(&site, &dev, "bob"),
        "GO: 2 of 2 required approvals, no NO-GO"
    );
}

/// `shakedown serve` with approvals options it must refuse: exit 2 and
/// the message, before it serves anything.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{}", common::free_port()),
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_REQUIRED_APPROVALS")
        .env_remove("SHAKEDOWN_DEFAULT_REQUIRED_APPROVALS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve accepted {args:?} {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    text(&out)
}

#[test]
fn bad_approval_options_are_refused_naming_the_flag_and_the_item() {
    let message = refused(&["--required-approvals", "staging=zero"], &[]);
    assert!(
        message.contains(
            "--required-approvals \"staging=zero\": expected ENV=N with N a positive whole number"
        ),
        "{message}"
    );
    let message = refused(
        &[],
        &[("SHAKEDOWN_REQUIRED_APPROVALS", "staging=2,production")],
    );
    assert!(
        message.contains(
            "--required-approvals \"production\": expected ENV=N with N a positive whole number"
        ),
        "{message}"
    );
    let message = refused(&["--default-required-approvals", "0"], &[]);
    assert!(
        message.contains("--default-required-approvals \"0\": expected a positive whole number"),
        "{message}"
    );
    let message = refused(
        &[
            "--required-approvals",
            "staging=2",
            "--required-approvals",
            "staging=1",
        ],
        &[],
    );
    assert!(
        message.contains("--required-approvals names \"staging\" twice (2 and 1)"),
        "{message}"
    );
}
