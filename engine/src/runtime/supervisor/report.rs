//! What the supervisor reports: a running process, the proof of a
//! restart, and what went wrong.

use super::StopSignal;
use serde::{Deserialize, Serialize};

/// What the supervisor knows of a running process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub name: String,
    pub pid: u32,
    /// When it was spawned (Unix milliseconds).
    pub started_at_ms: i64,
}

/// One health probe during a restart, for the recovery timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSample {
    /// Milliseconds since the restart was requested.
    pub at_ms: u64,
    /// Whether the health check passed.
    pub healthy: bool,
}

/// Proof that a restart really happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartProof {
    pub service: String,
    /// Always `process` here.
    pub method: String,
    pub old_pid: u32,
    pub new_pid: u32,
    pub old_started_at_ms: i64,
    pub new_started_at_ms: i64,
    /// The signal the stop began with.
    pub stop_signal: StopSignal,
    /// True when the grace period ran out and SIGKILL was needed.
    pub killed: bool,
    /// How the old process ended (exit code or signal).
    pub old_exit: String,
    /// When the restart was requested (Unix milliseconds).
    pub requested_at_ms: i64,
    /// From the request until the old process was gone.
    pub stop_ms: u64,
    /// From the request until the new process passed its health check.
    pub recovery_ms: u64,
    /// Health probes, at least every 100 ms, from the request to recovery.
    pub timeline: Vec<HealthSample>,
}

impl RestartProof {
    /// A restart is observed only if the PID changed and the new process
    /// passed its health check.
    pub fn observed(&self) -> bool {
        self.old_pid != self.new_pid && self.timeline.last().is_some_and(|s| s.healthy)
    }
}

/// What can go wrong while supervising.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no process named {0:?} is supervised")]
    Unknown(String),
    #[error("a process named {0:?} is already supervised")]
    Duplicate(String),
    #[error("cannot start {name}: {reason}")]
    Spawn { name: String, reason: String },
    #[error("{name} exited during start-up ({status}); see {log}")]
    ExitedEarly {
        name: String,
        status: String,
        log: String,
    },
    #[error("{name} did not pass its health check within {secs} s")]
    Unhealthy { name: String, secs: u64 },
    #[error("cannot signal {name}: {reason}")]
    Signal { name: String, reason: String },
}
