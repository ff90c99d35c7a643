//! Charts built from run results: latency percentiles and throughput over a
//! test's per-second windows, the latency distribution from percentile
//! points, and a recovery timeline from health lanes and fault markers
//! (built from the faults' evidence by [`fault_lanes`]).

use super::model::{
    Axis, Chart, Health, Lane, Marker, MarkerKind, PercentilePoint, Plot, Point, Scale, Series,
    Span,
};
use engine::metrics::resilience::FaultEvidence;
use engine::metrics::Window;

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

/// The charts of one test's result that need nothing but the result:
/// latency and throughput per second, and the recovery timeline of its
/// faults (the report page draws these; the HTML export adds the latency
/// distribution, read from the histogram file).
pub fn result_charts(t: &engine::results::TestResult) -> Vec<Chart> {
    test_charts(&t.id, &t.windows, &t.faults)
}

fn test_charts(id: &str, windows: &[Window], faults: &[FaultEvidence]) -> Vec<Chart> {
    let mut charts = Vec::new();
    if windows.iter().any(|w| w.count > 0) {
        charts.push(latency_over_time(
            &format!("{id} latency percentiles per second"),
            windows,
        ));
        charts.push(throughput_over_time(
            &format!("{id} throughput and errors per second"),
            windows,
        ));
    }
    if let Some(t0) = faults.iter().map(|f| f.requested_at_ms).min() {
        let (lanes, markers) = fault_lanes(faults, t0);
        charts.push(recovery_timeline(
            &format!("{id} recovery timeline (health per service)"),
            lanes,
            markers,
        ));
    }
    charts
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
    faults: Vec<FaultEvidence>,
}

/// The charts of every test in a `results.json` text, in plan order.
pub fn results_json_charts(text: &str) -> Result<Vec<Chart>, String> {
    let results: ChartedResults =
        serde_json::from_str(text).map_err(|e| format!("results.json: {e}"))?;
    Ok(results
        .tests
        .iter()
        .flat_map(|t| test_charts(&t.id, &t.windows, &t.faults))
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
        assert_eq!(
            titles,
            [
                "L1 latency percentiles per second",
                "L1 throughput and errors per second"
            ]
        );
        assert!(results_json_charts("{}").is_err());
        assert!(results_json_charts("not json").is_err());
    }
}
