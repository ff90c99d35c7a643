//! `stream`: concurrent SSE sessions (time to first event, events, clean
//! end) and, alongside, export jobs whose artifacts must then exist.

use crate::clients::jobs::{read_sse, JobEnd};
use crate::load::recorder::{micros, summarize, Outcome, Recorder, Sample};
use crate::metrics::{StreamMetrics, TestMetrics};
use crate::plan::{Follow, JobMix, StreamEnd, StreamSpec};
use crate::runner::context::{errors_warning, TestContext, TestOutcome, ABORTED_WARNING};
use crate::template::fill_path;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Deadline when the plan sets none.
const DEFAULT_TIMEOUT_S: u32 = 120;

enum Done {
    Session {
        ok: bool,
        events: u64,
        first_event: Option<Duration>,
        start_us: u64,
        latency_us: u64,
        error: Option<String>,
    },
    Export {
        ok: bool,
        bucket_failure: bool,
        start_us: u64,
        latency_us: u64,
        error: Option<String>,
    },
}

/// Runs a `stream` test.
pub async fn run(spec: &StreamSpec, ctx: &TestContext) -> TestOutcome {
    let start = Instant::now();
    let timeout = Duration::from_secs(u64::from(
        spec.timeout_s.map_or(DEFAULT_TIMEOUT_S, |t| t.get()),
    ));
    let mut set = JoinSet::new();
    for _ in 0..spec.sessions {
        set.spawn(session(ctx.clone(), spec.clone(), start, timeout));
    }
    if let (Some(exports), Some(_)) = (&spec.exports, &ctx.jobs) {
        for _ in 0..exports.count.map_or(0, |c| c.get()) {
            set.spawn(export(ctx.clone(), exports.clone(), start, timeout));
        }
    }
    let mut tally = Tally::new(spec);
    while let Some(joined) = set.join_next().await {
        let Ok(done) = joined else { continue };
        tally.add(done, ctx);
    }
    tally.finish(start, ctx)
}

/// One SSE session, read from its opening to its last event, the timeout
/// or the run's abort.
async fn session(ctx: TestContext, spec: StreamSpec, start: Instant, timeout: Duration) -> Done {
    let opened = Instant::now();
    let mut events = 0u64;
    let mut first_event = None;
    let session = async {
        let (path, end) = session_path(&ctx, &spec).await?;
        read_sse(&ctx.target, &path, end.as_ref(), |at| {
            events += 1;
            first_event.get_or_insert(at);
        })
        .await
    };
    let result = tokio::select! {
        _ = ctx.cancel.cancelled() => Err("aborted".to_owned()),
        _ = tokio::time::sleep(timeout) => Err(format!("not ended after {} s", timeout.as_secs())),
        r = session => r,
    };
    let ok = result.is_ok() && events > 0;
    let error = match result {
        Err(e) => Some(e),
        Ok(()) if events == 0 => Some("the stream ended without events".to_owned()),
        Ok(()) => None,
    };
    Done::Session {
        ok,
        events,
        first_event,
        start_us: micros(opened.duration_since(start)),
        latency_us: micros(opened.elapsed()),
        error,
    }
}

/// The path a session reads and the event that ends it: the plan's path,
/// or the events of a job created for the session.
async fn session_path(
    ctx: &TestContext,
    spec: &StreamSpec,
) -> Result<(String, Option<StreamEnd>), String> {
    let named = spec.end_event.clone().map(|event| StreamEnd {
        event: Some(event),
        ..StreamEnd::default()
    });
    match (&spec.path, &spec.session_job, ctx.job_client()) {
        (Some(path), _, _) => Ok((path.clone(), named)),
        (None, Some(job), Some(client)) => {
            let protocol = client.protocol;
            let params = job
                .params
                .clone()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
            let id = client.submit(&job.kind, &params, &ctx.test_id).await?;
            let events_path = protocol
                .events_path
                .as_deref()
                .ok_or("the job protocol has no events_path")?;
            Ok((
                fill_path(events_path, &id, ""),
                named.or_else(|| protocol.stream_end.clone()),
            ))
        }
        _ => Err("the session has neither path nor session_job".to_owned()),
    }
}

/// One export job, from its creation to the check of its artifact.
async fn export(ctx: TestContext, export: JobMix, start: Instant, timeout: Duration) -> Done {
    let client = ctx.job_client().expect("the plan has a [jobs] table");
    let submitted = Instant::now();
    let params = export
        .params
        .clone()
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    let end = match client.submit(&export.kind, &params, &ctx.test_id).await {
        Ok(id) => {
            client
                .wait(&id, Follow::Poll, submitted + timeout, &ctx.cancel)
                .await
        }
        Err(e) => JobEnd::Error(e),
    };
    let latency_us = micros(submitted.elapsed());
    let (ok, bucket_failure, error) = match end {
        JobEnd::Succeeded(document) => match client.check_artifact(&document).await {
            Ok(()) => (true, false, None),
            Err(e) => (false, true, Some(e)),
        },
        JobEnd::Failed(status) => (false, false, Some(format!("ended {status}"))),
        JobEnd::TimedOut => (false, false, Some("timed out".to_owned())),
        JobEnd::Cancelled => (false, false, Some("aborted".to_owned())),
        JobEnd::Error(e) => (false, false, Some(e)),
    };
    Done::Export {
        ok,
        bucket_failure,
        start_us: micros(submitted.duration_since(start)),
        latency_us,
        error,
    }
}

/// What the finished sessions and exports add up to.
struct Tally {
    metrics: StreamMetrics,
    recorder: Recorder,
    first_events: Histogram<u64>,
    errors: Vec<String>,
}

impl Tally {
    fn new(spec: &StreamSpec) -> Tally {
        Tally {
            metrics: StreamMetrics {
                sessions: u64::from(spec.sessions),
                exports: spec
                    .exports
                    .as_ref()
                    .and_then(|e| e.count)
                    .map_or(0, |c| u64::from(c.get())),
                ..Default::default()
            },
            recorder: Recorder::new(),
            first_events: Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
            errors: Vec::new(),
        }
    }

    /// Counts a finished session or export and sends the window it
    /// started in.
    fn add(&mut self, done: Done, ctx: &TestContext) {
        let metrics = &mut self.metrics;
        let (ok, start_us, latency_us, error) = match done {
            Done::Session {
                ok,
                events,
                first_event,
                start_us,
                latency_us,
                error,
            } => {
                metrics.events += events;
                if let Some(first) = first_event {
                    self.first_events.saturating_record(micros(first).max(1));
                }
                if ok {
                    metrics.sessions_ok += 1;
                } else {
                    metrics.sessions_failed += 1;
                }
                (ok, start_us, latency_us, error)
            }
            Done::Export {
                ok,
                bucket_failure,
                start_us,
                latency_us,
                error,
            } => {
                if ok {
                    metrics.exports_ok += 1;
                } else {
                    metrics.exports_failed += 1;
                }
                if bucket_failure {
                    metrics.bucket_failures += 1;
                }
                (ok, start_us, latency_us, error)
            }
        };
        self.errors.extend(error);
        self.recorder.record(&Sample {
            start_us,
            latency_us,
            outcome: if ok {
                Outcome::Ok(0)
            } else {
                Outcome::Status(0)
            },
            late: false,
        });
        ctx.window(
            self.recorder
                .window(u32::try_from(start_us / 1_000_000).unwrap_or(0))
                .unwrap_or_default(),
            self.recorder.requests,
            metrics.sessions_failed + metrics.exports_failed,
        );
    }

    /// The test's outcome once every session and export has finished.
    fn finish(self, start: Instant, ctx: &TestContext) -> TestOutcome {
        let Tally {
            mut metrics,
            recorder,
            first_events,
            errors,
        } = self;
        metrics.ok = metrics.sessions_ok + metrics.exports_ok;
        metrics.fail = metrics.sessions_failed + metrics.exports_failed;
        metrics.first_event = summarize(&first_events);
        metrics.latency = summarize(recorder.histogram());
        metrics.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        let mut warnings = Vec::new();
        if ctx.cancel.is_cancelled() {
            warnings.push(ABORTED_WARNING.to_owned());
        }
        warnings.extend(errors_warning(&errors, "sessions or exports failed"));
        TestOutcome::recorded(TestMetrics::Stream(metrics), recorder, warnings)
    }
}
