//! Tests that run together (`alongside`) against a real server on
//! 127.0.0.1: its `/meet` answers only once two requests are waiting there
//! at the same time (else 503 after a few seconds), so two one-request
//! loads both succeed only when they really run concurrently. The same
//! plan without `alongside` runs them one after the other, and the first
//! one's request fails: the check can fail.

mod common;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::{serve, Collect};
use engine::events::ProgressEvent;
use engine::metrics::TestMetrics;
use engine::results::{RunResults, TestResult};
use engine::run::Verdict;
use engine::runner::run_plan;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use tokio_util::sync::CancellationToken;

/// How long `/meet` waits for a second request before giving up.
const MEET_WAIT: Duration = Duration::from_secs(3);

fn router() -> Router {
    let barrier = Arc::new(Barrier::new(2));
    Router::new().route("/ok", get(|| async { "ok" })).route(
        "/meet",
        get(move || {
            let barrier = barrier.clone();
            async move {
                match tokio::time::timeout(MEET_WAIT, barrier.wait()).await {
                    Ok(_) => (StatusCode::OK, "met"),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "alone"),
                }
            }
        }),
    )
}

fn plan(base_url: &str, together: bool) -> String {
    let alongside = if together { "alongside = \"A\"" } else { "" };
    format!(
        r#"
[plan]
name = "together"
default_environment = "local"
[environments.local]
base_url = "{base_url}"
allowed_hosts = ["127.0.0.1"]
[[tests]]
id = "A"
http_load = {{ path = "/meet", concurrency = 1, rounds = 1, timeout_ms = 10000 }}
[[tests]]
id = "B"
{alongside}
http_load = {{ path = "/meet", concurrency = 1, rounds = 1, timeout_ms = 10000 }}
[[tests]]
id = "Z"
http_load = {{ path = "/ok", concurrency = 1, rounds = 1 }}
[[criteria]]
expr = "A.fail == 0"
[[criteria]]
expr = "B.fail == 0"
"#
    )
}

async fn run(together: bool) -> (RunResults, Vec<ProgressEvent>) {
    let server = serve(router()).await;
    let loaded = engine::plan::load_str(&plan(&server.base_url(), together), "together.toml")
        .expect("a valid plan");
    let sink = Arc::new(Collect::default());
    let results = run_plan(&loaded, None, CancellationToken::new(), sink.clone())
        .await
        .expect("the run starts");
    let events = sink.0.lock().unwrap().clone();
    (results, events)
}

fn fail(result: &TestResult) -> u64 {
    match &result.metrics {
        Some(TestMetrics::HttpLoad(m)) => m.fail,
        other => panic!("not http_load metrics: {other:?}"),
    }
}

/// The events as `started A`, `finished B`, ... in the order sent.
fn steps(events: &[ProgressEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::TestStarted { test } => Some(format!("started {}", test.id)),
            ProgressEvent::TestFinished { result } => Some(format!("finished {}", result.id)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn tests_alongside_each_other_run_concurrently_and_report_in_plan_order() {
    let (results, events) = run(true).await;
    let ids: Vec<&str> = results.tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["A", "B", "Z"], "results keep plan order");
    // Both met at /meet: each one's only request succeeded.
    for test in &results.tests {
        assert_eq!(fail(test), 0, "{} failed: {test:?}", test.id);
    }
    assert_eq!(results.verdict, Some(Verdict::Go));
    // Both started before either finished; Z started after both finished.
    let steps = steps(&events);
    assert_eq!(steps[..2], ["started A", "started B"]);
    let mut finished = steps[2..4].to_vec();
    finished.sort();
    assert_eq!(finished, ["finished A", "finished B"]);
    assert_eq!(steps[4..], ["started Z", "finished Z"]);
    // The recorded times say the same: B started before A finished, and Z
    // after both.
    let (a, b, z) = (&results.tests[0], &results.tests[1], &results.tests[2]);
    assert!(b.started_at_ms <= a.finished_at_ms, "{a:?} {b:?}");
    assert!(a.started_at_ms <= b.finished_at_ms, "{a:?} {b:?}");
    assert!(z.started_at_ms >= a.finished_at_ms.max(b.finished_at_ms));
}

#[tokio::test]
async fn without_alongside_the_tests_run_one_after_another() {
    let (results, events) = run(false).await;
    assert_eq!(
        steps(&events),
        [
            "started A",
            "finished A",
            "started B",
            "finished B",
            "started Z",
            "finished Z"
        ]
    );
    // A waited at /meet alone and failed: the concurrency check can fail.
    assert_eq!(fail(&results.tests[0]), 1);
    assert_eq!(results.verdict, Some(Verdict::NoGo));
    let (a, b) = (&results.tests[0], &results.tests[1]);
    assert!(b.started_at_ms >= a.finished_at_ms);
}
