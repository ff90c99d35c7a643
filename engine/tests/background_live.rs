//! A chaos test's background load reports itself live (#16): each second
//! of each load as a `load_window` event of the chaos test (never as the
//! test's own `window`), and the fault's moments as `fault_times` events
//! in the same times its windows are split by; its result keeps a bounded
//! series of slices that add up to the windows. Against a server on
//! 127.0.0.1.

mod common;

use axum::routing::get;
use axum::Router;
use common::{context, serve};
use engine::events::ProgressEvent;
use engine::kinds::chaos::background;
use engine::plan::ChaosSpec;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_load_reports_its_seconds_and_the_faults_moments() {
    let server = serve(Router::new().route("/ok", get(|| async { "ok" }))).await;
    let (ctx, sink) = context(&server.base_url(), "C1");
    let spec: ChaosSpec = serde_json::from_value(json!({
        "service": "api",
        "background_load": [{"path": "/ok", "rate": 40, "concurrency": 4}],
        "baseline_s": 1,
        "after_s": 1
    }))
    .unwrap();
    let load = background::start(&spec, &ctx).expect("a background load");
    // The first second is reported once it is over (bounded wait).
    let reported = || {
        sink.0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ProgressEvent::LoadWindow { .. }))
    };
    let waited = Instant::now();
    while !reported() {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no load_window event"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fault = Instant::now();
    load.fault_injected(fault);
    let recovered = fault + Duration::from_millis(300);
    let stop = load.stop_after(fault, Some(recovered));
    let (windows, _warnings) = load.finish(fault, Some(recovered), stop).await.unwrap();

    let events = sink.0.lock().unwrap().clone();
    let mut seconds = 0;
    let mut times = Vec::new();
    for event in &events {
        match event {
            ProgressEvent::LoadWindow {
                test_id,
                load,
                window,
                ..
            } => {
                assert_eq!((test_id.as_str(), *load), ("C1", 0));
                assert!(window.count > 0, "{window:?}");
                seconds += 1;
            }
            ProgressEvent::FaultTimes {
                test_id,
                fault_at_ms,
                recovered_at_ms,
            } => {
                assert_eq!(test_id, "C1");
                times.push((*fault_at_ms, *recovered_at_ms));
            }
            other => panic!("the background load sent {other:?}"),
        }
    }
    assert!(seconds >= 1);
    // The moments are the ones the windows are split at: first the fault
    // alone, then with recovery.
    assert_eq!(
        times,
        [
            (windows.fault_at_ms, None),
            (windows.fault_at_ms, windows.recovered_at_ms)
        ]
    );
    assert!(
        windows.before.count > 0 && windows.after.count > 0,
        "{windows:?}"
    );
    let sum: u64 = windows.series.iter().map(|s| s.count).sum();
    assert_eq!(
        sum,
        windows.before.count + windows.during.count + windows.after.count
    );
    assert!(windows.series.len() <= engine::metrics::windows::MAX_SLICES + 3);
}
