//! `http_load` stages, think time and request templating against real
//! servers on 127.0.0.1. Every figure is computed from the evidence the
//! test returns (its per-second windows, what the server received), never
//! from how long something took: the open-model ramp is counted by
//! *intended* send second against the ramp's integral, the closed-model
//! ramp by the workers that sent in each second.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{context, serve};
use engine::kinds::http_load;
use engine::metrics::{HttpLoadMetrics, TestMetrics};
use engine::plan::{load_file, HttpLoadSpec, Ramp, TestKind};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn metrics(outcome: &engine::runner::context::TestOutcome) -> &HttpLoadMetrics {
    match &outcome.metrics {
        TestMetrics::HttpLoad(m) => m,
        other => panic!("not http_load metrics: {other:?}"),
    }
}

fn ok_router() -> Router {
    Router::new().route("/ok", get(|| async { Json(json!({"ok": true})) }))
}

/// A folder of its own under the system's temp dir, for plan and data files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shakedown-stages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a plan with one `http_load` test (`table` is its body) against
/// `base_url` and loads it from its file.
fn load_plan(dir: &std::path::Path, base_url: &str, table: &str) -> HttpLoadSpec {
    let text = format!(
        "[plan]\nname = \"stages\"\n[environments.local]\nbase_url = \"{base_url}\"\n\
         [[tests]]\nid = \"L1\"\n[tests.http_load]\n{table}\n"
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    match loaded.plan.tests.into_iter().next().map(|t| t.kind) {
        Some(TestKind::HttpLoad(spec)) => spec,
        other => panic!("not an http_load test: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_ramp_sends_each_second_what_the_ramp_says() {
    let server = serve(ok_router()).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("open");
    // 50 -> 400 requests per second over 4 s: 900 requests.
    let spec = load_plan(
        &dir,
        &server.base_url(),
        "path = \"/ok\"\nrate = 50\nstages = [{ duration_s = 4, rate = 400 }]",
    );
    let ramp = Ramp::new(50.0, [(4, 400.0)]);
    assert_eq!(http_load::planned(&spec), Some(900));

    let outcome = http_load::run(&spec, &ctx).await;
    assert_eq!(outcome.error, None);
    let m = metrics(&outcome);
    assert_eq!((m.requests, m.ok), (900, 900));
    // Windows are by intended send second; each holds the ramp's integral
    // over that second, within 5 %.
    let seconds: Vec<u32> = outcome.windows.iter().map(|w| w.second).collect();
    assert_eq!(seconds, [0, 1, 2, 3]);
    for w in &outcome.windows {
        let s = f64::from(w.second);
        let expected = ramp.integral(s + 1.0) - ramp.integral(s);
        let off = (w.count as f64 - expected).abs() / expected;
        assert!(
            off <= 0.05,
            "second {}: {} requests, the ramp says {expected:.1}",
            w.second,
            w.count
        );
        // Open model: no worker count.
        assert_eq!(w.workers, None);
    }
    // The counts rise with the ramp.
    assert!(outcome.windows.windows(2).all(|p| p[0].count < p[1].count));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_stages_ramp_workers_up_and_down() {
    let server = serve(ok_router()).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("closed");
    // 0 -> 4 workers over 2 s, 4 for 1 s, 4 -> 0 over 2 s; 20 ms between
    // a worker's requests.
    let spec = load_plan(
        &dir,
        &server.base_url(),
        "path = \"/ok\"\nthink_time_ms = 20\nstages = [\n  { duration_s = 2, concurrency = 4 },\n  \
         { duration_s = 1, concurrency = 4 },\n  { duration_s = 2, concurrency = 0 },\n]",
    );
    let ramp = Ramp::new(0.0, [(2, 4.0), (1, 4.0), (2, 0.0)]);
    assert_eq!(http_load::planned(&spec), None);

    let outcome = http_load::run(&spec, &ctx).await;
    assert_eq!(outcome.error, None);
    assert_eq!(metrics(&outcome).fail, 0);
    let workers: Vec<(u32, u32)> = outcome
        .windows
        .iter()
        .map(|w| (w.second, w.workers.unwrap_or(0)))
        .collect();
    assert_eq!(workers.len(), 5, "{workers:?}");
    for (second, active) in &workers {
        // Stage ends fall on whole seconds, so within a second the ramp is
        // linear: at least the workers it holds for a good part of the
        // second sent in it, at most the ones it reaches at all.
        let s = f64::from(*second);
        let floor = |l: f64| (l + 1e-9).floor() as u32;
        let least = floor(ramp.level(s + 0.05).max(ramp.level(s + 0.95)));
        let most = floor(ramp.level(s).max(ramp.level(s + 1.0)));
        assert!(
            (least..=most).contains(active),
            "second {second}: {active} workers sent, the ramp says {least}..={most} ({workers:?})"
        );
    }
    assert_eq!(workers.iter().map(|w| w.1).max(), Some(4));
    assert_eq!(workers[0].1, 1, "{workers:?}");
    // The half second before the first worker and the think time are no
    // stall: nothing was waiting for an answer then.
    assert!(
        outcome.warnings.iter().all(|w| !w.contains("stalled")),
        "{:?}",
        outcome.warnings
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_think_time_never_outlasts_the_test() {
    let server = serve(ok_router()).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("long-think");
    // A ten-minute pause in a one-second test: the worker sends once and
    // wakes at the test's end, not ten minutes later.
    let spec = load_plan(
        &dir,
        &server.base_url(),
        "path = \"/ok\"\nconcurrency = 1\nduration_s = 1\nthink_time_ms = 600000",
    );
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        http_load::run(&spec, &ctx),
    )
    .await
    .expect("the think time outlasted the test");
    assert_eq!(outcome.error, None);
    assert_eq!(metrics(&outcome).requests, 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// What the templating server received: path and query, a header, the body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

fn echo_router(seen: Seen) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            post(
                |State(seen): State<Seen>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    let header = headers
                        .get("x-request")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().push((
                        uri.to_string(),
                        header,
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    "ok"
                },
            ),
        )
        .with_state(seen)
}

#[tokio::test]
async fn requests_take_the_next_row_a_sequence_number_and_a_uuid() {
    let seen: Seen = Arc::default();
    let server = serve(echo_router(seen.clone())).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("rows");
    std::fs::write(
        dir.join("users.csv"),
        "id,name\n7,ann\n8,\"bo, \"\"b\"\"\"\n9,cy d\n",
    )
    .unwrap();
    let spec = load_plan(
        &dir,
        &server.base_url(),
        "method = \"POST\"\npath = \"/users/{{row.id}}?n={{seq}}&who={{row.name}}\"\n\
         headers = { x-request = \"{{uuid}}\" }\njson = { name = \"{{row.name}}\", n = \"{{seq}}\" }\n\
         data_file = \"users.csv\"\nconcurrency = 1\nrounds = 5",
    );
    let outcome = http_load::run(&spec, &ctx).await;
    assert_eq!(outcome.error, None);
    assert_eq!(metrics(&outcome).ok, 5);
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/users/7?n=0&who=ann",
            "/users/8?n=1&who=bo%2C%20%22b%22",
            "/users/9?n=2&who=cy%20d",
            "/users/7?n=3&who=ann",
            "/users/8?n=4&who=bo%2C%20%22b%22",
        ]
    );
    let bodies: Vec<serde_json::Value> = seen
        .iter()
        .map(|s| serde_json::from_str(&s.2).unwrap())
        .collect();
    assert_eq!(bodies[1], json!({"name": "bo, \"b\"", "n": "1"}));
    assert_eq!(bodies[3], json!({"name": "ann", "n": "3"}));
    let uuids: std::collections::BTreeSet<&str> = seen.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(uuids.len(), 5, "{seen:?}");
    assert!(uuids.iter().all(|u| uuid_like(u)), "{uuids:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn json_rows_and_many_workers_give_every_sequence_number_once() {
    let seen: Seen = Arc::default();
    let server = serve(echo_router(seen.clone())).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("json");
    std::fs::write(dir.join("ids.json"), "[{\"id\": 1}, {\"id\": 2}]").unwrap();
    let spec = load_plan(
        &dir,
        &server.base_url(),
        "method = \"POST\"\npath = \"/users/{{row.id}}?n={{seq}}\"\nbody = \"plain {{seq}}\"\n\
         data_file = \"ids.json\"\nconcurrency = 4\nrounds = 10",
    );
    let outcome = http_load::run(&spec, &ctx).await;
    assert_eq!(metrics(&outcome).ok, 40);
    let seen = seen.lock().unwrap().clone();
    let mut numbers: Vec<u64> = seen
        .iter()
        .map(|s| s.2.trim_start_matches("plain ").parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..40).collect::<Vec<u64>>());
    // The row follows the number: even numbers took row 0 (id 1).
    for (path, _, body) in &seen {
        let n: u64 = body.trim_start_matches("plain ").parse().unwrap();
        assert!(
            path.starts_with(&format!("/users/{}?n={n}", n % 2 + 1)),
            "{path}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_row_that_cannot_make_a_request_is_named_in_the_warnings() {
    let seen: Seen = Arc::default();
    let server = serve(echo_router(seen.clone())).await;
    let (ctx, _) = context(&server.base_url(), "L1");
    let dir = scratch("bad-row");
    std::fs::write(dir.join("rows.json"), r#"[{"v": "good"}]"#).unwrap();
    let mut spec = load_plan(
        &dir,
        &server.base_url(),
        "method = \"POST\"\npath = \"/users/1\"\nheaders = { x-request = \"{{row.v}}\" }\n\
         data_file = \"rows.json\"\nconcurrency = 1\nrounds = 4",
    );
    // Loading refuses control characters in a data file; rows that slip
    // past it (row 1 here) still fail one request at a time, named.
    spec.data = Some(Arc::new(engine::data_file::DataRows {
        file: "rows.json".into(),
        columns: vec!["v".into()],
        rows: vec![vec!["good".into()], vec!["bad\u{1}".into()]],
    }));
    let outcome = http_load::run(&spec, &ctx).await;
    let m = metrics(&outcome);
    assert_eq!((m.ok, m.errors.protocol), (2, 2), "{m:?}");
    let warning = outcome
        .warnings
        .iter()
        .find(|w| w.contains("could not be built"))
        .unwrap_or_else(|| panic!("{:?}", outcome.warnings));
    assert!(
        warning.starts_with("2 templated request(s)")
            && warning.contains("request 1: header x-request"),
        "{warning}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_secret_is_never_read_as_placeholders_nor_quoted() {
    let server = serve(ok_router()).await;
    let dir = scratch("secret-braces");
    let var = format!("SHAKEDOWN_TEST_BRACES_{}", std::process::id());
    std::env::set_var(&var, "s3cr{{et}}");
    let text = format!(
        "[plan]\nname = \"stages\"\n[environments.local]\nbase_url = \"{}\"\n\
         secrets = {{ token = \"{var}\" }}\n\
         [[tests]]\nid = \"L1\"\n[tests.http_load]\npath = \"/ok\"\nconcurrency = 1\nrounds = 2\n\
         headers = {{ x-plain = \"${{secret.token}}\", x-templated = \"n{{{{seq}}}} ${{secret.token}}\" }}\n",
        server.base_url()
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let (env_name, env) = loaded.plan.environment(None).unwrap();
    let target = engine::runner::target::Target::new(env_name, env).unwrap();
    let (ctx, _) = context(&server.base_url(), "L1");
    let ctx = engine::runner::context::TestContext {
        target: Arc::new(target),
        ..ctx
    };
    let Some(TestKind::HttpLoad(spec)) = loaded.plan.tests.into_iter().next().map(|t| t.kind)
    else {
        panic!("not an http_load test");
    };
    let outcome = http_load::run(&spec, &ctx).await;
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.starts_with("headers.x-templated: a secret in this templated header holds `{{`"),
        "{error}"
    );
    assert!(!error.contains("s3cr"), "{error}");
    std::env::remove_var(&var);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn data_file_problems_name_the_plan_field_the_file_its_line_and_column() {
    let dir = scratch("errors");
    let plan = |table: &str| {
        let text = format!(
            "[plan]\nname = \"x\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\n\
             [[tests]]\nid = \"L1\"\n[tests.http_load]\npath = \"/u/{{{{row.id}}}}\"\nconcurrency = 1\nrounds = 1\n{table}\n"
        );
        let path = dir.join("plan.toml");
        std::fs::write(&path, text).unwrap();
        load_file(&path).unwrap_err().to_string()
    };
    let file = dir.join("plan.toml").display().to_string();
    let e = plan("data_file = \"missing.csv\"");
    assert!(
        e.starts_with(&format!(
            "{file}:11:13: tests[0].http_load.data_file: cannot read data file missing.csv:"
        )),
        "{e}"
    );
    // Outside the plan's folder, even when the file exists.
    let beside = format!("outside-{}.csv", std::process::id());
    std::fs::write(dir.join("..").join(&beside), "id\n1\n").unwrap();
    for outside in [format!("../{beside}"), "/etc/outside.csv".to_owned()] {
        assert_eq!(
            plan(&format!("data_file = \"{outside}\"")),
            format!(
                "{file}:11:13: tests[0].http_load.data_file: \"{outside}\": a data file is named relative to the plan's folder and stays in it (no absolute path, no ..)"
            )
        );
    }
    let _ = std::fs::remove_file(dir.join("..").join(&beside));
    std::fs::write(dir.join("bad.csv"), "id,name\n1,ann\n2\n").unwrap();
    assert_eq!(
        plan("data_file = \"bad.csv\""),
        format!(
            "{file}:11:13: tests[0].http_load.data_file: bad.csv:3: 1 values, but the header names 2 columns (id, name)"
        )
    );
    std::fs::write(dir.join("users.csv"), "user,name\n1,ann\n").unwrap();
    assert_eq!(
        plan("data_file = \"users.csv\""),
        format!(
            "{file}:8:8: tests[0].http_load.path: {{{{row.id}}}}: users.csv has no column \"id\" (its columns: user, name)"
        )
    );
    assert_eq!(
        plan(""),
        format!(
            "{file}:7:1: tests[0].http_load: {{{{row.COLUMN}}}} placeholders need data_file (a CSV or JSON file of rows)"
        )
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A plan with one `http_load` test whose table is `table`, and `extra`
/// before the tests (a `[limits]` table, say): its problems, one a line.
fn problems(extra: &str, table: &str) -> String {
    let text = format!(
        "[plan]\nname = \"x\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\n{extra}\n\
         [[tests]]\nid = \"L1\"\n[tests.http_load]\npath = \"/ok\"\n{table}\n"
    );
    match engine::plan::load_str(&text, "p.toml") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn stages_are_validated_with_file_line_and_field() {
    // Valid: open and closed ramps, think time in the closed model.
    assert_eq!(
        problems("", "rate = 10\nstages = [{ duration_s = 5, rate = 100 }]"),
        ""
    );
    assert_eq!(
        problems(
            "",
            "think_time_ms = [50, 150]\nstages = [{ duration_s = 5, concurrency = 10 }, { duration_s = 5, concurrency = 0 }]"
        ),
        ""
    );
    // Mixed models, a stage without a target, a stage with both.
    assert_eq!(
        problems(
            "",
            "stages = [\n  { duration_s = 5, rate = 100 },\n  { duration_s = 5, concurrency = 10 },\n]"
        ),
        "p.toml:10:10: tests[0].http_load.stages: every stage sets rate (open model) or every stage sets concurrency (closed model), not a mix"
    );
    assert_eq!(
        problems(
            "",
            "stages = [\n  { duration_s = 5 },\n  { duration_s = 5, rate = 1, concurrency = 1 },\n]"
        ),
        "p.toml:11:3: tests[0].http_load.stages[0]: a stage needs its target: rate (open model) or concurrency (closed model)\n\
         p.toml:12:3: tests[0].http_load.stages[1]: a stage sets rate (open model) or concurrency (closed model), not both"
    );
    // The stages give the length; a ramp that never sends; think time in
    // the open model.
    assert_eq!(
        problems(
            "",
            "duration_s = 10\nrounds = 3\nstages = [{ duration_s = 5, concurrency = 0 }]"
        ),
        "p.toml:10:14: tests[0].http_load.duration_s: with stages the test lasts as long as its stages; remove duration_s\n\
         p.toml:11:10: tests[0].http_load.rounds: with stages the test runs for the stages' duration; remove rounds\n\
         p.toml:12:10: tests[0].http_load.stages: the stages never send: every concurrency is 0"
    );
    assert_eq!(
        problems("", "think_time_ms = 100\nstages = [{ duration_s = 5, rate = 50 }]"),
        "p.toml:10:17: tests[0].http_load.think_time_ms: think time (100) is for the closed model; the open model sends at its rate"
    );
    assert_eq!(
        problems("", "think_time_ms = [150, 50]\nconcurrency = 1\nrounds = 1"),
        "p.toml:10:17: tests[0].http_load.think_time_ms: expected [min, max] with min <= max, got [150, 50]"
    );
    // Caps apply to the peak stage and the total length.
    assert_eq!(
        problems(
            "[limits]\nmax_rate = 200\nmax_duration_s = 8\nmax_concurrency = 20",
            "stages = [{ duration_s = 5, rate = 100 }, { duration_s = 5, rate = 500 }]"
        ),
        "p.toml:13:10: tests[0].http_load.stages.rate: stages.rate 500 is over the plan's limits.max_rate of 200\n\
         p.toml:13:10: tests[0].http_load.stages.duration_s: stages.duration_s 10 is over the plan's limits.max_duration_s of 8"
    );
    assert_eq!(
        problems(
            "[limits]\nmax_concurrency = 20",
            "stages = [{ duration_s = 5, concurrency = 30 }]"
        ),
        "p.toml:11:10: tests[0].http_load.stages.concurrency: stages.concurrency 30 is over the plan's limits.max_concurrency of 20"
    );
    // Placeholders: known ones only, and not in the host.
    assert_eq!(
        problems("", "concurrency = 1\nrounds = 1\nheaders = { x-id = \"{{nope}}\" }"),
        "p.toml:12:20: tests[0].http_load.headers.x-id: unknown placeholder {{nope}}; expected {{seq}}, {{uuid}} or {{row.COLUMN}}"
    );
}

#[test]
fn a_pasted_plan_may_not_read_a_data_file() {
    let folder = |_: &str| {
        engine::plan::load_str(
            "[plan]\nname = \"base\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\n",
            "base.toml",
        )
        .map_err(|e| e.to_string())
    };
    let text = "[plan]\nname = \"p\"\nenvironments_from = \"base.toml\"\n[[tests]]\nid = \"L1\"\n\
                [tests.http_load]\npath = \"/u/{{row.id}}\"\nconcurrency = 1\nrounds = 1\n\
                data_file = \"/etc/passwd.csv\"\n";
    let e = engine::plan::pasted::load_pasted(text, "pasted.toml", folder)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "pasted.toml:10:13: tests[0].http_load.data_file: a pasted plan may not read data files (they would be read from the server's disk); put the test in a plan of the server's plans folder"
    );
    // Nor through a chaos test's background load.
    let text = "[plan]\nname = \"p\"\nenvironments_from = \"base.toml\"\n\
                [services.worker]\nhealth = \"/health\"\nrestart.http = { url = \"http://127.0.0.1:9/r\" }\n\
                [[tests]]\nid = \"C1\"\n[tests.chaos]\nservice = \"worker\"\n\
                background_load = [{ path = \"/u/{{row.id}}\", rate = 1, data_file = \"/etc/passwd.csv\" }]\n";
    let e = engine::plan::pasted::load_pasted(text, "pasted.toml", folder)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "tests[0].chaos.background_load[0].data_file: a pasted plan may not read data files"
        ),
        "{e}"
    );
}

/// A chaos test whose background load (`load`: the inline table's body)
/// reads a data file, written in `dir` and loaded from its file.
fn chaos_plan_with_background(dir: &std::path::Path, load: &str) -> Result<Vec<String>, String> {
    let text = format!(
        "[plan]\nname = \"background\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\n\
         allowed_hosts = [\"127.0.0.1\"]\n\
         [services.worker]\nhealth = \"/health\"\nrestart.http = {{ url = \"http://127.0.0.1:9/restart\" }}\n\
         [[tests]]\nid = \"C1\"\n[tests.chaos]\nservice = \"worker\"\n\
         background_load = [{{ {load} }}]\n"
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = load_file(&path).map_err(|e| e.to_string())?;
    match loaded.plan.tests.into_iter().next().map(|t| t.kind) {
        Some(TestKind::Chaos(spec)) => Ok(spec
            .background_load
            .iter()
            .map(|l| l.data.as_ref().map_or(0, |d| d.rows.len()).to_string())
            .collect()),
        other => panic!("not a chaos test: {other:?}"),
    }
}

#[test]
fn a_background_loads_data_file_is_read_and_its_placeholders_checked_at_load() {
    let dir = scratch("background-rows");
    std::fs::write(dir.join("users.csv"), "name\nada\nbob\n").unwrap();
    // Read with the plan: its rows are there for the load.
    let rows = chaos_plan_with_background(
        &dir,
        "path = \"/users/{{row.name}}\", rate = 5, data_file = \"users.csv\"",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows, ["2"]);
    // A column the file does not have, named at the background load's field.
    let error = chaos_plan_with_background(
        &dir,
        "path = \"/users/{{row.id}}\", rate = 5, data_file = \"users.csv\"",
    )
    .unwrap_err();
    assert!(
        error.contains(
            "tests[0].chaos.background_load[0].path: {{row.id}}: users.csv has no column \"id\""
        ),
        "{error}"
    );
    // Placeholders of columns without a data file.
    let error =
        chaos_plan_with_background(&dir, "path = \"/users/{{row.name}}\", rate = 5").unwrap_err();
    assert!(
        error.contains(
            "tests[0].chaos.background_load[0]: {{row.COLUMN}} placeholders need data_file"
        ),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
