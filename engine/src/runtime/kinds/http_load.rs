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

use crate::json_checks;
use crate::load::deadline::Deadline;
use crate::load::recorder::{micros, summarize, Batch, Outcome, Recorder, Sample};
use crate::load::render::Templates;
use crate::load::transport::{Answer, Conn, Prepared, SendOptions};
use crate::metrics::{HttpLoadMetrics, TestMetrics};
use crate::plan::{HttpLoadSpec, JsonCheck, Ramp, ThinkTime};
use crate::rng::Rng;
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

/// Most samples a worker keeps before sending them.
const BATCH: usize = 512;
/// A worker's first batch capacity; later ones match what the last flush
/// held (at 10,000 connections each worker sends a few requests per flush,
/// and full-size batches would hold over 100 MB between them).
const FIRST_BATCH: usize = 16;
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

/// Every sample of one load, kept beside its recorder for a caller that
/// splits them by time (a chaos test's background load, by the fault's
/// times).
#[derive(Debug, Default)]
pub struct Samples {
    /// When the load began; each sample's `start_us` counts from here.
    pub start: Option<Instant>,
    /// The samples kept, in arrival order (at most `cap`).
    pub kept: Vec<Sample>,
    /// Most samples kept; the rest are only counted in `dropped`.
    pub cap: usize,
    /// Samples beyond `cap`.
    pub dropped: u64,
}

impl Samples {
    /// An empty tap keeping at most `cap` samples.
    pub fn new(cap: usize) -> Samples {
        Samples {
            cap,
            ..Samples::default()
        }
    }

    fn keep(&mut self, batch: &[Sample]) {
        let room = self.cap.saturating_sub(self.kept.len()).min(batch.len());
        self.kept.extend_from_slice(&batch[..room]);
        self.dropped += (batch.len() - room) as u64;
    }
}

/// Runs an `http_load` test.
pub async fn run(spec: &HttpLoadSpec, ctx: &TestContext) -> TestOutcome {
    run_keeping(spec, ctx, None).await
}

/// Runs an `http_load` spec like [`run`], also keeping its samples in
/// `tap` when there is one.
pub async fn run_keeping(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    tap: Option<&mut Samples>,
) -> TestOutcome {
    match prepare(spec, ctx).await {
        Ok(prepared) => drive(spec, ctx, prepared, tap).await,
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
    prepared: Prepared,
    mut tap: Option<&mut Samples>,
) -> TestOutcome {
    let start = Instant::now();
    if let Some(tap) = tap.as_deref_mut() {
        tap.start = Some(start);
    }
    let open = spec.is_open();
    let (schedule, workers) = schedule(spec, start);
    let timeout = prepared.timeout;
    let (shared, conn_template) = match share(spec, ctx, prepared, start, schedule) {
        Ok(shared) => shared,
        Err(e) => {
            return TestOutcome {
                error: Some(e),
                ..TestOutcome::new(TestMetrics::HttpLoad(HttpLoadMetrics::default()))
            }
        }
    };
    let (handles, rx) = spawn_workers(&shared, workers, &conn_template, ctx);
    let recorder = record(rx, start, open, timeout, ctx, tap).await;
    for handle in handles {
        let _ = handle.await;
    }
    let elapsed = start.elapsed();
    let mut outcome = finish(recorder, elapsed, open, ctx.cancel.is_cancelled());
    outcome.warnings.extend(shared.unbuilt.warning());
    outcome
}

/// What the workers share, and the connection they copy; `Err` when the
/// templates or the connection cannot be made.
fn share(
    spec: &HttpLoadSpec,
    ctx: &TestContext,
    prepared: Prepared,
    start: Instant,
    schedule: Schedule,
) -> Result<(Arc<Shared>, Conn), String> {
    let templates = Templates::new(spec, &prepared)?;
    let conn_template = Conn::for_request(&prepared).map_err(|e| e.to_string())?;
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
    });
    Ok((shared, conn_template))
}

/// Starts `workers` workers, each on a sibling of `conn_template`; their
/// batches come out of the receiver, which ends when the last one stops.
fn spawn_workers(
    shared: &Arc<Shared>,
    workers: u32,
    conn_template: &Conn,
    ctx: &TestContext,
) -> (Vec<JoinHandle<()>>, mpsc::Receiver<(u32, Batch)>) {
    let (tx, rx) = mpsc::channel::<(u32, Batch)>(1024);
    let mut handles = Vec::new();
    for index in 0..workers {
        let conn = conn_template.sibling();
        handles.push(tokio::spawn(worker(
            shared.clone(),
            index,
            conn,
            tx.clone(),
            ctx.cancel.child_token(),
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
            }
        }
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

fn classify(answer: Result<Answer, Outcome>, expect: &[u16], checks: &[JsonCheck]) -> Outcome {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    let expected = if expect.is_empty() {
        (200..300).contains(&status)
    } else {
        expect.contains(&status)
    };
    if !expected {
        return Outcome::Status(status);
    }
    if !checks.is_empty() {
        let passed = body
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|doc| json_checks::all_pass(&doc, checks));
        if !passed {
            return Outcome::Check(status);
        }
    }
    Outcome::Ok(status)
}

async fn worker(
    shared: Arc<Shared>,
    index: u32,
    mut conn: Conn,
    tx: mpsc::Sender<(u32, Batch)>,
    cancel: CancellationToken,
) {
    let mut batch: Batch = Vec::with_capacity(FIRST_BATCH);
    // One wait for cancellation around the whole loop rather than one per
    // request: registering a waiter on the token takes its lock, and that
    // cost was paid for every request. Cancelling drops the loop (and the
    // request in flight) at its next await; what it measured is in `batch`.
    tokio::select! {
        biased;
        _ = cancel.cancelled() => {}
        _ = produce(&shared, index, &mut conn, &tx, &mut batch) => {}
    }
    if !batch.is_empty() {
        let _ = tx.send((index, batch)).await;
    }
}

/// Closed model with stages: waits until the ramp reaches worker `index`
/// when it is below it. `Some` with the clock to send at, `None` when the
/// ramp ends first.
async fn wait_for_ramp(
    ramp: &Ramp,
    start: Instant,
    until: Instant,
    index: u32,
    mut clock: Instant,
) -> Option<Instant> {
    let need = f64::from(index) + 1.0;
    loop {
        if clock >= until {
            return None;
        }
        let t = clock.duration_since(start).as_secs_f64();
        if ramp.level(t) + RAMP_EPSILON >= need {
            return Some(clock);
        }
        let at = ramp.first_at_least(need - RAMP_EPSILON, t)?;
        let wake = start + Duration::from_secs_f64(at);
        if wake >= until {
            return None;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        clock = Instant::now();
    }
}

/// Sends requests until the schedule says stop, adding a sample per answer
/// to `batch` and handing full batches to the recorder.
async fn produce(
    shared: &Shared,
    index: u32,
    conn: &mut Conn,
    tx: &mpsc::Sender<(u32, Batch)>,
    batch: &mut Batch,
) {
    let mut deadline = Deadline::new(shared.prepared.timeout);
    let mut rng = Rng::new(THINK_SEED.wrapping_add(u64::from(index)));
    let mut last_flush = Instant::now();
    // The clock as of the end of the previous request: in the closed model
    // the next one goes out right then, so it is not read twice.
    let mut clock = last_flush;
    loop {
        let Some((sent, start_at, late)) = next_send(shared, index, clock).await else {
            return;
        };
        let answer = send(shared, conn, &mut deadline, sent).await;
        let end = Instant::now();
        batch.push(Sample {
            start_us: micros(start_at.saturating_duration_since(shared.start)),
            latency_us: micros(end.saturating_duration_since(start_at)),
            outcome: classify(answer, &shared.expect, &shared.checks),
            late,
        });
        // Checks parse the body after `end`; that time is not the next
        // request's.
        clock = if shared.checks.is_empty() {
            end
        } else {
            Instant::now()
        };
        if batch.len() >= BATCH || end.duration_since(last_flush) >= FLUSH_EVERY {
            let next = batch.len().clamp(FIRST_BATCH, BATCH);
            let full = std::mem::replace(batch, Vec::with_capacity(next));
            if tx.send((index, full)).await.is_err() {
                return;
            }
            last_flush = end;
            // Handing the batch over may have waited.
            clock = Instant::now();
        }
        if let Some(think) = &shared.think {
            think_pause(shared, think, &mut rng).await;
            clock = Instant::now();
        }
    }
}

/// When the next request is sent (the timeout runs from then), when its
/// latency starts (the intended time in the open model), and whether it
/// went out late; `None` when the schedule says stop. `clock` is the end
/// of the worker's previous request.
async fn next_send(
    shared: &Shared,
    index: u32,
    clock: Instant,
) -> Option<(Instant, Instant, bool)> {
    match &shared.schedule {
        Schedule::Count(total) => {
            if shared.next.fetch_add(1, Ordering::Relaxed) >= *total {
                return None;
            }
            Some((clock, clock, false))
        }
        Schedule::Until(until) => {
            if clock >= *until {
                return None;
            }
            Some((clock, clock, false))
        }
        Schedule::RampWorkers { ramp, until } => {
            let at = wait_for_ramp(ramp, shared.start, *until, index, clock).await?;
            Some((at, at, false))
        }
        Schedule::Rate { .. } | Schedule::RampRate { .. } => {
            let k = shared.next.fetch_add(1, Ordering::Relaxed);
            let due = due(&shared.schedule, k)?;
            Some(wait_until_intended(shared.start + due).await)
        }
    }
}

/// Open model: when request `k` is due after the start; `None` past the
/// last request (or where the ramp has none).
fn due(schedule: &Schedule, k: u64) -> Option<Duration> {
    match schedule {
        Schedule::Rate { total, interval_ns } if k < *total => {
            Some(Duration::from_nanos((k as f64 * interval_ns) as u64))
        }
        Schedule::RampRate { total, ramp } if k < *total => {
            ramp.time_of(k as f64).map(Duration::from_secs_f64)
        }
        _ => None,
    }
}

/// Open model: waits for a request's `intended` time; when it is sent,
/// when its latency starts, and whether it went out late.
async fn wait_until_intended(intended: Instant) -> (Instant, Instant, bool) {
    let mut now = Instant::now();
    if intended > now {
        // tokio's timer ticks in whole milliseconds and rounds
        // a deadline up to the next tick, so sleeping until
        // `intended` sends up to a millisecond late and that
        // client delay lands in every latency. Wake a tick
        // early instead: a request that goes out before its
        // intended time is timed from when it really went out
        // (`min`), one that goes out after it from the intended
        // time, so a stall still shows in full.
        let wake = intended.checked_sub(TIMER_TICK).unwrap_or(intended);
        if wake > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
            now = Instant::now();
        }
        (now, intended.min(now), false)
    } else {
        (now, intended, now - intended > LATE_AFTER)
    }
}

/// Sends one request at `sent`, rendering its templates when there are.
async fn send(
    shared: &Shared,
    conn: &mut Conn,
    deadline: &mut Deadline,
    sent: Instant,
) -> Result<Answer, Outcome> {
    let Some(templates) = &shared.templates else {
        return conn.send(&shared.prepared, deadline, sent).await;
    };
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    match templates.render(&shared.prepared, &shared.target, seq) {
        Ok(rendered) => {
            conn.send_rendered(&shared.prepared, Some(&rendered), deadline, sent)
                .await
        }
        // The host is fixed and values are checked when the
        // plan is loaded; a request that still cannot be built
        // (a data row's value that is no valid header, say)
        // was not sent, fails as such, and the first reason is
        // kept for the test's warnings.
        Err(e) => {
            shared.unbuilt.count.fetch_add(1, Ordering::Relaxed);
            let _ = shared.unbuilt.first.set(format!("request {seq}: {e}"));
            Err(Outcome::Protocol)
        }
    }
}

/// Closed model: the think time between a worker's requests.
async fn think_pause(shared: &Shared, think: &ThinkTime, rng: &mut Rng) {
    // A pause never outlasts the test: a duration-bound worker
    // wakes at its end and stops there.
    let mut pause = think.pick(rng);
    if let Some(until) = shared.schedule.until() {
        pause = pause.min(until.saturating_duration_since(Instant::now()));
    }
    tokio::time::sleep(pause).await;
}
