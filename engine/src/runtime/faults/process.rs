//! The `process` restart method: the supervisor stops the process (its
//! stop signal, grace, SIGKILL) and starts it again; what it saw (old and
//! new PID, how the old one ended, its own health timeline) is kept.

use super::Called;
use crate::metrics::resilience::{HealthPoint, SupervisorObservation};
use crate::plan::Signal;
use crate::supervisor::{RestartProof, StopSignal, Supervisor};

/// The supervisor's signal for a plan's signal.
pub fn stop_signal(signal: Signal) -> StopSignal {
    match signal {
        Signal::Sigterm => StopSignal::Sigterm,
        Signal::Sigint => StopSignal::Sigint,
        Signal::Sigkill => StopSignal::Sigkill,
    }
}

fn observation(proof: &RestartProof) -> SupervisorObservation {
    SupervisorObservation {
        old_pid: proof.old_pid,
        new_pid: proof.new_pid,
        old_exit: proof.old_exit.clone(),
        stop_signal: format!("{:?}", proof.stop_signal).to_uppercase(),
        killed: proof.killed,
        stop_ms: proof.stop_ms,
        recovery_ms: proof.recovery_ms,
        timeline: proof
            .timeline
            .iter()
            .map(|s| HealthPoint {
                at_ms: s.at_ms,
                healthy: s.healthy,
                pid: None,
                started_at: None,
                identity: None,
            })
            .collect(),
    }
}

/// Restarts the supervised process `name`.
pub async fn call(supervisor: &Supervisor, name: &str, signal: Option<Signal>) -> Called {
    let signal = signal.map(stop_signal);
    let called = format!(
        "supervisor restart {name}{}",
        signal
            .map(|s| format!(" with {}", format!("{s:?}").to_uppercase()))
            .unwrap_or_default()
    );
    match supervisor.restart(name, signal).await {
        Err(e) => Called::failed(called, e.to_string()),
        Ok(proof) => Called {
            answer: format!(
                "old pid {} ended ({}{}); new pid {} passed its health check {} ms after the request",
                proof.old_pid,
                proof.old_exit,
                if proof.killed { ", SIGKILL needed" } else { "" },
                proof.new_pid,
                proof.recovery_ms
            ),
            ok: proof.observed(),
            called,
            supervisor: Some((proof.observed(), observation(&proof))),
        },
    }
}
