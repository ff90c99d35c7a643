//! The load through the fault as charts: a chaos test's background load,
//! its p95 latency and its error rate over time, with the windows before,
//! during and after the fault shaded and the fault and recovery marked.
//! One builder for the live page (the seconds and moments the events
//! report while the test runs) and the reports (the result's slices and
//! windows, whose figures the bands carry).

use super::model::{
    Axis, Band, BandKind, Chart, Figure, Marker, MarkerKind, Plot, Point, Scale, Series,
};
use engine::metrics::windows::{LoadThroughFault, LoadWindow};
use engine::metrics::Window;

/// What the charts of a chaos test's background load are drawn from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultLoad {
    /// While it runs: each background load's seconds, in order.
    pub live: Vec<Vec<Window>>,
    /// The fault, in ms since the load started, once injected.
    pub fault_at_ms: Option<f64>,
    /// Recovery, in ms since the load started, once seen.
    pub recovered_at_ms: Option<f64>,
    /// Once the test has ended: its windows and slices.
    pub result: Option<LoadThroughFault>,
}

impl FaultLoad {
    /// The finished load of a result.
    pub fn from_result(load: &LoadThroughFault) -> FaultLoad {
        let mut out = FaultLoad::default();
        out.finish(load);
        out
    }

    /// Records a second of background load `load`, replacing an earlier
    /// report of the same second.
    pub fn put_window(&mut self, load: usize, window: Window) {
        if self.live.len() <= load {
            self.live.resize_with(load + 1, Vec::new);
        }
        let seconds = &mut self.live[load];
        match seconds.binary_search_by_key(&window.second, |w| w.second) {
            Ok(i) => seconds[i] = window,
            Err(i) => seconds.insert(i, window),
        }
    }

    /// Records the fault's moments as reported so far.
    pub fn set_times(&mut self, fault_at_ms: f64, recovered_at_ms: Option<f64>) {
        self.fault_at_ms = Some(fault_at_ms);
        if recovered_at_ms.is_some() {
            self.recovered_at_ms = recovered_at_ms;
        }
    }

    /// The test ended: its result replaces what was seen live.
    pub fn finish(&mut self, load: &LoadThroughFault) {
        self.fault_at_ms = Some(load.fault_at_ms);
        self.recovered_at_ms = load.recovered_at_ms;
        self.result = Some(load.clone());
    }
}

/// The result's load through the fault, for a chaos test that had one.
pub fn load_of(metrics: Option<&engine::metrics::TestMetrics>) -> Option<&LoadThroughFault> {
    match metrics? {
        engine::metrics::TestMetrics::Chaos(m) => m.load.as_deref(),
        _ => None,
    }
}

/// A point of the charts: its x in seconds, p95 in ms, error rate in %.
struct Sample {
    x: f64,
    p95_ms: Option<f64>,
    error_pct: Option<f64>,
}

const SECONDS: &str = "seconds since the background load started";

fn s(ms: f64) -> f64 {
    ms / 1000.0
}

/// Figures of a finished window: its p95, error rate and requests; only
/// its requests when none started in it.
fn figures(w: &LoadWindow) -> Vec<Figure> {
    let figure = |name: &str, value: f64, unit: &str| Figure {
        name: name.to_owned(),
        value,
        unit: unit.to_owned(),
    };
    let mut out = Vec::new();
    if let Some(p95) = w.measured(w.p95_ms) {
        out.push(figure("p95", p95, " ms"));
    }
    if let Some(rate) = w.measured(w.error_rate) {
        out.push(figure("error rate", rate * 100.0, "%"));
    }
    out.push(figure("requests", w.count as f64, ""));
    out
}

fn band(kind: BandKind, from: f64, to: f64, window: Option<&LoadWindow>) -> Band {
    let label = match kind {
        BandKind::Before => "before the fault",
        BandKind::During => "during the fault",
        BandKind::After => "after recovery",
    };
    Band {
        from,
        to: to.max(from),
        kind,
        label: label.to_owned(),
        figures: window.map(figures).unwrap_or_default(),
    }
}

/// The windows as bands and the fault and recovery as markers, the load
/// ending at `end_s`.
fn bands_and_markers(load: &FaultLoad, end_s: f64) -> (Vec<Band>, Vec<Marker>) {
    let (mut bands, mut markers) = (Vec::new(), Vec::new());
    let Some(fault) = load.fault_at_ms.map(s) else {
        // Before the fault everything so far is the baseline.
        if end_s > 0.0 {
            bands.push(band(BandKind::Before, 0.0, end_s, None));
        }
        return (bands, markers);
    };
    let windows = load.result.as_ref();
    let recovered = load.recovered_at_ms.map(s);
    let end_s = end_s.max(recovered.unwrap_or(fault)).max(fault);
    bands.push(band(
        BandKind::Before,
        0.0,
        fault,
        windows.map(|w| &w.before),
    ));
    bands.push(band(
        BandKind::During,
        fault,
        recovered.unwrap_or(end_s),
        windows.map(|w| &w.during),
    ));
    markers.push(Marker {
        x: fault,
        label: "fault injected".to_owned(),
        kind: MarkerKind::Fault,
    });
    if let Some(recovered) = recovered {
        bands.push(band(
            BandKind::After,
            recovered,
            end_s,
            windows.map(|w| &w.after),
        ));
        markers.push(Marker {
            x: recovered,
            label: format!("recovered after {:.1} s", recovered - fault),
            kind: MarkerKind::Recovered,
        });
    }
    (bands, markers)
}

/// The points of one line per background load: the result's slices (one
/// line) once the test ended, else each load's seconds, at their middles.
fn lines(load: &FaultLoad) -> (Vec<(String, Vec<Sample>)>, f64) {
    if let Some(result) = &load.result {
        let points = result
            .series
            .iter()
            .map(|slice| Sample {
                x: s((slice.from_ms + slice.to_ms) / 2.0),
                p95_ms: slice.p95_ms,
                error_pct: slice.error_rate().map(|r| r * 100.0),
            })
            .collect();
        return (vec![(String::new(), points)], s(result.end_ms));
    }
    let several = load.live.len() > 1;
    let mut end: f64 = 0.0;
    let lines = load
        .live
        .iter()
        .enumerate()
        .map(|(i, seconds)| {
            let name = if several {
                format!("load {} ", i + 1)
            } else {
                String::new()
            };
            let points = seconds
                .iter()
                .filter(|w| w.count > 0)
                .map(|w| {
                    end = end.max(f64::from(w.second) + 1.0);
                    Sample {
                        x: f64::from(w.second) + 0.5,
                        p95_ms: Some(w.p95_ms),
                        error_pct: Some(w.errors as f64 / w.count as f64 * 100.0),
                    }
                })
                .collect();
            (name, points)
        })
        .collect();
    (lines, end)
}

fn chart(title: String, y: &str, series: Vec<Series>, bands: &[Band], markers: &[Marker]) -> Chart {
    Chart {
        title,
        x: Axis {
            label: SECONDS.to_owned(),
            scale: Scale::Linear,
        },
        y: Axis {
            label: y.to_owned(),
            scale: Scale::Linear,
        },
        plot: Plot::Lines(series),
        markers: markers.to_vec(),
        bands: bands.to_vec(),
    }
}

/// The two charts of a chaos test's load through the fault: p95 latency
/// and error rate over time, each with the windows shaded and the fault
/// and recovery marked. Nothing before the load has measured a second.
pub fn fault_load_charts(id: &str, load: &FaultLoad) -> Vec<Chart> {
    let (lines, end_s) = lines(load);
    if lines.iter().all(|(_, points)| points.is_empty()) && load.fault_at_ms.is_none() {
        return Vec::new();
    }
    let (bands, markers) = bands_and_markers(load, end_s);
    let series = |what: &str, color: u8, y: fn(&Sample) -> Option<f64>| -> Vec<Series> {
        lines
            .iter()
            .enumerate()
            .map(|(i, (name, points))| Series {
                name: format!("{name}{what}"),
                color: color.wrapping_add(u8::try_from(i * 3).unwrap_or(0)),
                points: points
                    .iter()
                    .filter_map(|p| y(p).map(|y| Point { x: p.x, y }))
                    .collect(),
            })
            .collect()
    };
    let slices = if load.result.is_some() {
        "per slice"
    } else {
        "per second"
    };
    vec![
        chart(
            format!("{id} load through the fault: p95 latency {slices}"),
            "latency (ms)",
            series("p95", 1, |p| p.p95_ms),
            &bands,
            &markers,
        ),
        chart(
            format!("{id} load through the fault: error rate {slices}"),
            "error rate (%)",
            series("error rate", 2, |p| p.error_pct),
            &bands,
            &markers,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::metrics::windows::{LoadSlice, Phase};

    fn slice(from_ms: f64, to_ms: f64, phase: Phase, count: u64, fail: u64, p95: f64) -> LoadSlice {
        LoadSlice {
            from_ms,
            to_ms,
            phase,
            count,
            fail,
            p95_ms: (count > 0).then_some(p95),
        }
    }

    fn finished() -> LoadThroughFault {
        LoadThroughFault {
            fault_at_ms: 2000.0,
            recovered_at_ms: Some(2300.0),
            end_ms: 3000.0,
            before: LoadWindow {
                count: 40,
                p95_ms: 10.0,
                ..LoadWindow::default()
            },
            during: LoadWindow {
                count: 6,
                fail: 3,
                error_rate: 0.5,
                p95_ms: 41.5,
                ..LoadWindow::default()
            },
            after: LoadWindow {
                count: 14,
                p95_ms: 12.0,
                ..LoadWindow::default()
            },
            series: vec![
                slice(0.0, 1000.0, Phase::Before, 20, 0, 9.0),
                slice(1000.0, 2000.0, Phase::Before, 20, 0, 10.0),
                slice(2000.0, 2200.0, Phase::During, 3, 3, 2.0),
                slice(2200.0, 2300.0, Phase::During, 3, 0, 41.5),
                slice(2300.0, 3000.0, Phase::After, 14, 0, 12.0),
            ],
            ..LoadThroughFault::default()
        }
    }

    #[test]
    fn a_finished_load_shades_its_windows_marks_the_fault_and_reads_each_window() {
        let charts = fault_load_charts("C1", &FaultLoad::from_result(&finished()));
        assert_eq!(charts.len(), 2);
        let latency = &charts[0];
        let kinds: Vec<(&str, f64, f64)> = latency
            .bands
            .iter()
            .map(|b| (b.kind.as_str(), b.from, b.to))
            .collect();
        assert_eq!(
            kinds,
            [
                ("before", 0.0, 2.0),
                ("during", 2.0, 2.3),
                ("after", 2.3, 3.0)
            ]
        );
        let marks: Vec<(MarkerKind, f64)> = latency.markers.iter().map(|m| (m.kind, m.x)).collect();
        assert_eq!(
            marks,
            [(MarkerKind::Fault, 2.0), (MarkerKind::Recovered, 2.3)]
        );
        // The short window keeps points of its own: no everything-at-0.
        assert_eq!(latency.stops(), vec![0.5, 1.5, 2.1, 2.25, 2.65]);
        // The keyboard readout names the window and gives its own p95.
        let at_fault = latency.step(Some(1.5), true).unwrap();
        assert_eq!(
            latency.readout(at_fault).unwrap().1,
            "2.10 s: p95 2 ms · during the fault (window: p95 41.5 ms · error rate 50% · requests 6)"
        );
        assert_eq!(
            latency.readout(0.4).unwrap().1,
            "0.50 s: p95 9 ms · before the fault (window: p95 10 ms · error rate 0% · requests 40)"
        );
        let errors = &charts[1];
        assert_eq!(
            errors.readout(2.6).unwrap().1.split(" · ").next(),
            Some("2.65 s: error rate 0%")
        );
        assert_eq!(
            errors.readout(2.1).unwrap().1.split(" · ").next(),
            Some("2.10 s: error rate 100%")
        );
    }

    #[test]
    fn the_live_page_folds_the_load_events_of_its_chaos_test() {
        use engine::events::{ProgressEvent, TestHeader};
        use engine::run_event::RunEvent;
        let header = TestHeader {
            index: 0,
            id: "C1".into(),
            title: "Worker restart".into(),
            kind: "chaos".into(),
            planned: None,
            duration_s: None,
        };
        let events = [
            ProgressEvent::RunStarted {
                run_id: "r".into(),
                plan: "p".into(),
                environment: "e".into(),
                tests: vec![header.clone()],
            },
            ProgressEvent::TestStarted { test: header },
            ProgressEvent::LoadWindow {
                test_id: "C1".into(),
                load: 0,
                window: Window {
                    second: 0,
                    count: 10,
                    p95_ms: 7.0,
                    ..Window::default()
                },
                done: 10,
                failed: 0,
            },
            ProgressEvent::FaultTimes {
                test_id: "C1".into(),
                fault_at_ms: 1200.0,
                recovered_at_ms: None,
            },
            ProgressEvent::FaultTimes {
                test_id: "C1".into(),
                fault_at_ms: 1200.0,
                recovered_at_ms: Some(1900.0),
            },
        ];
        let stored: Vec<_> = (1..)
            .zip(events)
            .map(|(seq, e)| RunEvent::Progress(e).stored(seq, 1_000 + seq))
            .collect();
        let live = crate::live::LiveRun::from_events(&stored);
        let load = live.tests[0].fault_load.as_ref().expect("C1's load");
        assert_eq!(load.live[0].len(), 1);
        assert_eq!(
            (load.fault_at_ms, load.recovered_at_ms),
            (Some(1200.0), Some(1900.0))
        );
        assert!(load.result.is_none());
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn the_report_svg_shades_the_windows_and_labels_the_markers() {
        let charts = fault_load_charts("C1", &FaultLoad::from_result(&finished()));
        let svg = crate::charts::render_svg(&charts[0]);
        assert!(svg.contains("fault injected"), "{svg}");
        assert!(svg.contains("recovered after 0.3 s"), "{svg}");
        for name in ["before", "during", "after"] {
            assert!(svg.contains(name), "{name}: {svg}");
        }
        // Three fills plus the plot's background.
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
    }

    #[test]
    fn live_seconds_and_moments_draw_before_the_result_exists() {
        let mut load = FaultLoad::default();
        let second = |second: u32, errors: u64| Window {
            second,
            count: 10,
            errors,
            p95_ms: 5.0 + f64::from(second),
            ..Window::default()
        };
        load.put_window(0, second(0, 0));
        load.put_window(0, second(1, 0));
        let charts = fault_load_charts("C1", &load);
        assert_eq!(charts[0].bands.len(), 1, "only the baseline so far");
        assert!(charts[0].markers.is_empty());
        load.set_times(1500.0, None);
        load.put_window(0, second(2, 5));
        // A second reported again replaces the first report.
        load.put_window(0, second(2, 4));
        let charts = fault_load_charts("C1", &load);
        let bands: Vec<(&str, f64, f64)> = charts[0]
            .bands
            .iter()
            .map(|b| (b.kind.as_str(), b.from, b.to))
            .collect();
        assert_eq!(bands, [("before", 0.0, 1.5), ("during", 1.5, 3.0)]);
        assert!(charts[0].bands.iter().all(|b| b.figures.is_empty()));
        assert_eq!(
            charts[1].readout(2.5).unwrap().1,
            "2.50 s: error rate 40% · during the fault"
        );
        load.set_times(1500.0, Some(2200.0));
        let charts = fault_load_charts("C1", &load);
        assert_eq!(charts[0].markers.len(), 2);
        assert_eq!(charts[0].bands[2].kind, BandKind::After);
        // Two loads: a line each.
        load.put_window(1, second(0, 0));
        let charts = fault_load_charts("C1", &load);
        assert_eq!(
            charts[0]
                .legend()
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["load 1 p95", "load 2 p95"]
        );
        // Nothing measured and no fault yet: no chart.
        assert!(fault_load_charts("C1", &FaultLoad::default()).is_empty());
    }
}
