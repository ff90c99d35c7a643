//! The load agents' API (`shakedown agent` talks to it; JSON, bearer
//! token of an `agent` account or an operator or above):
//!
//! - `POST /api/agents` `{name, version, protocol}`: registers; answers
//!   `{id, now_ms}`. An agent whose `protocol` is not this server's
//!   ([`AGENT_PROTOCOL`]), or an older one that does not send it, gets a
//!   409 naming both versions (it would misread the shard states).
//! - `POST /api/agents/{id}/heartbeat` `{shard}` (optional body): renews
//!   the lease of the shard the agent works on (`shard`, or none when it
//!   is idle; the others it holds lapse); answers `{now_ms, waiting, shards}` (shares waiting for an agent, and
//!   the ones it holds with their state and start).
//! - `POST /api/agents/{id}/claim`: `{shard}`, the oldest waiting share
//!   (spec, target, segment), or `{shard: null}`.
//! - `GET /api/shards/{id}?agent=A`: `{id, state, start_at_ms, now_ms}`,
//!   so an agent computes its clock's offset from the server's.
//! - `POST /api/shards/{id}/ready?agent=A`, `…/snapshots?agent=A` (a
//!   snapshot; one per `seq`, a resend is accepted and stored once),
//!   `…/done?agent=A` (`{warnings, error}`).
//!
//! An agent may only act for registrations of its own account, and on a
//! shard only as the agent `A` holding it (agents of one account share a
//! token, so the account alone does not say which agent calls): another
//! agent gets a 409. An operator's or an admin's token acting as an agent
//! is audit-logged (registering, claiming, readying and ending a shard), as
//! the other actions those roles take are; an agent account's are not.

use crate::db::agents::{ShardRow, SnapshotStored};
use crate::db::{now_ms, Db};
use crate::runs::agents::SHARD_TTL_MS;
use crate::web::AppState;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::{Principal, Role};
use engine::access_store::AccessStore;
use engine::agents::{ShardEnd, ShardState, AGENT_PROTOCOL};
use engine::load::snapshot::Snapshot;
use engine::store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest agent name.
const MAX_NAME: usize = 100;

/// A refusal, boxed (a response is large).
type Refused = Box<Response>;

fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    answer(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The caller, when it may use the agents' endpoints.
fn caller(extensions: &Extensions) -> Result<Principal, Refused> {
    let found: Result<Principal, Response> = match extensions.get::<Principal>() {
        Some(p) if p.role.drives_agents() => Ok(p.clone()),
        Some(p) => Err(answer(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not do this: it needs the agent role or operator",
                p.role
            ),
        )),
        None => Err(answer(StatusCode::UNAUTHORIZED, "log in first")),
    };
    found.map_err(Box::new)
}

/// Whether `p` may act for something run by `owner`.
fn owns(p: &Principal, owner: Option<&str>) -> bool {
    owner == Some(p.name.as_str()) || p.role == Role::Admin
}

/// A lookup of `what` `id` judged: what `accept` makes of what was found,
/// a 404 when there is no such thing, a 503 when it cannot be read.
fn judged<T, U>(
    what: &str,
    id: i64,
    found: Result<Option<T>, StoreError>,
    accept: impl FnOnce(T) -> Result<U, Refused>,
) -> Result<U, Refused> {
    match found {
        Ok(Some(found)) => accept(found),
        Ok(None) => Err(Box::new(answer(
            StatusCode::NOT_FOUND,
            format!("no {what} with id {id}"),
        ))),
        Err(e) => Err(Box::new(unavailable(e))),
    }
}

/// Audits `action` on `target` when the caller is an operator or an admin
/// acting as an agent (an agent account's moves are routine, not logged).
async fn audit_as_agent(
    db: &Db,
    extensions: &Extensions,
    action: &str,
    target: &str,
    detail: &str,
) {
    let Some(p) = extensions.get::<Principal>() else {
        return;
    };
    if p.role == Role::Agent {
        return;
    }
    if let Err(e) = db.audit(&p.name, action, target, detail, now_ms()).await {
        tracing::warn!("{action} on {target} by {} not audited: {e}", p.name);
    }
}

/// Audits `action` on shard `id` by agent `agent` (see
/// [`audit_as_agent`]); its target is the shard's run.
async fn audit_shard(db: &Db, extensions: &Extensions, action: &str, id: i64, agent: i64) {
    if extensions
        .get::<Principal>()
        .is_none_or(|p| p.role == Role::Agent)
    {
        return;
    }
    let target = match db.shard(id).await {
        Ok(Some(shard)) => shard.run_id,
        _ => format!("shard {id}"),
    };
    let detail = format!("shard {id} as agent {agent}");
    audit_as_agent(db, extensions, action, &target, &detail).await;
}

/// A JSON body read as `T`; a 400 naming what is wrong otherwise.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, Refused> {
    serde_json::from_slice(bytes)
        .map_err(|e| Box::new(answer(StatusCode::BAD_REQUEST, format!("body: {e}"))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    name: String,
    /// The agent's build; an agent older than the protocol sends neither.
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    protocol: Option<u32>,
}

/// Why an agent speaking another protocol than this server's is refused.
fn other_protocol(r: &Registration) -> Option<String> {
    let ours = format!(
        "protocol {AGENT_PROTOCOL} (shakedown {})",
        env!("CARGO_PKG_VERSION")
    );
    let theirs = match (r.protocol, r.version.as_deref()) {
        (Some(p), _) if p == AGENT_PROTOCOL => return None,
        (Some(p), Some(v)) => format!("protocol {p} (shakedown {v})"),
        (Some(p), None) => format!("protocol {p}"),
        (None, _) => "protocol 1 (a shakedown older than the agents' protocol)".to_owned(),
    };
    Some(format!(
        "the agent speaks {theirs} and this server {ours}: run an agent of the server's version"
    ))
}

/// `POST /api/agents`.
pub async fn register(
    State(state): State<AppState>,
    extensions: Extensions,
    bytes: Bytes,
) -> Response {
    let p = match caller(&extensions) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let registration: Registration = match body(&bytes) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if let Some(why) = other_protocol(&registration) {
        return answer(StatusCode::CONFLICT, why);
    }
    let name = registration.name.trim();
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return answer(
            StatusCode::BAD_REQUEST,
            format!("name: expected 1 to {MAX_NAME} printable characters"),
        );
    }
    let now = now_ms();
    match state.db.register_agent(name, &p.name, now).await {
        Ok(id) => {
            let target = format!("agent {id}");
            audit_as_agent(&state.db, &extensions, "agent_registered", &target, name).await;
            Json(json!({ "id": id, "now_ms": now })).into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// Whether the caller may act for `what` `id`, whose owner (the account
/// of the agent holding it; `Some(None)`: nobody) was `found`.
fn owned(
    extensions: &Extensions,
    what: &str,
    id: i64,
    found: Result<Option<Option<String>>, StoreError>,
) -> Result<(), Refused> {
    let p = caller(extensions)?;
    judged(what, id, found, |owner| {
        if owns(&p, owner.as_deref()) {
            Ok(())
        } else {
            Err(Box::new(answer(
                StatusCode::FORBIDDEN,
                format!("{what} {id} is another account's"),
            )))
        }
    })
}

/// The agent `id` when the caller runs it.
async fn own_agent(db: &Db, extensions: &Extensions, id: i64) -> Result<(), Refused> {
    caller(extensions)?;
    let found = db.agent_owner(id).await.map(|o| o.map(Some));
    owned(extensions, "agent", id, found)
}

/// A heartbeat's body: the shard the agent works on.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Beating {
    #[serde(default)]
    shard: Option<i64>,
}

/// `POST /api/agents/{id}/heartbeat`.
pub async fn heartbeat(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> Response {
    if let Err(r) = own_agent(&state.db, &extensions, id).await {
        return *r;
    }
    let beating: Beating = if bytes.is_empty() {
        Beating::default()
    } else {
        match body(&bytes) {
            Ok(b) => b,
            Err(r) => return *r,
        }
    };
    let now = now_ms();
    let beat = async {
        state
            .db
            .agent_heartbeat(id, beating.shard, now, SHARD_TTL_MS)
            .await?;
        let waiting = state.db.waiting_shards().await?;
        let held = state.db.held_shards(id).await?;
        Ok::<_, StoreError>((waiting, held))
    };
    match beat.await {
        Ok((waiting, held)) => {
            let shards: Vec<Value> = held.iter().map(|s| shard_state(s, now)).collect();
            Json(json!({ "now_ms": now, "waiting": waiting, "shards": shards })).into_response()
        }
        Err(e) => unavailable(e),
    }
}

/// `POST /api/agents/{id}/claim`.
pub async fn claim(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = own_agent(&state.db, &extensions, id).await {
        return *r;
    }
    let now = now_ms();
    match state.db.claim_shard(id, now, SHARD_TTL_MS).await {
        Ok(Some(shard)) => {
            let detail = format!(
                "shard {} (test {}, segment {}) as agent {id}",
                shard.id, shard.test_id, shard.segment
            );
            audit_as_agent(
                &state.db,
                &extensions,
                "shard_claimed",
                &shard.run_id,
                &detail,
            )
            .await;
            let spec: Value = serde_json::from_str(&shard.spec).unwrap_or(Value::Null);
            let target: Value = serde_json::from_str(&shard.target).unwrap_or(Value::Null);
            Json(json!({ "now_ms": now, "shard": {
                "id": shard.id, "run_id": shard.run_id, "test_id": shard.test_id,
                "segment": shard.segment, "sequence": shard.sequence,
                "spec": spec, "target": target,
            } }))
            .into_response()
        }
        Ok(None) => Json(json!({ "now_ms": now, "shard": null })).into_response(),
        Err(e) => unavailable(e),
    }
}

fn shard_state(shard: &ShardRow, now: i64) -> Value {
    json!({
        "id": shard.id,
        "state": shard.state,
        "start_at_ms": shard.start_at_ms,
        "now_ms": now,
    })
}

/// `GET /api/shards/{id}?agent=A`.
pub async fn shard(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
    agent: Result<Query<AsAgent>, QueryRejection>,
) -> Response {
    if let Err(r) = own_shard(&state.db, &extensions, id, agent).await {
        return *r;
    }
    match state.db.shard(id).await {
        Ok(Some(shard)) => Json(shard_state(&shard, now_ms())).into_response(),
        Ok(None) => answer(StatusCode::NOT_FOUND, format!("no shard with id {id}")),
        Err(e) => unavailable(e),
    }
}

/// The agent acting on a shard: `?agent=A`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsAgent {
    agent: i64,
}

/// The shard `id` when agent `A` (`?agent=A`), run by the caller, holds
/// it.
async fn own_shard(
    db: &Db,
    extensions: &Extensions,
    id: i64,
    agent: Result<Query<AsAgent>, QueryRejection>,
) -> Result<i64, Refused> {
    let agent = match agent {
        Ok(Query(AsAgent { agent })) => agent,
        Err(e) => {
            return Err(Box::new(answer(
                StatusCode::BAD_REQUEST,
                format!("agent: the acting agent's id is needed (?agent=ID): {e}"),
            )))
        }
    };
    own_agent(db, extensions, agent).await?;
    judged("shard", id, db.shard_holder(id).await, |holder| {
        if holder == Some(agent) {
            Ok(agent)
        } else {
            Err(Box::new(answer(
                StatusCode::CONFLICT,
                format!("shard {id} is not held by agent {agent}"),
            )))
        }
    })
}

/// A refused move: the shard is not where the request needs it.
async fn not_in(db: &Db, id: i64, needed: ShardState) -> Response {
    let state = match db.shard(id).await {
        Ok(Some(shard)) => shard.state.to_string(),
        Ok(None) => "gone".to_owned(),
        Err(e) => return unavailable(e),
    };
    answer(
        StatusCode::CONFLICT,
        format!("shard {id} is {state}, not {needed}"),
    )
}

/// A shard's move to `to` from `needed`, answered: the new state, or why
/// the shard was not where it had to be.
async fn moved(
    db: &Db,
    id: i64,
    done: Result<bool, StoreError>,
    needed: ShardState,
    to: ShardState,
) -> Response {
    match done {
        Ok(true) => Json(json!({ "id": id, "state": to })).into_response(),
        Ok(false) => not_in(db, id, needed).await,
        Err(e) => unavailable(e),
    }
}

/// The acting agent and the body of a request about shard `id` when that
/// agent, run by the caller, holds it.
async fn shard_body<T: for<'de> Deserialize<'de>>(
    db: &Db,
    extensions: &Extensions,
    id: i64,
    agent: Result<Query<AsAgent>, QueryRejection>,
    bytes: &Bytes,
) -> Result<(i64, T), Refused> {
    let agent = own_shard(db, extensions, id, agent).await?;
    Ok((agent, body(bytes)?))
}

/// `POST /api/shards/{id}/ready?agent=A`.
pub async fn ready(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
    agent: Result<Query<AsAgent>, QueryRejection>,
) -> Response {
    let agent = match own_shard(&state.db, &extensions, id, agent).await {
        Ok(agent) => agent,
        Err(r) => return *r,
    };
    // The holder is checked again in the move itself: the shard may have
    // been offered to another agent since.
    let done = state
        .db
        .move_shard(id, agent, ShardState::Claimed, ShardState::Ready)
        .await;
    if matches!(done, Ok(true)) {
        audit_shard(&state.db, &extensions, "shard_ready", id, agent).await;
    }
    moved(&state.db, id, done, ShardState::Claimed, ShardState::Ready).await
}

/// `POST /api/shards/{id}/snapshots?agent=A`.
pub async fn snapshot(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
    agent: Result<Query<AsAgent>, QueryRejection>,
    bytes: Bytes,
) -> Response {
    let (agent, snapshot): (i64, Snapshot) =
        match shard_body(&state.db, &extensions, id, agent, &bytes).await {
            Ok(s) => s,
            Err(r) => return *r,
        };
    let Ok(seq) = i64::try_from(snapshot.seq) else {
        return answer(StatusCode::BAD_REQUEST, "seq: too large");
    };
    let text = String::from_utf8_lossy(&bytes);
    match state.db.add_snapshot(id, agent, seq, &text).await {
        Ok(SnapshotStored::Stored) => Json(json!({ "id": id, "seq": seq })).into_response(),
        Ok(SnapshotStored::NotRunning(_)) => not_in(&state.db, id, ShardState::Running).await,
        Ok(SnapshotStored::NoShard) => {
            answer(StatusCode::NOT_FOUND, format!("no shard with id {id}"))
        }
        Ok(SnapshotStored::NotHeld) => answer(
            StatusCode::CONFLICT,
            format!("shard {id} is not held by agent {agent}"),
        ),
        Err(e) => unavailable(e),
    }
}

/// `POST /api/shards/{id}/done?agent=A`.
pub async fn done(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<i64>,
    agent: Result<Query<AsAgent>, QueryRejection>,
    bytes: Bytes,
) -> Response {
    let (agent, end): (i64, ShardEnd) =
        match shard_body(&state.db, &extensions, id, agent, &bytes).await {
            Ok(end) => end,
            Err(r) => return *r,
        };
    let text = serde_json::to_string(&end).unwrap_or_default();
    let done = state.db.finish_shard(id, agent, &text, now_ms()).await;
    if matches!(done, Ok(true)) {
        audit_shard(&state.db, &extensions, "shard_done", id, agent).await;
    }
    moved(&state.db, id, done, ShardState::Running, ShardState::Done).await
}

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
