//! What makes a chart interactive, computed from the chart model alone so it
//! is tested natively: series or lanes hidden from the legend, the plot
//! area's place on the drawing (to turn a pointer position into an x value),
//! the readout of the values nearest to an x, and the x positions the arrow
//! keys step through.

use super::draw::{format_number, from_x, to_x};
use super::model::{Band, Chart, Figure, Health, Plot, Scale};

/// Where the plot area sits on the drawing, and the x range it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Left edge of the plot area, in drawing pixels.
    pub left_px: f64,
    /// Right edge of the plot area, in drawing pixels.
    pub right_px: f64,
    /// Axis position at the left edge (nines position on a nines axis).
    pub x0: f64,
    /// Axis position at the right edge.
    pub x1: f64,
    /// How the axis maps values.
    pub scale: Scale,
}

impl Frame {
    /// The x value (seconds, or a percentile) under a horizontal pixel
    /// position of the drawing, clamped to the plot area.
    pub fn value_at(&self, px: f64) -> f64 {
        let width = (self.right_px - self.left_px).max(1.0);
        let t = ((px - self.left_px) / width).clamp(0.0, 1.0);
        from_x(self.scale, self.x0 + t * (self.x1 - self.x0))
    }
}

/// One entry of a chart's legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegendEntry {
    /// The series' or lane's name.
    pub name: String,
    /// Palette index for lines; `None` for lanes (they are coloured by health).
    pub color: Option<u8>,
}

impl Chart {
    /// The series (or lanes) a legend can toggle.
    pub fn legend(&self) -> Vec<LegendEntry> {
        match &self.plot {
            Plot::Lines(series) => series
                .iter()
                .map(|s| LegendEntry {
                    name: s.name.clone(),
                    color: Some(s.color),
                })
                .collect(),
            Plot::Lanes(lanes) => lanes
                .iter()
                .map(|l| LegendEntry {
                    name: l.name.clone(),
                    color: None,
                })
                .collect(),
        }
    }

    /// The chart without the series (or lanes) named in `hidden`.
    pub fn hiding(&self, hidden: &[String]) -> Chart {
        let mut chart = self.clone();
        match &mut chart.plot {
            Plot::Lines(series) => series.retain(|s| !hidden.contains(&s.name)),
            Plot::Lanes(lanes) => lanes.retain(|l| !hidden.contains(&l.name)),
        }
        chart
    }

    /// Every x position worth stopping at, in order: the points of the
    /// series, or the span edges and markers of lanes.
    pub fn stops(&self) -> Vec<f64> {
        let mut xs = self.plotted_xs();
        if matches!(self.plot, Plot::Lanes(_)) {
            xs.extend(self.markers.iter().map(|m| m.x));
        }
        xs.retain(|x| x.is_finite());
        xs.sort_by(f64::total_cmp);
        xs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        xs
    }

    /// The stop after (`forward`) or before `from`; the first or last stop
    /// when there is no `from`. `None` when the chart has no stop.
    pub fn step(&self, from: Option<f64>, forward: bool) -> Option<f64> {
        let stops = self.stops();
        let Some(from) = from else {
            return if forward {
                stops.first().copied()
            } else {
                stops.last().copied()
            };
        };
        if forward {
            stops
                .iter()
                .copied()
                .find(|x| *x > from + 1e-9)
                .or(stops.last().copied())
        } else {
            stops
                .iter()
                .rev()
                .copied()
                .find(|x| *x < from - 1e-9)
                .or(stops.first().copied())
        }
    }

    /// The values at the x nearest to `x`, in words (`"3 s: p50 12 ms ·
    /// p95 20 ms"`), with the x they are at. `None` when nothing is plotted.
    pub fn readout(&self, x: f64) -> Option<(f64, String)> {
        match &self.plot {
            Plot::Lines(series) => {
                let scale = self.x.scale;
                let pos = to_x(scale, x);
                let nearest = series
                    .iter()
                    .flat_map(|s| s.points.iter())
                    .filter(|p| p.x.is_finite() && p.y.is_finite())
                    .min_by(|a, b| {
                        (to_x(scale, a.x) - pos)
                            .abs()
                            .total_cmp(&(to_x(scale, b.x) - pos).abs())
                    })?
                    .x;
                let unit = unit_of(&self.y.label);
                let values: Vec<String> = series
                    .iter()
                    .filter_map(|s| {
                        let p = s.points.iter().filter(|p| p.y.is_finite()).min_by(|a, b| {
                            (a.x - nearest).abs().total_cmp(&(b.x - nearest).abs())
                        })?;
                        ((p.x - nearest).abs() < 1e-9)
                            .then(|| format!("{} {}{unit}", s.name, format_number(p.y)))
                    })
                    .collect();
                let mut text = format!("{}: {}", self.x_text(nearest), values.join(" · "));
                // The window the point is in, with the window's own figures.
                if let Some(band) = self.band_at(nearest) {
                    text.push_str(" · ");
                    text.push_str(&band.describe());
                }
                Some((nearest, text))
            }
            Plot::Lanes(lanes) => {
                if lanes.is_empty() && self.markers.is_empty() {
                    return None;
                }
                let mut parts: Vec<String> = lanes
                    .iter()
                    .map(|l| {
                        let state = l
                            .spans
                            .iter()
                            .find(|s| s.start <= x + 1e-9 && x < s.end - 1e-9)
                            .map_or("not probed", |s| match s.health {
                                Health::Up => "up",
                                Health::Down => "down",
                                Health::Unknown => "unknown",
                            });
                        format!("{} {state}", l.name)
                    })
                    .collect();
                let (lo, hi) = self.x_extent().unwrap_or((0.0, 1.0));
                let near = ((hi - lo) * 0.02).max(1e-6);
                parts.extend(
                    self.markers
                        .iter()
                        .filter(|m| (m.x - x).abs() <= near)
                        .map(|m| m.label.clone()),
                );
                Some((x, format!("{}: {}", self.x_text(x), parts.join(" · "))))
            }
        }
    }

    fn x_text(&self, x: f64) -> String {
        match self.x.scale {
            Scale::Nines => format!("{}th percentile", format_number(x)),
            Scale::Linear if self.x.label.contains("second") => {
                format!("{} s", format_number(x))
            }
            Scale::Linear => format_number(x),
        }
    }
}

impl Figure {
    /// `p95 15.2 ms`, `error rate 35%`, `requests 120`.
    pub fn text(&self) -> String {
        format!("{} {}{}", self.name, format_number(self.value), self.unit)
    }
}

impl Band {
    /// Its label, with its figures when it has any: `during the fault
    /// (window: p95 15.2 ms · error rate 35% · requests 120)`.
    pub fn describe(&self) -> String {
        if self.figures.is_empty() {
            return self.label.clone();
        }
        let figures: Vec<String> = self.figures.iter().map(Figure::text).collect();
        format!("{} (window: {})", self.label, figures.join(" · "))
    }
}

/// The unit in an axis label's brackets (`latency (ms)` → ` ms`, `error
/// rate (%)` → `%`).
fn unit_of(label: &str) -> String {
    match (label.rfind('('), label.rfind(')')) {
        (Some(open), Some(close)) if open < close => match &label[open + 1..close] {
            "%" => "%".to_owned(),
            unit => format!(" {unit}"),
        },
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::{
        latency_distribution, latency_over_time, recovery_timeline, Lane, Marker, MarkerKind,
        PercentilePoint, Span,
    };
    use engine::metrics::Window;

    fn windows() -> Vec<Window> {
        (0..4)
            .map(|s| Window {
                second: s,
                count: 10,
                errors: 0,
                p50_ms: 10.0 + f64::from(s),
                p95_ms: 20.0 + f64::from(s),
                p99_ms: 30.5 + f64::from(s),
                max_ms: 40.0,
                workers: None,
            })
            .collect()
    }

    #[test]
    fn readout_names_each_series_at_the_nearest_second() {
        let chart = latency_over_time("L1", &windows());
        let (x, text) = chart.readout(1.7).unwrap();
        assert_eq!(x, 2.0);
        assert_eq!(text, "2 s: p50 12 ms · p95 22 ms · p99 32.5 ms");
        let hidden = chart.hiding(&["p95".to_owned()]);
        assert_eq!(
            hidden.readout(0.2).unwrap().1,
            "0 s: p50 10 ms · p99 30.5 ms"
        );
        assert_eq!(chart.legend().len(), 3);
        assert_eq!(hidden.legend().len(), 2);
    }

    #[test]
    fn readout_of_nothing_is_none() {
        assert!(latency_over_time("L1", &[]).readout(1.0).is_none());
    }

    #[test]
    fn arrow_keys_step_through_points_and_stop_at_the_ends() {
        let chart = latency_over_time("L1", &windows());
        assert_eq!(chart.step(None, true), Some(0.0));
        assert_eq!(chart.step(None, false), Some(3.0));
        assert_eq!(chart.step(Some(1.0), true), Some(2.0));
        assert_eq!(chart.step(Some(1.0), false), Some(0.0));
        assert_eq!(chart.step(Some(3.0), true), Some(3.0));
        assert_eq!(chart.step(Some(0.0), false), Some(0.0));
    }

    #[test]
    fn frame_maps_pixels_to_values_on_both_scales() {
        let linear = Frame {
            left_px: 100.0,
            right_px: 300.0,
            x0: 0.0,
            x1: 10.0,
            scale: Scale::Linear,
        };
        assert_eq!(linear.value_at(200.0), 5.0);
        assert_eq!(linear.value_at(0.0), 0.0);
        assert_eq!(linear.value_at(900.0), 10.0);
        let nines = Frame {
            scale: Scale::Nines,
            x0: 0.0,
            x1: 4.0,
            ..linear
        };
        // Halfway along 0..4 nines is 2 nines: the 99th percentile.
        assert!((nines.value_at(200.0) - 99.0).abs() < 1e-6);
        let chart = latency_distribution(
            "d",
            &[
                PercentilePoint {
                    percentile: 50.0,
                    ms: 5.0,
                },
                PercentilePoint {
                    percentile: 99.0,
                    ms: 30.0,
                },
            ],
        );
        assert_eq!(
            chart.readout(98.0).unwrap().1,
            "99th percentile: latency 30 ms"
        );
    }

    #[test]
    fn lane_readout_says_each_service_health_and_nearby_markers() {
        let lanes = vec![
            Lane {
                name: "worker".into(),
                spans: vec![
                    Span {
                        start: 0.0,
                        end: 2.0,
                        health: Health::Down,
                    },
                    Span {
                        start: 2.0,
                        end: 4.0,
                        health: Health::Up,
                    },
                ],
            },
            Lane {
                name: "api".into(),
                spans: vec![],
            },
        ];
        let markers = vec![Marker {
            x: 2.0,
            label: "worker recovered in 2.0 s".into(),
            kind: MarkerKind::Recovered,
        }];
        let chart = recovery_timeline("C1", lanes, markers);
        assert_eq!(
            chart.readout(1.0).unwrap().1,
            "1 s: worker down · api not probed"
        );
        assert_eq!(
            chart.readout(2.0).unwrap().1,
            "2 s: worker up · api not probed · worker recovered in 2.0 s"
        );
        assert_eq!(chart.stops(), vec![0.0, 2.0, 4.0]);
        assert_eq!(chart.hiding(&["api".into()]).legend().len(), 1);
    }
}
