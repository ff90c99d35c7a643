//! An `http_load` test with `agents = N` where no server coordinates load
//! agents (a headless `shakedown run`) is an error saying agents need
//! `shakedown serve`, and sends nothing: never a silent local run.

mod common;

use axum::Router;
use engine::metrics::TestMetrics;
use engine::plan::{load_str, TestKind};
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_load_on_agents_without_a_server_is_an_error_and_sends_nothing() {
    let server = common::serve(Router::new().fallback(|| async { "ok" })).await;
    let text = format!(
        r#"
[plan]
name = "agents"
default_environment = "local"
[environments.local]
base_url = "{}"
allowed_hosts = ["127.0.0.1"]
[[tests]]
id = "L1"
[tests.http_load]
path = "/"
rate = 50
duration_s = 1
agents = 2
"#,
        server.base_url()
    );
    let plan = load_str(&text, "agents.toml").unwrap();
    let TestKind::HttpLoad(spec) = &plan.plan.tests[0].kind else {
        panic!("an http_load test");
    };
    let (ctx, _) = common::context(&server.base_url(), "L1");
    assert!(ctx.agents.is_none());
    let outcome = engine::kinds::http_load::run(spec, &ctx).await;
    let error = outcome.error.expect("an error");
    assert!(error.contains("agents = 2"), "{error}");
    assert!(error.contains("`shakedown serve`"), "{error}");
    let TestMetrics::HttpLoad(metrics) = &outcome.metrics else {
        panic!("http_load metrics");
    };
    assert_eq!(metrics.requests, 0);
    assert_eq!(
        server.connections.load(Ordering::Relaxed),
        0,
        "nothing sent"
    );
}
