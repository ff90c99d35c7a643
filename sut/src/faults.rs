//! Fault switches: deliberate misbehaviour, each producing exactly one
//! anomaly that a validator must catch. Parsed from `--fault a,b` or
//! `SUT_FAULTS`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One deliberate defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Runs held by a worker that dies stay `running` forever: a restarted
    /// worker only claims queued runs, and SIGTERM drops in-flight runs.
    LoseOnRestart,
    /// The result row is written early and keyed by attempt, so a
    /// re-claimed run records a second result.
    DuplicateResults,
    /// The sha256 is taken before the document is stamped, so the stored
    /// bytes never match the recorded digest.
    CorruptArtifact,
    /// `Last-Event-ID` is ignored: every connection replays from the start.
    NoStreamResume,
    /// Objects go to, and readiness reports, another bucket.
    WrongBucket,
    /// Some expansions record an edge to a child that is never inserted.
    GraphCorruption,
    /// The expand endpoint sleeps a configurable delay first.
    Slow,
    /// The API answers 503 to everything but its health routes for a
    /// while after it starts and while a worker drains before a restart.
    ErrorsDuringRestart,
    /// A database write that fails while the worker works a run (its
    /// connection broke) is not retried: the worker drops the run without
    /// failing or releasing it, its heartbeat keeps renewing the lease,
    /// and it never claims a run whose lease ran out (while the link is
    /// down the heartbeat cannot renew either), so the run stays `running`
    /// forever.
    LoseOnDbError,
}

impl Fault {
    /// Every switch, in the order the documentation lists them.
    pub const ALL: [Fault; 9] = [
        Fault::LoseOnRestart,
        Fault::DuplicateResults,
        Fault::CorruptArtifact,
        Fault::NoStreamResume,
        Fault::WrongBucket,
        Fault::GraphCorruption,
        Fault::Slow,
        Fault::ErrorsDuringRestart,
        Fault::LoseOnDbError,
    ];

    /// The switch's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::LoseOnRestart => "lose-on-restart",
            Fault::DuplicateResults => "duplicate-results",
            Fault::CorruptArtifact => "corrupt-artifact",
            Fault::NoStreamResume => "no-stream-resume",
            Fault::WrongBucket => "wrong-bucket",
            Fault::GraphCorruption => "graph-corruption",
            Fault::Slow => "slow",
            Fault::ErrorsDuringRestart => "errors-during-restart",
            Fault::LoseOnDbError => "lose-on-db-error",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A word that names no fault switch.
#[derive(Debug, thiserror::Error)]
#[error("unknown fault {0:?} (known: lose-on-restart, duplicate-results, corrupt-artifact, no-stream-resume, wrong-bucket, graph-corruption, slow, errors-during-restart, lose-on-db-error)")]
pub struct UnknownFault(String);

impl FromStr for Fault {
    type Err = UnknownFault;
    fn from_str(word: &str) -> Result<Fault, UnknownFault> {
        let word = word.trim();
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == word || f.name().replace('-', "_") == word)
            .ok_or_else(|| UnknownFault(word.to_owned()))
    }
}

/// The switches that are on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// Parses comma-separated lists (each argument may itself be a list).
    pub fn parse<S: AsRef<str>>(lists: &[S]) -> Result<Faults, UnknownFault> {
        let mut set = BTreeSet::new();
        for list in lists {
            for word in list.as_ref().split(',').filter(|w| !w.trim().is_empty()) {
                set.insert(word.parse()?);
            }
        }
        Ok(Faults(set))
    }

    /// Whether a switch is on.
    pub fn on(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// The names of the switches that are on.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|f| f.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_repeats() {
        let faults = Faults::parse(&["slow,wrong-bucket", " graph_corruption "]).unwrap();
        assert!(faults.on(Fault::Slow));
        assert!(faults.on(Fault::WrongBucket));
        assert!(faults.on(Fault::GraphCorruption));
        assert!(!faults.on(Fault::CorruptArtifact));
        assert_eq!(faults.names().len(), 3);
        assert!(Faults::parse(&[""]).unwrap().names().is_empty());
        assert!(Faults::parse(&["nope"]).is_err());
        assert!(Faults::parse(&["errors_during_restart"])
            .unwrap()
            .on(Fault::ErrorsDuringRestart));
        assert!(Faults::parse(&["lose-on-db-error"])
            .unwrap()
            .on(Fault::LoseOnDbError));
    }
}
