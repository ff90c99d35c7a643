//! `shakedown launch --server URL --plan NAME [...]`: starts a run on a
//! running server through its API (`POST /api/runs`), with the New run
//! page's overrides (tests, concurrency, rounds, duration, load agents) and
//! an operator's API token read from an environment variable (never an
//! argument, never printed). Prints the run's id and report address; with
//! `--wait` follows the run (`GET /api/runs/{id}`) until it ends. Exit 0
//! when started (with `--wait`: when it ended GO), 1 when it ended NO-GO,
//! aborted or interrupted, 2 when refused (the field and why) or the
//! server cannot be reached, as `shakedown run`.

use anyhow::{anyhow, Context as _};
use engine::launch::{LaunchError, LaunchRequest, PlanChoice};
use engine::run::{RunStatus, RunSummary, Verdict};
use std::process::ExitCode;
use std::time::Duration;

/// Longest one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often `--wait` asks for the run's status.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How many polls in a row may fail (the server restarting, say) before
/// `--wait` gives up.
const POLL_FAILURES: u32 = 60;

/// What to launch, where.
#[derive(clap::Args, Debug)]
pub struct LaunchArgs {
    /// The Shakedown server (`https://shakedown.example.com`).
    #[arg(long, env = "SHAKEDOWN_SERVER")]
    pub server: url::Url,
    /// The environment variable holding an operator's API token
    /// (`shakedown token add --user NAME`).
    #[arg(long, default_value = "SHAKEDOWN_TOKEN")]
    pub token_env: String,
    /// A plan file in the server's plans folder, by name (`release.toml`).
    #[arg(long)]
    pub plan: String,
    /// The environment (the plan's default unless set).
    #[arg(long)]
    pub env: Option<String>,
    /// Run only this test (by id, with the criteria about it); repeat for
    /// more.
    #[arg(long = "test")]
    pub tests: Vec<String>,
    /// Workers / requests in flight of every `http_load` and job test.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Requests per worker of closed-model `http_load` tests.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Length of duration-based `http_load` tests, in seconds.
    #[arg(long)]
    pub duration_s: Option<u32>,
    /// Split every `http_load` test across this many load agents
    /// (`shakedown agent`); 0: as the plan says.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Follow the run until it ends; the exit code says its verdict.
    #[arg(long)]
    pub wait: bool,
}

impl LaunchArgs {
    fn request(&self) -> LaunchRequest {
        LaunchRequest {
            plan: Some(PlanChoice::File(self.plan.clone())),
            environment: self.env.clone(),
            tests: (!self.tests.is_empty()).then(|| self.tests.clone()),
            concurrency: self.concurrency,
            rounds: self.rounds,
            duration_s: self.duration_s,
            agents: self.agents,
            launched_by: None,
        }
    }
}

/// The server's API, called with the operator's token.
struct Api {
    http: reqwest::Client,
    server: url::Url,
    token: String,
}

impl Api {
    fn new(args: &LaunchArgs) -> anyhow::Result<Api> {
        let token = std::env::var(&args.token_env)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .with_context(|| {
                format!(
                    "set {} to an operator's API token (create one with `shakedown token add --user NAME`)",
                    args.token_env
                )
            })?;
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api {
            http,
            server: args.server.clone(),
            token,
        })
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.server
            .join(path)
            .context("the server URL cannot take a path")
    }

    /// Sends `request` with the token: the answer's status and text.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, String)> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.server))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("cannot read the answer of {}", self.server))?;
        Ok((status, text))
    }
}

/// A launch that reached the server but whose answer was lost may have
/// started a run: say so, so that a retry is not a second run unawares.
fn answer_lost(e: anyhow::Error, url: &url::Url) -> anyhow::Error {
    let never_sent = e
        .chain()
        .filter_map(|cause| cause.downcast_ref::<reqwest::Error>())
        .any(|r| r.is_connect() || r.is_builder());
    if never_sent {
        return e;
    }
    e.context(format!(
        "the launch was sent to {url} but its answer was lost: a run may have started; look at the server's runs before launching again"
    ))
}

/// Starts the run; with `--wait`, follows it to its end.
pub async fn run(args: LaunchArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args)?;
    let url = api.url("api/runs")?;
    let (status, text) = api
        .send(api.http.post(url.clone()).json(&args.request()))
        .await
        .map_err(|e| answer_lost(e, &url))?;
    if status != 201 {
        eprintln!("shakedown: launch refused ({status}): {}", refusal(&text));
        return Ok(ExitCode::from(2));
    }
    let run: RunSummary =
        serde_json::from_str(&text).with_context(|| format!("unexpected answer from {url}"))?;
    println!(
        "run {} started: plan {} on {}",
        run.id, run.plan, run.environment
    );
    println!("report: {}", api.url(&format!("runs/{}/report", run.id))?);
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let ended = follow(&api, &run.id).await?;
    let verdict = ended.verdict.map_or("no verdict", Verdict::as_str);
    println!("run {}: {}, {verdict}", ended.id, ended.status.as_str());
    if let Some(error) = &ended.error {
        println!("  {error}");
    }
    Ok(match (ended.status, ended.verdict) {
        (RunStatus::Finished, Some(Verdict::Go)) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Polls the run until it is neither queued nor running; its summary then.
async fn follow(api: &Api, id: &str) -> anyhow::Result<RunSummary> {
    let url = api.url(&format!("api/runs/{id}"))?;
    let mut failures = 0;
    let mut last = None;
    loop {
        let answer = match api.send(api.http.get(url.clone())).await {
            Ok((200, text)) => serde_json::from_str::<RunSummary>(&text)
                .with_context(|| format!("unexpected answer from {url}"))?,
            // Refused for good: the token or the run.
            Ok((status @ (401 | 403 | 404), text)) => {
                return Err(anyhow!("{url} answered {status}: {}", refusal(&text)))
            }
            Ok((status, text)) => {
                failures += 1;
                anyhow::ensure!(
                    failures < POLL_FAILURES,
                    "{url} answered {status}: {}",
                    refusal(&text)
                );
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
            Err(e) => {
                failures += 1;
                anyhow::ensure!(failures < POLL_FAILURES, "{e:#}");
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
        };
        failures = 0;
        if !matches!(answer.status, RunStatus::Queued | RunStatus::Running) {
            return Ok(answer);
        }
        if last != Some(answer.status) {
            eprintln!("run {id}: {}", answer.status.as_str());
            last = Some(answer.status);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A refusal's words: the field and message of a launch error with the
/// plan's problems, else the API's `error`, else the answer as it came.
fn refusal(text: &str) -> String {
    if let Ok(e) = serde_json::from_str::<LaunchError>(text) {
        // The form's field, as this command's flag.
        let flag = match e.field.as_str() {
            "" => String::new(),
            "environment" => "--env: ".to_owned(),
            "tests" => "--test: ".to_owned(),
            field => format!("--{}: ", field.replace('_', "-")),
        };
        return format!("{flag}{e}");
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_flag_and_the_plans_problems() {
        let launch = r#"{"error":"x","field":"agents","message":"test L1: agents 5 is over max_agents 4","problems":[]}"#;
        assert_eq!(
            refusal(launch),
            "--agents: test L1: agents 5 is over max_agents 4"
        );
        let plan = r#"{"field":"plan","message":"the plan has 1 problem(s)","problems":[{"file":"p.toml","line":3,"column":1,"field":"tests[0].id","message":"missing"}]}"#;
        assert_eq!(
            refusal(plan),
            "--plan: the plan has 1 problem(s)\np.toml:3:1: tests[0].id: missing"
        );
        assert_eq!(refusal(r#"{"error":"log in first"}"#), "log in first");
        assert_eq!(refusal("gateway down"), "gateway down");
    }

    fn args(server: &str, token_env: &str) -> LaunchArgs {
        LaunchArgs {
            server: url::Url::parse(server).unwrap(),
            token_env: token_env.to_owned(),
            plan: "release.toml".to_owned(),
            env: None,
            tests: Vec::new(),
            concurrency: None,
            rounds: None,
            duration_s: None,
            agents: None,
            wait: false,
        }
    }

    #[tokio::test]
    async fn a_launch_whose_answer_is_lost_says_a_run_may_have_started() {
        use tokio::io::AsyncReadExt;
        const TOKEN: &str = "SHAKEDOWN_TEST_LAUNCH_ANSWER_LOST";
        std::env::set_var(TOKEN, "t0ken");
        // A server that reads the launch and closes without answering.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await;
        });
        let error = run(args(&format!("http://{addr}/"), TOKEN))
            .await
            .unwrap_err();
        server.await.unwrap();
        let message = format!("{error:#}");
        assert!(message.contains("a run may have started"), "{message}");
        assert!(!message.contains("t0ken"), "{message}");

        // Nothing listening: never sent, so no such warning.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = closed.local_addr().unwrap();
        drop(closed);
        let error = run(args(&format!("http://{dead}/"), TOKEN))
            .await
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("cannot reach"), "{message}");
        assert!(!message.contains("may have started"), "{message}");
    }
}
