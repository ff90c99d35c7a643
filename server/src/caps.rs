//! The server's global caps on runs launched from the web app
//! (`--max-concurrency`, `--max-rate`, `--max-duration-s`): a run whose
//! plan, overrides included, asks for more is refused before it starts,
//! with the test and field named.

use engine::plan::{Limits, Positive};

/// Caps for every run this server starts; unset means no cap.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CapsArgs {
    /// Most workers, requests in flight or stream sessions of any one test.
    #[arg(long, env = "SHAKEDOWN_MAX_CONCURRENCY")]
    pub max_concurrency: Option<u32>,
    /// Highest arrival rate (requests per second) of any open-model test.
    #[arg(long, env = "SHAKEDOWN_MAX_RATE")]
    pub max_rate: Option<u32>,
    /// Longest `duration_s` of any test, in seconds.
    #[arg(long, env = "SHAKEDOWN_MAX_DURATION_S")]
    pub max_duration_s: Option<u32>,
}

impl CapsArgs {
    /// As plan limits (a cap of 0 is no cap).
    pub fn limits(&self) -> Limits {
        Limits {
            max_concurrency: self.max_concurrency.and_then(Positive::new),
            max_rate: self.max_rate.and_then(Positive::new),
            max_duration_s: self.max_duration_s.and_then(Positive::new),
        }
    }
}
