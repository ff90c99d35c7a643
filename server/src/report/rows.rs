//! The rows of the report's tables, written once for every format: a
//! [`Cells`] implementation says how each kind of cell text is written in
//! its format (escaped, bold, as code, as a badge), and the functions here
//! say which cells each row of each table holds.

use super::model::{load_through_fault::LoadFaultTable, Report, Row};
use super::sections::Section;

/// How a format writes the text of a table cell.
pub trait Cells {
    /// Text from a plan or a target, escaped so it cannot add markup.
    fn text(&self, s: &str) -> String;
    /// Text the report wrote itself (an id, a time, a category, a state).
    fn own(&self, s: &str) -> String;
    /// A setting's or a metric's value, which may carry inline-code or bold
    /// marks.
    fn value(&self, s: &str) -> String;
    /// Text the report wrote itself, as code (a digest).
    fn code(&self, s: &str) -> String;
    /// A target's text (a deployment or process identity) as code.
    fn target_code(&self, s: &str) -> String;
    /// A timeline bar.
    fn bar(&self, s: &str) -> String;
    /// A cell already written, in bold.
    fn strong(&self, cell: String) -> String;
    /// Target text that must stand out (a lost agent's state).
    fn alarm(&self, s: &str) -> String;
    /// Target text written as a warning (an override reason).
    fn warning(&self, s: &str) -> String;
    /// A latency in milliseconds, or a dash.
    fn ms(&self, v: Option<f64>) -> String;
    /// A check that held or not.
    fn pass(&self, passed: bool) -> String;
    /// A test's status word (PASS, FAIL, ERROR, ABORTED).
    fn status(&self, word: &str) -> String;
    /// A sign-off's GO or NO-GO.
    fn decision(&self, word: &str) -> String;
    /// A criteria group's outcome (PASS, FAIL, WARN, …).
    fn outcome(&self, word: &str) -> String;
}

/// The rows of `section`'s table in `c`'s format, or `None` for a section
/// that has no such table (the header, the tests, the checklist, the
/// differences, the files, the footer, and the load through the fault,
/// which has one table per test: [`load_through_fault`]).
pub fn of<C: Cells>(c: &C, section: Section, r: &Report) -> Option<Vec<Vec<String>>> {
    Some(match section {
        Section::Summary => summary(c, r),
        Section::Anomalies => anomalies(c, r),
        Section::Environment => pairs(c, &r.environment),
        Section::Timeline => timeline(c, r),
        Section::Integrity => integrity(c, r),
        Section::Dependencies => r
            .dependencies
            .iter()
            .map(|d| {
                [&d.test, &d.name, &d.status, &d.latency]
                    .map(|s| c.text(s))
                    .into()
            })
            .collect(),
        Section::Performance => performance(c, r),
        Section::Totals => totals(c, r),
        Section::Restarts => restarts(c, r),
        Section::FailureClasses => r
            .failures_by_class
            .iter()
            .map(|(class, n)| vec![c.own(class), n.to_string()])
            .collect(),
        Section::Agents => r
            .agents
            .iter()
            .map(|a| a.cells_in(|s| c.text(s), |s| c.alarm(s)))
            .collect(),
        Section::SignOff => signoffs(c, r),
        Section::Header
        | Section::Tests
        | Section::LoadThroughFault
        | Section::Criteria
        | Section::Differences
        | Section::Files
        | Section::Footer => return None,
    })
}

/// `(label, value)` rows: the label as text, the value as a value.
pub fn pairs<C: Cells>(c: &C, rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|(k, v)| vec![c.text(k), c.value(v)])
        .collect()
}

/// One chaos test's background load before, during and after the fault.
pub fn load_through_fault<C: Cells>(c: &C, t: &LoadFaultTable) -> Vec<Vec<String>> {
    t.rows
        .iter()
        .map(|row| row.iter().map(|v| c.text(v)).collect())
        .collect()
}

fn summary<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.summary
        .iter()
        .map(|s| {
            let result = c.strong(c.own(&s.result));
            vec![
                c.text(&s.group),
                format!("{result} {}", c.outcome(&s.outcome)),
                c.text(&s.notes),
            ]
        })
        .collect()
}

fn anomalies<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.anomalies
        .iter()
        .map(|a| {
            vec![
                c.text(&a.service),
                a.test
                    .as_deref()
                    .map_or_else(|| "—".to_owned(), |t| c.text(t)),
                c.own(&a.at),
                c.text(&a.what),
            ]
        })
        .collect()
}

fn timeline<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.timeline
        .iter()
        .map(|t| {
            vec![
                c.text(&t.test),
                c.text(&t.kind),
                format!("{:.1} s", t.start_s),
                format!("{:.1} s", t.end_s),
                format!("{:.1} s", t.end_s - t.start_s),
                if t.ran_with.is_empty() {
                    "—".to_owned()
                } else {
                    c.text(&t.ran_with.join(", "))
                },
                c.bar(&t.bar),
            ]
        })
        .collect()
}

fn integrity<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.integrity
        .iter()
        .map(|check| {
            vec![
                c.text(&check.test),
                c.text(&check.check),
                c.text(&check.actual),
                check.passed.map_or("—".to_owned(), |p| c.pass(p)),
            ]
        })
        .collect()
}

fn performance<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.performance
        .iter()
        .map(|p| {
            vec![
                c.own(&p.test),
                c.ms(p.p50_ms),
                c.ms(p.p95_ms),
                c.ms(p.p99_ms),
                c.status(&p.status),
            ]
        })
        .collect()
}

/// The total row in bold.
fn totals<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.totals
        .iter()
        .map(|t| {
            let cells = [
                c.own(&t.category),
                t.requests.to_string(),
                t.ok.to_string(),
                t.fail.to_string(),
            ];
            if t.is_total() {
                cells.map(|s| c.strong(s)).into()
            } else {
                cells.into()
            }
        })
        .collect()
}

fn restarts<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.restarts
        .iter()
        .map(|x| {
            vec![
                c.text(&x.test),
                c.text(&x.service),
                c.text(&x.method),
                c.target_code(&x.before),
                c.target_code(&x.after),
                c.text(&x.recovery),
                if x.observed {
                    "yes".to_owned()
                } else {
                    c.strong("NO".to_owned())
                },
            ]
        })
        .collect()
}

fn signoffs<C: Cells>(c: &C, r: &Report) -> Vec<Vec<String>> {
    r.signoffs
        .iter()
        .map(|s| {
            vec![
                c.text(&s.approver),
                c.decision(&s.decision),
                c.text(&s.comment),
                s.override_reason
                    .as_deref()
                    .map(|o| c.warning(o))
                    .unwrap_or_default(),
                c.own(&s.at),
                c.code(&s.manifest_digest),
                c.own(&s.state),
            ]
        })
        .collect()
}
