//! Restart methods against local fakes on 127.0.0.1: Railway's GraphQL
//! `deploymentRestart` (the fake checks the query and the bearer token and
//! "restarts" by changing the pid its health reports), a webhook with a
//! secret header, and a command that restarts nothing.

mod common;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::faults;
use engine::plan::{
    CommandRestart, HttpMethod, HttpRestart, Positive, RailwayRestart, RestartMethod, Service,
};
use engine::runner::context::TestContext;
use engine::runner::target::Target;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const TOKEN_VAR: &str = "SHAKEDOWN_TEST_FAULTS_RAILWAY_TOKEN";
const TOKEN: &str = "rw-test-token-5b1e";

/// The fake: `/graphql` restarts when the query and token are right,
/// `/hook` when the secret header is right; `/health` reports the pid.
async fn fake() -> (common::Server, Arc<AtomicU64>) {
    let pid = Arc::new(AtomicU64::new(100));
    let (p1, p2, p3) = (pid.clone(), pid.clone(), pid.clone());
    let router = Router::new()
        .route(
            "/graphql",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let pid = p1.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some(&format!("Bearer {TOKEN}")) {
                        return (
                            StatusCode::UNAUTHORIZED,
                            Json(json!({"errors": [{"message": "Not Authorized"}]})),
                        );
                    }
                    if body["query"] != json!(r#"mutation { deploymentRestart(id: "dep-42") }"#) {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"errors": [{"message": "bad query"}]})),
                        );
                    }
                    pid.fetch_add(1, Ordering::SeqCst);
                    (
                        StatusCode::OK,
                        Json(json!({"data": {"deploymentRestart": true}})),
                    )
                }
            }),
        )
        .route(
            "/hook",
            post(move |headers: HeaderMap| {
                let pid = p2.clone();
                async move {
                    if headers.get("x-hook-key").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
                        return StatusCode::FORBIDDEN;
                    }
                    pid.fetch_add(1, Ordering::SeqCst);
                    StatusCode::ACCEPTED
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let pid = p3.clone();
                async move { Json(json!({"pid": pid.load(Ordering::SeqCst)})) }
            }),
        );
    (common::serve(router).await, pid)
}

fn context(base_url: &str, restart: RestartMethod) -> TestContext {
    let mut env = common::environment(base_url);
    env.secrets
        .insert("railway".to_owned(), TOKEN_VAR.to_owned());
    env.secrets.insert("hook".to_owned(), TOKEN_VAR.to_owned());
    let service = Service {
        description: None,
        health: Some("/health".to_owned()),
        pid_pointer: Some("/pid".to_owned()),
        started_at_pointer: None,
        identity_pointer: None,
        observe_timeout_s: Positive::new(2),
        restart,
    };
    let (ctx, _) = common::context(base_url, "C1");
    TestContext {
        target: Arc::new(Target::new("local", &env).unwrap()),
        services: Arc::new(BTreeMap::from([("api".to_owned(), service)])),
        cancel: CancellationToken::new(),
        ..ctx
    }
}

fn railway(endpoint: String) -> RestartMethod {
    RestartMethod::Railway(RailwayRestart {
        deployment_id: "dep-42".to_owned(),
        token_secret: "railway".to_owned(),
        endpoint: Some(endpoint),
    })
}

#[tokio::test]
async fn railway_restart_sends_the_mutation_with_the_bearer_token_and_is_observed() {
    // The only test in this file that sets the variable; the others read it.
    std::env::set_var(TOKEN_VAR, TOKEN);
    let (server, pid) = fake().await;
    let base = server.base_url();
    let ctx = context(&base, railway(format!("{base}/graphql")));
    let evidence = faults::inject(&ctx, "api", None).await.unwrap();
    assert_eq!(
        pid.load(Ordering::SeqCst),
        101,
        "the fake accepted the call"
    );
    assert!(evidence.call_ok, "{evidence:?}");
    assert!(evidence.answer.contains(r#""deploymentRestart":true"#));
    assert!(evidence
        .called
        .contains(r#"deploymentRestart(id: "dep-42")"#));
    assert!(evidence.restart_observed, "{evidence:?}");
    assert_eq!(evidence.identity_before.as_deref(), Some("pid 100"));
    assert_eq!(evidence.identity_after.as_deref(), Some("pid 101"));
    let json = serde_json::to_string(&evidence).unwrap();
    assert!(!json.contains(TOKEN), "the token leaked into the evidence");

    // A wrong endpoint path: the fake refuses, nothing restarts.
    let ctx = context(&base, railway(format!("{base}/nothing")));
    let evidence = faults::inject(&ctx, "api", None).await.unwrap();
    assert!(
        !evidence.call_ok && !evidence.restart_observed,
        "{evidence:?}"
    );
}

#[tokio::test]
async fn webhook_with_a_secret_header_is_called_and_observed() {
    std::env::set_var(TOKEN_VAR, TOKEN);
    let (server, _) = fake().await;
    let base = server.base_url();
    let hook = |path: &str, status: Option<u16>| {
        RestartMethod::Http(HttpRestart {
            url: format!("{base}{path}"),
            method: HttpMethod::Post,
            headers: BTreeMap::from([("x-hook-key".to_owned(), "${secret.hook}".to_owned())]),
            body: None,
            expect_status: status,
        })
    };
    let evidence = faults::inject(&context(&base, hook("/hook", Some(202))), "api", None)
        .await
        .unwrap();
    assert!(
        evidence.call_ok && evidence.restart_observed,
        "{evidence:?}"
    );
    assert!(!serde_json::to_string(&evidence).unwrap().contains(TOKEN));
    let evidence = faults::inject(&context(&base, hook("/hook", Some(200))), "api", None)
        .await
        .unwrap();
    assert!(
        !evidence.call_ok,
        "202 is not the expected 200: {evidence:?}"
    );
}

#[tokio::test]
async fn a_command_that_exits_0_but_restarts_nothing_is_not_observed() {
    let (server, _) = fake().await;
    let base = server.base_url();
    let command = RestartMethod::Command(CommandRestart {
        run: "true".to_owned(),
        timeout_s: None,
    });
    let evidence = faults::inject(&context(&base, command), "api", None)
        .await
        .unwrap();
    assert!(evidence.call_ok, "{evidence:?}");
    assert!(!evidence.restart_observed, "{evidence:?}");
    assert!(evidence.recovery_ms.is_none());
    assert!(evidence.timeline.len() >= 15, "probed every 100 ms for 2 s");

    let failing = RestartMethod::Command(CommandRestart {
        run: "exit 3".to_owned(),
        timeout_s: None,
    });
    let evidence = faults::inject(&context(&base, failing), "api", None)
        .await
        .unwrap();
    assert!(!evidence.call_ok && evidence.answer.starts_with("exit code 3"));
}

#[tokio::test]
async fn process_without_a_supervisor_is_refused() {
    let (server, _) = fake().await;
    let base = server.base_url();
    let process = RestartMethod::Process(engine::plan::ProcessRestart {
        name: None,
        signal: None,
        program: None,
        args: vec![],
        env: BTreeMap::new(),
        grace_ms: None,
    });
    let err = faults::inject(&context(&base, process), "api", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no supervisor"), "{err}");
}
