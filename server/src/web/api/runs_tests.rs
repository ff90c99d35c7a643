//! `POST /api/runs`: a launch the server refuses (load agents past its
//! cap, a load that cannot be split across agents) is a 400 naming the
//! `agents` field and the test, and no run is stored; a viewer may not
//! launch, and the route answers a body that is not a launch request with
//! a 400 saying so.

use super::launch;
use crate::db::testing;
use crate::web::tests::state;
use axum::body::to_bytes;
use axum::extract::State;
use axum::http::{Extensions, StatusCode};
use axum::Json;
use engine::access::{Principal, Role};
use engine::launch::LaunchRequest;
use engine::plan::{Limits, Positive};
use engine::store::{RunFilter, RunStore};

const PLAN: &str = r#"
[plan]
name = "loads"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
[[tests]]
id = "L1"
http_load = { path = "/", rate = 10, duration_s = 1 }
[[tests]]
id = "L2"
http_load = { path = "/n/{{seq}}", rate = 10, duration_s = 1 }
"#;

fn as_role(role: Role) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(Principal {
        name: "ci".to_owned(),
        role,
        local: false,
    });
    extensions
}

#[tokio::test]
async fn a_refused_launch_names_the_field_and_stores_nothing() {
    let (db, dir) = testing::sqlite().await;
    let app = state(db.clone(), dir.path());
    std::fs::create_dir_all(dir.path().join("plans")).unwrap();
    std::fs::write(dir.path().join("plans").join("loads.toml"), PLAN).unwrap();
    app.orchestrator.set_caps(Limits {
        max_agents: Positive::new(4),
        ..Default::default()
    });
    let post = |role: Role, body: serde_json::Value| {
        let request: LaunchRequest = serde_json::from_value(body).unwrap();
        launch(State(app.clone()), as_role(role), Ok(Json(request)))
    };
    let answer = |response: axum::response::Response| async move {
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        )
    };

    let over =
        serde_json::json!({ "plan": { "File": "loads.toml" }, "tests": ["L1"], "agents": 5 });
    let (status, body) = answer(post(Role::Operator, over).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "agents", "{body}");
    assert_eq!(
        body["message"],
        "test L1: agents 5 is over max_agents 4 (this server's cap, --max-agents)"
    );
    assert_eq!(body["error"], body["message"]);

    let seq = serde_json::json!({ "plan": { "File": "loads.toml" }, "agents": 2 });
    let (status, body) = answer(post(Role::Operator, seq).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "agents", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("test L2: http_load.path: {{seq}} cannot be used"),
        "{message}"
    );

    let within =
        serde_json::json!({ "plan": { "File": "loads.toml" }, "tests": ["L1"], "agents": 4 });
    let (status, body) = answer(post(Role::Viewer, within).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let runs = db.list_runs(&RunFilter::default()).await.unwrap();
    assert!(runs.is_empty(), "nothing stored: {runs:?}");
}

/// What the router answers a JSON body posted to `/api/runs`.
async fn post_body(body: &'static str) -> (StatusCode, String) {
    use tower::ServiceExt;
    let (db, dir) = testing::sqlite().await;
    let app = crate::web::router(state(db, dir.path()));
    let request = axum::http::Request::post("/api/runs")
        .header("content-type", "application/json")
        .header("sec-fetch-site", "same-origin")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_route_refuses_a_body_that_is_not_a_launch_request() {
    let (status, body) = post_body(r#"{"agents": -1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("request body") && body.contains("agents"),
        "{body}"
    );
}

#[tokio::test]
async fn a_misspelt_override_is_refused_naming_it_not_ignored() {
    let (status, body) = post_body(r#"{"plan": {"File": "loads.toml"}, "agent": 4}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("unknown field") && body.contains("`agent`"),
        "{body}"
    );
    // The server sets who launched; a body cannot.
    let (status, body) =
        post_body(r#"{"plan": {"File": "loads.toml"}, "launched_by": "someone"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
