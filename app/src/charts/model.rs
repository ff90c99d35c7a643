//! What a chart shows, independent of how it is drawn: titled axes, line
//! series of points or health lanes of spans, vertical markers (faults
//! injected, recovery seen) and shaded bands of x (the windows before,
//! during and after a fault, with their figures). Plain serde data.

use serde::{Deserialize, Serialize};

/// One chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Caption drawn above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis (ignored by [`Plot::Lanes`], whose rows are named).
    pub y: Axis,
    /// What is plotted.
    pub plot: Plot,
    /// Vertical lines at x positions, with a label.
    #[serde(default)]
    pub markers: Vec<Marker>,
    /// Shaded ranges of x behind the lines, with a label and figures.
    #[serde(default)]
    pub bands: Vec<Band>,
}

/// A shaded range of x: one window of a load through a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Start.
    pub from: f64,
    /// End.
    pub to: f64,
    /// Which window (chooses its fill).
    pub kind: BandKind,
    /// What it is, in words (`during the fault`).
    pub label: String,
    /// The window's own figures (its p95 over all its requests, …), when
    /// known; the readout and the windows list say them.
    #[serde(default)]
    pub figures: Vec<Figure>,
}

/// Which window a band is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BandKind {
    /// Before the fault (the baseline).
    Before,
    /// From the fault to recovery.
    During,
    /// After recovery.
    After,
}

impl BandKind {
    /// `before`, `during` or `after` (as window metrics and the page's
    /// `data-band` name it).
    pub fn as_str(self) -> &'static str {
        match self {
            BandKind::Before => "before",
            BandKind::During => "during",
            BandKind::After => "after",
        }
    }
}

/// A named figure of a band (`p95` 15.2 ` ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Its name (`p95`, `error rate`, `requests`).
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit as written after the number (` ms`, `%`, or nothing).
    pub unit: String,
}

/// An axis: what it measures and how values map to positions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// Description drawn along the axis, with its unit.
    pub label: String,
    /// How values are spaced.
    pub scale: Scale,
}

/// How values are spaced along an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// Evenly.
    Linear,
    /// Percentiles (0–100) spaced by their "nines": 90, 99, 99.9 and 99.99
    /// are equally far apart, as in HdrHistogram percentile plots.
    Nines,
}

/// The marks in the plot area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Plot {
    /// Lines through points, one per series.
    Lines(Vec<Series>),
    /// One row per service, coloured by its health over time.
    Lanes(Vec<Lane>),
}

/// A named line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// Index into the chart palette (stable colours across charts).
    pub color: u8,
    /// In x order.
    pub points: Vec<Point>,
}

/// A point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal value (seconds, or a percentile for [`Scale::Nines`]).
    pub x: f64,
    /// Vertical value.
    pub y: f64,
}

/// One service's health over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    /// The service.
    pub name: String,
    /// Consecutive spans of one health state.
    pub spans: Vec<Span>,
}

/// A time span (seconds from the chart's origin) in one health state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Start.
    pub start: f64,
    /// End.
    pub end: f64,
    /// The state during the span.
    pub health: Health,
}

/// What a health probe said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    /// Answered healthy.
    Up,
    /// Answered unhealthy or did not answer.
    Down,
    /// Not probed.
    Unknown,
}

/// A vertical line at an x position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// Where.
    pub x: f64,
    /// Drawn beside the line.
    pub label: String,
    /// What happened there.
    pub kind: MarkerKind,
}

/// What a marker stands for (chooses its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkerKind {
    /// A fault was injected (restart, kill, DB taken away).
    Fault,
    /// Health came back.
    Recovered,
    /// Anything else.
    Note,
}

/// One point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentilePoint {
    /// Percentile, 0–100.
    pub percentile: f64,
    /// Latency at that percentile, milliseconds.
    pub ms: f64,
}

impl Chart {
    /// The x of every point of the series, or of every span edge of the
    /// lanes (markers not included).
    pub fn plotted_xs(&self) -> Vec<f64> {
        match &self.plot {
            Plot::Lines(series) => series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.x))
                .collect(),
            Plot::Lanes(lanes) => lanes
                .iter()
                .flat_map(|l| l.spans.iter().flat_map(|s| [s.start, s.end]))
                .collect(),
        }
    }

    /// Smallest and largest x of everything plotted, marked and shaded.
    pub fn x_extent(&self) -> Option<(f64, f64)> {
        let mut xs = self.plotted_xs();
        xs.extend(self.markers.iter().map(|m| m.x));
        xs.extend(self.bands.iter().flat_map(|b| [b.from, b.to]));
        extent(xs)
    }

    /// The band `x` is in: from its start up to its end (the last band
    /// also at its end).
    pub fn band_at(&self, x: f64) -> Option<&Band> {
        let last = self.bands.len().checked_sub(1);
        self.bands
            .iter()
            .enumerate()
            .find(|(i, b)| {
                b.from <= x + 1e-9 && (x < b.to - 1e-9 || (Some(*i) == last && x <= b.to + 1e-9))
            })
            .map(|(_, b)| b)
    }

    /// Smallest and largest y of the series (none for lanes).
    pub fn y_extent(&self) -> Option<(f64, f64)> {
        match &self.plot {
            Plot::Lines(series) => extent(
                series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.y))
                    .collect(),
            ),
            Plot::Lanes(_) => None,
        }
    }
}

fn extent(values: Vec<f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}
