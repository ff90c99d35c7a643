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
#[path = "build_tests.rs"]
mod tests;
