//! `job_workload`: a mix of job kinds submitted through the job protocol
//! and followed to a terminal status; end-to-end latency, outcomes per
//! kind, and the queue backlog peak sampled while the jobs run.

use crate::clients::jobs::{JobClient, JobEnd};
use crate::load::recorder::{micros, summarize, Outcome, Recorder, Sample};
use crate::metrics::{JobWorkloadMetrics, TestMetrics};
use crate::plan::{JobMix, JobWorkloadSpec};
use crate::runner::context::{errors_warning, TestContext, TestOutcome, ABORTED_WARNING};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Job deadline when the plan sets none.
pub const DEFAULT_TIMEOUT_S: u32 = 120;
/// Queue sampling interval when the plan sets none.
const DEFAULT_QUEUE_INTERVAL_MS: u32 = 250;

/// Jobs the test submits.
pub fn planned(spec: &JobWorkloadSpec) -> u64 {
    expand(spec).len() as u64
}

/// The kinds to submit, in submission order (kinds interleaved so a mix
/// runs mixed).
pub fn expand(spec: &JobWorkloadSpec) -> Vec<&JobMix> {
    let counts: Vec<u64> = match spec.total {
        Some(total) if spec.mix.iter().all(|m| m.weight.is_some()) => {
            let total = u64::from(total.get());
            let weights: Vec<u64> = spec
                .mix
                .iter()
                .map(|m| u64::from(m.weight.map_or(0, |w| w.get())))
                .collect();
            let sum: u64 = weights.iter().sum::<u64>().max(1);
            let mut counts: Vec<u64> = weights.iter().map(|w| total * w / sum).collect();
            // Largest remainders get the jobs lost to rounding down.
            let mut order: Vec<usize> = (0..weights.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(total * weights[i] % sum));
            let missing = total - counts.iter().sum::<u64>();
            for &i in order.iter().take(missing as usize) {
                counts[i] += 1;
            }
            counts
        }
        _ => spec
            .mix
            .iter()
            .map(|m| u64::from(m.count.map_or(0, |c| c.get())))
            .collect(),
    };
    let mut left = counts;
    let mut order = Vec::new();
    while left.iter().any(|&n| n > 0) {
        for (i, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                order.push(&spec.mix[i]);
            }
        }
    }
    order
}

struct Finished {
    kind: String,
    submitted: bool,
    end: JobEnd,
    start_us: u64,
    latency_us: u64,
}

/// Runs a `job_workload` test.
pub async fn run(spec: &JobWorkloadSpec, ctx: &TestContext) -> TestOutcome {
    let Some(client) = ctx.job_client() else {
        return TestOutcome {
            error: Some("the plan has no [jobs] table".to_owned()),
            ..TestOutcome::new(TestMetrics::JobWorkload(JobWorkloadMetrics::default()))
        };
    };
    let jobs = expand(spec);
    let start = Instant::now();
    let set = submit_all(spec, ctx, &jobs, start);
    let mut metrics = JobWorkloadMetrics {
        jobs: jobs.len() as u64,
        ..Default::default()
    };
    for mix in &jobs {
        metrics.by_kind.entry(mix.kind.clone()).or_default().jobs += 1;
    }
    let (recorder, errors) = collect(set, ctx, &client, start, &mut metrics).await;
    metrics.latency = summarize(recorder.histogram());
    metrics.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut warnings = Vec::new();
    if ctx.cancel.is_cancelled() {
        warnings.push(ABORTED_WARNING.to_owned());
    }
    if client.protocol.queue_metric.is_some() && metrics.queue_samples == 0 {
        warnings.push("the queue metric could not be read; no backlog peak".to_owned());
    }
    warnings.extend(errors_warning(&errors, "jobs hit errors"));
    TestOutcome::recorded(TestMetrics::JobWorkload(metrics), recorder, warnings)
}

/// Spawns a task per job: each waits for a permit (`concurrency`), submits
/// its job and follows it to its end or its deadline.
fn submit_all(
    spec: &JobWorkloadSpec,
    ctx: &TestContext,
    jobs: &[&JobMix],
    start: Instant,
) -> JoinSet<Finished> {
    let deadline_after = Duration::from_secs(u64::from(
        spec.timeout_s.map_or(DEFAULT_TIMEOUT_S, |t| t.get()),
    ));
    let permits = Arc::new(Semaphore::new(
        spec.concurrency
            .map_or(jobs.len().max(1), |c| c.get() as usize),
    ));
    let mut set = JoinSet::new();
    for mix in jobs {
        let ctx = ctx.clone();
        let permits = permits.clone();
        let kind = mix.kind.clone();
        let params = mix
            .params
            .clone()
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let follow = spec.follow;
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let client = ctx.job_client().expect("the plan has a [jobs] table");
            let submitted_at = Instant::now();
            let start_us = micros(submitted_at.duration_since(start));
            let (submitted, end) = match client.submit(&kind, &params, &ctx.test_id).await {
                Ok(id) => (
                    true,
                    client
                        .wait(&id, follow, submitted_at + deadline_after, &ctx.cancel)
                        .await,
                ),
                Err(e) => (false, JobEnd::Error(e)),
            };
            Finished {
                kind,
                submitted,
                end,
                start_us,
                latency_us: micros(submitted_at.elapsed()),
            }
        });
    }
    set
}

/// Records the jobs as they finish, samples the queue metric and sends a
/// window every second until the last job is done; returns the recorder
/// and the jobs' errors.
async fn collect(
    mut set: JoinSet<Finished>,
    ctx: &TestContext,
    client: &JobClient<'_>,
    start: Instant,
    metrics: &mut JobWorkloadMetrics,
) -> (Recorder, Vec<String>) {
    let mut recorder = Recorder::new();
    let mut errors = Vec::new();
    // Jobs recorded when the last window was sent.
    let mut reported = 0;
    let queue_interval = Duration::from_millis(u64::from(
        client
            .protocol
            .queue_metric
            .as_ref()
            .and_then(|q| q.interval_ms)
            .map_or(DEFAULT_QUEUE_INTERVAL_MS, |i| i.get()),
    ));
    let mut queue_tick = tokio::time::interval(queue_interval);
    let mut window_tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            joined = set.join_next() => {
                let Some(joined) = joined else { break };
                let Ok(done) = joined else { continue };
                record(metrics, &mut recorder, &mut errors, done);
            }
            _ = queue_tick.tick(), if client.protocol.queue_metric.is_some() => {
                if let Some(Ok(depth)) = client.queue_depth().await {
                    metrics.queue_samples += 1;
                    metrics.queue_backlog_peak = Some(metrics.queue_backlog_peak.map_or(depth, |p| p.max(depth)));
                }
            }
            _ = window_tick.tick() => {
                // A job counts in the second it was submitted in, once it
                // ends, so earlier seconds keep filling: when jobs ended
                // since the last tick, send the latest second with any.
                if recorder.requests > reported {
                    reported = recorder.requests;
                    let second = u32::try_from(start.elapsed().as_secs()).unwrap_or(u32::MAX);
                    if let Some(window) = (0..=second).rev().find_map(|s| recorder.window(s)) {
                        ctx.window(window, recorder.requests, metrics.fail);
                    }
                }
            }
        }
    }
    (recorder, errors)
}

fn record(
    metrics: &mut JobWorkloadMetrics,
    recorder: &mut Recorder,
    errors: &mut Vec<String>,
    done: Finished,
) {
    let kind = metrics.by_kind.entry(done.kind).or_default();
    if done.submitted {
        metrics.submitted += 1;
    } else {
        metrics.submit_errors += 1;
    }
    let outcome = match done.end {
        JobEnd::Succeeded(_) => {
            metrics.ok += 1;
            kind.ok += 1;
            Some(Outcome::Ok(0))
        }
        JobEnd::Failed(_) => {
            metrics.fail += 1;
            kind.fail += 1;
            Some(Outcome::Status(0))
        }
        JobEnd::TimedOut => {
            metrics.fail += 1;
            metrics.timed_out += 1;
            kind.fail += 1;
            kind.timed_out += 1;
            None
        }
        JobEnd::Cancelled => None,
        JobEnd::Error(e) => {
            metrics.fail += 1;
            kind.fail += 1;
            errors.push(e);
            None
        }
    };
    if let Some(outcome) = outcome {
        recorder.record(&Sample {
            start_us: done.start_us,
            latency_us: done.latency_us,
            outcome,
            late: false,
        });
    }
}
