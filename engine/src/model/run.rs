//! Runs: one execution of a plan against an environment, and its life cycle.
//!
//! A run moves `queued → running → finished | aborted | interrupted` and is
//! never left in between: a finished run carries a verdict.

pub use super::time::{format_duration, format_utc, now_ms};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a run is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, waiting for its environment to be free.
    Queued,
    /// The engine is driving it now.
    Running,
    /// Every test ran; the run has a verdict.
    Finished,
    /// Stopped on request; what was measured until then is kept.
    Aborted,
    /// Stopped by something outside the run (Shakedown restarted, lost its
    /// database beyond its buffer); what was measured is kept.
    Interrupted,
}

impl RunStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Aborted,
        RunStatus::Interrupted,
    ];

    /// The word stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// True once the run can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Aborted | RunStatus::Interrupted
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a known status or verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownWord {
    what: &'static str,
    value: String,
}

impl FromStr for RunStatus {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownWord {
                what: "run status",
                value: s.to_owned(),
            })
    }
}

/// The recommendation the criteria give for a finished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Verdict {
    /// Every criterion held.
    #[serde(rename = "GO")]
    Go,
    /// At least one criterion failed or could not be evaluated.
    #[serde(rename = "NO-GO")]
    NoGo,
}

impl Verdict {
    /// The word stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO-GO",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Verdict {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "GO" => Ok(Verdict::Go),
            "NO-GO" => Ok(Verdict::NoGo),
            other => Err(UnknownWord {
                what: "verdict",
                value: other.to_owned(),
            }),
        }
    }
}

/// One row of the runs list: what a user needs to find a run again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Stable identifier (a UUID).
    pub id: String,
    /// The plan's name.
    pub plan: String,
    /// The environment it ran against.
    pub environment: String,
    /// Where it is in its life cycle.
    pub status: RunStatus,
    /// Set once the run is finished.
    pub verdict: Option<Verdict>,
    /// When it was created, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When the engine started it.
    pub started_at_ms: Option<i64>,
    /// When it reached a terminal status.
    pub finished_at_ms: Option<i64>,
    /// Why it was interrupted or could not finish, when it was.
    #[serde(default)]
    pub error: Option<String>,
}

impl RunSummary {
    /// Wall time from start to end, when both are known.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at_ms? - self.started_at_ms?)
    }
}

/// One event of a run as stored and streamed: a gap-free sequence number
/// per run (the SSE id), what kind of event it is, and its JSON data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// 1, 2, 3… within the run; never reused, never skipped.
    pub seq: i64,
    /// When it was recorded (Unix milliseconds).
    pub at_ms: i64,
    /// The kind word of the [`crate::run_event::RunEvent`] it holds:
    /// `status`, `run_started`, `test_started`, `window`, `test_finished`,
    /// `run_finished`, `evidence` or `end` (see `RunEvent::kind`).
    pub kind: String,
    /// The event itself, as JSON text.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        }
        assert!("stuck".parse::<RunStatus>().is_err());
    }

    #[test]
    fn only_end_states_are_terminal() {
        assert!(!RunStatus::Queued.is_terminal());
        assert!(!RunStatus::Running.is_terminal());
        assert!(RunStatus::Interrupted.is_terminal());
    }

    #[test]
    fn verdict_words_match_the_report() {
        assert_eq!(serde_json::to_string(&Verdict::NoGo).unwrap(), "\"NO-GO\"");
        assert_eq!("GO".parse::<Verdict>(), Ok(Verdict::Go));
        assert!("go".parse::<Verdict>().is_err());
    }
}
