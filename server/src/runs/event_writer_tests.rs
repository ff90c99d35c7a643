use super::*;
use async_trait::async_trait;
use engine::events::ProgressEvent;
use engine::metrics::Window;
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
    async fn events_after(&self, _: &str, _: i64, _: i64) -> Result<Vec<StoredEvent>, StoreError> {
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
        backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
    }
}

/// The `n`th event: a window whose `done` is `n`.
fn event(n: u64) -> RawEvent {
    RunEvent::Progress(ProgressEvent::Window {
        test_id: "L1".into(),
        window: Window::default(),
        done: n,
        failed: 0,
    })
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
        .map(|e| match e.event().unwrap() {
            RunEvent::Progress(ProgressEvent::Window { done, .. }) => (e.seq, done as i64),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn backoff_doubles_up_to_its_ceiling_and_starts_over_after_a_success() {
    let mut backoff = Backoff::default();
    let waits: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    backoff.reset();
    assert_eq!(backoff.next_delay(), Backoff::MIN);
    assert_eq!(WriterConfig::with_bound(0).backoff, Backoff::default());
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
