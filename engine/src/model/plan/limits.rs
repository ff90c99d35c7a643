//! Caps on how much a run may ask of its target and of the machine running
//! it: a plan's own `[limits]` (its tests may not exceed them: `shakedown
//! check` refuses the plan) and the server's caps (a run launched from the
//! web app that would exceed them, overrides included, is refused before it
//! starts). `max_answer_bytes` is enforced while the run reads answers.
//!
//! Tests that run together ([`super::parallel`]) add up: the workers and
//! the rates of a group's members, summed, stay within `max_concurrency`
//! and `max_rate` too. A group lasts as long as its longest member, which
//! `max_duration_s` already caps test by test.

use super::{Plan, Positive, TestKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A limit of `[limits]` as a [`Cap`]: its value and its name.
macro_rules! cap {
    ($limits:ident . $field:ident) => {
        ($limits.$field, stringify!($field))
    };
}

/// Largest answer body read from a target when neither the plan nor the
/// server sets `max_answer_bytes` (16 MiB).
pub const DEFAULT_MAX_ANSWER_BYTES: u32 = 16 * 1024 * 1024;

/// The most a run may ask; unset means no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most workers, requests in flight or stream sessions of any one test,
    /// or of tests that run together, summed.
    #[serde(default)]
    pub max_concurrency: Option<Positive>,
    /// Highest arrival rate (requests per second) of any open-model test,
    /// or of tests that run together, summed.
    #[serde(default)]
    pub max_rate: Option<Positive>,
    /// Longest `duration_s` of any test.
    #[serde(default)]
    pub max_duration_s: Option<Positive>,
    /// Most `rounds` of a closed-model load test, and most after-recovery
    /// checks of a chaos test.
    #[serde(default)]
    pub max_rounds: Option<Positive>,
    /// Most jobs one test submits (a workload's jobs, a chaos test's jobs,
    /// a stream test's exports).
    #[serde(default)]
    pub max_jobs: Option<Positive>,
    /// Most SSE sessions of one test.
    #[serde(default)]
    pub max_sessions: Option<Positive>,
    /// Most tests in the plan.
    #[serde(default)]
    pub max_tests: Option<Positive>,
    /// Largest storage probe object, in bytes.
    #[serde(default)]
    pub max_probe_bytes: Option<Positive>,
    /// Largest answer body read from the target, in bytes (an answer past
    /// it fails the request that read it); 16 MiB unless set.
    #[serde(default)]
    pub max_answer_bytes: Option<Positive>,
    /// Most load agents one test's load is split across (`agents`).
    #[serde(default)]
    pub max_agents: Option<Positive>,
}

impl Limits {
    /// Each cap the tighter of `self`'s and `other`'s.
    pub fn tightest(&self, other: &Limits) -> Limits {
        let min = |a: Option<Positive>, b: Option<Positive>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Limits {
            max_concurrency: min(self.max_concurrency, other.max_concurrency),
            max_rate: min(self.max_rate, other.max_rate),
            max_duration_s: min(self.max_duration_s, other.max_duration_s),
            max_rounds: min(self.max_rounds, other.max_rounds),
            max_jobs: min(self.max_jobs, other.max_jobs),
            max_sessions: min(self.max_sessions, other.max_sessions),
            max_tests: min(self.max_tests, other.max_tests),
            max_probe_bytes: min(self.max_probe_bytes, other.max_probe_bytes),
            max_answer_bytes: min(self.max_answer_bytes, other.max_answer_bytes),
            max_agents: min(self.max_agents, other.max_agents),
        }
    }

    /// The answer body cap in bytes, the default when unset.
    pub fn answer_bytes(&self) -> usize {
        let cap = self
            .max_answer_bytes
            .map_or(DEFAULT_MAX_ANSWER_BYTES, Positive::get);
        usize::try_from(cap).unwrap_or(usize::MAX)
    }
}

/// A plan setting beyond a cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    /// The test over the cap: its position, id and kind table
    /// (`http_load`, ...); `None` when the plan as a whole is (`max_tests`).
    pub test: Option<(usize, String, &'static str)>,
    /// The field over the cap (`concurrency`, `rate`, `jobs.count`, ...).
    pub field: &'static str,
    /// The value asked for.
    pub value: u32,
    /// The cap's value.
    pub cap: u32,
    /// Which cap (`max_concurrency`, `max_rate`, ...).
    pub cap_name: &'static str,
    /// When tests that run together are over the cap between them: their
    /// ids, in plan order (`test` is then the last of them, whose
    /// `alongside` made the group); empty for one test.
    pub together: Vec<String>,
}

impl Excess {
    /// `test L1: concurrency 500 is over max_concurrency 256`, or
    /// `the plan: 120 tests is over max_tests 100`.
    pub fn describe(&self) -> String {
        let whose = match &self.test {
            _ if !self.together.is_empty() => {
                format!("tests {} running together", self.together.join(", "))
            }
            Some((_, id, _)) => format!("test {id}"),
            None => "the plan".to_owned(),
        };
        format!(
            "{whose}: {} {} is over {} {}",
            self.field, self.value, self.cap_name, self.cap
        )
    }
}

/// Every plan setting beyond `limits`.
pub fn excesses(plan: &Plan, limits: &Limits) -> Vec<Excess> {
    let mut found = Vec::new();
    if let (Ok(count), Some(cap)) = (u32::try_from(plan.tests.len()), limits.max_tests) {
        if count > cap.get() {
            found.push(Excess {
                test: None,
                field: "tests",
                value: count,
                cap: cap.get(),
                cap_name: "max_tests",
                together: Vec::new(),
            });
        }
    }
    for (i, test) in plan.tests.iter().enumerate() {
        let whose = (i, test.id.clone(), test.kind.name());
        capped_settings(&test.kind, limits, |field, value, (cap, cap_name)| {
            if let (Some(value), Some(cap)) = (value, cap) {
                if value > cap.get() {
                    found.push(Excess {
                        test: Some(whose.clone()),
                        field,
                        value,
                        cap: cap.get(),
                        cap_name,
                        together: Vec::new(),
                    });
                }
            }
        });
    }
    found.extend(group_excesses(plan, limits));
    found
}

/// Groups of tests that run together whose summed workers or rates are
/// beyond `limits`. A test's workers are the most of its settings capped
/// by `max_concurrency` (its concurrency, its stages' peak, its stream
/// sessions, a chaos test's background load summed), its rate likewise.
fn group_excesses(plan: &Plan, limits: &Limits) -> Vec<Excess> {
    let mut found = Vec::new();
    for range in super::parallel::groups(&plan.tests) {
        if range.len() < 2 {
            continue;
        }
        let members = &plan.tests[range.clone()];
        let (mut workers, mut rate) = (0u64, 0u64);
        for test in members {
            let (w, r) = peaks(&test.kind);
            workers += w;
            rate += r;
        }
        let last = range.end - 1;
        let whose = (
            last,
            plan.tests[last].id.clone(),
            plan.tests[last].kind.name(),
        );
        let together: Vec<String> = members.iter().map(|t| t.id.clone()).collect();
        for (field, value, (cap, cap_name)) in [
            ("concurrency", workers, cap!(limits.max_concurrency)),
            ("rate", rate, cap!(limits.max_rate)),
        ] {
            if let Some(cap) = cap.filter(|cap| value > u64::from(cap.get())) {
                found.push(Excess {
                    test: Some(whose.clone()),
                    field,
                    value: saturate(value),
                    cap: cap.get(),
                    cap_name,
                    together: together.clone(),
                });
            }
        }
    }
    found
}

/// The most workers and the highest rate a test asks for (rate 0 when
/// unset). A load without a concurrency counts the workers it runs anyway
/// (its model's default), so loads run together cannot pass the cap by
/// leaving it out.
fn peaks(kind: &TestKind) -> (u64, u64) {
    let (mut workers, mut rate) = (0u64, 0u64);
    capped_settings(kind, &Limits::default(), |_, value, (_, cap_name)| {
        let value = u64::from(value.unwrap_or(0));
        match cap_name {
            "max_concurrency" => workers = workers.max(value),
            "max_rate" => rate = rate.max(value),
            _ => {}
        }
    });
    let loads_workers = |loads: &[&super::HttpLoadSpec]| -> u64 {
        loads.iter().map(|l| u64::from(l.peak_workers())).sum()
    };
    match kind {
        TestKind::HttpLoad(spec) => workers = workers.max(loads_workers(&[spec])),
        TestKind::Chaos(spec) => {
            let loads: Vec<&super::HttpLoadSpec> = spec.background_load.iter().collect();
            workers = workers.max(loads_workers(&loads));
        }
        _ => {}
    }
    (workers, rate)
}

/// Hands `over` each capped setting of a test: its field, its value when
/// set, and the cap that applies with its name.
fn capped_settings(
    kind: &TestKind,
    limits: &Limits,
    mut over: impl FnMut(&'static str, Option<u32>, Cap),
) {
    match kind {
        TestKind::HttpLoad(spec) => http_load_settings(spec, limits, &mut over),
        TestKind::JobWorkload(spec) => job_workload_settings(spec, limits, &mut over),
        TestKind::Stream(spec) => stream_settings(spec, limits, &mut over),
        TestKind::Chaos(spec) => chaos_settings(spec, limits, &mut over),
        TestKind::StorageProbe(spec) => {
            over(
                "size_bytes",
                get(spec.size_bytes),
                cap!(limits.max_probe_bytes),
            );
        }
        TestKind::Assert(_) | TestKind::Health(_) => {}
    }
}

/// An `http_load` test's capped settings: its own, then its stages' peak
/// and their total length.
fn http_load_settings(
    spec: &super::HttpLoadSpec,
    limits: &Limits,
    over: &mut impl FnMut(&'static str, Option<u32>, Cap),
) {
    let concurrency = cap!(limits.max_concurrency);
    over("concurrency", get(spec.concurrency), concurrency);
    over("rate", get(spec.rate), cap!(limits.max_rate));
    over(
        "duration_s",
        get(spec.duration_s),
        cap!(limits.max_duration_s),
    );
    over("rounds", get(spec.rounds), cap!(limits.max_rounds));
    over("agents", get(spec.agents), cap!(limits.max_agents));
    // Stages: their peak and their total length.
    let peak = |f: fn(&super::Stage) -> Option<u32>| spec.stages.iter().filter_map(f).max();
    over("stages.concurrency", peak(|s| s.concurrency), concurrency);
    over("stages.rate", peak(|s| s.rate), cap!(limits.max_rate));
    let total: u64 = spec
        .stages
        .iter()
        .map(|s| u64::from(s.duration_s.get()))
        .sum();
    over(
        "stages.duration_s",
        (!spec.stages.is_empty()).then(|| saturate(total)),
        cap!(limits.max_duration_s),
    );
}

/// A `job_workload` test's capped settings: its workers, and its jobs (the
/// total, or the mix's counts summed).
fn job_workload_settings(
    spec: &super::JobWorkloadSpec,
    limits: &Limits,
    over: &mut impl FnMut(&'static str, Option<u32>, Cap),
) {
    let jobs = cap!(limits.max_jobs);
    over(
        "concurrency",
        get(spec.concurrency),
        cap!(limits.max_concurrency),
    );
    let counted: u64 = spec
        .mix
        .iter()
        .filter_map(|m| m.count)
        .map(|c| u64::from(c.get()))
        .sum();
    match spec.total {
        Some(total) => over("total", Some(total.get()), jobs),
        None => over("mix.count", Some(saturate(counted)), jobs),
    }
}

/// A `stream` test's capped settings: its sessions (as workers and as
/// sessions) and its exports.
fn stream_settings(
    spec: &super::StreamSpec,
    limits: &Limits,
    over: &mut impl FnMut(&'static str, Option<u32>, Cap),
) {
    over(
        "sessions",
        Some(spec.sessions),
        cap!(limits.max_concurrency),
    );
    over("sessions", Some(spec.sessions), cap!(limits.max_sessions));
    let exports = spec.exports.as_ref().and_then(|e| e.count);
    over("exports.count", get(exports), cap!(limits.max_jobs));
}

/// A `chaos` test's capped settings: its jobs, streams and after-recovery
/// checks, then its background load.
fn chaos_settings(
    spec: &super::ChaosSpec,
    limits: &Limits,
    over: &mut impl FnMut(&'static str, Option<u32>, Cap),
) {
    let count = spec.jobs.as_ref().and_then(|j| j.count);
    over("jobs.count", get(count), cap!(limits.max_jobs));
    let streams = spec.streams.as_ref().map(|s| s.sessions);
    over("streams.sessions", get(streams), cap!(limits.max_sessions));
    let checks = spec.after_checks.as_ref().map(|c| c.count);
    over("after_checks.count", get(checks), cap!(limits.max_rounds));
    background_load_settings(spec, limits, over);
}

/// A chaos test's background load: every load's workers and rate together,
/// and the time it runs besides the workload and the fault.
fn background_load_settings(
    spec: &super::ChaosSpec,
    limits: &Limits,
    over: &mut impl FnMut(&'static str, Option<u32>, Cap),
) {
    let loads = &spec.background_load;
    let sum = |f: fn(&super::HttpLoadSpec) -> Option<Positive>| {
        let total: u64 = loads.iter().filter_map(f).map(|p| u64::from(p.get())).sum();
        (total > 0).then(|| saturate(total))
    };
    over(
        "background_load.concurrency",
        sum(|l| l.concurrency),
        cap!(limits.max_concurrency),
    );
    over(
        "background_load.rate",
        sum(|l| l.rate),
        cap!(limits.max_rate),
    );
    let lead_and_tail =
        u64::from(get(spec.baseline_s).unwrap_or(0)) + u64::from(get(spec.after_s).unwrap_or(0));
    over(
        "baseline_s + after_s",
        (!loads.is_empty() && lead_and_tail > 0).then(|| saturate(lead_and_tail)),
        cap!(limits.max_duration_s),
    );
}

/// A setting's value, when set.
fn get(p: Option<Positive>) -> Option<u32> {
    p.map(Positive::get)
}

/// A cap and its name.
type Cap = (Option<Positive>, &'static str);

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
