//! `http_load`: closed model (concurrency × rounds, or concurrency for a
//! duration, or workers ramping through stages) and open model (constant
//! arrival rate for a duration, or a rate ramping through stages).
//!
//! In the open model request `k` is due at `start + k / rate`; its latency
//! is measured from that intended time, so a target that stalls delays
//! every request behind the stall and the percentiles show it (no
//! coordinated omission, as in wrk2 and oha's rate mode). With stages,
//! request `k` is due when the ramp's integral reaches `k`, so the intended
//! send times follow the ramp and latency is still measured from them. In
//! the closed model with stages, worker `i` sends while the ramp is above
//! `i` and waits for it otherwise; a think time pauses each worker between
//! its requests. The closed model
//! cannot see a stall that way; when it observes one it says so in a
//! warning.

use crate::load::recorder::{summarize, Batch, Recorder};
use crate::load::render::Templates;
use crate::load::snapshot::{Snapshot, SnapshotTaker};
use crate::load::transport::{Conn, Prepared, SendOptions};
use crate::metrics::{HttpLoadMetrics, TestMetrics};
use crate::plan::{HttpLoadSpec, JsonCheck, Ramp, ThinkTime};
use crate::runner::context::{TestContext, TestOutcome, ABORTED_WARNING};
use crate::runner::target::Target;
use bytes::Bytes;
use reqwest::Method;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod agents;
mod taps;
mod worker;

pub use taps::Samples;
use taps::Sharing;

/// Most samples a worker keeps before sending them.
const BATCH: usize = 512;
/// A worker's first batch capacity; later ones match what the last flush
/// held (at 10,000 connections each worker sends a few requests per flush,
/// and full-size batches would hold over 100 MB between them). A batch is
/// only made when its first sample comes, so a worker waiting for an
/// answer after a flush holds none.
const FIRST_BATCH: usize = 4;
/// Longest a worker keeps samples before sending them.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Per-request timeout when the plan sets none.
const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Most requests in flight in the open model when the plan sets none.
pub use crate::plan::DEFAULT_OPEN_CONCURRENCY;
/// Resolution of tokio's timer (it rounds deadlines up to it).
const TIMER_TICK: Duration = Duration::from_millis(1);
/// A send more than this after its intended time counts as late.
const LATE_AFTER: Duration = Duration::from_millis(1);
/// The closed model warns of a stall when no answer came for at least this
/// long ...
const STALL_MIN_GAP_MS: u64 = 200;
/// ... and for at least this many times the median latency.
const STALL_GAP_FACTOR: f64 = 10.0;

/// A worker whose ramp level is within this of its number counts as
/// reached (float rounding of the crossing time).
const RAMP_EPSILON: f64 = 1e-9;
/// Seed of the think-time draws (each worker adds its number), so the same
/// plan draws the same pauses.
const THINK_SEED: u64 = 0x5eed_7417;

/// How the work is handed out.
#[derive(Debug, Clone)]
enum Schedule {
    /// Closed model, this many requests in all.
    Count(u64),
    /// Closed model, until this time.
    Until(Instant),
    /// Open model: `total` requests, one every `interval_ns`.
    Rate { total: u64, interval_ns: f64 },
    /// Open model with stages: `total` requests, request `k` due when the
    /// ramp's integral reaches `k`.
    RampRate { total: u64, ramp: Ramp },
    /// Closed model with stages: worker `i` sends while the ramp is above
    /// `i`, until `until`.
    RampWorkers { ramp: Ramp, until: Instant },
}

/// Templated requests that could not be built, and why the first was not.
#[derive(Default)]
struct Unbuilt {
    count: AtomicU64,
    first: std::sync::OnceLock<String>,
}

impl Unbuilt {
    /// The warning that names them, when there were any.
    fn warning(&self) -> Option<String> {
        let count = self.count.load(Ordering::Relaxed);
        let first = self.first.get()?;
        Some(format!(
            "{count} templated request(s) could not be built and count as protocol errors; the first: {first}"
        ))
    }
}

impl Schedule {
    /// When a duration-bound closed-model schedule ends.
    fn until(&self) -> Option<Instant> {
        match self {
            Schedule::Until(until) | Schedule::RampWorkers { until, .. } => Some(*until),
            _ => None,
        }
    }
}

struct Shared {
    start: Instant,
    next: AtomicU64,
    schedule: Schedule,
    prepared: Prepared,
    expect: Vec<u16>,
    checks: Vec<JsonCheck>,
    /// Closed model: the pause between a worker's requests.
    think: Option<ThinkTime>,
    /// Placeholders rendered per request; `None` sends `prepared` as is.
    templates: Option<Templates>,
    /// Templated requests that could not be built.
    unbuilt: Unbuilt,
    /// The next request number for the templates.
    seq: AtomicU64,
    target: Arc<Target>,
    /// The run's token: every worker stops when it is cancelled (one
    /// token for all of them, not a child each: nothing cancels one
    /// worker alone, and a child token is an allocation per worker).
    cancel: CancellationToken,
}

/// The ramp of a spec's stages, and whether it is of rates (open model).
fn ramp(spec: &HttpLoadSpec) -> Option<(Ramp, bool)> {
    if spec.stages.is_empty() {
        return None;
    }
    let open = spec.is_open();
    let start = if open {
        spec.rate.map_or(0, |r| r.get())
    } else {
        spec.concurrency.map_or(0, |c| c.get())
    };
    Some((Ramp::of_stages(start, &spec.stages, open), open))
}

/// Requests the test will send when that is known in advance.
pub fn planned(spec: &HttpLoadSpec) -> Option<u64> {
    if let Some((ramp, open)) = ramp(spec) {
        return open.then(|| ramp.arrivals());
    }
    match (spec.rate, spec.rounds, spec.duration_s) {
        (Some(rate), _, Some(d)) => Some(u64::from(rate.get()) * u64::from(d.get())),
        (None, Some(rounds), _) => {
            Some(u64::from(spec.concurrency.map_or(1, |c| c.get())) * u64::from(rounds.get()))
        }
        _ => None,
    }
}

/// Runs an `http_load` test: here, or on load agents when it says
/// `agents = N` (which needs a server that coordinates them).
pub async fn run(spec: &HttpLoadSpec, ctx: &TestContext) -> TestOutcome {
    match (spec.agents, &ctx.agents) {
        (None, _) => run_keeping(spec, ctx, None).await,
        (Some(n), Some(port)) => agents::run(spec, n.get(), ctx, port.as_ref()).await,
        (Some(n), None) => TestOutcome {
            error: Some(format!(
                "agents = {n}: load agents are coordinated by `shakedown serve`; \
                 launch this plan there (with `shakedown agent` processes) rather than headless"
            )),
            ..TestOutcome::new(TestMetrics::HttpLoad(HttpLoadMetrics::default()))
        },
    }
}

/// A load made ready to send: its request built, its host resolved, its
/// client and templates made. An agent makes its share ready before it
/// says so, so its time zero is the common start, not that plus this.
pub struct ReadyLoad {
    prepared: Prepared,
    templates: Option<Templates>,
    conn: Conn,
}

/// Makes `spec` ready to send on `ctx`'s target; why it cannot be.
pub async fn make_ready(spec: &HttpLoadSpec, ctx: &TestContext) -> Result<ReadyLoad, String> {
    let prepared = prepare(spec, ctx).await?;
    let templates = Templates::new(spec, &prepared)?;
    let conn = Conn::for_request(&prepared).map_err(|e| e.to_string())?;
    Ok(ReadyLoad {
        prepared,
        templates,
        conn,
    })
}

/// Runs an agent's share, made ready, like [`run_keeping`], also sending
/// to `snapshots` once a second, and at the end, what it measured since
/// the last one.
pub async fn run_sharing(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    ready: ReadyLoad,
    tap: Option<&mut Samples>,
    snapshots: mpsc::UnboundedSender<Snapshot>,
) -> TestOutcome {
    let sharing = Sharing {
        taker: SnapshotTaker::new(),
        tx: snapshots,
    };
    drive(spec, ctx, ready, tap, Some(sharing)).await
}

/// Runs an `http_load` spec like [`run`], also keeping its samples in
/// `tap` when there is one.
pub async fn run_keeping(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    tap: Option<&mut Samples>,
) -> TestOutcome {
    match make_ready(spec, ctx).await {
        Ok(ready) => drive(spec, ctx, ready, tap, None).await,
        Err(e) => TestOutcome {
            error: Some(e),
            ..TestOutcome::new(TestMetrics::HttpLoad(HttpLoadMetrics::default()))
        },
    }
}

async fn prepare(spec: &HttpLoadSpec, ctx: &TestContext) -> Result<Prepared, String> {
    let url = ctx.target.url(&spec.path).map_err(|e| e.to_string())?;
    let headers = ctx
        .target
        .headers_with(&spec.headers)
        .map_err(|e| e.to_string())?;
    let (body, json) = match (&spec.json, &spec.body) {
        (Some(json), _) => (
            Bytes::from(serde_json::to_vec(json).map_err(|e| e.to_string())?),
            true,
        ),
        (None, Some(body)) => (Bytes::from(body.clone()), false),
        (None, None) => (Bytes::new(), false),
    };
    let method = Method::from_bytes(spec.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let timeout_ms = spec.timeout_ms.map_or(DEFAULT_TIMEOUT_MS, |t| t.get());
    let options = SendOptions {
        want_body: !spec.checks.is_empty(),
        body_limit: ctx.target.answer_limit,
        timeout: Duration::from_millis(u64::from(timeout_ms)),
        new_connection: spec.new_connection_per_request,
        roots: ctx.target.roots.clone(),
    };
    Prepared::new(method, url, headers, body, json, options)
        .await
        .map_err(|e| e.to_string())
}

/// How the work is handed out, and to how many workers.
fn schedule(spec: &HttpLoadSpec, start: Instant) -> (Schedule, u32) {
    if let Some((ramp, open)) = ramp(spec) {
        if open {
            let total = ramp.arrivals();
            let workers = spec
                .concurrency
                .map_or(DEFAULT_OPEN_CONCURRENCY, |c| c.get());
            return (Schedule::RampRate { total, ramp }, workers);
        }
        let workers = ramp.peak().ceil() as u32;
        let until = start + Duration::from_secs_f64(ramp.total_s());
        return (Schedule::RampWorkers { ramp, until }, workers);
    }
    match (spec.rate, spec.rounds, spec.duration_s) {
        (Some(rate), _, duration) => {
            let seconds = duration.map_or(1, |d| d.get());
            (
                Schedule::Rate {
                    total: u64::from(rate.get()) * u64::from(seconds),
                    interval_ns: 1e9 / f64::from(rate.get()),
                },
                spec.concurrency
                    .map_or(DEFAULT_OPEN_CONCURRENCY, |c| c.get()),
            )
        }
        (None, Some(rounds), _) => {
            let workers = spec.concurrency.map_or(1, |c| c.get());
            (
                Schedule::Count(u64::from(workers) * u64::from(rounds.get())),
                workers,
            )
        }
        (None, None, duration) => (
            Schedule::Until(
                start + Duration::from_secs(u64::from(duration.map_or(1, |d| d.get()))),
            ),
            spec.concurrency.map_or(1, |c| c.get()),
        ),
    }
}

/// Runs the workers to the end of the schedule (or the run's abort) and
/// records their samples, sending a window every second.
async fn drive(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    ready: ReadyLoad,
    mut tap: Option<&mut Samples>,
    sharing: Option<Sharing>,
) -> TestOutcome {
    let start = Instant::now();
    if let Some(tap) = tap.as_deref_mut() {
        tap.start = Some(start);
    }
    let open = spec.is_open();
    let (schedule, workers) = schedule(spec, start);
    let timeout = ready.prepared.timeout;
    let (shared, conn_template) = share(spec, ctx, ready, start, schedule);
    let (handles, rx) = spawn_workers(&shared, workers, &conn_template);
    let recorder = record(rx, start, open, timeout, ctx, tap, sharing).await;
    for handle in handles {
        let _ = handle.await;
    }
    let elapsed = start.elapsed();
    let mut outcome = finish(recorder, elapsed, open, ctx.cancel.is_cancelled());
    outcome.warnings.extend(shared.unbuilt.warning());
    outcome
}

/// What the workers share, and the connection they copy.
fn share(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    ready: ReadyLoad,
    start: Instant,
    schedule: Schedule,
) -> (Arc<Shared>, Conn) {
    let ReadyLoad {
        prepared,
        templates,
        conn,
    } = ready;
    let shared = Arc::new(Shared {
        start,
        next: AtomicU64::new(0),
        schedule,
        prepared,
        expect: spec.expect_status.clone(),
        checks: spec.checks.clone(),
        think: spec.think_time_ms.filter(|_| !spec.is_open()),
        templates,
        unbuilt: Unbuilt::default(),
        seq: AtomicU64::new(0),
        target: ctx.target.clone(),
        cancel: ctx.cancel.clone(),
    });
    (shared, conn)
}

/// Starts `workers` workers, each on a sibling of `conn_template`; their
/// batches come out of the receiver, which ends when the last one stops.
fn spawn_workers(
    shared: &Arc<Shared>,
    workers: u32,
    conn_template: &Conn,
) -> (Vec<JoinHandle<()>>, mpsc::Receiver<(u32, Batch)>) {
    let (tx, rx) = mpsc::channel::<(u32, Batch)>(1024);
    let mut handles = Vec::with_capacity(workers as usize);
    for index in 0..workers {
        let conn = conn_template.sibling();
        handles.push(tokio::spawn(worker::worker(
            shared.clone(),
            index,
            conn,
            tx.clone(),
        )));
    }
    drop(tx);
    (handles, rx)
}

/// Records the workers' batches until the last one stops (keeping them in
/// `tap` too), sending the window of the second before every second.
async fn record(
    mut rx: mpsc::Receiver<(u32, Batch)>,
    start: Instant,
    open: bool,
    timeout: Duration,
    ctx: &TestContext,
    mut tap: Option<&mut Samples>,
    mut sharing: Option<Sharing>,
) -> Recorder {
    let mut recorder = Recorder::new();
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let keep_open_s = u32::try_from(timeout.as_secs())
        .unwrap_or(u32::MAX)
        .saturating_add(2);
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some((index, batch)) => {
                    for s in &batch {
                        recorder.record(s);
                        if !open {
                            recorder.mark_worker(s, index);
                        }
                        if let Some(sharing) = sharing.as_mut() {
                            sharing.record(s, (!open).then_some(index));
                        }
                    }
                    if let Some(tap) = tap.as_deref_mut() {
                        tap.keep(&batch);
                    }
                }
                None => break,
            },
            _ = ticker.tick() => {
                let second = u32::try_from(start.elapsed().as_secs()).unwrap_or(u32::MAX);
                if let Some(window) = second.checked_sub(1).and_then(|s| recorder.window(s)) {
                    ctx.window(window, recorder.requests, recorder.failed());
                }
                recorder.close_windows_before(second.saturating_sub(keep_open_s));
                if let Some(sharing) = sharing.as_mut() {
                    sharing.send();
                }
            }
        }
    }
    if let Some(sharing) = sharing.as_mut() {
        sharing.send();
    }
    recorder
}

fn finish(recorder: Recorder, elapsed: Duration, open: bool, cancelled: bool) -> TestOutcome {
    let latency = summarize(recorder.histogram());
    let gap = recorder.longest_gap_ms();
    let seconds = elapsed.as_secs_f64();
    let metrics = HttpLoadMetrics {
        requests: recorder.requests,
        ok: recorder.ok,
        fail: recorder.failed(),
        errors: recorder.errors.clone(),
        status_counts: recorder.status_counts.clone(),
        rps: if seconds > 0.0 {
            recorder.requests as f64 / seconds
        } else {
            0.0
        },
        duration_ms: seconds * 1000.0,
        longest_gap_ms: gap as f64,
        late_sends: recorder.late_sends,
        latency: latency.clone(),
    };
    let mut warnings = Vec::new();
    if !open && gap >= STALL_MIN_GAP_MS && gap as f64 >= STALL_GAP_FACTOR * latency.p50_ms {
        warnings.push(format!(
            "closed model: no answer arrived for {gap} ms (median latency {:.1} ms), so the target stalled; \
             while a request waits its worker sends nothing, so the closed model under-reports the stall \
             in its percentiles (coordinated omission). Measure it with the open model (rate and duration_s).",
            latency.p50_ms
        ));
    }
    if cancelled {
        warnings.push(ABORTED_WARNING.to_owned());
    }
    TestOutcome::recorded(TestMetrics::HttpLoad(metrics), recorder, warnings)
}
