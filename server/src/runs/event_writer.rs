//! Writing a web-launched run's record while the database may be away.
//!
//! The event writer numbers the run's events in the order they come,
//! stores them in batches and broadcasts each once stored. When the
//! database cannot be reached the run keeps measuring: events are held in
//! memory, in order, and the writer retries with backoff until the
//! database answers again; no number is skipped or written twice (the
//! store's append is idempotent per sequence number). Holding more than
//! the configured bound stops the run with the reason. [`persist`] retries
//! a single write (a status, an error, an evidence digest) with the same
//! [`Backoff`], and [`seal_interrupted`] closes the record of runs a
//! previous server process left unfinished.

use super::sink::EventSink;
use engine::run::{RunStatus, RunSummary, StoredEvent};
use engine::run_event::RunEvent;
use engine::store::{RunStore, StoreError};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An event as the run's sink hands it over.
pub type RawEvent = RunEvent;

/// Waits between attempts at a write the database did not take: the first
/// is `min`, each next one twice the last, up to `max`; a success starts
/// over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// The server's first wait.
    pub const MIN: Duration = Duration::from_millis(100);
    /// The server's longest wait.
    pub const MAX: Duration = Duration::from_secs(5);

    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt; the one after doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(self.max);
        delay
    }

    /// A write went through: the next failure waits the least again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

impl Default for Backoff {
    /// The server's: 100 ms, doubling up to 5 s.
    fn default() -> Self {
        Backoff::new(Backoff::MIN, Backoff::MAX)
    }
}

/// How the writer behaves when the database is slow or gone.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Events held in memory (not yet stored) beyond which the run stops.
    pub bound: usize,
    /// Events per insert.
    pub batch: usize,
    /// Waits after failed writes.
    pub backoff: Backoff,
}

impl WriterConfig {
    /// The server's settings with the given bound.
    pub fn with_bound(bound: usize) -> Self {
        WriterConfig {
            bound: bound.max(1),
            batch: 256,
            backoff: Backoff::default(),
        }
    }
}

/// What the writer did, for the run's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Events stored.
    pub stored: i64,
    /// Events still held when the writer stopped (the server halted while
    /// the database was away); 0 normally.
    pub unstored: usize,
    /// Failed writes that were retried.
    pub retries: u32,
    /// Most events held at once.
    pub peak_held: usize,
}

/// Why a run was stopped for holding too many events.
pub fn overflow_reason(held: usize, bound: usize, outage: Duration) -> String {
    format!(
        "the database was unreachable for too long ({} s): {held} events were held in memory, \
         more than the bound of {bound}; the run was stopped (what it measured is kept and \
         written once the database is back)",
        outage.as_secs()
    )
}

/// A run's event writer at work.
pub struct RunWriter {
    run_id: String,
    task: JoinHandle<WriterReport>,
}

/// Starts a run's event writer: it stores and broadcasts (on `live`) what
/// the returned sink hands it, until every sender is gone (see
/// [`write_events`]).
pub fn start(
    store: Arc<dyn RunStore>,
    run_id: &str,
    live: broadcast::Sender<StoredEvent>,
    config: WriterConfig,
    on_overflow: impl FnOnce(String) + Send + 'static,
    halt: CancellationToken,
) -> (EventSink, RunWriter) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(write_events(
        store,
        run_id.to_owned(),
        rx,
        live,
        config,
        on_overflow,
        halt,
    ));
    let sink = EventSink {
        run_id: run_id.to_owned(),
        tx,
    };
    let writer = RunWriter {
        run_id: run_id.to_owned(),
        task,
    };
    (sink, writer)
}

impl RunWriter {
    /// Waits until the writer has stored what it was handed (once every
    /// sender is dropped) and logs the outages it went through.
    pub async fn finish(self) {
        let id = self.run_id;
        match self.task.await {
            Ok(report) if report.retries > 0 => tracing::info!(
                "run {id}: {} events stored after {} failed writes (at most {} held at once)",
                report.stored,
                report.retries,
                report.peak_held
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("run {id}: event writer failed: {e}"),
        }
    }
}

/// Runs until `rx` closes and every event is stored, or until `halt`.
/// `on_overflow` is called once, with the reason, when more than
/// `config.bound` events are held.
pub async fn write_events(
    store: Arc<dyn RunStore>,
    run_id: String,
    rx: mpsc::UnboundedReceiver<RawEvent>,
    live: broadcast::Sender<StoredEvent>,
    config: WriterConfig,
    on_overflow: impl FnOnce(String) + Send,
    halt: CancellationToken,
) -> WriterReport {
    let mut writer = Writer {
        store,
        run_id,
        rx,
        live,
        config,
        on_overflow: Some(on_overflow),
        halt,
        pending: VecDeque::new(),
        seq: 0,
        closed: false,
        backoff: config.backoff,
        retry_at: None,
        outage_since: None,
        report: WriterReport::default(),
    };
    writer.run().await;
    writer.finish()
}

/// The writer's state between steps.
struct Writer<F> {
    store: Arc<dyn RunStore>,
    run_id: String,
    rx: mpsc::UnboundedReceiver<RawEvent>,
    live: broadcast::Sender<StoredEvent>,
    config: WriterConfig,
    on_overflow: Option<F>,
    halt: CancellationToken,
    /// Numbered, not yet stored, in order.
    pending: VecDeque<StoredEvent>,
    /// The last number given.
    seq: i64,
    /// The sink is gone: nothing more will come.
    closed: bool,
    backoff: Backoff,
    /// When to try the next write after a failed one.
    retry_at: Option<tokio::time::Instant>,
    /// Since when writes fail.
    outage_since: Option<Instant>,
    report: WriterReport,
}

impl<F: FnOnce(String) + Send> Writer<F> {
    async fn run(&mut self) {
        loop {
            self.take_arrived();
            self.check_bound();
            let go_on = if self.pending.is_empty() {
                if self.closed {
                    break;
                }
                self.wait_for_event().await
            } else if let Some(at) = self.retry_at {
                self.wait_for_retry(at).await
            } else {
                self.write_batch().await
            };
            if !go_on {
                break;
            }
        }
    }

    /// Numbers an event and holds it until stored.
    fn push(&mut self, event: Option<RawEvent>) {
        match event {
            Some(event) => {
                self.seq += 1;
                let at_ms = crate::db::now_ms();
                super::gauges::observe(&self.run_id, &event);
                super::gauges::held_more(1);
                self.pending.push_back(event.stored(self.seq, at_ms));
            }
            None => self.closed = true,
        }
    }

    /// Takes everything that arrived.
    fn take_arrived(&mut self) {
        while !self.closed {
            match self.rx.try_recv() {
                Ok(event) => self.push(Some(event)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.closed = true,
            }
        }
        self.report.peak_held = self.report.peak_held.max(self.pending.len());
    }

    /// Stops the run, once, when it holds more than the bound.
    fn check_bound(&mut self) {
        if self.pending.len() <= self.config.bound {
            return;
        }
        if let Some(stop) = self.on_overflow.take() {
            let outage = self.outage_since.map(|t| t.elapsed()).unwrap_or_default();
            let reason = overflow_reason(self.pending.len(), self.config.bound, outage);
            tracing::error!("run {}: {reason}", self.run_id);
            stop(reason);
        }
    }

    /// Waits for the next event; `false` when the server halts.
    async fn wait_for_event(&mut self) -> bool {
        let event = tokio::select! {
            event = self.rx.recv() => event,
            () = self.halt.cancelled() => return false,
        };
        self.push(event);
        true
    }

    /// Waits for the time of the next attempt, taking events meanwhile;
    /// `false` when the server halts.
    async fn wait_for_retry(&mut self, at: tokio::time::Instant) -> bool {
        let closed = self.closed;
        let event = tokio::select! {
            () = tokio::time::sleep_until(at) => {
                self.retry_at = None;
                return true;
            }
            event = self.rx.recv(), if !closed => event,
            () = self.halt.cancelled() => return false,
        };
        self.push(event);
        true
    }

    /// Stores the oldest held events; `false` when the server halts.
    async fn write_batch(&mut self) -> bool {
        let n = self.pending.len().min(self.config.batch);
        let batch: Vec<StoredEvent> = self.pending.iter().take(n).cloned().collect();
        let outcome = tokio::select! {
            outcome = self.store.append_events(&self.run_id, &batch) => outcome,
            () = self.halt.cancelled() => return false,
        };
        match outcome {
            Ok(()) => self.stored(batch),
            Err(StoreError::Database(e)) => self.failed(&e),
            // Not a passing failure: retrying cannot help.
            Err(e) => {
                tracing::error!(
                    "run {}: events {}..={} refused, not retried: {e}",
                    self.run_id,
                    batch[0].seq,
                    batch[n - 1].seq
                );
                self.pending.drain(..n);
                super::gauges::held_fewer(n);
            }
        }
        true
    }

    /// The batch is stored: live pages get it.
    fn stored(&mut self, batch: Vec<StoredEvent>) {
        let n = batch.len();
        self.pending.drain(..n);
        super::gauges::held_fewer(n);
        self.report.stored += n as i64;
        self.backoff.reset();
        if let Some(since) = self.outage_since.take() {
            tracing::info!(
                "run {}: the database answers again after {:.1} s; writing the {} held events",
                self.run_id,
                since.elapsed().as_secs_f64(),
                self.pending.len() + n
            );
        }
        for event in batch {
            // No live page listening is fine.
            let _ = self.live.send(event);
        }
    }

    /// The database did not take the batch: try again later.
    fn failed(&mut self, error: &str) {
        self.report.retries += 1;
        self.outage_since.get_or_insert_with(Instant::now);
        let delay = self.backoff.next_delay();
        tracing::warn!(
            "run {}: storing events failed ({} held, retrying in {} ms): {error}",
            self.run_id,
            self.pending.len(),
            delay.as_millis()
        );
        self.retry_at = Some(tokio::time::Instant::now() + delay);
    }

    fn finish(self) -> WriterReport {
        let mut report = self.report;
        report.unstored = self.pending.len();
        super::gauges::held_fewer(report.unstored);
        if report.unstored > 0 {
            tracing::error!(
                "run {}: stopped with {} events not stored (the database was still unreachable)",
                self.run_id,
                report.unstored
            );
        }
        report
    }
}

/// Writes something about a run, retrying with [`Backoff`] while the
/// database is unreachable (until `halt`), so a run's end is recorded once
/// the database is back.
pub async fn persist<T, F, Fut>(
    halt: &CancellationToken,
    id: &str,
    what: &str,
    mut write: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Backoff::default();
    for attempt in 1u32.. {
        match write().await {
            Ok(value) => {
                if attempt > 1 {
                    tracing::info!("run {id}: {what} recorded after {attempt} attempts");
                }
                return Some(value);
            }
            Err(StoreError::Database(e)) if !halt.is_cancelled() => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    "run {id}: cannot record {what} (attempt {attempt}, retrying in {} ms): {e}",
                    delay.as_millis()
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = halt.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::warn!("run {id}: cannot record {what}: {e}");
                return None;
            }
        }
    }
    None
}

/// Closes the runs a previous server process left queued or running: each
/// becomes `interrupted` with the reason, keeps every event it stored, and
/// gets a final status and end event so its live page and stream finish.
pub async fn seal_interrupted(
    store: &dyn RunStore,
    reason: &str,
) -> Result<Vec<RunSummary>, StoreError> {
    let runs = store.interrupt_unfinished(reason).await?;
    for run in &runs {
        seal_events(store, &run.id, reason).await?;
    }
    Ok(runs)
}

/// Closes the stream of a run already marked `interrupted`: after every
/// event it stored come its final status, with the reason, and its end
/// event. Used at start-up and for runs whose owner stopped heartbeating
/// (`super::ownership`).
pub async fn seal_events(
    store: &dyn RunStore,
    run_id: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let mut last = 0;
    loop {
        let batch = store.events_after(run_id, last, 1000).await?;
        match batch.last() {
            Some(event) => last = event.seq,
            None => break,
        }
    }
    let at_ms = crate::db::now_ms();
    let status = RunEvent::status(
        run_id,
        RunStatus::Interrupted,
        None,
        Some(reason.to_owned()),
    );
    let end = RunEvent::end(run_id);
    store
        .append_events(
            run_id,
            &[status.stored(last + 1, at_ms), end.stored(last + 2, at_ms)],
        )
        .await
}

#[cfg(test)]
#[path = "event_writer_tests.rs"]
mod tests;
