//! Tests of the charts built from results.

use super::*;

#[test]
fn results_json_with_status_counts_gives_each_tests_charts() {
    let window = serde_json::json!({"second": 0, "count": 10, "errors": 0,
        "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0});
    let text = serde_json::json!({
        "run_id": "r",
        "tests": [
            {"id": "L1", "title": "Load", "kind": "http_load", "status": "PASS",
             "started_at_ms": 0, "finished_at_ms": 1000, "parameters": {},
             "metrics": {"kind": "http_load", "status_counts": {"200": 10}},
             "windows": [window]},
            {"id": "G1", "title": "Graph", "kind": "assert", "status": "PASS",
             "started_at_ms": 0, "finished_at_ms": 1, "parameters": {}}
        ]
    })
    .to_string();
    let charts = results_json_charts(&text).unwrap();
    let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
    // One second of load: its latency distribution, not a dot on a
    // one-second axis.
    assert_eq!(titles, ["L1 latency distribution per second"]);
    assert!(results_json_charts("{}").is_err());
    assert!(results_json_charts("not json").is_err());
}

#[test]
fn a_chaos_test_with_background_load_gets_its_load_through_the_fault() {
    let load = serde_json::json!({
        "fault_at_ms": 1000.0, "recovered_at_ms": 1400.0, "end_ms": 2000.0,
        "before": {"count": 10, "fail": 0, "errors": {"connect": 0, "timeout": 0, "status": 0, "check": 0, "protocol": 0},
            "error_rate": 0.0, "rps": 10.0, "duration_ms": 1000.0, "p50_ms": 4.0, "p95_ms": 5.0, "p99_ms": 5.0, "max_ms": 5.0},
        "during": {"count": 4, "fail": 1, "errors": {"connect": 1, "timeout": 0, "status": 0, "check": 0, "protocol": 0},
            "error_rate": 0.25, "rps": 10.0, "duration_ms": 400.0, "p50_ms": 4.0, "p95_ms": 33.5, "p99_ms": 40.0, "max_ms": 40.0},
        "after": {"count": 6, "fail": 0, "errors": {"connect": 0, "timeout": 0, "status": 0, "check": 0, "protocol": 0},
            "error_rate": 0.0, "rps": 10.0, "duration_ms": 600.0, "p50_ms": 4.0, "p95_ms": 6.0, "p99_ms": 6.0, "max_ms": 6.0},
        "errors_during_recovery": 1, "worst_latency_during_recovery_ms": 40.0,
        "baseline_tolerance": 1.5, "baseline_window_ms": 1000.0,
        "back_to_baseline_ms": null, "back_to_baseline_note": "never", "samples_dropped": 0,
        "series": [
            {"from_ms": 0.0, "to_ms": 1000.0, "phase": "before", "count": 10, "fail": 0, "p95_ms": 5.0},
            {"from_ms": 1000.0, "to_ms": 1400.0, "phase": "during", "count": 4, "fail": 1, "p95_ms": 33.5},
            {"from_ms": 1400.0, "to_ms": 2000.0, "phase": "after", "count": 6, "fail": 0, "p95_ms": 6.0}
        ]
    });
    let text = serde_json::json!({"run_id": "r", "tests": [
        {"id": "C1", "title": "Chaos", "kind": "chaos", "status": "PASS",
         "started_at_ms": 0, "finished_at_ms": 1000, "parameters": {},
         "metrics": {"kind": "chaos", "load": load}}
    ]})
    .to_string();
    let charts = results_json_charts(&text).unwrap();
    let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "C1 load through the fault: p95 latency per slice",
            "C1 load through the fault: error rate per slice"
        ]
    );
    let during = &charts[0].bands[1];
    assert_eq!((during.from, during.to), (1.0, 1.4));
    assert_eq!(
        during.describe(),
        "during the fault (window: p95 33.5 ms · error rate 25% · requests 4)"
    );
}

#[test]
fn a_network_fault_shades_its_window_on_the_recovery_timeline() {
    let text = serde_json::json!({"run_id": "r", "tests": [
        {"id": "N1", "title": "Latency", "kind": "chaos", "status": "PASS",
         "started_at_ms": 0, "finished_at_ms": 30000, "parameters": {},
         "faults": [{
            "service": "api", "method": "network", "called": "POST", "answer": "added",
            "call_ok": true, "requested_at_ms": 10_000, "restart_observed": false,
            "observation": "", "recovery_ms": 10_400, "timeline": [],
            "network": {
                "link": "database", "proxy": "sut_postgres", "api": "http://127.0.0.1:8474",
                "toxic": "latency", "toxic_name": "t", "direction": "downstream",
                "attributes": {"jitter": 0, "latency": 2000}, "toxicity": 1.0,
                "planned_ms": 10_000, "injected_at_ms": 10_050, "removed_at_ms": 20_100,
                "seen_at_proxy": "listed", "removal_verified": true, "removal": "gone"
            }
         }]}
    ]})
    .to_string();
    let charts = results_json_charts(&text).unwrap();
    let timeline = charts
        .iter()
        .find(|c| c.title == "N1 recovery timeline (health per service)")
        .expect("recovery timeline");
    assert_eq!(timeline.bands.len(), 1);
    let band = &timeline.bands[0];
    // Seconds after the fault was requested: accepted 50 ms later,
    // removed 10.1 s after that.
    assert_eq!((band.from, band.to), (0.05, 10.1));
    assert_eq!(band.kind, BandKind::During);
    assert_eq!(
        band.describe(),
        "latency on link database (window: jitter 0 ms · latency 2000 ms)"
    );
    // Drawn behind the lanes, named by its window.
    #[cfg(feature = "ssr")]
    {
        let svg = super::super::try_render_svg(timeline, 800, 300).expect("drawn");
        assert!(svg.contains(" during"), "{svg}");
    }
}

fn second(second: u32, count: u64) -> Window {
    Window {
        second,
        count,
        errors: 0,
        p50_ms: 10.0,
        p95_ms: 59.0,
        p99_ms: 70.0,
        max_ms: 80.0,
        ..Window::default()
    }
}

fn summary(count: u64) -> LatencySummary {
    LatencySummary {
        count,
        min_ms: 2.0,
        mean_ms: 20.0,
        p50_ms: 18.0,
        p90_ms: 40.0,
        p95_ms: 59.0,
        p99_ms: 70.0,
        p999_ms: 75.0,
        max_ms: 80.0,
    }
}

#[test]
fn a_test_of_three_busy_seconds_is_drawn_over_time() {
    let windows: Vec<Window> = (0..3).map(|s| second(s, 20)).collect();
    let charts = load_charts("L1", &windows, Some(&summary(60)));
    let titles: Vec<&str> = charts.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "L1 latency percentiles per second",
            "L1 throughput and errors per second"
        ]
    );
    assert_eq!(charts[0].x_extent(), Some((0.0, 2.0)));
}

#[test]
fn a_shorter_test_is_drawn_as_its_whole_latency_distribution() {
    // Two busy seconds and an idle one: still too short for a line.
    let windows = [second(0, 50), second(1, 0), second(2, 10)];
    assert_eq!(busy_seconds(&windows), 2);
    let charts = load_charts("L1", &windows, Some(&summary(60)));
    assert_eq!(charts.len(), 1);
    let chart = &charts[0];
    assert_eq!(chart.x.scale, Scale::Nines);
    assert!(chart.title.contains("60 operations"), "{}", chart.title);
    assert_eq!(chart.x_extent(), Some((0.0, 100.0)));
    assert_eq!(chart.y_extent(), Some((2.0, 80.0)));
    assert_eq!(
        chart.readout(95.0).unwrap().1,
        "95th percentile: latency 59 ms"
    );
}

#[test]
fn a_short_test_still_running_shows_each_seconds_distribution() {
    let charts = load_charts("L2", &[second(0, 7)], None);
    assert_eq!(charts.len(), 1);
    let Plot::Lines(series) = &charts[0].plot else {
        panic!("a line chart");
    };
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].name, "second 0 (7 operations)");
    let xs: Vec<f64> = series[0].points.iter().map(|p| p.x).collect();
    assert_eq!(xs, [50.0, 95.0, 99.0, 100.0]);
}

#[test]
fn nothing_measured_draws_nothing() {
    assert!(load_charts("G1", &[], None).is_empty());
    assert!(load_charts("G1", &[second(0, 0)], Some(&summary(0))).is_empty());
}
