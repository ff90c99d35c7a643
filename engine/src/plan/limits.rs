//! Caps on how hard a run may push its target: a plan's own `[limits]`
//! (its tests may not exceed them: `shakedown check` refuses the plan) and
//! the server's global caps (a run launched from the web app that would
//! exceed them, overrides included, is refused before it starts).

use super::{Plan, Positive, TestKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most a run may ask of its target; unset means no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most workers, requests in flight or stream sessions of any one test.
    #[serde(default)]
    pub max_concurrency: Option<Positive>,
    /// Highest arrival rate (requests per second) of any open-model test.
    #[serde(default)]
    pub max_rate: Option<Positive>,
    /// Longest `duration_s` of any test.
    #[serde(default)]
    pub max_duration_s: Option<Positive>,
}

/// A test setting beyond a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    /// The test's position in the plan.
    pub test_index: usize,
    /// Its id.
    pub test_id: String,
    /// Its kind table (`http_load`, ...).
    pub kind: &'static str,
    /// The field over the cap (`concurrency`, `rate`, `duration_s`, `sessions`).
    pub field: &'static str,
    /// The value asked for.
    pub value: u32,
    /// The cap.
    pub cap: u32,
    /// Which cap (`max_concurrency`, `max_rate`, `max_duration_s`).
    pub cap_name: &'static str,
}

impl Excess {
    /// `test L1: concurrency 500 is over max_concurrency 256`.
    pub fn describe(&self) -> String {
        format!(
            "test {}: {} {} is over {} {}",
            self.test_id, self.field, self.value, self.cap_name, self.cap
        )
    }
}

/// Every test setting of `plan` beyond `limits`.
pub fn excesses(plan: &Plan, limits: &Limits) -> Vec<Excess> {
    let mut found = Vec::new();
    for (i, test) in plan.tests.iter().enumerate() {
        let kind = test.kind.name();
        let mut over =
            |field: &'static str, value: Option<u32>, cap: Option<Positive>, cap_name| {
                if let (Some(value), Some(cap)) = (value, cap) {
                    if value > cap.get() {
                        found.push(Excess {
                            test_index: i,
                            test_id: test.id.clone(),
                            kind,
                            field,
                            value,
                            cap: cap.get(),
                            cap_name,
                        });
                    }
                }
            };
        let get = |p: Option<Positive>| p.map(Positive::get);
        match &test.kind {
            TestKind::HttpLoad(spec) => {
                over(
                    "concurrency",
                    get(spec.concurrency),
                    limits.max_concurrency,
                    "max_concurrency",
                );
                over("rate", get(spec.rate), limits.max_rate, "max_rate");
                over(
                    "duration_s",
                    get(spec.duration_s),
                    limits.max_duration_s,
                    "max_duration_s",
                );
            }
            TestKind::JobWorkload(spec) => {
                over(
                    "concurrency",
                    get(spec.concurrency),
                    limits.max_concurrency,
                    "max_concurrency",
                );
            }
            TestKind::Stream(spec) => {
                over(
                    "sessions",
                    Some(spec.sessions),
                    limits.max_concurrency,
                    "max_concurrency",
                );
            }
            _ => {}
        }
    }
    found
}
