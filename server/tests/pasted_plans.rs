//! What a plan pasted in the browser may do, against a real `shakedown
//! serve`: nothing unless the server allows pasted plans; then tests and
//! criteria against the environments of a plan in the plans folder, never
//! an environment or service of its own (a command, a program, a CA file,
//! secrets, hosts, a bucket folder). Each refusal names the field, and no
//! run is created. An allowed pasted plan runs, and its evidence records
//! where it came from and its text.

mod common;

use common::free_port;
use common::server::{wait_until, ServeOptions, Server, Sut};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

/// The folder plan pasted plans borrow from: the demo target's API.
fn folder_plan(base: &str) -> String {
    format!(
        r#"
[plan]
name = "base"
[environments.staging]
base_url = "{base}"
allowed_hosts = ["127.0.0.1"]
health_path = "/health"
[[tests]]
id = "L1"
[tests.http_load]
path = "/health"
concurrency = 1
rounds = 1
"#
    )
}

fn start(dir: &std::path::Path, allow: bool, base: &str) -> Server {
    let plans = dir.join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(plans.join("base.toml"), folder_plan(base)).unwrap();
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.join("data"),
        plans_dir: plans,
        database_url: None,
        extra: if allow {
            vec!["--allow-pasted-plans".to_owned()]
        } else {
            Vec::new()
        },
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    Server::start(&options)
}

/// POSTs a pasted plan to start_run; the answer's JSON.
fn paste(server: &Server, text: &str) -> Value {
    let body = json!({ "request": { "plan": { "Text": { "name": "pasted.toml", "text": text } },
        "environment": null, "tests": null, "concurrency": null, "rounds": null, "duration_s": null } });
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "content-type: application/json"])
        .args(["-H", &format!("origin: {}", server.base)])
        .arg("--data-binary")
        .arg(body.to_string())
        .arg(format!("{}/api/start_run", server.base))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Runs recorded in the server's database (one JSON line each).
fn runs(data_dir: &std::path::Path) -> usize {
    let out = Command::new(common::server::shakedown_bin())
        .args(["runs", "--json", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .count()
}

const HEAD: &str = "[plan]\nname = \"evil\"\nenvironments_from = \"base.toml\"\n";

#[test]
fn pasted_plans_are_refused_unless_the_server_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false, "http://127.0.0.1:9");
    let answer = paste(&server, &format!("{HEAD}[[tests]]\nid = \"A1\"\n[tests.assert]\npath = \"/\"\nchecks = [{{ pointer = \"/x\", equals = 1 }}]\n"));
    let text = answer.to_string();
    assert!(
        text.contains("runs only the plans in its plans folder"),
        "{text}"
    );
}

#[test]
fn a_pasted_plan_cannot_bring_commands_programs_files_secrets_hosts_or_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true, "http://127.0.0.1:9");
    let attacks = [
        ("command", "[services.api]\nhealth = \"/health\"\nrestart.command = { run = \"id > /tmp/pwned\" }\n", "services"),
        ("program", "[services.sh]\nrestart.process = { program = \"/bin/sh\", args = [\"-c\", \"id\"] }\n", "services"),
        ("ca_file", "[environments.staging]\nbase_url = \"http://127.0.0.1:9\"\nca_file = \"/dev/zero\"\n", "environments"),
        ("secrets", "[environments.staging]\nbase_url = \"http://127.0.0.1:9\"\nsecrets = { k = \"HOME\" }\nheaders = { X = \"${secret.k}\" }\n", "environments"),
        ("allowed_hosts", "[environments.staging]\nbase_url = \"http://169.254.169.254\"\nallowed_hosts = [\"169.254.169.254\"]\n", "environments"),
        ("bucket root", "[environments.staging]\nbase_url = \"http://127.0.0.1:9\"\nbucket.local = { root = \"/\" }\n", "environments"),
    ];
    for (what, table, field) in attacks {
        let answer = paste(&server, &format!("{HEAD}{table}"));
        let problems = answer["Err"]["problems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            problems.iter().any(|p| p["field"] == field
                && p["file"] == "pasted.toml"
                && p["line"].as_u64() == Some(4)
                && p["message"].as_str().is_some_and(
                    |m| m.starts_with(&format!("a pasted plan may not define {field}"))
                )),
            "{what}: {answer}"
        );
    }
    assert_eq!(runs(&dir.path().join("data")), 0, "no run was created");
}

#[test]
fn an_allowed_pasted_plan_runs_against_the_folder_plans_environment_and_is_recorded() {
    let sut = Sut::start();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true, &sut.base);
    let text = format!(
        "{HEAD}[[tests]]\nid = \"A1\"\n[tests.http_load]\npath = \"/health\"\nconcurrency = 2\nrounds = 2\n[[criteria]]\nexpr = \"A1.fail == 0\"\n"
    );
    let answer = paste(&server, &text);
    let id = answer["Ok"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned();
    let results_url = format!("{}/api/runs/{id}/evidence/results.json", server.base);
    wait_until("the pasted run's evidence", Duration::from_secs(60), || {
        common::server::get(&results_url, &[], 5.0).0 == 200
    });
    let (_, body) = common::server::get(&results_url, &[], 5.0);
    let results: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(results["verdict"], "GO", "{body}");
    assert_eq!(results["environment"]["base_url"], sut.base.as_str());
    assert_eq!(results["plan"]["origin"]["kind"], "pasted");
    assert_eq!(results["plan"]["origin"]["environments_from"], "base.toml");
    assert_eq!(results["plan"]["text"], text.as_str());
}
