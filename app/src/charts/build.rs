//! Charts built from run results: latency percentiles and throughput over a
//! test's per-second windows, the latency distribution from percentile
//! points, and a recovery timeline from health lanes and fault markers.

use super::model::{Axis, Chart, Lane, Marker, PercentilePoint, Plot, Point, Scale, Series};
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
