//! A chaos test's background load: the plan's `http_load` specs run by the
//! `http_load` runner from before the workload until `after_s` after
//! recovery, every sample kept, then split by the fault's times
//! (`windows`). While it runs, each load's seconds go to the run's sink as
//! `load_window` events and the fault's moments as `fault_times` events
//! (the live chart of the load through the fault).

use super::windows::{self, Times, Tolerance};
use crate::events::{ProgressEvent, Sink};
use crate::kinds::http_load::{self, Samples};
use crate::load::recorder::Sample;
use crate::metrics::windows::LoadThroughFault;
use crate::plan::{ChaosSpec, Positive};
use crate::runner::context::TestContext;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Seconds of load before the workload when the plan sets none.
pub const DEFAULT_BASELINE_S: u32 = 3;
/// Seconds of load after recovery when the plan sets none.
pub const DEFAULT_AFTER_S: u32 = 5;
/// Ratio to the baseline when the plan sets none.
pub const DEFAULT_TOLERANCE: f64 = 1.5;
/// Sliding window of `back_to_baseline_ms` when the plan sets none.
pub const DEFAULT_WINDOW_MS: u32 = 1000;
/// Most samples kept over all background loads (about 32 bytes each).
const SAMPLE_CAP: usize = 2_000_000;
/// Longest a background load may run, beyond its baseline and after
/// time: the trigger (60 s) and the restart's observation; the load is
/// stopped `after_s` after recovery long before this in any real run.
const RUN_LIMIT_S: u32 = 900;

/// One background load under way.
type Running = JoinHandle<(Samples, Option<String>)>;

/// The background loads of a chaos test, running.
pub struct Background {
    origin: Instant,
    cancel: CancellationToken,
    loads: Vec<Running>,
    after: Duration,
    tolerance: Tolerance,
    sink: Arc<dyn Sink>,
    test_id: String,
}

/// What a background load's runner sends: its seconds go on to the chaos
/// test's sink as `load_window` events (not as the test's own windows,
/// which are not its progress); nothing else does.
pub struct LoadSink {
    /// The chaos test's sink.
    pub sink: Arc<dyn Sink>,
    /// The chaos test's id.
    pub test_id: String,
    /// Which background load, from 0.
    pub load: usize,
}

impl Sink for LoadSink {
    fn emit(&self, event: &ProgressEvent) {
        if let ProgressEvent::Window {
            window,
            done,
            failed,
            ..
        } = event
        {
            self.sink.emit(&ProgressEvent::LoadWindow {
                test_id: self.test_id.clone(),
                load: self.load,
                window: window.clone(),
                done: *done,
                failed: *failed,
            });
        }
    }
}

fn seconds(value: Option<Positive>, default: u32) -> u32 {
    value.map_or(default, |v| v.get())
}

/// How long the load runs before the workload starts.
pub fn baseline(spec: &ChaosSpec) -> Duration {
    Duration::from_secs(u64::from(seconds(spec.baseline_s, DEFAULT_BASELINE_S)))
}

/// Starts the spec's background loads (none when it has none).
pub fn start(spec: &ChaosSpec, ctx: &TestContext) -> Option<Background> {
    if spec.background_load.is_empty() {
        return None;
    }
    let cancel = ctx.cancel.child_token();
    let after_s = seconds(spec.after_s, DEFAULT_AFTER_S);
    let limit = seconds(spec.baseline_s, DEFAULT_BASELINE_S)
        .saturating_add(after_s)
        .saturating_add(RUN_LIMIT_S);
    let cap = SAMPLE_CAP / spec.background_load.len();
    let origin = Instant::now();
    let loads = spec
        .background_load
        .iter()
        .enumerate()
        .map(|(i, load)| {
            let mut load = load.clone();
            // The chaos test decides how long it runs (validation rejects
            // both fields); the limit only bounds it if the stop never came.
            load.rounds = None;
            load.duration_s = Positive::new(limit);
            let ctx = TestContext {
                cancel: cancel.clone(),
                sink: Arc::new(LoadSink {
                    sink: ctx.sink.clone(),
                    test_id: ctx.test_id.clone(),
                    load: i,
                }),
                ..ctx.clone()
            };
            tokio::spawn(async move {
                let mut tap = Samples::new(cap);
                let outcome = http_load::run_keeping(&load, &ctx, Some(&mut tap)).await;
                (tap, outcome.error)
            })
        })
        .collect();
    Some(Background {
        origin,
        cancel,
        loads,
        after: Duration::from_secs(u64::from(after_s)),
        tolerance: Tolerance {
            factor: spec.baseline_tolerance.unwrap_or(DEFAULT_TOLERANCE),
            window_ms: f64::from(seconds(spec.baseline_window_ms, DEFAULT_WINDOW_MS)),
        },
        sink: ctx.sink.clone(),
        test_id: ctx.test_id.clone(),
    })
}

fn ms_since(origin: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(origin).as_secs_f64() * 1000.0
}

impl Background {
    /// Stops the loads now, keeping nothing (the fault never came).
    pub fn abort(self) {
        self.cancel.cancel();
        for load in self.loads {
            load.abort();
        }
    }

    /// Tells the sink the fault was injected at `fault` (in the times the
    /// windows are split by).
    pub fn fault_injected(&self, fault: Instant) {
        self.fault_times(fault, None);
    }

    fn fault_times(&self, fault: Instant, recovered: Option<Instant>) {
        self.sink.emit(&ProgressEvent::FaultTimes {
            test_id: self.test_id.clone(),
            fault_at_ms: ms_since(self.origin, fault),
            recovered_at_ms: recovered.map(|r| ms_since(self.origin, r)),
        });
    }

    /// After the fault injected at `fault`: tells the sink when recovery
    /// was seen, and stops the loads `after_s` after `recovered` (or after
    /// now, when recovery was not seen), whatever the test is doing then.
    /// Returns when they will stop.
    pub fn stop_after(&self, fault: Instant, recovered: Option<Instant>) -> Instant {
        if recovered.is_some() {
            self.fault_times(fault, recovered);
        }
        let stop = recovered.unwrap_or_else(Instant::now) + self.after;
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(stop)).await;
            cancel.cancel();
        });
        stop
    }

    /// Waits for the loads to stop at `stop` (or the run's abort), and
    /// splits their samples by the fault's times. Returns the windows and
    /// the warnings, or why the load could not run.
    pub async fn finish(
        self,
        fault: Instant,
        recovered: Option<Instant>,
        stop: Instant,
    ) -> Result<(LoadThroughFault, Vec<String>), String> {
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(stop)) => {}
            _ = self.cancel.cancelled() => {}
        }
        self.cancel.cancel();
        let end = Instant::now().min(stop);
        let mut samples: Vec<Sample> = Vec::new();
        let (mut dropped, mut warnings) = (0, Vec::new());
        for (i, load) in self.loads.into_iter().enumerate() {
            let (tap, error) = load
                .await
                .map_err(|e| format!("background load {} stopped: {e}", i + 1))?;
            if let Some(error) = error {
                return Err(format!("background load {} could not run: {error}", i + 1));
            }
            // Each load counts from its own start; the windows from the first's.
            let offset = tap.start.map_or(0, |s| {
                crate::load::recorder::micros(s.saturating_duration_since(self.origin))
            });
            samples.extend(tap.kept.iter().map(|s| Sample {
                start_us: s.start_us + offset,
                ..*s
            }));
            dropped += tap.dropped;
        }
        if dropped > 0 {
            warnings.push(format!(
                "background load: {dropped} requests beyond the {SAMPLE_CAP} kept are not in the windows"
            ));
        }
        let times = Times {
            fault_ms: ms_since(self.origin, fault),
            recovered_ms: recovered.map(|r| ms_since(self.origin, r)),
            end_ms: ms_since(self.origin, end),
        };
        let load = windows::split(&samples, times, self.tolerance, dropped);
        if load.back_to_baseline_ms.is_none() {
            warnings.push(format!("background load: {}", load.back_to_baseline_note));
        }
        Ok((load, warnings))
    }
}
