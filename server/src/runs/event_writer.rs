//! The event writer of a web-launched run: numbers the engine's events in
//! the order they come, stores them in batches and broadcasts each once
//! stored. When the database cannot be reached the run keeps measuring:
//! events are held in memory, in order, and the writer retries with
//! backoff until the database answers again; no number is skipped or
//! written twice (the store's append is idempotent per sequence number).
//! Holding more than the configured bound stops the run with the reason.

use engine::run::StoredEvent;
use engine::store::{RunStore, StoreError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// An event as the run's sink hands it over: kind and payload.
pub type RawEvent = (String, serde_json::Value);

/// How the writer behaves when the database is slow or gone.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Events held in memory (not yet stored) beyond which the run stops.
    pub bound: usize,
    /// Events per insert.
    pub batch: usize,
    /// First wait after a failed write; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl WriterConfig {
    /// The server's settings with the given bound.
    pub fn with_bound(bound: usize) -> Self {
        WriterConfig {
            bound: bound.max(1),
            batch: 256,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
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

/// Runs until `rx` closes and every event is stored, or until `halt`.
/// `on_overflow` is called once, with the reason, when more than
/// `config.bound` events are held.
pub async fn write_events(
    store: Arc<dyn RunStore>,
    run_id: String,
    mut rx: mpsc::UnboundedReceiver<RawEvent>,
    live: broadcast::Sender<StoredEvent>,
    config: WriterConfig,
    on_overflow: impl FnOnce(String) + Send,
    halt: CancellationToken,
) -> WriterReport {
    let mut report = WriterReport::default();
    let mut pending: VecDeque<StoredEvent> = VecDeque::new();
    let mut seq = 0i64;
    let mut closed = false;
    let mut on_overflow = Some(on_overflow);
    let mut delay = config.min_backoff;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut outage_since: Option<Instant> = None;
    let mut push = |pending: &mut VecDeque<StoredEvent>, (kind, data): RawEvent| {
        seq += 1;
        pending.push_back(StoredEvent {
            seq,
            at_ms: crate::db::now_ms(),
            kind,
            data: data.to_string(),
        });
    };
    loop {
        // Take everything that arrived.
        while !closed {
            match rx.try_recv() {
                Ok(event) => push(&mut pending, event),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
            }
        }
        report.peak_held = report.peak_held.max(pending.len());
        if pending.len() > config.bound {
            if let Some(stop) = on_overflow.take() {
                let outage = outage_since.map(|t| t.elapsed()).unwrap_or_default();
                let reason = overflow_reason(pending.len(), config.bound, outage);
                tracing::error!("run {run_id}: {reason}");
                stop(reason);
            }
        }
        if pending.is_empty() {
            if closed {
                break;
            }
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => push(&mut pending, event),
                    None => closed = true,
                },
                () = halt.cancelled() => break,
            }
            continue;
        }
        if let Some(at) = retry_at {
            tokio::select! {
                () = tokio::time::sleep_until(at) => retry_at = None,
                event = rx.recv(), if !closed => match event {
                    Some(event) => push(&mut pending, event),
                    None => closed = true,
                },
                () = halt.cancelled() => break,
            }
            continue;
        }
        let n = pending.len().min(config.batch);
        let batch: Vec<StoredEvent> = pending.iter().take(n).cloned().collect();
        let outcome = tokio::select! {
            outcome = store.append_events(&run_id, &batch) => outcome,
            () = halt.cancelled() => break,
        };
        match outcome {
            Ok(()) => {
                pending.drain(..n);
                report.stored += n as i64;
                delay = config.min_backoff;
                if let Some(since) = outage_since.take() {
                    tracing::info!(
                        "run {run_id}: the database answers again after {:.1} s; writing the {} held events",
                        since.elapsed().as_secs_f64(),
                        pending.len() + n
                    );
                }
                for event in batch {
                    // No live page listening is fine.
                    let _ = live.send(event);
                }
            }
            Err(StoreError::Database(e)) => {
                report.retries += 1;
                outage_since.get_or_insert_with(Instant::now);
                tracing::warn!(
                    "run {run_id}: storing events failed ({} held, retrying in {} ms): {e}",
                    pending.len(),
                    delay.as_millis()
                );
                retry_at = Some(tokio::time::Instant::now() + delay);
                delay = (delay * 2).min(config.max_backoff);
            }
            // Not a passing failure: retrying cannot help.
            Err(e) => {
                tracing::error!(
                    "run {run_id}: events {}..={} refused, not retried: {e}",
                    batch[0].seq,
                    batch[n - 1].seq
                );
                pending.drain(..n);
            }
        }
    }
    report.unstored = pending.len();
    if report.unstored > 0 {
        tracing::error!(
            "run {run_id}: stopped with {} events not stored (the database was still unreachable)",
            report.unstored
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use engine::run::{RunStatus, RunSummary, Verdict};
    use engine::store::{NewRun, RunFilter};
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Mutex;

    /// Stores events in memory; fails every write while `down`, and can
    /// store a batch but report failure (a commit whose answer was lost).
    #[derive(Default)]
    struct FlakyStore {
        events: Mutex<Vec<StoredEvent>>,
        down: AtomicBool,
        lose_answers: AtomicU32,
        calls: AtomicU32,
    }

    #[async_trait]
    impl RunStore for FlakyStore {
        async fn append_events(&self, _: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Database("connection refused".into()));
            }
            let mut stored = self.events.lock().unwrap();
            for event in events {
                // Idempotent per sequence number, as the database is.
                match stored.iter().find(|e| e.seq == event.seq) {
                    Some(same) if same == event => {}
                    Some(_) => return Err(StoreError::Database("conflict".into())),
                    None => stored.push(event.clone()),
                }
            }
            if self.lose_answers.load(Ordering::SeqCst) > 0 {
                self.lose_answers.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError::Database("connection reset".into()));
            }
            Ok(())
        }
        async fn create_run(&self, _: NewRun) -> Result<RunSummary, StoreError> {
            unimplemented!()
        }
        async fn set_status(
            &self,
            _: &str,
            _: RunStatus,
            _: Option<Verdict>,
        ) -> Result<RunSummary, StoreError> {
            unimplemented!()
        }
        async fn import_run(&self, _: &RunSummary) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn get_run(&self, _: &str) -> Result<RunSummary, StoreError> {
            unimplemented!()
        }
        async fn list_runs(&self, _: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
            unimplemented!()
        }
        async fn record_evidence(&self, _: &str, _: u32, _: &str) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn evidence_of(&self, _: &str) -> Result<Option<(u32, String)>, StoreError> {
            unimplemented!()
        }
        async fn record_error(&self, _: &str, _: &str) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn events_after(
            &self,
            _: &str,
            _: i64,
            _: i64,
        ) -> Result<Vec<StoredEvent>, StoreError> {
            unimplemented!()
        }
        async fn interrupt_unfinished(&self, _: &str) -> Result<Vec<RunSummary>, StoreError> {
            unimplemented!()
        }
    }

    fn config(bound: usize) -> WriterConfig {
        WriterConfig {
            bound,
            batch: 7,
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        }
    }

    fn event(n: usize) -> RawEvent {
        ("window".to_owned(), serde_json::json!({ "n": n }))
    }

    struct Harness {
        store: Arc<FlakyStore>,
        tx: mpsc::UnboundedSender<RawEvent>,
        live: broadcast::Receiver<StoredEvent>,
        overflow: Arc<Mutex<Option<String>>>,
        halt: CancellationToken,
        writer: tokio::task::JoinHandle<WriterReport>,
    }

    fn start(bound: usize) -> Harness {
        let store = Arc::new(FlakyStore::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (live_tx, live) = broadcast::channel(10_000);
        let overflow = Arc::new(Mutex::new(None));
        let halt = CancellationToken::new();
        let slot = overflow.clone();
        let writer = tokio::spawn(write_events(
            store.clone(),
            "run-1".into(),
            rx,
            live_tx,
            config(bound),
            move |reason| *slot.lock().unwrap() = Some(reason),
            halt.clone(),
        ));
        Harness {
            store,
            tx,
            live,
            overflow,
            halt,
            writer,
        }
    }

    fn stored_numbers(store: &FlakyStore) -> Vec<(i64, i64)> {
        store
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                let data: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                (e.seq, data["n"].as_i64().unwrap())
            })
            .collect()
    }

    #[tokio::test]
    async fn an_outage_holds_events_in_order_and_writes_them_when_the_database_is_back() {
        let mut h = start(1_000);
        for n in 1..=10 {
            h.tx.send(event(n)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(h.store.events.lock().unwrap().len(), 10);

        h.store.down.store(true, Ordering::SeqCst);
        for n in 11..=200 {
            h.tx.send(event(n)).unwrap();
            if n % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            h.store.events.lock().unwrap().len(),
            10,
            "nothing stored while down"
        );
        let failed_calls = h.store.calls.load(Ordering::SeqCst);
        assert!(failed_calls > 11, "it kept retrying: {failed_calls}");

        // The first write after the outage commits but its answer is lost:
        // the retry must neither repeat nor skip a number.
        h.store.lose_answers.store(1, Ordering::SeqCst);
        h.store.down.store(false, Ordering::SeqCst);
        for n in 201..=250 {
            h.tx.send(event(n)).unwrap();
        }
        drop(h.tx);
        let report = tokio::time::timeout(Duration::from_secs(10), h.writer)
            .await
            .unwrap()
            .unwrap();
        let stored = stored_numbers(&h.store);
        let expected: Vec<(i64, i64)> = (1..=250).map(|n| (n, n)).collect();
        assert_eq!(stored, expected);
        assert_eq!(report.stored, 250);
        assert_eq!(report.unstored, 0);
        assert!(report.retries >= 2 && report.peak_held >= 190, "{report:?}");
        assert!(h.overflow.lock().unwrap().is_none());
        // Live pages got each event once, in order, after it was stored.
        let mut seen = Vec::new();
        while let Ok(e) = h.live.try_recv() {
            seen.push(e.seq);
        }
        assert_eq!(seen, (1..=250).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn holding_more_than_the_bound_stops_the_run_with_the_reason() {
        let h = start(20);
        h.store.down.store(true, Ordering::SeqCst);
        for n in 1..=20 {
            h.tx.send(event(n)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            h.overflow.lock().unwrap().is_none(),
            "20 is within the bound"
        );
        h.tx.send(event(21)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reason = h.overflow.lock().unwrap().clone().expect("stopped");
        assert!(
            reason.starts_with("the database was unreachable for too long")
                && reason.contains("21 events were held in memory, more than the bound of 20"),
            "{reason}"
        );
        // The run winds down: its last events are still numbered and kept,
        // and written in order once the database is back.
        h.tx.send(event(22)).unwrap();
        h.store.down.store(false, Ordering::SeqCst);
        drop(h.tx);
        let report = tokio::time::timeout(Duration::from_secs(10), h.writer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.stored, 22);
        let expected: Vec<(i64, i64)> = (1..=22).map(|n| (n, n)).collect();
        assert_eq!(stored_numbers(&h.store), expected);
    }

    #[tokio::test]
    async fn a_halted_server_stops_retrying_and_says_what_was_not_stored() {
        let h = start(1_000);
        h.store.down.store(true, Ordering::SeqCst);
        for n in 1..=5 {
            h.tx.send(event(n)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        h.halt.cancel();
        let report = tokio::time::timeout(Duration::from_secs(5), h.writer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((report.stored, report.unstored), (0, 5));
        assert!(h.store.events.lock().unwrap().is_empty());
    }
}
