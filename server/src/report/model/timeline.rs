//! The run's timeline: when each test started and ended, from the times
//! the results recorded (seconds from the run's start), which tests it
//! overlapped with, and a bar drawn to scale, so tests that ran together
//! (`alongside`) show as overlapping bars and a sequence as a staircase.

use engine::results::RunResults;
use serde::Serialize;

/// The column headings of the timeline's table.
pub const COLUMNS: &[&str] = &[
    "Test", "Kind", "Start", "End", "Duration", "Ran with", "Timeline",
];

/// Characters of a bar spanning the whole run.
const BAR_WIDTH: usize = 40;

/// One test on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    /// The test's id.
    pub test: String,
    /// Its kind (`http_load`, `chaos`, ...).
    pub kind: String,
    /// Seconds from the run's start to the test's.
    pub start_s: f64,
    /// Seconds from the run's start to the test's end.
    pub end_s: f64,
    /// The tests whose recorded times overlap this one's, in plan order.
    pub ran_with: Vec<String>,
    /// The test's time as a bar across the run: `█` while it ran, `·`
    /// before and after.
    pub bar: String,
}

/// Every test that ran, in plan order.
pub fn timeline(results: &RunResults) -> Vec<TimelineRow> {
    let origin = results.started_at_ms;
    let end = results
        .tests
        .iter()
        .map(|t| t.finished_at_ms)
        .chain([results.finished_at_ms])
        .max()
        .unwrap_or(origin);
    let span_ms = (end - origin).max(1) as f64;
    results
        .tests
        .iter()
        .map(|t| {
            let ran_with = results
                .tests
                .iter()
                .filter(|o| {
                    o.id != t.id
                        && o.started_at_ms < t.finished_at_ms
                        && t.started_at_ms < o.finished_at_ms
                })
                .map(|o| o.id.clone())
                .collect();
            let from = (t.started_at_ms - origin) as f64 / span_ms;
            let to = (t.finished_at_ms - origin) as f64 / span_ms;
            TimelineRow {
                test: t.id.clone(),
                kind: t.kind.clone(),
                start_s: (t.started_at_ms - origin) as f64 / 1000.0,
                end_s: (t.finished_at_ms - origin) as f64 / 1000.0,
                ran_with,
                bar: bar(from, to),
            }
        })
        .collect()
}

/// A bar of [`BAR_WIDTH`] characters, full from `from` to `to` (fractions
/// of the run), at least one character long.
fn bar(from: f64, to: f64) -> String {
    let scale = |f: f64| (f.clamp(0.0, 1.0) * BAR_WIDTH as f64) as usize;
    let first = scale(from).min(BAR_WIDTH - 1);
    let last = (to.clamp(0.0, 1.0) * BAR_WIDTH as f64).ceil() as usize;
    let last = last.clamp(first + 1, BAR_WIDTH);
    (0..BAR_WIDTH)
        .map(|i| {
            if (first..last).contains(&i) {
                '█'
            } else {
                '·'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(tests: &[(&str, i64, i64)]) -> RunResults {
        let mut value = serde_json::json!({
            "schema_version": engine::results::SCHEMA_VERSION, "tool": {"name": "shakedown", "version": "0"},
            "run_id": "r", "plan": {"name": "p", "file": "p.toml", "sha256": "0"},
            "environment": {"name": "e", "base_url": "http://127.0.0.1:1"},
            "status": "finished", "started_at_ms": 1000, "finished_at_ms": 11000,
            "started_at": "", "finished_at": "", "tests": [], "criteria": []
        });
        value["tests"] = tests
            .iter()
            .map(|(id, start, end)| {
                serde_json::json!({
                    "id": id, "title": id, "kind": "http_load", "status": "PASS",
                    "started_at_ms": start, "finished_at_ms": end, "parameters": {}
                })
            })
            .collect();
        serde_json::from_value(value).expect("results")
    }

    #[test]
    fn overlapping_tests_name_each_other_and_a_sequence_does_not() {
        // A and B together from 0 s (B ends first), then C as A ends.
        let rows = timeline(&results(&[
            ("A", 1000, 6000),
            ("B", 1000, 4000),
            ("C", 6000, 11000),
        ]));
        let with: Vec<(&str, Vec<String>)> = rows
            .iter()
            .map(|r| (r.test.as_str(), r.ran_with.clone()))
            .collect();
        assert_eq!(
            with,
            [
                ("A", vec!["B".to_owned()]),
                ("B", vec!["A".to_owned()]),
                ("C", vec![]),
            ]
        );
        assert_eq!((rows[0].start_s, rows[0].end_s), (0.0, 5.0));
        assert_eq!(rows[0].bar, format!("{}{}", "█".repeat(20), "·".repeat(20)));
        assert_eq!(rows[1].bar, format!("{}{}", "█".repeat(12), "·".repeat(28)));
        assert_eq!(rows[2].bar, format!("{}{}", "·".repeat(20), "█".repeat(20)));
    }

    #[test]
    fn an_instant_test_still_shows() {
        let rows = timeline(&results(&[("A", 11000, 11000)]));
        assert_eq!(rows[0].bar.chars().filter(|c| *c == '█').count(), 1);
        assert!(rows[0].ran_with.is_empty());
    }

    #[test]
    fn both_renderings_show_who_ran_together() {
        let run = results(&[("A", 1000, 6000), ("B", 1000, 4000), ("C", 6000, 11000)]);
        let report = crate::report::model::Report::build(&run, None, Vec::new());
        let md = crate::report::markdown::render(&report);
        assert!(md.contains("## Timeline"), "{md}");
        assert!(
            md.contains(&format!(
                "| A | http\\_load | 0.0 s | 5.0 s | 5.0 s | B | `{}{}` |",
                "█".repeat(20),
                "·".repeat(20)
            )),
            "{md}"
        );
        assert!(
            md.contains("| C | http\\_load | 5.0 s | 10.0 s | 5.0 s | — |"),
            "{md}"
        );
        let html = crate::report::html::render(&report);
        assert!(html.contains("<h2 id=\"timeline\">Timeline</h2>"), "{html}");
        assert!(
            html.contains(
                "<td>B</td><td>http_load</td><td>0.0 s</td><td>3.0 s</td><td>3.0 s</td><td>A</td>"
            ),
            "{html}"
        );
    }
}
