//! Process-wide gauges for `/metrics`: how many events the event writers
//! hold in memory (not yet stored), and each running run's latest second
//! of load (requests and errors) with its totals so far, taken from the
//! `window` and `load_window` events on their way to the database.

use engine::events::ProgressEvent;
use engine::run_event::RunEvent;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

static HELD: AtomicU64 = AtomicU64::new(0);

/// Events now held by every run's event writer, not yet stored.
pub fn events_held() -> u64 {
    HELD.load(Ordering::Relaxed)
}

/// `n` more events are held.
pub fn held_more(n: usize) {
    HELD.fetch_add(n as u64, Ordering::Relaxed);
}

/// `n` held events are gone (stored, refused or dropped at shutdown).
pub fn held_fewer(n: usize) {
    let n = n as u64;
    // Never below zero, whatever the order of updates.
    let _ = HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

/// One load of a running run (a test, or a chaos test's background load).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadFigures {
    /// Requests (operations) started in the latest complete second.
    pub requests_last_second: u64,
    /// Of those, failed.
    pub errors_last_second: u64,
    /// Requests since the load began.
    pub requests_total: u64,
    /// Errors since the load began.
    pub errors_total: u64,
}

impl LoadFigures {
    /// The figures a window event carries: its second, and the totals so
    /// far.
    fn of(window: &engine::metrics::Window, done: u64, failed: u64) -> Self {
        LoadFigures {
            requests_last_second: window.count,
            errors_last_second: window.errors,
            requests_total: done,
            errors_total: failed,
        }
    }
}

/// Running runs by id, each with its loads by name.
pub type LiveLoads = BTreeMap<String, BTreeMap<String, LoadFigures>>;

fn live() -> &'static Mutex<LiveLoads> {
    static LIVE: OnceLock<Mutex<LiveLoads>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Notes what an event says about its run's load: a test's `window` and a
/// background load's `load_window` carry their totals so far, which are
/// taken as they are (job and stream tests send a second again as it
/// fills, and a second sent once may gain requests that finish later, so
/// adding windows up would count wrong). A test's end stops its loads'
/// latest second; the run's end forgets the run.
pub fn observe(run_id: &str, event: &RunEvent) {
    let Ok(mut live) = live().lock() else {
        return;
    };
    let live = &mut *live;
    match event {
        RunEvent::Progress(ProgressEvent::Window {
            test_id,
            window,
            done,
            failed,
        }) => {
            let loads = live.entry(run_id.to_owned()).or_default();
            *loads.entry(test_id.clone()).or_default() = LoadFigures::of(window, *done, *failed);
        }
        RunEvent::Progress(ProgressEvent::LoadWindow {
            test_id,
            load,
            window,
            done,
            failed,
        }) => {
            let loads = live.entry(run_id.to_owned()).or_default();
            *loads.entry(format!("{test_id}.load{load}")).or_default() =
                LoadFigures::of(window, *done, *failed);
        }
        RunEvent::Progress(ProgressEvent::TestFinished { result }) => {
            let background = format!("{}.load", result.id);
            // A run with no load yet gets no entry (only its end removes one).
            let loads = live.get_mut(run_id).into_iter().flat_map(|l| l.iter_mut());
            for (load, figures) in loads {
                if *load == result.id || load.starts_with(&background) {
                    figures.requests_last_second = 0;
                    figures.errors_last_second = 0;
                }
            }
        }
        RunEvent::End(_) => {
            live.remove(run_id);
        }
        _ => {}
    }
}

/// The loads of every run still running.
pub fn live_loads() -> LiveLoads {
    live().lock().map(|l| l.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::metrics::Window;

    fn window(count: u64, errors: u64) -> Window {
        serde_json::from_value(serde_json::json!({
            "second": 0, "count": count, "errors": errors,
            "p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0, "max_ms": 1.0
        }))
        .unwrap()
    }

    #[test]
    fn windows_feed_a_run_until_it_ends() {
        let run = format!("gauges-{}", uuid::Uuid::new_v4().simple());
        // L1's second 0, then second 1 sent twice as it filled (as job
        // and stream tests do): the totals are the events' own.
        for (count, errors, done, failed) in [(100, 1, 100, 1), (60, 1, 160, 2), (120, 3, 220, 4)] {
            let event = RunEvent::Progress(ProgressEvent::Window {
                test_id: "L1".into(),
                window: window(count, errors),
                done,
                failed,
            });
            observe(&run, &event);
        }
        let event = RunEvent::Progress(ProgressEvent::LoadWindow {
            test_id: "C1".into(),
            load: 0,
            window: window(5, 0),
            done: 7,
            failed: 0,
        });
        observe(&run, &event);
        let loads = live_loads();
        let mine = &loads[&run];
        assert_eq!(
            mine["L1"],
            LoadFigures {
                requests_last_second: 120,
                errors_last_second: 3,
                requests_total: 220,
                errors_total: 4,
            }
        );
        assert_eq!(mine["C1.load0"].requests_total, 7);
        observe(
            &run,
            &RunEvent::Progress(ProgressEvent::TestFinished {
                result: Box::new(
                    serde_json::from_value(serde_json::json!({
                        "id": "C1", "title": "", "kind": "chaos", "status": "PASS",
                        "started_at_ms": 0, "finished_at_ms": 0, "parameters": null, "metrics": null
                    }))
                    .unwrap(),
                ),
            }),
        );
        let loads = live_loads();
        let mine = &loads[&run];
        assert_eq!(
            (
                mine["C1.load0"].requests_last_second,
                mine["C1.load0"].requests_total
            ),
            (0, 7),
            "a finished test has no latest second"
        );
        assert_eq!(mine["L1"].requests_last_second, 120, "L1 still runs");
        observe(&run, &RunEvent::end(&run));
        assert!(!live_loads().contains_key(&run));
    }
}
