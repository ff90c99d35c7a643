//! The `chaos` test: start a workload (runs through the job protocol and/or
//! SSE sessions), restart a service at the chosen moment (after a delay or
//! once enough runs started), then verify with a deadline what happened to
//! the work, and keep the restart's proof. A restart Shakedown did not
//! observe makes the test an error ("restart not observed"), so the run is
//! NO-GO whatever the other figures say.

use crate::bucket::Buckets;
use crate::chaos_model::{ChaosMetrics, FaultEvidence};
use crate::chaos_runs;
use crate::chaos_streams::{self, SessionEnd};
use crate::context::{TestContext, TestOutcome};
use crate::faults;
use crate::jobs::JobClient;
use crate::metrics::TestMetrics;
use crate::plan::ChaosSpec;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Verification deadline after the fault when the plan sets none.
const DEFAULT_DEADLINE_S: u32 = 60;
/// The fault happens at the latest this long after the workload started.
const TRIGGER_LIMIT: Duration = Duration::from_secs(60);

/// Runs the test; the evidence of the fault comes back beside the outcome.
pub async fn run(spec: &ChaosSpec, ctx: &TestContext) -> (TestOutcome, Vec<FaultEvidence>) {
    let started = Instant::now();
    let mut metrics = ChaosMetrics::default();
    let mut warnings = Vec::new();
    let needs_jobs = spec.jobs.is_some() || spec.streams.is_some();
    let protocol = ctx.jobs.clone();
    if needs_jobs && protocol.is_none() {
        let mut outcome = TestOutcome::new(TestMetrics::Chaos(metrics));
        outcome.error = Some("the chaos workload needs the plan's [jobs] table".to_owned());
        return (outcome, Vec::new());
    }
    let deadline_after = Duration::from_secs(u64::from(
        spec.deadline_s.map_or(DEFAULT_DEADLINE_S, |d| d.get()),
    ));
    // The sessions run until this; it is moved once the fault time is known.
    let stream_deadline = started + TRIGGER_LIMIT + deadline_after;
    let first_events = Arc::new(AtomicU64::new(0));

    // Sessions start first, so they are mid-stream when the fault comes.
    let mut sessions = tokio::task::JoinSet::new();
    if let (Some(streams), Some(protocol)) = (&spec.streams, &protocol) {
        metrics.streams = u64::from(streams.sessions.get());
        for _ in 0..streams.sessions.get() {
            let (streams, protocol, target) =
                (streams.clone(), protocol.clone(), ctx.target.clone());
            let (test_id, cancel, first) = (
                ctx.test_id.clone(),
                ctx.cancel.clone(),
                first_events.clone(),
            );
            sessions.spawn(async move {
                let client = JobClient {
                    protocol: &protocol,
                    target: &target,
                };
                chaos_streams::session(&client, &streams, &test_id, stream_deadline, &cancel, first)
                    .await
            });
        }
    }
    let mut ids = Vec::new();
    if let (Some(mix), Some(protocol)) = (&spec.jobs, &protocol) {
        let client = JobClient {
            protocol,
            target: &ctx.target,
        };
        let (submitted, errors) = chaos_runs::submit(&client, mix, &ctx.test_id).await;
        metrics.runs_started = submitted.len() as u64;
        metrics.submit_errors = errors;
        ids = submitted;
    }

    // Wait for the moment of the fault.
    let started_statuses = ["running".to_owned()];
    let mut open_at_fault: BTreeSet<String> = ids.iter().cloned().collect();
    loop {
        let elapsed = started.elapsed();
        if spec
            .fault_after_ms
            .is_some_and(|ms| elapsed >= Duration::from_millis(u64::from(ms)))
        {
            break;
        }
        if elapsed >= TRIGGER_LIMIT {
            warnings
                .push("the fault's trigger did not fire within 60 s; faulted anyway".to_owned());
            break;
        }
        if ctx.cancel.is_cancelled() {
            break;
        }
        if let Some(wanted) = spec.fault_after_started {
            let wanted = u64::from(wanted.get());
            let mut started_now = 0;
            if let Some(protocol) = &protocol {
                if !ids.is_empty() {
                    let client = JobClient {
                        protocol,
                        target: &ctx.target,
                    };
                    let statuses = chaos_runs::statuses(&client, &ids).await;
                    open_at_fault = ids
                        .iter()
                        .zip(&statuses)
                        .filter(|(_, s)| {
                            s.as_ref()
                                .is_none_or(|s| !protocol.terminal_statuses.contains(s))
                        })
                        .map(|(id, _)| id.clone())
                        .collect();
                    started_now = statuses
                        .iter()
                        .flatten()
                        .filter(|s| {
                            started_statuses.contains(s) || protocol.terminal_statuses.contains(s)
                        })
                        .count() as u64;
                }
            }
            if ids.is_empty() {
                started_now = first_events.load(Ordering::Relaxed);
            }
            if started_now >= wanted {
                break;
            }
        } else if spec.fault_after_ms.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let fault = faults::inject(ctx, &spec.service, spec.signal).await;
    let evidence = match fault {
        Ok(evidence) => evidence,
        Err(e) => {
            sessions.abort_all();
            let mut outcome = TestOutcome::new(TestMetrics::Chaos(metrics));
            outcome.error = Some(format!("restart not observed: {e}"));
            return (outcome, Vec::new());
        }
    };
    metrics.restart_observed = u64::from(evidence.restart_observed);
    metrics.recovery_ms = evidence.recovery_ms.unwrap_or(0) as f64;
    let deadline = Instant::now() + deadline_after;

    // Verify the runs.
    if let Some(protocol) = &protocol {
        let client = JobClient {
            protocol,
            target: &ctx.target,
        };
        let buckets = match &ctx.target.env.bucket {
            Some(access) => match Buckets::open(&ctx.target, access).await {
                Ok(b) => Some(b),
                Err(e) => {
                    warnings.push(format!("artifacts not read from the bucket: {e}"));
                    None
                }
            },
            None => None,
        };
        let notes = chaos_runs::verify(
            &client,
            spec,
            &ids,
            &open_at_fault,
            buckets.as_ref(),
            ctx.target.env.expected_bucket.as_deref(),
            deadline,
            &ctx.cancel,
            &mut metrics,
        )
        .await;
        warnings.extend(notes.into_iter().take(20));
    }
    // Collect the sessions (they stop by their own deadline).
    let cap = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
    tokio::pin!(cap);
    loop {
        tokio::select! {
            next = sessions.join_next() => match next {
                Some(Ok(end)) => count_session(&end, &mut metrics, &mut warnings),
                Some(Err(_)) => metrics.streams_failed += 1,
                None => break,
            },
            _ = &mut cap => {
                let left = sessions.len() as u64;
                metrics.streams_failed += left;
                if left > 0 {
                    warnings.push(format!("{left} streams still open at the deadline"));
                }
                sessions.abort_all();
                break;
            }
        }
    }

    if let Some(checks) = &spec.after_checks {
        let every = Duration::from_millis(u64::from(checks.interval_ms.map_or(100, |i| i.get())));
        if let Ok(url) = ctx.target.url(&checks.path) {
            for _ in 0..checks.count.get() {
                let ok = ctx
                    .target
                    .client
                    .get(url.clone())
                    .headers(ctx.target.headers.clone())
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                metrics.health_checks_after += 1;
                metrics.health_checks_after_ok += u64::from(ok);
                tokio::time::sleep(every).await;
            }
        }
    }
    metrics.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut outcome = TestOutcome::new(TestMetrics::Chaos(metrics));
    outcome.warnings = warnings;
    if !evidence.restart_observed {
        outcome.error = Some(format!("restart not observed: {}", evidence.observation));
    }
    (outcome, vec![evidence])
}

fn count_session(end: &SessionEnd, m: &mut ChaosMetrics, warnings: &mut Vec<String>) {
    m.streams_opened += u64::from(end.opened);
    m.streams_interrupted += u64::from(end.interrupted);
    m.event_gaps += end.gaps;
    m.event_repeats += end.repeats;
    let clean = end.gaps == 0 && end.repeats == 0;
    if end.finished && end.failed_run {
        m.streams_failed_gracefully += 1;
    } else if end.finished && clean {
        m.streams_completed += 1;
        m.streams_reconnected += u64::from(end.interrupted);
    } else if end.interrupted {
        m.streams_not_reconnected += 1;
    } else {
        m.streams_failed += 1;
    }
    if !(end.finished && clean) {
        if let Some(note) = &end.note {
            warnings.push(format!(
                "stream: {note} (gaps {}, repeats {})",
                end.gaps, end.repeats
            ));
        }
    }
}
