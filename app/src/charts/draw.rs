//! Paints a [`Chart`] on any plotters `DrawingBackend`: the SVG backend on
//! the server and the canvas backend in the browser share this code.

use super::interact::Frame;
use super::model::{BandKind, Chart, Health, MarkerKind, Plot, Scale};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The backend refused a drawing operation.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// No `<canvas>` element has this id.
    #[error("no canvas element with id `{0}`")]
    NoCanvas(String),
}

impl ChartError {
    /// Wraps a backend error (its type depends on the backend).
    pub fn from_drawing<E: std::fmt::Display>(e: E) -> ChartError {
        ChartError::Draw(e.to_string())
    }
}

/// Line colours, picked by [`super::Series::color`] modulo their count.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
/// A palette colour as CSS, for legends drawn in HTML.
pub fn palette_css(index: u8) -> String {
    let RGBColor(r, g, b) = PALETTE[usize::from(index) % PALETTE.len()];
    format!("rgb({r}, {g}, {b})")
}

const UP: RGBColor = RGBColor(76, 175, 80);
const DOWN: RGBColor = RGBColor(229, 57, 53);
const UNKNOWN: RGBColor = RGBColor(189, 189, 189);
const FAULT: RGBColor = RGBColor(198, 40, 40);
const RECOVERED: RGBColor = RGBColor(46, 125, 50);
const NOTE: RGBColor = RGBColor(97, 97, 97);
/// Fills of the windows before, during and after a fault, and their
/// labels' colours.
const BEFORE_FILL: RGBColor = RGBColor(227, 238, 250);
const DURING_FILL: RGBColor = RGBColor(253, 221, 221);
const AFTER_FILL: RGBColor = RGBColor(226, 243, 227);
const BEFORE_TEXT: RGBColor = RGBColor(21, 101, 192);
const DURING_TEXT: RGBColor = RGBColor(183, 28, 28);
const AFTER_TEXT: RGBColor = RGBColor(27, 94, 32);
/// Narrowest a band is drawn, as a share of the x axis, so a window of a
/// few milliseconds still shows.
const MIN_BAND_SHARE: f64 = 0.006;
const FONT: &str = "sans-serif";

/// Largest percentile drawn on a [`Scale::Nines`] axis (100 itself is at
/// infinity there).
const MAX_PERCENTILE: f64 = 99.9999;

/// Percentile (0–100) to its position on a nines axis.
fn nines(percentile: f64) -> f64 {
    let p = percentile.clamp(0.0, MAX_PERCENTILE) / 100.0;
    -(1.0 - p).log10()
}

/// Position on a nines axis back to its percentile, as a tick label.
fn nines_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{p:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// Where a nines axis ends: one nine past the highest percentile below
/// 100, so the 100th (the slowest, at infinity on this scale) is drawn at
/// the right edge instead of stretching the axis to six nines.
fn nines_end(chart: &Chart) -> f64 {
    let below_100 = chart
        .plotted_xs()
        .into_iter()
        .filter(|x| x.is_finite() && *x < 100.0)
        .fold(0.0, f64::max);
    (nines(below_100).floor() + 1.0).clamp(1.0, nines(MAX_PERCENTILE).ceil())
}

/// A value to its position along an axis of this scale.
pub(super) fn to_x(scale: Scale, x: f64) -> f64 {
    match scale {
        Scale::Linear => x,
        Scale::Nines => nines(x),
    }
}

/// A position along an axis of this scale back to its value.
pub(super) fn from_x(scale: Scale, pos: f64) -> f64 {
    match scale {
        Scale::Linear => pos,
        Scale::Nines => 100.0 * (1.0 - 10f64.powf(-pos)),
    }
}

/// Draws `chart` filling `area` (white background, caption, mesh, legend)
/// and tells where its plot area ended up.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<Frame, ChartError> {
    area.fill(&WHITE).map_err(ChartError::from_drawing)?;
    let scale = chart.x.scale;
    let (x0, x1) = match chart.x_extent() {
        Some((lo, hi)) => (to_x(scale, lo), to_x(scale, hi)),
        None => (0.0, 1.0),
    };
    let (x0, x1) = match scale {
        Scale::Nines => (0.0, nines_end(chart)),
        Scale::Linear if x1 <= x0 => (x0, x0 + 1.0),
        Scale::Linear => (x0, x1),
    };
    match &chart.plot {
        Plot::Lines(series) => draw_lines(area, chart, series, (x0, x1)),
        Plot::Lanes(lanes) => draw_lanes(area, chart, lanes, (x0, x1)),
    }
}

fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[super::model::Series],
    (x0, x1): (f64, f64),
) -> Result<Frame, ChartError> {
    let scale = chart.x.scale;
    let y1 = chart.y_extent().map_or(1.0, |(_, hi)| hi).max(1e-3) * 1.1;
    let mut cc = ChartBuilder::on(area)
        .caption(&chart.title, (FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, 0.0..y1)
        .map_err(ChartError::from_drawing)?;
    let x_format = move |v: &f64| match scale {
        Scale::Linear => format_number(*v),
        Scale::Nines => nines_label(*v),
    };
    let mut mesh = cc.configure_mesh();
    mesh.x_desc(chart.x.label.as_str())
        .y_desc(chart.y.label.as_str())
        .x_label_formatter(&x_format)
        .y_label_formatter(&|v: &f64| format_number(*v))
        .light_line_style(RGBColor(235, 235, 235));
    if scale == Scale::Nines {
        mesh.x_labels((x1 - x0) as usize + 1);
    }
    mesh.draw().map_err(ChartError::from_drawing)?;
    draw_bands(&mut cc, chart, (x0, x1), y1)?;

    for s in series {
        let color = PALETTE[usize::from(s.color) % PALETTE.len()];
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .map(|p| (to_x(scale, p.x).min(x1), p.y))
            .collect();
        // A dot on each point, so a series of one second still shows.
        cc.draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 2, color.filled())),
        )
        .map_err(ChartError::from_drawing)?;
        cc.draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(ChartError::from_drawing)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    draw_markers(&mut cc, chart, (0.0, y1), |i| {
        // Stagger labels so neighbouring markers stay readable.
        y1 - y1 * (0.04 + 0.07 * (i % LABEL_ROWS) as f64)
    })?;
    if !series.is_empty() {
        cc.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()
            .map_err(ChartError::from_drawing)?;
    }
    Ok(frame(&cc, scale, (x0, x1)))
}

/// Shades each band of `chart` from the x axis to `y1`, at least
/// [`MIN_BAND_SHARE`] of the axis wide, its name at the bottom.
fn draw_bands<DB: DrawingBackend>(
    cc: &mut ChartContext<'_, DB, Plane>,
    chart: &Chart,
    (x0, x1): (f64, f64),
    y1: f64,
) -> Result<(), ChartError> {
    let scale = chart.x.scale;
    let min_width = (x1 - x0) * MIN_BAND_SHARE;
    for band in &chart.bands {
        let (fill, text) = match band.kind {
            BandKind::Before => (BEFORE_FILL, BEFORE_TEXT),
            BandKind::During => (DURING_FILL, DURING_TEXT),
            BandKind::After => (AFTER_FILL, AFTER_TEXT),
        };
        let from = to_x(scale, band.from).clamp(x0, x1);
        let to = to_x(scale, band.to).clamp(x0, x1).max(from + min_width);
        cc.draw_series(std::iter::once(Rectangle::new(
            [(from, 0.0), (to, y1)],
            fill.filled(),
        )))
        .map_err(ChartError::from_drawing)?;
        let font = (FONT, 11)
            .into_font()
            .color(&text)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        // A short window's label sits a row up, clear of the next one's.
        let row = if band.kind == BandKind::During {
            0.09
        } else {
            0.01
        };
        cc.draw_series(std::iter::once(Text::new(
            format!(" {}", band.kind.as_str()),
            (from, y1 * row),
            font,
        )))
        .map_err(ChartError::from_drawing)?;
    }
    Ok(())
}

/// Height of one row of marker labels, in pixels.
const LABEL_ROW_PX: f64 = 16.0;
/// Marker labels are staggered over this many rows.
const LABEL_ROWS: usize = 3;

fn draw_lanes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    lanes: &[super::model::Lane],
    (x0, x1): (f64, f64),
) -> Result<Frame, ChartError> {
    let rows = lanes.len().max(1) as f64;
    // Marker labels get a band of their own above the lanes, and service
    // names sit left of the plot: neither is drawn over the other.
    let label_rows = chart.markers.len().min(LABEL_ROWS);
    let band = label_band(rows, label_rows, area.dim_in_pixel().1);
    let top = rows + band;
    let names_px = lane_names_width(lanes);
    let mut cc = ChartBuilder::on(area)
        .caption(&chart.title, (FONT, 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(names_px)
        .build_cartesian_2d(x0..x1, 0.0..top)
        .map_err(ChartError::from_drawing)?;
    cc.configure_mesh()
        .x_desc(chart.x.label.as_str())
        .x_label_formatter(&|v: &f64| format_number(*v))
        .y_labels(0)
        .disable_y_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(ChartError::from_drawing)?;
    // Network faults' windows behind the lanes they acted on.
    draw_bands(&mut cc, chart, (x0, x1), rows)?;
    let (base_x, base_y) = area.get_base_pixel();
    for (i, lane) in lanes.iter().enumerate() {
        // First lane on top.
        let base = rows - 1.0 - i as f64;
        cc.draw_series(lane.spans.iter().map(|s| {
            let color = match s.health {
                Health::Up => UP,
                Health::Down => DOWN,
                Health::Unknown => UNKNOWN,
            };
            Rectangle::new(
                [(s.start, base + 0.15), (s.end, base + 0.6)],
                color.filled(),
            )
        }))
        .map_err(ChartError::from_drawing)?;
        // The name left of the plot, level with its lane.
        let (px, py) = cc.backend_coord(&(x0, base + 0.375));
        let at = (
            px - base_x - i32::try_from(names_px).unwrap_or(0) + 4,
            py - base_y - 7,
        );
        area.draw(&Text::new(
            lane.name.clone(),
            at,
            (FONT, 13).into_font().color(&BLACK),
        ))
        .map_err(ChartError::from_drawing)?;
    }
    let row = if label_rows == 0 {
        0.0
    } else {
        band / label_rows as f64
    };
    draw_markers(&mut cc, chart, (0.0, top), |i| {
        top - row * (i % LABEL_ROWS) as f64
    })?;
    Ok(frame(&cc, chart.x.scale, (x0, x1)))
}

/// Height, in lane units, of the band above `rows` lanes that holds
/// `label_rows` rows of marker labels on a drawing `height_px` tall.
pub(super) fn label_band(rows: f64, label_rows: usize, height_px: u32) -> f64 {
    if label_rows == 0 {
        return 0.0;
    }
    // Caption, x axis and margins take about 90 px.
    let plot_px = (f64::from(height_px) - 90.0).max(60.0);
    let band_px = (LABEL_ROW_PX * label_rows as f64).min(plot_px / 2.0);
    rows * band_px / (plot_px - band_px)
}

/// Pixels left of the plot for the longest service name.
fn lane_names_width(lanes: &[super::model::Lane]) -> u32 {
    let longest = lanes
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    u32::try_from(longest * 8 + 12)
        .unwrap_or(160)
        .clamp(40, 160)
}

type Plane =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// Where a chart context's plot area is on the drawing.
fn frame<DB: DrawingBackend>(
    cc: &ChartContext<'_, DB, Plane>,
    scale: Scale,
    (x0, x1): (f64, f64),
) -> Frame {
    let (xs, _) = cc.plotting_area().get_pixel_range();
    Frame {
        left_px: f64::from(xs.start),
        right_px: f64::from(xs.end),
        x0,
        x1,
        scale,
    }
}

/// Draws each marker as a vertical line from `y0` to `y1`, its label at the
/// height `label_y` gives for its position in the list.
fn draw_markers<DB: DrawingBackend>(
    cc: &mut ChartContext<'_, DB, Plane>,
    chart: &Chart,
    (y0, y1): (f64, f64),
    label_y: impl Fn(usize) -> f64,
) -> Result<(), ChartError> {
    let scale = chart.x.scale;
    let (x0, x1) = {
        let range = cc.x_range();
        (range.start, range.end)
    };
    for (i, m) in chart.markers.iter().enumerate() {
        let color = match m.kind {
            MarkerKind::Fault => FAULT,
            MarkerKind::Recovered => RECOVERED,
            MarkerKind::Note => NOTE,
        };
        let x = to_x(scale, m.x);
        cc.draw_series(std::iter::once(PathElement::new(
            vec![(x, y0), (x, y1)],
            color.stroke_width(2),
        )))
        .map_err(ChartError::from_drawing)?;
        let y = label_y(i);
        // Right of its line, or left of it in the plot's right half, so
        // the label stays inside the chart.
        let (label, anchor) = if x > (x0 + x1) / 2.0 {
            (format!("{} ", m.label), HPos::Right)
        } else {
            (format!(" {}", m.label), HPos::Left)
        };
        let font = (FONT, 12)
            .into_font()
            .color(&color)
            .pos(Pos::new(anchor, VPos::Top));
        cc.draw_series(std::iter::once(Text::new(label, (x, y), font)))
            .map_err(ChartError::from_drawing)?;
    }
    Ok(())
}

/// A tick label: integers without decimals, small values with a few.
pub fn format_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_round_trips_percentiles() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(0.0), "0%");
        assert!(nines(100.0).is_finite());
    }

    #[test]
    fn a_nines_axis_ends_one_nine_past_the_last_percentile_below_100() {
        let points = |ps: &[f64]| {
            let pts: Vec<_> = ps
                .iter()
                .map(|&percentile| super::super::PercentilePoint {
                    percentile,
                    ms: 1.0,
                })
                .collect();
            super::super::latency_distribution("d", &pts)
        };
        // 99.9 is three nines: the axis ends at four, 100 drawn there.
        assert_eq!(nines_end(&points(&[50.0, 99.9, 100.0])), 4.0);
        assert_eq!(nines_end(&points(&[50.0, 100.0])), 1.0);
        assert_eq!(nines_end(&points(&[99.0, 99.99999])), 6.0);
    }

    #[test]
    fn marker_labels_get_a_band_above_the_lanes() {
        assert_eq!(label_band(3.0, 0, 300), 0.0);
        // 300 px: a 210 px plot; three label rows take 48 px of it.
        let band = label_band(3.0, 3, 300);
        assert!((band - 3.0 * 48.0 / 162.0).abs() < 1e-9, "{band}");
        // The labels' share of the plot is their pixels' share.
        let share = band / (3.0 + band);
        assert!((share - 48.0 / 210.0).abs() < 1e-9, "{share}");
    }
}
