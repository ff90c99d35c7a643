//! The shard routes answer only the agent holding the shard: another agent
//! of the same account (same token) gets a 409 on reading, readying,
//! sending snapshots and reporting done, and a missing `?agent=` is a 400.
//! An operator's token acting as an agent is audit-logged; an agent
//! account's is not.

use super::{claim, done, ready, register, shard, snapshot, AsAgent};
use crate::db::testing;
use crate::web::tests::state;
use axum::body::{to_bytes, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::Response;
use engine::access::{Principal, Role};
use engine::access_store::AccessStore;
use engine::agents::{ShardOffer, ShardState, AGENT_PROTOCOL};
use engine::run::RunStatus;
use engine::store::RunStore;

fn as_user(name: &str, role: Role) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(Principal {
        name: name.to_owned(),
        role,
        local: false,
    });
    extensions
}

fn as_bot() -> Extensions {
    as_user("bot", Role::Agent)
}

/// A running run offering `n` shares; the run's id and the shards' ids.
async fn offering(db: &crate::db::Db, n: usize) -> (String, Vec<i64>) {
    let run = testing::new_run(db, "agents", "local").await;
    db.set_status(&run.id, RunStatus::Running, None)
        .await
        .unwrap();
    let offer = ShardOffer {
        segment: "0:1".to_owned(),
        sequence: "0,1".to_owned(),
        spec: serde_json::json!({ "path": "/" }),
        target: serde_json::json!({}),
    };
    let ids = db
        .offer_shards(&run.id, "L1", &vec![offer; n], 1_000)
        .await
        .unwrap();
    (run.id, ids)
}

/// A registration body as `name`, with the protocol when given (an agent
/// built before the protocol sends none).
fn registration(name: &str, protocol: Option<u32>) -> Bytes {
    let mut body = serde_json::json!({ "name": name });
    if let Some(protocol) = protocol {
        body["version"] = "0.0.1".into();
        body["protocol"] = protocol.into();
    }
    Bytes::from(body.to_string())
}

fn acting(agent: i64) -> Result<Query<AsAgent>, axum::extract::rejection::QueryRejection> {
    Ok(Query(AsAgent { agent }))
}

async fn status_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn another_agent_of_the_same_account_cannot_act_on_a_shard() {
    let (db, dir) = testing::sqlite().await;
    let app = state(db.clone(), dir.path());
    let (_, ids) = offering(&db, 1).await;
    let holder = db.register_agent("a1", "bot", 1_000).await.unwrap();
    let other = db.register_agent("a2", "bot", 1_000).await.unwrap();
    let claimed = db
        .claim_shard(holder, 1_000, 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, ids[0]);
    let id = claimed.id;
    let st = || State(app.clone());

    let (status, body) = status_of(shard(st(), as_bot(), Path(id), acting(other)).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = status_of(ready(st(), as_bot(), Path(id), acting(other)).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("not held by agent"), "{body}");
    let (status, body) = status_of(ready(st(), as_bot(), Path(id), acting(holder)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = status_of(shard(st(), as_bot(), Path(id), acting(holder)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(db.start_shard(id, 2_000).await.unwrap());

    // Refused before its body is read.
    let sent = snapshot(st(), as_bot(), Path(id), acting(other), Bytes::new()).await;
    let (status, body) = status_of(sent).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let end = || Bytes::from_static(b"{}");
    let (status, body) =
        status_of(done(st(), as_bot(), Path(id), acting(other), end()).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        db.shard(id).await.unwrap().unwrap().state,
        ShardState::Running
    );
    let (status, body) =
        status_of(done(st(), as_bot(), Path(id), acting(holder), end()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // An agent of another account is refused outright.
    let stranger = db.register_agent("s", "someone", 1_000).await.unwrap();
    let (status, body) = status_of(shard(st(), as_bot(), Path(id), acting(stranger)).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn an_operator_acting_as_an_agent_is_audited_and_an_agent_account_is_not() {
    let (db, dir) = testing::sqlite().await;
    let app = state(db.clone(), dir.path());
    let (run, _) = offering(&db, 2).await;
    let st = || State(app.clone());
    for (name, role) in [("olga", Role::Operator), ("bot", Role::Agent)] {
        let who = || as_user(name, role);
        let body = registration(&format!("{name}-1"), Some(AGENT_PROTOCOL));
        let (status, text) = status_of(register(st(), who(), body).await).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let agent = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
            .as_i64()
            .unwrap();
        let (status, text) = status_of(claim(st(), who(), Path(agent)).await).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["shard"]["id"]
            .as_i64()
            .unwrap();
        let (status, text) = status_of(ready(st(), who(), Path(id), acting(agent)).await).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(db.start_shard(id, 2_000).await.unwrap());
        let end = Bytes::from_static(b"{}");
        let (status, text) = status_of(done(st(), who(), Path(id), acting(agent), end).await).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let mut log: Vec<(String, String, String)> = db
        .audit_log(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.target))
        .collect();
    log.reverse();
    let olga =
        |action: &str, target: &str| ("olga".to_owned(), action.to_owned(), target.to_owned());
    let registered = log.first().map(|e| e.2.clone()).unwrap_or_default();
    assert!(registered.starts_with("agent "), "{log:?}");
    assert_eq!(
        log,
        [
            olga("agent_registered", &registered),
            olga("shard_claimed", &run),
            olga("shard_ready", &run),
            olga("shard_done", &run),
        ],
        "only the operator's moves are audited"
    );
}

#[tokio::test]
async fn an_agent_speaking_another_protocol_is_refused_naming_both_versions() {
    let (db, dir) = testing::sqlite().await;
    let app = state(db.clone(), dir.path());
    let st = || State(app.clone());
    let body = registration("old", Some(AGENT_PROTOCOL - 1));
    let (status, text) = status_of(register(st(), as_bot(), body).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    let theirs = format!("protocol {} (shakedown 0.0.1)", AGENT_PROTOCOL - 1);
    let ours = format!(
        "protocol {AGENT_PROTOCOL} (shakedown {})",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&theirs) && text.contains(&ours), "{text}");
    // An agent built before the protocol was sent says nothing of it.
    let (status, text) =
        status_of(register(st(), as_bot(), registration("older", None)).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(
        text.contains("protocol 1 ") && text.contains(&ours),
        "{text}"
    );
    let (status, text) =
        status_of(register(st(), as_bot(), registration("new", Some(AGENT_PROTOCOL))).await).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}
