//! A chaos test's SSE sessions: started beside the workload, collected by
//! their deadline, and how each ended counted into the test's figures.

use super::streams::{self, SessionCounters, SessionEnd};
use crate::metrics::resilience::ChaosMetrics;
use crate::plan::ChaosSpec;
use crate::runner::context::TestContext;
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;

/// Starts the SSE sessions (none without the plan's job protocol); each
/// returns how it ended.
pub(super) fn start_sessions(
    spec: &ChaosSpec,
    ctx: &TestContext,
    counters: &Arc<SessionCounters>,
    until: Instant,
) -> JoinSet<SessionEnd> {
    let mut sessions = JoinSet::new();
    let (Some(streams), Some(_)) = (&spec.streams, &ctx.jobs) else {
        return sessions;
    };
    for _ in 0..streams.sessions.get() {
        let (streams, ctx, counters) = (streams.clone(), ctx.clone(), counters.clone());
        sessions.spawn(async move {
            let client = ctx.job_client().expect("the plan has a [jobs] table");
            streams::session(
                &client,
                &streams,
                &ctx.test_id,
                until,
                &ctx.cancel,
                &counters,
            )
            .await
        });
    }
    sessions
}

/// Collects the sessions (they stop by their own deadline); returns the
/// jobs behind them.
pub(super) async fn collect_sessions(
    sessions: &mut JoinSet<SessionEnd>,
    deadline: Instant,
    metrics: &mut ChaosMetrics,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let mut jobs = Vec::new();
    let cap = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
    tokio::pin!(cap);
    loop {
        tokio::select! {
            next = sessions.join_next() => match next {
                Some(Ok(end)) => {
                    count_session(&end, metrics, warnings);
                    jobs.extend(end.job);
                }
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
    jobs
}

/// Counts how one session ended into the test's figures; one that did not
/// finish cleanly leaves a warning with its gaps and repeats.
fn count_session(end: &SessionEnd, m: &mut ChaosMetrics, warnings: &mut Vec<String>) {
    m.streams_opened += u64::from(end.opened);
    m.streams_interrupted += u64::from(end.interrupted);
    m.event_gaps += end.gaps;
    m.event_repeats += end.repeats;
    let clean = end.gaps == 0 && end.repeats == 0;
    if end.finished && clean {
        // Resumed to its last event with every id once: reconnected,
        // whatever became of the job behind it.
        m.streams_reconnected += u64::from(end.interrupted);
        if end.failed_run {
            m.streams_failed_gracefully += 1;
        } else {
            m.streams_completed += 1;
        }
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
