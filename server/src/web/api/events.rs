//! `GET /api/runs/{id}/events`: a run's events as Server-Sent Events. Each
//! event's id is its number in the run's stored events (`run_events.seq`,
//! the same on every replica); a client that reconnects with
//! `Last-Event-ID` (or `?after=N`), to this replica or another, gets
//! exactly the events after it, first from the database, then live, with
//! no gap and no repeat. Live is this process's broadcast when it runs the
//! run, else the table tailed by number ([`crate::runs::tail`]: woken by
//! PostgreSQL notifications, polled every 250 ms). The stream ends with the
//! run's `end` event ([`engine::run_event::RunEvent::End`]). Viewers and
//! above (checked here as well as by the login gate).

use crate::auth::require;
use crate::runs::tail;
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
use tokio_util::sync::CancellationToken;

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
    let rings = state.orchestrator.bell().listen();
    let live = state.orchestrator.subscribe(&id);
    let stream = event_stream(store, id, after, live, rings, state.orchestrator.halted());
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

/// How many empty looks at the table between two reads of the run's
/// status (about every 4 s at [`tail::POLL_INTERVAL`]).
const STATUS_EVERY: u32 = 16;

/// How many status reads may find the run over with no new event before
/// the stream ends without its `end` event (one the run never stored).
const QUIET_AFTER_END: u32 = 3;

/// Where a client's stream stands: the number of the last event sent,
/// whether that was the run's end, whether the server is shutting down.
struct Cursor {
    last: i64,
    ended: bool,
    stopped: bool,
}

impl Cursor {
    /// The SSE messages of `batch`, moving the cursor past each event.
    fn pass(&mut self, batch: &[StoredEvent]) -> Vec<Event> {
        batch
            .iter()
            .map(|event| {
                self.last = event.seq;
                self.ended |= event.is_end();
                to_sse(event)
            })
            .collect()
    }
}

/// A run's events after `last`: everything stored, then live from this
/// process while it runs the run here, then from the table.
fn event_stream(
    store: Arc<dyn RunStore>,
    id: String,
    last: i64,
    live: Option<tokio::sync::broadcast::Receiver<StoredEvent>>,
    rings: tokio::sync::broadcast::Receiver<String>,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    // Every wait below also ends when the server shuts down (`stop`): the
    // stream then ends without its end event, and the browser reconnects
    // with `Last-Event-ID`.
    async_stream::stream! {
        let mut at = Cursor { last, ended: false, stopped: false };
        for await event in stored(&store, &id, &mut at, &stop) {
            yield event;
        }
        if !at.stopped {
            for await event in from_live(&store, &id, &mut at, live, &stop) {
                yield event;
            }
        }
        if !at.stopped {
            for await event in from_table(&store, &id, &mut at, rings, &stop) {
                yield event;
            }
        }
    }
}

/// Everything already stored after the cursor.
fn stored<'a>(
    store: &'a Arc<dyn RunStore>,
    id: &'a str,
    at: &'a mut Cursor,
    stop: &'a CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'a {
    async_stream::stream! {
        loop {
            match store.events_after(id, at.last, 500).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    for event in at.pass(&batch) {
                        yield Ok(event);
                    }
                }
                Err(e) => {
                    tracing::warn!("run {id}: cannot read events: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.cancelled() => {
                            at.stopped = true;
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Live from this process while it runs the run here (`live`), until the
/// end event or until the run is no longer live here.
fn from_live<'a>(
    store: &'a Arc<dyn RunStore>,
    id: &'a str,
    at: &'a mut Cursor,
    mut live: Option<tokio::sync::broadcast::Receiver<StoredEvent>>,
    stop: &'a CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'a {
    async_stream::stream! {
        while !at.ended {
            let Some(rx) = live.as_mut() else { break };
            let received = tokio::select! {
                received = rx.recv() => received,
                _ = stop.cancelled() => {
                    at.stopped = true;
                    return;
                }
            };
            match received {
                Ok(event) if event.seq <= at.last => {}
                Ok(event) if event.seq == at.last + 1 => {
                    for event in at.pass(std::slice::from_ref(&event)) {
                        yield Ok(event);
                    }
                }
                // A gap (lagging behind, or stored before we subscribed):
                // fill it from the database.
                Ok(_) | Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    let closed = matches!(rx.try_recv(), Err(tokio::sync::broadcast::error::TryRecvError::Closed));
                    if let Ok(batch) = store.events_after(id, at.last, 500).await {
                        for event in at.pass(&batch) {
                            yield Ok(event);
                        }
                    }
                    if closed {
                        // No longer live here: the table has the rest.
                        live = None;
                    }
                }
            }
        }
    }
}

/// From the table (another replica runs the run, or it is over), woken by
/// the bell (`rings`) or by the poll, until the end event, or until the
/// run is over and stays quiet.
fn from_table<'a>(
    store: &'a Arc<dyn RunStore>,
    id: &'a str,
    at: &'a mut Cursor,
    mut rings: tokio::sync::broadcast::Receiver<String>,
    stop: &'a CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'a {
    async_stream::stream! {
        let (mut empty, mut quiet) = (0u32, 0u32);
        while !at.ended {
            match store.events_after(id, at.last, 500).await {
                Ok(batch) if !batch.is_empty() => {
                    (empty, quiet) = (0, 0);
                    for event in at.pass(&batch) {
                        yield Ok(event);
                    }
                    continue;
                }
                Ok(_) => empty += 1,
                Err(e) => tracing::warn!("run {id}: cannot read events: {e}"),
            }
            if empty >= STATUS_EVERY {
                empty = 0;
                if matches!(store.get_run(id).await, Ok(run) if run.status.is_terminal()) {
                    quiet += 1;
                    if quiet >= QUIET_AFTER_END {
                        tracing::warn!("run {id} is over but stored no end event; its stream ends");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tail::wait_for(&mut rings, id) => {}
                _ = stop.cancelled() => {
                    at.stopped = true;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use engine::run::RunStatus;
    use engine::run_event::RunEvent;

    fn numbered(run: &str, seq: i64) -> StoredEvent {
        let event = if seq % 2 == 0 {
            RunEvent::status(run, RunStatus::Running, None, None)
        } else {
            RunEvent::status(run, RunStatus::Queued, None, None)
        };
        event.stored(seq, seq * 10)
    }

    /// The SSE ids of a stream, as a client reads them.
    async fn ids(
        stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
    ) -> Vec<i64> {
        // `Event` keeps its text private: read the ids back from the wire.
        let body = axum::response::IntoResponse::into_response(Sse::new(stream)).into_body();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            .map(|v| v.trim().parse().unwrap())
            .collect()
    }

    /// Another replica stores a run's events in batches while this one
    /// follows it from the table alone (nothing live here, no bell rings):
    /// every id once, in order, from where the client resumed, up to the
    /// end event.
    #[tokio::test]
    async fn a_run_stored_by_another_replica_streams_from_the_table_without_gap_or_repeat() {
        let (db, _dir) = testing::sqlite().await;
        let run = testing::new_run(&db, "p", "e").await;
        let store: Arc<dyn RunStore> = Arc::new(db.clone());
        db.append_events(
            &run.id,
            &(1..=5).map(|n| numbered(&run.id, n)).collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        let writer = {
            let (db, id) = (db.clone(), run.id.clone());
            tokio::spawn(async move {
                for batch in [6..=9, 10..=10, 11..=30] {
                    tokio::time::sleep(tail::POLL_INTERVAL).await;
                    let events: Vec<_> = batch.map(|n| numbered(&id, n)).collect();
                    db.append_events(&id, &events).await.unwrap();
                }
                tokio::time::sleep(tail::POLL_INTERVAL).await;
                db.append_events(&id, &[RunEvent::end(&id).stored(31, 310)])
                    .await
                    .unwrap();
            })
        };
        let bell = tail::Bell::default();
        let stream = event_stream(
            store.clone(),
            run.id.clone(),
            3,
            None,
            bell.listen(),
            CancellationToken::new(),
        );
        let seen = tokio::time::timeout(Duration::from_secs(60), ids(stream))
            .await
            .expect("the stream ends at the run's end event");
        writer.await.unwrap();
        assert_eq!(seen, (4..=31).collect::<Vec<i64>>());
        // The same from the start: every stored event.
        let again = event_stream(
            store,
            run.id.clone(),
            0,
            None,
            bell.listen(),
            CancellationToken::new(),
        );
        assert_eq!(ids(again).await, (1..=31).collect::<Vec<i64>>());
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_stream_of_a_run_that_never_ends() {
        let (db, _dir) = testing::sqlite().await;
        let run = testing::new_run(&db, "p", "e").await;
        let store: Arc<dyn RunStore> = Arc::new(db.clone());
        db.append_events(&run.id, &[numbered(&run.id, 1)])
            .await
            .unwrap();
        let stop = CancellationToken::new();
        // The run stays running and never stores its end: only the
        // shutdown can end this stream.
        let stream = event_stream(
            store,
            run.id.clone(),
            0,
            None,
            tail::Bell::default().listen(),
            stop.clone(),
        );
        let reader = tokio::spawn(ids(stream));
        stop.cancel();
        let seen = tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("the shutdown ended the stream")
            .unwrap();
        assert!(seen.len() <= 1, "{seen:?}");
    }
}
