//! What the result says about a load agent's share that came short: its
//! share described, and why it is short (lost, stopped on the agent,
//! withdrawn after an abort's grace).

use super::{Part, ABORT_GRACE_MS};
use crate::agents::ShardState;
use crate::plan::HttpLoadSpec;

/// What an agent's share was: `rate 1000/s and 22 request slots` or
/// `22 workers`, with stages when it has them.
fn describe(share: &HttpLoadSpec) -> String {
    let mut text = match share.rate {
        Some(rate) => format!("rate {rate}/s and {} request slots", share.peak_workers()),
        None => format!("{} workers", share.peak_workers()),
    };
    if !share.stages.is_empty() {
        text.push_str(" (and its share of every stage's target)");
    }
    text
}

/// What a lost agent took with it, for the result.
pub(super) fn loss(part: &Part, whole: &HttpLoadSpec, start_at_ms: i64) -> String {
    let after_s = lost_after_s(part, start_at_ms).unwrap_or(0.0);
    format!(
        "load agent {} was lost {after_s:.1} s into the test (it stopped heartbeating): \
         segment {}, its share {} of the whole {}; what it sent before is merged",
        part.agent(),
        part.segment,
        describe(&part.share),
        describe(whole)
    )
}

/// What an agent stopped before its share ended took with it.
pub(super) fn stopped(part: &Part, whole: &HttpLoadSpec) -> String {
    format!(
        "load agent {} was stopped before its share ended (SIGTERM or Ctrl-C on the agent): \
         segment {}, its share {} of the whole {}; what it sent before is merged",
        part.agent(),
        part.segment,
        describe(&part.share),
        describe(whole)
    )
}

pub(super) fn lost_after_s(part: &Part, start_at_ms: i64) -> Option<f64> {
    let status = part.status.as_ref()?;
    if status.state != ShardState::Lost {
        return None;
    }
    status
        .ended_at_ms
        .map(|at| (at - start_at_ms).max(0) as f64 / 1000.0)
}

/// An agent that did not report its end within the abort's grace, its
/// shard withdrawn: its last second is not in the figures.
pub(super) fn withdrawn_on_abort(part: &Part) -> Option<String> {
    (part.state() == ShardState::Cancelled).then(|| {
        format!(
            "load agent {} did not report its end within {} s of the abort and was withdrawn: \
             its last second is missing",
            part.agent(),
            ABORT_GRACE_MS / 1000
        )
    })
}
