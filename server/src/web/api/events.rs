//! `GET /api/runs/{id}/events`: a run's events as Server-Sent Events. Each
//! event's id is its sequence number; a client that reconnects with
//! `Last-Event-ID` (or `?after=N`) gets exactly the events after it, first
//! from the database, then live, with no gap and no repeat. The stream ends
//! with the run's `end` event ([`engine::run_event::RunEvent::End`]). Viewers and above (checked here as well as
//! by the login gate).

use crate::auth::require;
use crate::web::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use engine::access::Role;
use engine::run::StoredEvent;
use engine::store::{RunStore, StoreError};
use futures_util::stream::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// `?after=N`, for clients that cannot set headers.
#[derive(Debug, Deserialize)]
pub struct After {
    after: Option<i64>,
}

/// Streams a run's events.
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<After>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    if let Err(refusal) = require(&extensions, Role::Viewer) {
        return refusal.into_response();
    }
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query.after)
        .unwrap_or(0)
        .max(0);
    let store: Arc<dyn RunStore> = state.orchestrator.store().clone();
    match store.get_run(&id).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, format!("no run with id {id}")).into_response()
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
    // Subscribe before reading the database, so nothing falls in between.
    let live = state.orchestrator.subscribe(&id);
    let stream = event_stream(store, id, after, live);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}

/// Each SSE message carries the whole stored event as JSON
/// (`{seq, at_ms, kind, data}`), so one handler reads every kind: the
/// live page decodes it back into an [`engine::run_event::RunEvent`].
fn to_sse(event: &StoredEvent) -> Event {
    Event::default()
        .id(event.seq.to_string())
        .data(serde_json::to_string(event).unwrap_or_default())
}

fn event_stream(
    store: Arc<dyn RunStore>,
    id: String,
    mut last: i64,
    mut live: Option<tokio::sync::broadcast::Receiver<StoredEvent>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        // Everything already stored.
        let mut ended = false;
        loop {
            match store.events_after(&id, last, 500).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    for event in &batch {
                        last = event.seq;
                        ended |= event.is_end();
                        yield Ok(to_sse(event));
                    }
                }
                Err(e) => {
                    tracing::warn!("run {id}: cannot read events: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        // Then live, until the run's end.
        while !ended {
            let Some(rx) = live.as_mut() else { break };
            match rx.recv().await {
                Ok(event) if event.seq <= last => {}
                Ok(event) if event.seq == last + 1 => {
                    last = event.seq;
                    ended = event.is_end();
                    yield Ok(to_sse(&event));
                }
                // A gap (lagging behind, or stored before we subscribed):
                // fill it from the database.
                Ok(_) | Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    let closed = matches!(rx.try_recv(), Err(tokio::sync::broadcast::error::TryRecvError::Closed));
                    if let Ok(batch) = store.events_after(&id, last, 500).await {
                        for event in &batch {
                            last = event.seq;
                            ended |= event.is_end();
                            yield Ok(to_sse(event));
                        }
                    }
                    if closed && !ended {
                        // The run is no longer live here (finished, or
                        // interrupted by a restart): what is stored is all.
                        break;
                    }
                }
            }
        }
    }
}
