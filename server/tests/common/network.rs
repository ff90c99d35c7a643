//! The figures of a network fault tests read back from a run's results,
//! and the proof, shared by every target shape, that a latency on a
//! database link was felt by the load through it.

use super::plans::{chaos, test};
use engine::metrics::resilience::NetworkFaultEvidence;
use engine::metrics::windows::LoadThroughFault;
use engine::results::RunResults;

/// The background load of chaos test `id`, split around its fault.
pub fn load(results: &RunResults, id: &str) -> LoadThroughFault {
    *chaos(results, id)
        .load
        .unwrap_or_else(|| panic!("{id} has no load through the fault"))
}

/// The network evidence of test `id`'s one fault.
pub fn network(results: &RunResults, id: &str) -> NetworkFaultEvidence {
    let t = test(results, id);
    assert_eq!(t.faults.len(), 1, "{id}: {t:?}");
    t.faults[0]
        .network
        .clone()
        .unwrap_or_else(|| panic!("{id}: no network evidence"))
}

/// Test `id` put `latency_ms` on link `database` of proxy `proxy`; the
/// proxy counted the connections it delayed and it was removed; every
/// read during the window waited the latency at least once (a read makes
/// two or three round trips to the database, each delayed), so the
/// window's p95 holds it and stands above the baseline's by most of it (a
/// busy machine only adds to a latency: no upper bound); no read failed,
/// reads were fast again after it, and both runs completed, none stuck or
/// duplicated.
pub fn assert_database_latency_felt(results: &RunResults, id: &str, proxy: &str, latency_ms: u64) {
    let n = network(results, id);
    assert_eq!((n.link.as_str(), n.proxy.as_str()), ("database", proxy));
    assert_eq!(n.toxic, "latency");
    assert_eq!(n.attributes.get("latency"), Some(&latency_ms), "{n:?}");
    assert!(n.connections_affected.unwrap_or(0) > 0, "{n:?}");
    assert!(n.removal_verified, "{n:?}");
    let latency = latency_ms as f64;
    let l = load(results, id);
    eprintln!(
        "{id} reads p95: before {:.0} ms, during {:.0} ms, after {:.0} ms",
        l.before.p95_ms, l.during.p95_ms, l.after.p95_ms
    );
    assert!(
        l.before.count > 0 && l.during.count > 0 && l.after.count > 0,
        "{l:?}"
    );
    assert!(
        l.during.p95_ms >= latency * 0.9,
        "{id} p95 during the fault {} ms for {latency} ms of latency: {l:?}",
        l.during.p95_ms
    );
    let rise = l.during.p95_ms - l.before.p95_ms;
    assert!(
        rise >= latency * 0.5,
        "{id} p95 rose by {rise} ms for {latency} ms of latency: {l:?}"
    );
    assert_eq!(l.during.fail, 0, "slow, not failing: {l:?}");
    assert!(
        l.after.p95_ms < l.during.p95_ms,
        "still slow after removal: {l:?}"
    );
    let m = chaos(results, id);
    assert_eq!(
        (m.runs_completed, m.stuck, m.duplicates),
        (2, 0, 0),
        "{m:?}"
    );
}

/// Test `id` took link `database` down (the proxy disabled, then enabled
/// again, verified) while four runs were in flight; reads failed then and
/// not after; every run ended, none stuck or twice; readiness failed
/// during the outage and passed again after it, recovery measured from the
/// fault past its window. Returns the fault's network evidence.
pub fn assert_database_down_ridden_out(results: &RunResults, id: &str) -> NetworkFaultEvidence {
    let n = network(results, id);
    assert_eq!(n.toxic, "down");
    assert!(n.seen_at_proxy.contains("enabled=false"), "{n:?}");
    assert!(n.removal_verified, "{n:?}");
    let m = chaos(results, id);
    assert_eq!(
        m.jobs_in_flight_at_fault, 4,
        "the fault landed mid-run: {m:?}"
    );
    assert_eq!(m.runs_completed + m.runs_failed, 4, "{m:?}");
    assert_eq!((m.stuck, m.duplicates), (0, 0), "{m:?}");
    let fault = &test(results, id).faults[0];
    assert!(
        m.recovery_ms >= n.planned_ms as f64,
        "recovery is measured from the fault, past its window: {m:?}"
    );
    assert!(fault.timeline.iter().any(|p| !p.healthy), "{fault:?}");
    assert!(
        fault.timeline.last().is_some_and(|p| p.healthy),
        "{fault:?}"
    );
    let l = load(results, id);
    assert!(
        l.during.fail > 0,
        "no read failed while the link was down: {l:?}"
    );
    assert!(l.after.count > 0 && l.after.fail == 0, "{l:?}");
    n
}
