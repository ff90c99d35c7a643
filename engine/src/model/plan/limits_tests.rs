use super::*;

const PLAN: &str = r#"
[plan]
name = "big"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
bucket.local = { root = "/tmp/shakedown-limits-test" }
[jobs]
create_path = "/jobs"
status_path = "/jobs/{id}"
id_pointer = "/id"
status_pointer = "/status"
terminal_statuses = ["done"]
success_statuses = ["done"]
[services.worker]
restart = { command = { run = "true" } }
[[tests]]
id = "L1"
[tests.http_load]
path = "/"
concurrency = 4
rounds = 5000
[[tests]]
id = "J1"
[tests.job_workload]
mix = [{ kind = "a", count = 600 }, { kind = "b", count = 600 }]
[[tests]]
id = "C1"
[tests.chaos]
service = "worker"
jobs = { kind = "a", count = 2000 }
streams = { sessions = 300, job = { kind = "a" } }
after_checks = { path = "/", count = 9000 }
[[tests]]
id = "P1"
[tests.storage_probe]
size_bytes = 100000000
"#;

fn cap(n: u32) -> Option<Positive> {
    Positive::new(n)
}

#[test]
fn every_capped_field_is_named_with_its_test() {
    let plan = crate::plan::load_str(PLAN, "big.toml").unwrap().plan;
    let limits = Limits {
        max_rounds: cap(1000),
        max_jobs: cap(1000),
        max_sessions: cap(100),
        max_tests: cap(3),
        max_probe_bytes: cap(1 << 20),
        ..Limits::default()
    };
    let found: Vec<String> = excesses(&plan, &limits)
        .iter()
        .map(Excess::describe)
        .collect();
    assert_eq!(
        found,
        [
            "the plan: tests 4 is over max_tests 3",
            "test L1: rounds 5000 is over max_rounds 1000",
            "test J1: mix.count 1200 is over max_jobs 1000",
            "test C1: jobs.count 2000 is over max_jobs 1000",
            "test C1: streams.sessions 300 is over max_sessions 100",
            "test C1: after_checks.count 9000 is over max_rounds 1000",
            "test P1: size_bytes 100000000 is over max_probe_bytes 1048576",
        ]
    );
    assert!(excesses(&plan, &Limits::default()).is_empty());
}

#[test]
fn loads_without_a_concurrency_count_their_default_workers_together() {
    // Three open-model loads with only a rate run 64 request slots
    // each: 192 together, over a cap of 150, though none sets one.
    let mut text = String::from(
        "[plan]\nname = \"defaults\"\n[environments.local]\nbase_url = \"http://127.0.0.1:9\"\n",
    );
    for (i, id) in ["L1", "L2", "L3"].iter().enumerate() {
        text.push_str(&format!("[[tests]]\nid = \"{id}\"\n"));
        if i > 0 {
            text.push_str("alongside = \"L1\"\n");
        }
        text.push_str("http_load = { path = \"/\", rate = 10, duration_s = 5 }\n");
    }
    let plan = crate::plan::load_str(&text, "defaults.toml").unwrap().plan;
    let limits = Limits {
        max_concurrency: cap(150),
        ..Limits::default()
    };
    let found: Vec<String> = excesses(&plan, &limits)
        .iter()
        .map(Excess::describe)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("concurrency 192 is over max_concurrency 150"),
        "{found:?}"
    );
    let roomy = Limits {
        max_concurrency: cap(192),
        ..Limits::default()
    };
    assert!(excesses(&plan, &roomy).is_empty());
}

#[test]
fn a_chaos_tests_background_load_is_capped_like_a_load_test() {
    let plan = crate::plan::load_str(
        r#"
[plan]
name = "bg"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
[services.api]
health = "/health"
restart.http = { url = "http://127.0.0.1:9/restart", expect_status = 202 }
[[tests]]
id = "C1"
[tests.chaos]
service = "api"
baseline_s = 30
after_s = 40
background_load = [
  { method = "GET", path = "/", rate = 600 },
  { method = "GET", path = "/", rate = 600, concurrency = 300 },
]
"#,
        "bg.toml",
    )
    .unwrap()
    .plan;
    let limits = Limits {
        max_concurrency: cap(200),
        max_rate: cap(1000),
        max_duration_s: cap(60),
        ..Limits::default()
    };
    let found: Vec<String> = excesses(&plan, &limits)
        .iter()
        .map(Excess::describe)
        .collect();
    assert_eq!(
        found,
        [
            "test C1: background_load.concurrency 300 is over max_concurrency 200",
            "test C1: background_load.rate 1200 is over max_rate 1000",
            "test C1: baseline_s + after_s 70 is over max_duration_s 60",
        ]
    );
}

#[test]
fn the_tightest_of_two_limits_wins_field_by_field() {
    let a = Limits {
        max_rounds: cap(10),
        max_jobs: cap(5),
        ..Limits::default()
    };
    let b = Limits {
        max_rounds: cap(3),
        max_answer_bytes: cap(1024),
        ..Limits::default()
    };
    let t = a.tightest(&b);
    assert_eq!(t.max_rounds, cap(3));
    assert_eq!(t.max_jobs, cap(5));
    assert_eq!(t.answer_bytes(), 1024);
    assert_eq!(
        Limits::default().answer_bytes(),
        DEFAULT_MAX_ANSWER_BYTES as usize
    );
}
