//! The HTTP API of the built-in proxy (`shakedown proxy`), shaped like
//! Toxiproxy's so a client written for Toxiproxy drives it unchanged:
//! `/proxies`, `/proxies/{name}`, `/proxies/{name}/toxics`,
//! `/proxies/{name}/toxics/{toxic}`, `/populate`, `/reset`, `/version`.
//! Errors answer `{"error": "...", "status": N}`. The work is done by the
//! engine's [`ProxyRegistry`]; this module only routes and encodes.
//!
//! The API has no login, like Toxiproxy's: on loopback it answers only
//! requests addressed to a loopback name (`Host`), so a web page on a
//! rebinding domain cannot drive it.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::netfault::{ErrorClass, NetFaultError, ProxyRegistry};
use serde_json::{json, Value};
use std::sync::Arc;

type Registry = State<Arc<ProxyRegistry>>;

/// The API over `registry`; `loopback_only`: refuse requests whose `Host`
/// is not a loopback name.
pub fn router(registry: Arc<ProxyRegistry>, loopback_only: bool) -> Router {
    let router = Router::new()
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{name}",
            get(get_proxy).post(update_proxy).delete(delete_proxy),
        )
        .route("/proxies/{name}/toxics", get(list_toxics).post(add_toxic))
        .route(
            "/proxies/{name}/toxics/{toxic}",
            get(get_toxic).post(update_toxic).delete(remove_toxic),
        )
        .route("/reset", post(reset))
        .route("/version", get(version))
        .fallback(not_found)
        .with_state(registry);
    if loopback_only {
        router.layer(axum::middleware::from_fn(loopback_host))
    } else {
        router
    }
}

/// `{"error", "status"}` with that status.
fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(json!({"error": message, "status": status.as_u16()})),
    )
        .into_response()
}

fn refused(e: NetFaultError) -> Response {
    let status = match e.class() {
        ErrorClass::BadRequest => StatusCode::BAD_REQUEST,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
    };
    error(status, e.to_string())
}

/// The request body as JSON, or what a 400 says about where it breaks.
fn parse(body: &Bytes) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| {
        if body.iter().all(u8::is_ascii_whitespace) {
            "field `body`: empty; expected a JSON object".to_string()
        } else {
            format!(
                "field `body`: not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            )
        }
    })
}

fn answer<T: serde::Serialize>(status: StatusCode, r: Result<T, NetFaultError>) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(e) => refused(e),
    }
}

async fn list(State(reg): Registry) -> Response {
    Json(reg.list()).into_response()
}

async fn create(State(reg): Registry, body: Bytes) -> Response {
    match parse(&body) {
        Ok(v) => answer(StatusCode::CREATED, reg.create(&v)),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn populate(State(reg): Registry, body: Bytes) -> Response {
    match parse(&body) {
        Ok(v) => answer(
            StatusCode::CREATED,
            reg.populate(&v)
                .map(|proxies| json!({ "proxies": proxies })),
        ),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn get_proxy(State(reg): Registry, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, reg.get(&name))
}

async fn update_proxy(State(reg): Registry, Path(name): Path<String>, body: Bytes) -> Response {
    match parse(&body) {
        Ok(v) => answer(StatusCode::OK, reg.update(&name, &v)),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn delete_proxy(State(reg): Registry, Path(name): Path<String>) -> Response {
    match reg.delete(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

async fn list_toxics(State(reg): Registry, Path(name): Path<String>) -> Response {
    answer(StatusCode::OK, reg.toxics(&name))
}

async fn add_toxic(State(reg): Registry, Path(name): Path<String>, body: Bytes) -> Response {
    // An unknown proxy is named before the body is judged.
    if let Err(e) = reg.get(&name) {
        return refused(e);
    }
    match parse(&body) {
        Ok(v) => answer(StatusCode::OK, reg.add_toxic(&name, &v)),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn get_toxic(State(reg): Registry, Path((name, toxic)): Path<(String, String)>) -> Response {
    answer(StatusCode::OK, reg.toxic(&name, &toxic))
}

async fn update_toxic(
    State(reg): Registry,
    Path((name, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(e) = reg.toxic(&name, &toxic) {
        return refused(e);
    }
    match parse(&body) {
        Ok(v) => answer(StatusCode::OK, reg.update_toxic(&name, &toxic, &v)),
        Err(m) => error(StatusCode::BAD_REQUEST, m),
    }
}

async fn remove_toxic(
    State(reg): Registry,
    Path((name, toxic)): Path<(String, String)>,
) -> Response {
    match reg.remove_toxic(&name, &toxic) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

async fn reset(State(reg): Registry) -> Response {
    match reg.reset() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

async fn version() -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "server": "shakedown proxy (Toxiproxy-compatible API)",
    }))
    .into_response()
}

async fn not_found(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {} {} (see /proxies, /reset, /version)",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Refuses a request whose `Host` is not a loopback name or address.
async fn loopback_host(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !crate::net::is_loopback_host(host) {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "this proxy API answers requests addressed to a loopback name, not Host {host:?}"
            ),
        );
    }
    next.run(req).await
}
