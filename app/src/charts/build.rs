//! Charts built from run results: latency percentiles and throughput over a
//! test's per-second windows, the latency distribution from percentile
//! points, and a recovery timeline from health lanes and fault markers
//! (built from the faults' evidence by [`fault_lanes`]). [`load_charts`]
//! chooses for a test: over time when it lasted long enough for that to
//! read as a line, else its latency distribution. A chaos test with
//! background load also gets the charts of its load through the fault
//! (`fault_load`).

use super::fault_load::{fault_load_charts, FaultLoad};
use super::model::{
    Axis, Band, BandKind, Chart, Figure, Health, Lane, Marker, MarkerKind, PercentilePoint, Plot,
    Point, Scale, Series, Span,
};
use engine::metrics::resilience::FaultEvidence;
use engine::metrics::windows::LoadThroughFault;
use engine::metrics::{LatencySummary, Window};

/// Fewest seconds with operations for the over-time charts: with fewer,
/// they are a dot or two on a one-second axis, so a short test's latency
/// is shown as a distribution instead.
pub const MIN_SECONDS_OVER_TIME: usize = 3;

fn seconds_axis() -> Axis {
    Axis {
        label: "seconds since test start".to_owned(),
        scale: Scale::Linear,
    }
}

fn ms_axis() -> Axis {
    Axis {
        label: "latency (ms)".to_owned(),
        scale: Scale::Linear,
    }
}

fn series(name: &str, color: u8, windows: &[Window], y: impl Fn(&Window) -> f64) -> Series {
    Series {
        name: name.to_owned(),
        color,
        points: windows
            .iter()
            .map(|w| Point {
                x: f64::from(w.second),
                y: y(w),
            })
            .collect(),
    }
}

/// p50, p95 and p99 latency of each second.
pub fn latency_over_time(title: &str, windows: &[Window]) -> Chart {
    let busy: Vec<Window> = windows.iter().filter(|w| w.count > 0).cloned().collect();
    Chart {
        title: title.to_owned(),
        x: seconds_axis(),
        y: ms_axis(),
        plot: Plot::Lines(vec![
            series("p50", 0, &busy, |w| w.p50_ms),
            series("p95", 1, &busy, |w| w.p95_ms),
            series("p99", 2, &busy, |w| w.p99_ms),
        ]),
        markers: Vec::new(),
        bands: Vec::new(),
    }
}

/// Successful and failed operations started in each second.
pub fn throughput_over_time(title: &str, windows: &[Window]) -> Chart {
    Chart {
        title: title.to_owned(),
        x: seconds_axis(),
        y: Axis {
            label: "operations per second".to_owned(),
            scale: Scale::Linear,
        },
        plot: Plot::Lines(vec![
            series("ok/s", 3, windows, |w| {
                w.count.saturating_sub(w.errors) as f64
            }),
            series("errors/s", 2, windows, |w| w.errors as f64),
        ]),
        markers: Vec::new(),
        bands: Vec::new(),
    }
}

/// Latency by percentile (the HdrHistogram percentile curve).
pub fn latency_distribution(title: &str, points: &[PercentilePoint]) -> Chart {
    Chart {
        title: title.to_owned(),
        x: Axis {
            label: "percentile".to_owned(),
            scale: Scale::Nines,
        },
        y: ms_axis(),
        plot: Plot::Lines(vec![Series {
            name: "latency".to_owned(),
            color: 0,
            points: points
                .iter()
                .map(|p| Point {
                    x: p.percentile,
                    y: p.ms,
                })
                .collect(),
        }]),
        markers: Vec::new(),
        bands: Vec::new(),
    }
}

/// Health of each service over time, with the faults injected and the
/// recoveries seen as markers.
pub fn recovery_timeline(title: &str, lanes: Vec<Lane>, markers: Vec<Marker>) -> Chart {
    Chart {
        title: title.to_owned(),
        x: Axis {
            label: "seconds".to_owned(),
            scale: Scale::Linear,
        },
        y: Axis {
            label: "service".to_owned(),
            scale: Scale::Linear,
        },
        plot: Plot::Lanes(lanes),
        markers,
        bands: Vec::new(),
    }
}

/// One lane per fault (the service's health probes during it) and its
/// markers: the fault when it was requested and, when seen, the recovery.
/// Times are seconds after `origin_ms` (Unix milliseconds).
pub fn fault_lanes(faults: &[FaultEvidence], origin_ms: i64) -> (Vec<Lane>, Vec<Marker>) {
    let mut lanes = Vec::new();
    let mut markers = Vec::new();
    for f in faults {
        let service = f.service.as_str();
        let offset = (f.requested_at_ms - origin_ms) as f64 / 1000.0;
        let spans = f
            .timeline
            .windows(2)
            .map(|w| Span {
                start: offset + w[0].at_ms as f64 / 1000.0,
                end: offset + w[1].at_ms as f64 / 1000.0,
                health: if w[0].healthy {
                    Health::Up
                } else {
                    Health::Down
                },
            })
            .collect();
        lanes.push(Lane {
            name: service.to_owned(),
            spans,
        });
        markers.push(Marker {
            x: offset,
            label: format!("{} {service}", f.method),
            kind: MarkerKind::Fault,
        });
        if let Some(ms) = f.recovery_ms {
            let ms = ms as f64;
            markers.push(Marker {
                x: offset + ms / 1000.0,
                label: format!("{service} recovered in {:.1} s", ms / 1000.0),
                kind: MarkerKind::Recovered,
            });
        }
    }
    (lanes, markers)
}

/// Each network fault's window, from the proxy accepting it to its
/// removal (or to the end of the planned window when the removal was not
/// answered), as a band named after the toxic and its link, its attributes
/// as figures (`latency` 2000). Times are seconds after `origin_ms`.
pub fn fault_bands(faults: &[FaultEvidence], origin_ms: i64) -> Vec<Band> {
    faults
        .iter()
        .filter_map(|f| f.network.as_ref())
        .map(|n| {
            let end_ms = n
                .removed_at_ms
                .unwrap_or(n.injected_at_ms + n.planned_ms as i64);
            Band {
                from: (n.injected_at_ms - origin_ms) as f64 / 1000.0,
                to: (end_ms - origin_ms) as f64 / 1000.0,
                kind: BandKind::During,
                label: format!("{} on link {}", n.toxic, n.link),
                figures: n
                    .attributes
                    .iter()
                    .map(|(name, value)| Figure {
                        name: name.clone(),
                        value: *value as f64,
                        unit: toxic_unit(name).to_owned(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The unit of a toxic's attribute, by Toxiproxy's names.
fn toxic_unit(attribute: &str) -> &'static str {
    match attribute {
        "latency" | "jitter" | "timeout" | "delay" => " ms",
        "rate" => " KB/s",
        "bytes" => " bytes",
        _ => "",
    }
}

/// The charts of one test's result that need nothing but the result: its
/// load charts ([`load_charts`]) and the recovery timeline of its faults.
pub fn result_charts(t: &engine::results::TestResult) -> Vec<Chart> {
    test_charts(
        &t.id,
        &t.windows,
        latency_of(t.metrics.as_ref()),
        super::fault_load::load_of(t.metrics.as_ref()),
        &t.faults,
    )
}

/// The latency a test's metrics summarise (requests, jobs, or sessions and
/// exports), for the kinds that measure one.
pub fn latency_of(metrics: Option<&engine::metrics::TestMetrics>) -> Option<&LatencySummary> {
    use engine::metrics::TestMetrics;
    match metrics? {
        TestMetrics::HttpLoad(m) => Some(&m.latency),
        TestMetrics::JobWorkload(m) => Some(&m.latency),
        TestMetrics::Stream(m) => Some(&m.latency),
        _ => None,
    }
}

fn test_charts(
    id: &str,
    windows: &[Window],
    latency: Option<&LatencySummary>,
    load: Option<&LoadThroughFault>,
    faults: &[FaultEvidence],
) -> Vec<Chart> {
    let mut charts = load_charts(id, windows, latency);
    if let Some(load) = load {
        charts.extend(fault_load_charts(id, &FaultLoad::from_result(load)));
    }
    if let Some(t0) = faults.iter().map(|f| f.requested_at_ms).min() {
        let (lanes, markers) = fault_lanes(faults, t0);
        let mut chart = recovery_timeline(
            &format!("{id} recovery timeline (health per service)"),
            lanes,
            markers,
        );
        chart.bands = fault_bands(faults, t0);
        charts.push(chart);
    }
    charts
}

/// Seconds in which operations started.
pub fn busy_seconds(windows: &[Window]) -> usize {
    windows.iter().filter(|w| w.count > 0).count()
}

/// Whether the windows cover enough seconds to be drawn over time.
pub fn long_enough_over_time(windows: &[Window]) -> bool {
    busy_seconds(windows) >= MIN_SECONDS_OVER_TIME
}

/// A test's load charts. Over at least [`MIN_SECONDS_OVER_TIME`] busy
/// seconds: latency percentiles and throughput per second. A shorter test:
/// the latency distribution of all its operations (from `latency`, the
/// whole test's summary, once it has one), else that of each second so
/// far. Nothing when it measured no operation.
pub fn load_charts(id: &str, windows: &[Window], latency: Option<&LatencySummary>) -> Vec<Chart> {
    if long_enough_over_time(windows) {
        return vec![
            latency_over_time(&format!("{id} latency percentiles per second"), windows),
            throughput_over_time(&format!("{id} throughput and errors per second"), windows),
        ];
    }
    if let Some(latency) = latency.filter(|l| l.count > 0) {
        let title = format!(
            "{id} latency distribution ({} operations, shorter than {MIN_SECONDS_OVER_TIME} s)",
            latency.count
        );
        return vec![latency_distribution(&title, &summary_points(latency))];
    }
    let busy: Vec<&Window> = windows.iter().filter(|w| w.count > 0).collect();
    if busy.is_empty() {
        return Vec::new();
    }
    let series = busy
        .iter()
        .enumerate()
        .map(|(i, w)| Series {
            name: format!("second {} ({} operations)", w.second, w.count),
            color: u8::try_from(i).unwrap_or(0),
            points: window_points(w)
                .into_iter()
                .map(|p| Point {
                    x: p.percentile,
                    y: p.ms,
                })
                .collect(),
        })
        .collect();
    let mut chart = latency_distribution(&format!("{id} latency distribution per second"), &[]);
    chart.plot = Plot::Lines(series);
    vec![chart]
}

/// The percentiles a latency summary gives, as points of the curve.
pub fn summary_points(l: &LatencySummary) -> Vec<PercentilePoint> {
    [
        (0.0, l.min_ms),
        (50.0, l.p50_ms),
        (90.0, l.p90_ms),
        (95.0, l.p95_ms),
        (99.0, l.p99_ms),
        (99.9, l.p999_ms),
        (100.0, l.max_ms),
    ]
    .into_iter()
    .map(|(percentile, ms)| PercentilePoint { percentile, ms })
    .collect()
}

/// The percentiles a second's window gives, as points of the curve.
pub fn window_points(w: &Window) -> Vec<PercentilePoint> {
    [
        (50.0, w.p50_ms),
        (95.0, w.p95_ms),
        (99.0, w.p99_ms),
        (100.0, w.max_ms),
    ]
    .into_iter()
    .map(|(percentile, ms)| PercentilePoint { percentile, ms })
    .collect()
}

/// What the charts read of `results.json`: each test's id, per-second
/// windows and faults. Serde skips every other field (metrics, parameters,
/// criteria, ...), so the browser bundle carries no reader for them.
#[derive(serde::Deserialize)]
struct ChartedResults {
    tests: Vec<ChartedTest>,
}

#[derive(serde::Deserialize)]
struct ChartedTest {
    id: String,
    #[serde(default)]
    windows: Vec<Window>,
    #[serde(default)]
    metrics: Option<ChartedMetrics>,
    #[serde(default)]
    faults: Vec<FaultEvidence>,
}

/// Of a test's metrics, only the latency summary (the load kinds have one)
/// and the load through the fault (chaos tests with background load), kept
/// as their JSON text and read on their own: one that does not read (an
/// older shape) leaves its chart out instead of failing every chart. Read
/// from text, not through `serde_json::Value`, so the bundle needs no second
/// (Value-driven) reader for those types.
#[derive(serde::Deserialize)]
struct ChartedMetrics {
    #[serde(default)]
    latency: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    load: Option<Box<serde_json::value::RawValue>>,
}

/// The charts of every test in a `results.json` text, in plan order.
pub fn results_json_charts(text: &str) -> Result<Vec<Chart>, String> {
    let results: ChartedResults =
        serde_json::from_str(text).map_err(|e| format!("results.json: {e}"))?;
    Ok(results
        .tests
        .iter()
        .flat_map(|t| {
            let latency = t
                .metrics
                .as_ref()
                .and_then(|m| m.latency.as_ref())
                .and_then(|v| serde_json::from_str::<LatencySummary>(v.get()).ok());
            let load = t
                .metrics
                .as_ref()
                .and_then(|m| m.load.as_ref())
                .and_then(|v| serde_json::from_str::<LoadThroughFault>(v.get()).ok());
            test_charts(
                &t.id,
                &t.windows,
                latency.as_ref(),
                load.as_ref(),
                &t.faults,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
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
}
