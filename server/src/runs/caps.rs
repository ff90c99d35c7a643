//! The server's caps on runs launched from the web app or the API: how
//! many workers, requests per second, seconds, rounds, jobs, sessions and
//! tests a run may ask for, across how many load agents a load may be
//! split, how big a storage probe object and an answer
//! read from the target may be. Each has a default a shared server can live
//! with, overridable by its flag (0 lifts it). A run whose plan, overrides
//! included, asks for more is refused before it starts, with the test and
//! field named. Tests that run together (`alongside`) add up: their
//! workers and rates, summed, are capped like one test's.

use engine::plan::{Limits, Positive};

/// Caps for every run this server starts.
#[derive(clap::Args, Debug, Clone)]
pub struct CapsArgs {
    /// Most workers, requests in flight or stream sessions of any one test,
    /// or of tests that run together, summed (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_CONCURRENCY", default_value_t = 1_000)]
    pub max_concurrency: u32,
    /// Highest arrival rate (requests per second) of any open-model test,
    /// or of tests that run together, summed (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_RATE", default_value_t = 10_000)]
    pub max_rate: u32,
    /// Longest `duration_s` of any test, in seconds (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_DURATION_S", default_value_t = 3_600)]
    pub max_duration_s: u32,
    /// Most `rounds` of a closed-model load test and after-recovery checks
    /// of a chaos test (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_ROUNDS", default_value_t = 100_000)]
    pub max_rounds: u32,
    /// Most jobs one test submits (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_JOBS", default_value_t = 10_000)]
    pub max_jobs: u32,
    /// Most SSE sessions of one test (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_SESSIONS", default_value_t = 1_000)]
    pub max_sessions: u32,
    /// Most tests in one run (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_TESTS", default_value_t = 200)]
    pub max_tests: u32,
    /// Largest storage probe object in bytes (0: no cap).
    #[arg(long, env = "SHAKEDOWN_MAX_PROBE_BYTES", default_value_t = 64 << 20)]
    pub max_probe_bytes: u32,
    /// Largest answer body read from a target, in bytes; a larger answer
    /// fails the request that read it (0: the plan's, or 16 MiB).
    #[arg(long, env = "SHAKEDOWN_MAX_ANSWER_BYTES", default_value_t = 16 << 20)]
    pub max_answer_bytes: u32,
    /// Most load agents one test's load may be split across (0: no cap
    /// but the plan's).
    #[arg(long, env = "SHAKEDOWN_MAX_AGENTS", default_value_t = 100)]
    pub max_agents: u32,
}

impl Default for CapsArgs {
    /// The flags' defaults.
    fn default() -> Self {
        CapsArgs {
            max_concurrency: 1_000,
            max_rate: 10_000,
            max_duration_s: 3_600,
            max_rounds: 100_000,
            max_jobs: 10_000,
            max_sessions: 1_000,
            max_tests: 200,
            max_probe_bytes: 64 << 20,
            max_answer_bytes: 16 << 20,
            max_agents: 100,
        }
    }
}

impl CapsArgs {
    /// As plan limits (a cap of 0 is no cap).
    pub fn limits(&self) -> Limits {
        Limits {
            max_concurrency: Positive::new(self.max_concurrency),
            max_rate: Positive::new(self.max_rate),
            max_duration_s: Positive::new(self.max_duration_s),
            max_rounds: Positive::new(self.max_rounds),
            max_jobs: Positive::new(self.max_jobs),
            max_sessions: Positive::new(self.max_sessions),
            max_tests: Positive::new(self.max_tests),
            max_probe_bytes: Positive::new(self.max_probe_bytes),
            max_answer_bytes: Positive::new(self.max_answer_bytes),
            max_agents: Positive::new(self.max_agents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        caps: CapsArgs,
    }

    #[test]
    fn every_cap_has_a_default_and_zero_lifts_it() {
        let caps = CapsArgs::default().limits();
        assert_eq!(
            Cli::try_parse_from(["x"]).unwrap().caps.limits(),
            caps,
            "Default agrees with the flags' defaults"
        );
        assert_eq!(caps.max_tests, Positive::new(200));
        assert_eq!(caps.max_probe_bytes, Positive::new(64 << 20));
        assert_eq!(caps.answer_bytes(), 16 << 20);
        let cli = Cli::try_parse_from(["x", "--max-rounds", "0", "--max-jobs", "7"]).unwrap();
        let caps = cli.caps.limits();
        assert_eq!(caps.max_rounds, None);
        assert_eq!(caps.max_jobs, Positive::new(7));
        assert_eq!(caps.max_sessions, Positive::new(1_000));
    }

    /// Two loads and a chaos test's background load, run together.
    const TOGETHER: &str = r#"
[plan]
name = "together"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
[services.api]
health = "/health"
restart.http = { url = "http://127.0.0.1:9/restart", expect_status = 202 }
[[tests]]
id = "L1"
http_load = { path = "/", concurrency = 400, rate = 4000, duration_s = 10 }
[[tests]]
id = "L2"
alongside = "L1"
http_load = { path = "/", concurrency = 400, rate = 4000, duration_s = 10 }
[[tests]]
id = "C1"
alongside = "L1"
[tests.chaos]
service = "api"
background_load = [{ path = "/", concurrency = 100, rate = 1000 }]
"#;

    fn refusal(loaded: &engine::plan::LoadedPlan) -> String {
        match super::super::launch::within_caps(&loaded.plan, &CapsArgs::default().limits()) {
            Ok(()) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn tests_that_run_together_are_capped_together() {
        use engine::launch::LaunchRequest;
        // 900 workers and 9000 requests per second between them: within
        // the default caps (1000, 10 000).
        let loaded = engine::plan::load_str(TOGETHER, "together.toml").unwrap();
        assert_eq!(refusal(&loaded), "accepted");
        // A rate each test could have on its own is too much together.
        let faster = TOGETHER.replace("rate = 1000", "rate = 2500");
        let loaded = engine::plan::load_str(&faster, "together.toml").unwrap();
        assert!(
            refusal(&loaded).contains(
                "tests L1, L2, C1 running together: rate 10500 is over max_rate 10000 (this server's cap, --max-rate)"
            ),
            "{}",
            refusal(&loaded)
        );
        // The New run page's concurrency applies to each load: 2 x 500 +
        // 100 workers together are refused.
        let mut loaded = engine::plan::load_str(TOGETHER, "together.toml").unwrap();
        let more = LaunchRequest {
            concurrency: Some(500),
            ..Default::default()
        };
        super::super::launch::apply(&mut loaded, &more).unwrap();
        assert!(
            refusal(&loaded).contains(
                "tests L1, L2, C1 running together: concurrency 1100 is over max_concurrency 1000"
            ),
            "{}",
            refusal(&loaded)
        );
        // Leaving the group's first test out: the others still run
        // together, and are still capped together.
        let mut loaded = engine::plan::load_str(TOGETHER, "together.toml").unwrap();
        let without_l1 = LaunchRequest {
            tests: Some(vec!["L2".to_owned(), "C1".to_owned()]),
            concurrency: Some(950),
            ..Default::default()
        };
        super::super::launch::apply(&mut loaded, &without_l1).unwrap();
        let ids: Vec<(&str, Option<&str>)> = loaded
            .plan
            .tests
            .iter()
            .map(|t| (t.id.as_str(), t.alongside.as_deref()))
            .collect();
        assert_eq!(ids, [("L2", None), ("C1", Some("L2"))]);
        assert_eq!(loaded.deselected, ["L1"]);
        assert!(
            refusal(&loaded).contains(
                "tests L2, C1 running together: concurrency 1050 is over max_concurrency 1000"
            ),
            "{}",
            refusal(&loaded)
        );
    }
}
