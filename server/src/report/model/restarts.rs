//! The restarts and network faults performed, one row per fault over every chaos test: the
//! report's consolidated restart table (the seed's "deployment IDs used"),
//! read from each chaos result's fault evidence.

use engine::metrics::resilience::FaultEvidence;
use engine::results::RunResults;
use serde::Serialize;

/// One restart.
#[derive(Debug, Clone, Serialize)]
pub struct RestartRow {
    /// The chaos test that injected it.
    pub test: String,
    /// The service restarted.
    pub service: String,
    /// `process`, `command`, `http`, `railway`, or `network` for a toxic
    /// on a link.
    pub method: String,
    /// The process or deployment identity before the fault (PID, start
    /// time, the value at the service's identity pointer), `—` unknown.
    pub before: String,
    /// The identity after recovery, `—` when unknown.
    pub after: String,
    /// `2.1 s`, or why there is none (`not recovered`).
    pub recovery: String,
    /// Whether Shakedown saw the service go away and come back (for a
    /// network fault: the proxy showed it, and its removal was read back).
    pub observed: bool,
}

/// Every fault of every test, in plan order.
pub fn restarts(results: &RunResults) -> Vec<RestartRow> {
    results
        .tests
        .iter()
        .flat_map(|t| t.faults.iter().map(move |f| row(&t.id, f)))
        .collect()
}

fn row(test: &str, f: &FaultEvidence) -> RestartRow {
    // The supervisor's PIDs are the operating system's word; otherwise the
    // identity Shakedown read from the service's health answer.
    // A network fault: what was put on the link, and how it went away.
    let (before, after) = match (&f.network, &f.supervisor) {
        (Some(n), _) => (
            Some(format!(
                "{} on {} of {} (link {}){}",
                n.toxic,
                n.direction,
                n.proxy,
                n.link,
                n.connections_affected
                    .map(|a| format!(", {a} connections affected"))
                    .or_else(|| n
                        .connections_cut
                        .map(|c| format!(", {c} open connections cut")))
                    .unwrap_or_default()
            )),
            Some(if n.removal_verified {
                "removed (verified)".to_owned()
            } else {
                "NOT removed".to_owned()
            }),
        ),
        (None, Some(s)) => (
            Some(format!("pid {}", s.old_pid)),
            Some(format!("pid {}", s.new_pid)),
        ),
        (None, None) => (f.identity_before.clone(), f.identity_after.clone()),
    };
    let dash = || "—".to_owned();
    RestartRow {
        test: test.to_owned(),
        service: f.service.clone(),
        method: f.method.clone(),
        before: before.unwrap_or_else(dash),
        after: after.unwrap_or_else(dash),
        recovery: match f.recovery_ms {
            Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
            None => "not recovered".to_owned(),
        },
        observed: f.proven(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::metrics::resilience::SupervisorObservation;

    fn fault(service: &str, supervisor: Option<SupervisorObservation>) -> FaultEvidence {
        FaultEvidence {
            service: service.into(),
            method: if supervisor.is_some() {
                "process"
            } else {
                "http"
            }
            .into(),
            called: "POST /restart".into(),
            answer: "204".into(),
            call_ok: true,
            requested_at_ms: 0,
            restart_observed: supervisor.is_some(),
            observation: String::new(),
            recovery_ms: supervisor.as_ref().map(|s| s.recovery_ms),
            identity_before: Some("boot-1".into()),
            identity_after: Some("boot-2".into()),
            timeline: Vec::new(),
            supervisor,
            network: None,
        }
    }

    #[test]
    fn one_row_per_fault_with_identities_and_recovery() {
        let supervised = SupervisorObservation {
            old_pid: 11,
            new_pid: 22,
            old_exit: "SIGTERM".into(),
            stop_signal: "SIGTERM".into(),
            killed: false,
            stop_ms: 5,
            recovery_ms: 2_100,
            timeline: Vec::new(),
        };
        let rows: Vec<RestartRow> = [
            ("C1", fault("worker", Some(supervised))),
            ("C2", fault("api", None)),
        ]
        .iter()
        .map(|(t, f)| row(t, f))
        .collect();
        assert_eq!(
            (rows[0].before.as_str(), rows[0].after.as_str()),
            ("pid 11", "pid 22")
        );
        assert_eq!(rows[0].recovery, "2.1 s");
        assert!(rows[0].observed);
        assert_eq!(
            (rows[1].test.as_str(), rows[1].method.as_str()),
            ("C2", "http")
        );
        assert_eq!(
            (rows[1].before.as_str(), rows[1].after.as_str()),
            ("boot-1", "boot-2")
        );
        assert_eq!(rows[1].recovery, "not recovered");
        assert!(!rows[1].observed);
    }
}
