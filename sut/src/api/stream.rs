//! `GET /runs/{id}/events`: the run's events as Server-Sent Events, read
//! from the database (so any API process can serve them, also after a
//! restart). Each event's `id:` is its sequence number; a client that
//! reconnects with `Last-Event-ID: N` (or `?last_event_id=N`) gets the
//! events after N. The stream ends after the final event (`completed` or
//! `failed`). With the `no-stream-resume` fault the id is ignored and every
//! connection starts again from the first event.
//!
//! The database cursor behind it ([`feed`]) is shared with the `tasks`
//! shape's watch stream, which renders the same events differently.

use super::error::ApiError;
use super::State;
use crate::events::{self, RunEvent};
use crate::faults::Fault;
use crate::runs::{self, RunStatus};
use axum::extract::{Path, Query, State as Extract};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// How often an open stream looks for new events.
const POLL: Duration = Duration::from_millis(100);

/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Query parameters of the stream.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    pub last_event_id: Option<i64>,
}

/// What the cursor yields: the run's events in order, then once the run
/// has said its last word, `End` with the status it ended in (`None` if a
/// final event named no status this code knows).
pub enum Feed {
    Event(RunEvent),
    End(Option<RunStatus>),
}

#[derive(Clone, Copy)]
enum Stage {
    Open,
    Ending(Option<RunStatus>),
    Closed,
}

struct Cursor {
    state: State,
    run_id: String,
    last: i64,
    pending: VecDeque<RunEvent>,
    stage: Stage,
}

/// The run's events with `seq > after`, read from the database as they
/// are appended, ending with [`Feed::End`] once the run is terminal. Never
/// fails: database errors are logged and retried.
pub fn feed(state: State, run_id: String, after: i64) -> impl Stream<Item = Feed> {
    let cursor = Cursor {
        state,
        run_id,
        last: after.max(0),
        pending: VecDeque::new(),
        stage: Stage::Open,
    };
    stream::unfold(cursor, |mut c| async move {
        loop {
            match c.stage {
                Stage::Closed => return None,
                Stage::Ending(status) => {
                    c.stage = Stage::Closed;
                    return Some((Feed::End(status), c));
                }
                Stage::Open => {}
            }
            if let Some(e) = c.pending.pop_front() {
                c.last = e.seq;
                if e.is_final() {
                    c.stage = Stage::Ending(e.final_status());
                    c.pending.clear();
                }
                return Some((Feed::Event(e), c));
            }
            match events::after(&c.state.db, &c.run_id, c.last, 100).await {
                Ok(batch) if !batch.is_empty() => c.pending.extend(batch),
                Ok(_) => {
                    // Nothing new: a run already terminal has said its last word.
                    if let Ok(Some(run)) = runs::get(&c.state.db, &c.run_id).await {
                        if run.status.is_terminal() {
                            if let Ok(again) =
                                events::after(&c.state.db, &c.run_id, c.last, 100).await
                            {
                                if again.is_empty() {
                                    c.stage = Stage::Ending(Some(run.status));
                                } else {
                                    c.pending.extend(again);
                                }
                                continue;
                            }
                        }
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => {
                    tracing::warn!(run_id = %c.run_id, error = %e, "event stream: database error; retrying");
                    tokio::time::sleep(POLL * 5).await;
                }
            }
        }
    })
}

/// The SSE form of an event: `id`, `event` (its kind) and `data`, a JSON
/// object with `run_id`, `seq`, `kind`, `at_ms` and the kind's fields.
fn to_sse(e: &RunEvent) -> Event {
    let mut data = serde_json::json!({
        "run_id": e.run_id, "seq": e.seq, "kind": e.kind, "at_ms": e.at_ms,
    });
    if let (Some(obj), Some(extra)) = (data.as_object_mut(), e.data.as_object()) {
        for (k, v) in extra {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Event::default()
        .id(e.seq.to_string())
        .event(e.kind.clone())
        .data(data.to_string())
}

/// Opens the stream (404 for an unknown run).
pub async fn events(
    Extract(state): Extract<State>,
    Path(run_id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if runs::get(&state.db, &run_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no run {run_id}")));
    }
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let requested = from_header.or(query.last_event_id).unwrap_or(0).max(0);
    let last = if state.faults.on(Fault::NoStreamResume) {
        0
    } else {
        requested
    };
    let stream = feed(state, run_id, last).filter_map(|item| async move {
        match item {
            Feed::Event(e) => Some(Ok(to_sse(&e))),
            Feed::End(_) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
