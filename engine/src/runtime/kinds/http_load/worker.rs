//! The workers of an `http_load` test: each sends requests as the
//! schedule says (one after another in the closed model, at their intended
//! times in the open model), classifies the answers and hands its samples
//! to the recorder in batches.

use super::{
    Schedule, Shared, BATCH, FIRST_BATCH, FLUSH_EVERY, LATE_AFTER, RAMP_EPSILON, THINK_SEED,
    TIMER_TICK,
};
use crate::json_checks;
use crate::load::deadline::Deadline;
use crate::load::recorder::{micros, Batch, Outcome, Sample};
use crate::load::transport::{Answer, Conn};
use crate::plan::{JsonCheck, Ramp, ThinkTime};
use crate::rng::Rng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

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

/// One worker: sends until the schedule says stop or the run is
/// cancelled, then hands over what it still holds.
///
/// Every await in here is stored in the worker's task, one per connection
/// (10,000 of them at 10,000 connections), so rare paths (a connect, an
/// answer in pieces, a full channel, a templated request, TLS) are boxed
/// where they happen rather than stored inline.
pub(super) async fn worker(
    shared: Arc<Shared>,
    index: u32,
    mut conn: Conn,
    tx: mpsc::Sender<(u32, Batch)>,
) {
    let mut batch: Batch = Vec::new();
    // One wait for cancellation around the whole loop rather than one per
    // request: registering a waiter on the token takes its lock, and that
    // cost was paid for every request. Cancelling drops the loop (and the
    // request in flight) at its next await; what it measured is in `batch`.
    tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => {}
        _ = produce(&shared, index, &mut conn, &tx, &mut batch) => {}
    }
    if !batch.is_empty() {
        hand_over(&tx, index, &mut batch).await;
    }
}

/// Hands worker `index`'s `batch` to the recorder, leaving it empty,
/// waiting (boxed: it is rare) only when the channel is full. The samples
/// stay in `batch` until there is room, so a worker cancelled while it
/// waits still holds them and hands them over at its end. `false` when
/// the recorder is gone.
async fn hand_over(tx: &mpsc::Sender<(u32, Batch)>, index: u32, batch: &mut Batch) -> bool {
    let permit = match tx.try_reserve() {
        Ok(permit) => permit,
        Err(TrySendError::Full(())) => match Box::pin(tx.reserve()).await {
            Ok(permit) => permit,
            Err(_) => return false,
        },
        Err(TrySendError::Closed(())) => return false,
    };
    permit.send((index, std::mem::take(batch)));
    true
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
    // The capacity of the next batch, made when its first sample comes.
    let mut next_capacity = FIRST_BATCH;
    loop {
        let Some((sent, start_at, late)) = next_send(shared, index, clock).await else {
            return;
        };
        let answer = send(shared, conn, &mut deadline, sent).await;
        let end = Instant::now();
        if batch.capacity() == 0 {
            batch.reserve_exact(next_capacity);
        }
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
            next_capacity = batch.len().min(BATCH);
            if !hand_over(tx, index, batch).await {
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
        // Boxed: the rendered request is held while it is sent, and that
        // would take room in every worker's task, templated or not.
        Ok(rendered) => {
            Box::pin(async move {
                conn.send_rendered(&shared.prepared, Some(&rendered), deadline, sent)
                    .await
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_waiting_on_a_full_channel_stays_with_its_worker_when_cancelled() {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send((0, Vec::new())).unwrap();
        let sample = Sample {
            start_us: 1,
            latency_us: 2,
            outcome: Outcome::Ok(200),
            late: false,
        };
        let mut batch = vec![sample];
        // Cancelled while it waits for room (the other branch is ready).
        tokio::select! {
            biased;
            _ = hand_over(&tx, 1, &mut batch) => panic!("handed over to a full channel"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(batch, vec![sample]);
        // With room, the worker's last hand-over delivers it.
        rx.recv().await.unwrap();
        assert!(hand_over(&tx, 1, &mut batch).await);
        assert!(batch.is_empty());
        assert_eq!(rx.recv().await.unwrap(), (1, vec![sample]));
        drop(rx);
        assert!(!hand_over(&tx, 1, &mut vec![sample]).await);
    }
}
