//! Relative criteria against a baseline run, through a real `shakedown
//! serve` and the demo target: the second run of a plan compares with the
//! first GO run of the same plan and environment; a plan with no earlier GO
//! run gets NO BASELINE and NO-GO; an approver pins a run as the baseline
//! (`POST /api/runs/{id}/baseline`) and the next run compares with it.
//! A headless `shakedown run` on the same data folder finds the same
//! baseline.

mod common;

use common::free_port;
use common::server::{get, shakedown_bin, wait_until, ServeOptions, Server, Sut};
use std::process::Command;
use std::time::Duration;

/// A plan named `name` of one short load test on `/health`, with
/// `criterion` beside `L1.fail == 0`.
fn plan(name: &str, base: &str, criterion: Option<&str>) -> String {
    let mut text = format!(
        r#"
[plan]
name = "{name}"
default_environment = "test"

[environments.test]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"

[[tests]]
id = "L1"
title = "Health endpoint"
[tests.http_load]
path = "/health"
rate = 10
duration_s = 1

[[criteria]]
expr = "L1.fail == 0"
"#
    );
    if let Some(c) = criterion {
        text.push_str(&format!("\n[[criteria]]\nexpr = '{c}'\n"));
    }
    text
}

/// Runs a plan file of the plans folder to its end; its results.json.
fn run(server: &Server, file: &str) -> serde_json::Value {
    let id = server.start_run(file).unwrap();
    let url = format!("{}/api/runs/{id}", server.base);
    wait_until(
        &format!("run {id} of {file}"),
        Duration::from_secs(60),
        || {
            let (status, body) = get(&url, &[], 5.0);
            status == 200 && body.contains("\"finished\"")
        },
    );
    let (status, body) = get(
        &format!("{}/api/runs/{id}/evidence/results.json", server.base),
        &[],
        10.0,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn criterion<'r>(results: &'r serde_json::Value, expr_start: &str) -> &'r serde_json::Value {
    results["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["expr"].as_str().unwrap_or("").starts_with(expr_start))
        .unwrap_or_else(|| panic!("no criterion {expr_start} in {results}"))
}

/// `POST /api/runs/{id}/baseline` as the local-mode admin: (status, body).
fn pin(server: &Server, run_id: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-X",
            "POST",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Origin: {}", server.base)])
        .arg(format!("{}/api/runs/{run_id}/baseline", server.base))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn relative_criteria_compare_with_the_last_go_run_or_the_pinned_one() {
    common::build_sut();
    let sut = Sut::start();
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    let relative = "L1.fail <= baseline.L1.fail";
    let write = |file: &str, text: String| std::fs::write(plans.join(file), text).unwrap();
    write("first.toml", plan("paired", &sut.base, None));
    write("second.toml", plan("paired", &sut.base, Some(relative)));
    write("lonely.toml", plan("lonely", &sut.base, Some(relative)));
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans.clone(),
        database_url: None,
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let server = Server::start(&options);

    // The first run has no relative criterion: GO, and no baseline named.
    let first = run(&server, "first.toml");
    assert_eq!(first["verdict"], "GO", "{first}");
    assert!(first.get("baseline").is_none(), "{first}");

    // The second compares with it.
    let second = run(&server, "second.toml");
    assert_eq!(second["baseline"]["run_id"], first["run_id"], "{second}");
    assert_eq!(second["baseline"]["chosen"], "last GO run");
    assert_eq!(criterion(&second, "L1.fail <=")["outcome"], "pass");
    assert_eq!(second["verdict"], "GO", "{second}");

    // Another plan has no GO run to compare with: NO BASELINE, NO-GO.
    let lonely = run(&server, "lonely.toml");
    let c = criterion(&lonely, "L1.fail <=");
    assert_eq!(c["outcome"], "no_baseline", "{lonely}");
    assert_eq!(c["passed"], false);
    assert!(c["note"].as_str().unwrap().contains("no baseline"), "{c}");
    assert_eq!(lonely["verdict"], "NO-GO", "{lonely}");
    assert!(lonely.get("baseline").is_none());

    // An approver pins that run; the next run compares with it.
    let lonely_id = lonely["run_id"].as_str().unwrap();
    let (status, body) = pin(&server, lonely_id);
    assert_eq!(status, 200, "{body}");
    let again = run(&server, "lonely.toml");
    assert_eq!(again["baseline"]["run_id"], lonely["run_id"], "{again}");
    assert!(
        again["baseline"]["chosen"]
            .as_str()
            .unwrap()
            .starts_with("pinned by"),
        "{again}"
    );
    assert_eq!(again["verdict"], "GO", "{again}");

    // Pinning a run that does not exist is refused.
    assert_eq!(pin(&server, "no-such-run").0, 404);

    // A headless run on the same data folder compares with the same
    // baseline as the web app would: the pinned run.
    drop(server);
    let out_dir = dir.path().join("headless");
    let headless = Command::new(shakedown_bin())
        .arg("run")
        .arg(plans.join("lonely.toml"))
        .arg("--data-dir")
        .arg(&options.data_dir)
        .arg("--out")
        .arg(&out_dir)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_DATA_DIR")
        .output()
        .unwrap();
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("results.json")).unwrap()).unwrap();
    assert!(
        headless.status.success(),
        "{}\n{results}",
        String::from_utf8_lossy(&headless.stderr)
    );
    assert_eq!(results["baseline"]["run_id"], lonely["run_id"], "{results}");
    assert_eq!(criterion(&results, "L1.fail <=")["outcome"], "pass");
}
