//! `GET /api/v2/tasks/{id}/watch` (`tasks` shape): the task's events as
//! Server-Sent Events with opaque ids.
//!
//! Each event has `id: ev-<16 hex>` (the start of sha256 of `<task>:<seq>`,
//! unique per event and meaningless to a client), `event:` its kind and
//! data `{"task", "n", "kind", "at_ms", ...the kind's fields}`. Once the
//! task is terminal the stream sends one closing event with no `id:` line,
//! `event: end`, data `{"task", "phase"}` (2 finished, 3 crashed), and
//! closes. `Last-Event-ID: <opaque id>` continues after that event; an id
//! this task never sent starts from the beginning. With the
//! `no-stream-resume` fault the header is ignored and every connection
//! replays from the first event.
//!
//! The events come from the database cursor the `runs` shape streams
//! ([`super::stream::feed`]).

use super::error::ApiError;
use super::runs::find;
use super::stream::{feed, Feed, KEEP_ALIVE};
use super::tasks::phase;
use super::State;
use crate::events::{self, RunEvent};
use crate::faults::Fault;
use crate::runs::RunStatus;
use crate::work::sha256_hex;
use axum::extract::{Path, State as Extract};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{Stream, StreamExt};
use std::convert::Infallible;

/// The opaque SSE id of the task's event number `seq`.
pub fn event_id(task: &str, seq: i64) -> String {
    let digest = sha256_hex(format!("{task}:{seq}").as_bytes());
    format!("ev-{}", &digest[..16])
}

/// The event number an opaque id stands for, if the task has sent it.
async fn resume_after(state: &State, task: &str, opaque: &str) -> Result<Option<i64>, ApiError> {
    let seqs = events::seqs(&state.db, task).await?;
    Ok(seqs.into_iter().find(|&seq| event_id(task, seq) == opaque))
}

/// One event of the task.
fn to_sse(task: &str, e: &RunEvent) -> Event {
    let mut data = serde_json::json!({
        "task": task, "n": e.seq, "kind": e.kind, "at_ms": e.at_ms,
    });
    if let (Some(obj), Some(extra)) = (data.as_object_mut(), e.data.as_object()) {
        // The end of the stream is the `end` event here, not a flag.
        for (k, v) in extra.iter().filter(|(k, _)| k.as_str() != "final") {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Event::default()
        .id(event_id(task, e.seq))
        .event(e.kind.clone())
        .data(data.to_string())
}

/// The closing event: no id, so a client's resume point stays the last
/// real event.
fn end(task: &str, status: RunStatus) -> Event {
    Event::default()
        .event("end")
        .data(serde_json::json!({ "task": task, "phase": phase(status) }).to_string())
}

/// Opens the stream (404 for an unknown task).
pub async fn watch(
    Extract(state): Extract<State>,
    Path(task): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    find(&state, &task, "task").await?;
    let requested = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let after = match requested {
        Some(opaque) if !state.faults.on(Fault::NoStreamResume) => {
            resume_after(&state, &task, opaque).await?.unwrap_or(0)
        }
        _ => 0,
    };
    let name = task.clone();
    let stream = feed(state, task, after).filter_map(move |item| {
        let event = match item {
            Feed::Event(e) => Some(to_sse(&name, &e)),
            Feed::End(Some(status)) => Some(end(&name, status)),
            Feed::End(None) => {
                tracing::warn!(task = %name, "final event names no known status; closing without `end`");
                None
            }
        };
        std::future::ready(event.map(Ok))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
