//! `max_answer_bytes` against real servers on 127.0.0.1: an answer past the
//! cap fails the request that read it (assert, load with body checks, a
//! stream's event) instead of being read whole into memory; answers under
//! the cap are read as before.

mod common;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use common::{context, serve};
use engine::metrics::TestMetrics;
use engine::plan::{AssertSpec, HttpLoadSpec, HttpMethod, JsonCheck, Positive};
use engine::runner::context::TestContext;
use engine::runner::target::Target;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const CAP: usize = 64 * 1024;

/// A JSON document of about `size` bytes: `{"ok":true,"pad":"xxx…"}`.
fn document(size: usize) -> String {
    json!({ "ok": true, "pad": "x".repeat(size) }).to_string()
}

fn router() -> Router {
    Router::new()
        .route("/small", get(|| async { document(1024) }))
        .route("/big", get(|| async { document(4 * CAP) }))
        // No Content-Length: the cap must hold while the chunks arrive.
        .route(
            "/big-chunked",
            get(|| async {
                let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 16 * 1024]));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
}

async fn capped_context(base_url: &str) -> TestContext {
    let (mut ctx, _) = context(base_url, "T1");
    let target = Target::new("local", &ctx.target.env)
        .unwrap()
        .with_answer_limit(CAP);
    ctx.target = Arc::new(target);
    ctx
}

fn assert_spec(path: &str) -> AssertSpec {
    AssertSpec {
        method: HttpMethod::Get,
        path: path.to_owned(),
        expect_status: Vec::new(),
        checks: vec![JsonCheck {
            pointer: "/ok".to_owned(),
            equals: json!(true),
            name: None,
        }],
        timeout_ms: None,
    }
}

#[tokio::test]
async fn an_assert_answer_past_the_cap_fails_and_says_why() {
    let server = serve(router()).await;
    let ctx = capped_context(&server.base_url()).await;
    let small = engine::kinds::assert::run(&assert_spec("/small"), &ctx).await;
    assert!(small.error.is_none(), "{:?}", small.error);
    for path in ["/big", "/big-chunked"] {
        let outcome = engine::kinds::assert::run(&assert_spec(path), &ctx).await;
        let TestMetrics::Assert(metrics) = &outcome.metrics else {
            panic!("not assert metrics")
        };
        assert!(!metrics.ok, "{path}");
        let why = format!("{:?} {:?}", outcome.error, metrics.checks);
        assert!(
            why.contains("max_answer_bytes (65536 bytes)"),
            "{path}: {why}"
        );
    }
}

#[tokio::test]
async fn load_requests_whose_bodies_pass_the_cap_count_as_protocol_errors() {
    let server = serve(router()).await;
    let ctx = capped_context(&server.base_url()).await;
    let spec = |path: &str| HttpLoadSpec {
        method: HttpMethod::Get,
        path: path.to_owned(),
        headers: BTreeMap::new(),
        body: None,
        json: None,
        expect_status: Vec::new(),
        checks: vec![JsonCheck {
            pointer: "/ok".to_owned(),
            equals: json!(true),
            name: None,
        }],
        concurrency: Positive::new(2),
        rounds: Positive::new(5),
        duration_s: None,
        rate: None,
        new_connection_per_request: false,
        timeout_ms: None,
        stages: Vec::new(),
        think_time_ms: None,
        data_file: None,
        agents: None,
        allow_agent_loss: false,
        data: None,
    };
    for (path, ok, protocol) in [("/small", 10, 0), ("/big", 0, 10), ("/big-chunked", 0, 10)] {
        let outcome = engine::kinds::http_load::run(&spec(path), &ctx).await;
        let TestMetrics::HttpLoad(m) = &outcome.metrics else {
            panic!("not load metrics")
        };
        assert_eq!((m.ok, m.errors.protocol), (ok, protocol), "{path}");
    }
}
