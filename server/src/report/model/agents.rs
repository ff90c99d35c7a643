//! "Load agents": for each test split across load agents (`agents = N`),
//! one row per agent with its execution segment, its share of the test's
//! workers and rate, the requests it sent (merged into the test's figures),
//! how its share ended, and when it was lost.

use engine::results::{AgentShare, RunResults};
use serde::Serialize;

/// The column headings of the agents' table.
pub const COLUMNS: &[&str] = &[
    "Test", "Agent", "Segment", "Workers", "Rate", "Requests", "Failed", "State", "Lost at",
];

/// What the table shows, in a sentence under its heading.
pub const NOTE: &str = "Each load agent's share of a test split across agents: the requests it sent are merged into the test's figures; a lost agent stopped heartbeating while its share ran, a stopped one was stopped on purpose before its share ended, and what either had sent stays counted.";

/// One agent's share of one test, as cells under [`COLUMNS`].
#[derive(Debug, Clone, Serialize)]
pub struct AgentRow {
    /// Plain text cells (the renderers escape them).
    pub cells: Vec<String>,
    /// The share ended short: its agent stopped heartbeating (lost) or
    /// was stopped on purpose (stopped) while it ran.
    pub lost: bool,
}

/// Where the state is among [`COLUMNS`].
const STATE: usize = 7;

impl AgentRow {
    /// The cells in a format: each through `plain`, except a lost share's
    /// state, which goes through `alarm` (to stand out).
    pub fn cells_in(
        &self,
        plain: impl Fn(&str) -> String,
        alarm: impl Fn(&str) -> String,
    ) -> Vec<String> {
        self.cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if self.lost && i == STATE {
                    alarm(c)
                } else {
                    plain(c)
                }
            })
            .collect()
    }
}

/// Every agent's share of every test that ran on agents, in plan order
/// (empty when no test did).
pub fn agents(results: &RunResults) -> Vec<AgentRow> {
    results
        .tests
        .iter()
        .flat_map(|t| {
            let workers: u64 = t.agents.iter().map(|a| u64::from(a.workers)).sum();
            let rate: Option<u64> = t
                .agents
                .iter()
                .map(|a| a.rate.map(u64::from))
                .try_fold(0, |sum, r| r.map(|r| sum + r));
            t.agents.iter().map(move |a| row(&t.id, a, workers, rate))
        })
        .collect()
}

/// `workers` and `rate` are the test's totals, the sums of its agents'
/// shares (`rate` is `None` when a share has none: the closed model).
fn row(test: &str, a: &AgentShare, workers: u64, rate: Option<u64>) -> AgentRow {
    let lost = a.state == "lost" || a.state == "stopped";
    AgentRow {
        cells: vec![
            test.to_owned(),
            a.agent.clone(),
            a.segment.clone(),
            format!("{} of {workers}", a.workers),
            match (a.rate, rate) {
                (Some(share), Some(total)) => format!("{share}/s of {total}/s"),
                (Some(share), None) => format!("{share}/s"),
                (None, _) => "—".to_owned(),
            },
            a.requests.to_string(),
            a.failed.to_string(),
            a.state.clone(),
            match a.lost_after_s {
                Some(s) => format!("{s:.1} s after the start"),
                None => "—".to_owned(),
            },
        ],
        lost,
    }
}

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
