//! Charts drawn by one code path for both renderers: inline SVG on the server
//! (reports, server-rendered pages) and a `<canvas>` in the browser (live
//! run page).
//!
//! [`model`] holds the data a chart shows (series of points, health lanes,
//! fault markers, shaded windows) and is plain serde data, so a server
//! function can hand a [`Chart`] to the browser. [`build`] turns run
//! results into charts; [`fault_load`] builds the charts of a chaos test's
//! load through the fault, live and from results.
//! [`draw::draw`] paints a chart on any plotters `DrawingBackend`;
//! [`render_svg`] (feature `ssr`) and [`draw_canvas`] (feature `hydrate`) pick
//! the backend. [`interact`] turns pointer positions and keys into values
//! read from the model (hover readout, legend toggles).

pub mod build;
pub mod draw;
pub mod fault_load;
pub mod interact;
pub mod model;

pub use build::{
    fault_bands, fault_lanes, latency_distribution, latency_over_time, recovery_timeline,
    result_charts, results_json_charts, throughput_over_time,
};
pub use draw::ChartError;
pub use fault_load::{fault_load_charts, FaultLoad};
pub use interact::{Frame, LegendEntry};
pub use model::{
    Axis, Band, BandKind, Chart, Figure, Health, Lane, Marker, MarkerKind, PercentilePoint, Plot,
    Point, Scale, Series, Span,
};

/// Width of a chart rendered as SVG, in pixels (SVG scales with the page).
pub const SVG_WIDTH: u32 = 760;
/// Height of a chart rendered as SVG, in pixels.
pub const SVG_HEIGHT: u32 = 300;

/// The chart as an SVG document string of the default size.
///
/// Never fails: when drawing fails, the SVG says so in words, so a report is
/// still written.
#[cfg(feature = "ssr")]
pub fn render_svg(chart: &Chart) -> String {
    match try_render_svg(chart, SVG_WIDTH, SVG_HEIGHT) {
        Ok(svg) => svg,
        Err(e) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{SVG_WIDTH}\" height=\"40\"><text x=\"4\" y=\"24\">{}: {}</text></svg>",
            escape_xml(&chart.title),
            escape_xml(&e.to_string())
        ),
    }
}

/// The chart as an SVG document string of the given size in pixels.
#[cfg(feature = "ssr")]
pub fn try_render_svg(chart: &Chart, width: u32, height: u32) -> Result<String, ChartError> {
    use plotters::prelude::*;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw::draw(&root, chart)?;
        root.present().map_err(ChartError::from_drawing)?;
    }
    Ok(out)
}

/// Draws the chart on the `<canvas>` element with this id, at the canvas'
/// own size, and tells where the plot area is on it (for the readout).
#[cfg(feature = "hydrate")]
pub fn draw_canvas(canvas_id: &str, chart: &Chart) -> Result<Frame, ChartError> {
    use plotters::prelude::*;
    let backend = plotters_canvas::CanvasBackend::new(canvas_id)
        .ok_or_else(|| ChartError::NoCanvas(canvas_id.to_owned()))?;
    let root = backend.into_drawing_area();
    let frame = draw::draw(&root, chart)?;
    root.present().map_err(ChartError::from_drawing)?;
    Ok(frame)
}

#[cfg(feature = "ssr")]
fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use engine::metrics::Window;

    fn windows() -> Vec<Window> {
        (0..5)
            .map(|s| Window {
                second: s,
                count: 100 + u64::from(s),
                errors: u64::from(s % 2),
                p50_ms: 10.0 + f64::from(s),
                p95_ms: 20.0 + f64::from(s),
                p99_ms: 30.0 + f64::from(s),
                max_ms: 40.0,
                workers: None,
            })
            .collect()
    }

    #[test]
    fn latency_chart_renders_three_series_with_title() {
        let svg = render_svg(&latency_over_time("L1 latency", &windows()));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("L1 latency"));
        assert!(svg.contains("p50") && svg.contains("p95") && svg.contains("p99"));
        assert!(svg.matches("<polyline").count() >= 3, "{svg}");
    }

    #[test]
    fn throughput_and_distribution_render() {
        let svg = render_svg(&throughput_over_time("L1 throughput", &windows()));
        assert!(svg.contains("errors/s"));
        let pts = [
            PercentilePoint {
                percentile: 50.0,
                ms: 10.0,
            },
            PercentilePoint {
                percentile: 99.0,
                ms: 30.0,
            },
            PercentilePoint {
                percentile: 99.9,
                ms: 35.0,
            },
            PercentilePoint {
                percentile: 100.0,
                ms: 40.0,
            },
        ];
        let svg = render_svg(&latency_distribution("L1 distribution", &pts));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("99%"), "{svg}");
    }

    #[test]
    fn recovery_timeline_shows_lanes_and_fault_marker() {
        let lanes = vec![Lane {
            name: "worker".into(),
            spans: vec![
                Span {
                    start: 0.0,
                    end: 2.0,
                    health: Health::Up,
                },
                Span {
                    start: 2.0,
                    end: 3.5,
                    health: Health::Down,
                },
                Span {
                    start: 3.5,
                    end: 6.0,
                    health: Health::Up,
                },
            ],
        }];
        let markers = vec![
            Marker {
                x: 2.0,
                label: "restart worker".into(),
                kind: MarkerKind::Fault,
            },
            Marker {
                x: 3.5,
                label: "recovered in 1.5 s".into(),
                kind: MarkerKind::Recovered,
            },
        ];
        let svg = render_svg(&recovery_timeline("C1 recovery", lanes, markers));
        assert!(svg.contains("worker"));
        assert!(svg.contains("restart worker"));
        assert!(svg.contains("recovered in 1.5 s"));
        assert!(svg.matches("<rect").count() >= 3);
    }

    #[test]
    fn empty_chart_still_renders() {
        let svg = render_svg(&latency_over_time("nothing", &[]));
        assert!(svg.starts_with("<svg"));
    }
}
