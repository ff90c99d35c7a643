//! The report's sections in reading order, shared by the Markdown and HTML
//! renderings: [`Section::list`] says which sections a report has,
//! [`render`] walks them, the rows of their tables come from
//! [`super::rows`], and a [`Render`] implementation says how its format
//! writes a table, a cell, and what stands around each table.

use super::model::{Report, TestSection};
use super::rows::{self, Cells};

/// One part of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Title, environment, date, tool and overall status, with a note when
    /// the run stopped early or left tests out.
    Header,
    /// Criteria by group, then the GO/NO-GO decision.
    Summary,
    /// Supervised processes that exited unasked (only when some did).
    Anomalies,
    /// Environment and plan settings.
    Environment,
    /// When each test ran, from the recorded times, and which tests ran
    /// together (only when tests ran).
    Timeline,
    /// One part per test: metrics, warnings, charts, restart proofs,
    /// evidence.
    Tests,
    /// Integrity and storage checks.
    Integrity,
    /// Dependency health seen by health tests (only when one reported any).
    Dependencies,
    /// Latency per test.
    Performance,
    /// Operations per category of test.
    Totals,
    /// Every restart performed, one row per fault (only when there was one).
    Restarts,
    /// Failed operations by class (only when some failed).
    FailureClasses,
    /// Chaos tests' background load before, during and after the fault
    /// (only when one carried some).
    LoadThroughFault,
    /// Each load agent's share of a test split across agents (only when a
    /// test ran on agents).
    Agents,
    /// Each criterion, held or not.
    Criteria,
    /// Differences from the previous run.
    Differences,
    /// The recommendation, the final decision and the sign-offs.
    SignOff,
    /// The pack's files.
    Files,
    /// Which tool made the report, for which run.
    Footer,
}

impl Section {
    /// The sections `r` shows, in order; the optional ones only when they
    /// have rows.
    pub fn list(r: &Report) -> Vec<Section> {
        use Section::*;
        [
            (Header, true),
            (Summary, true),
            (Anomalies, !r.anomalies.is_empty()),
            (Environment, true),
            (Timeline, !r.timeline.is_empty()),
            (Tests, true),
            (Integrity, true),
            (Dependencies, !r.dependencies.is_empty()),
            (Performance, true),
            (Totals, true),
            (Restarts, !r.restarts.is_empty()),
            (FailureClasses, !r.failures_by_class.is_empty()),
            (LoadThroughFault, !r.load_through_fault.is_empty()),
            (Agents, !r.agents.is_empty()),
            (Criteria, true),
            (Differences, true),
            (SignOff, true),
            (Files, true),
            (Footer, true),
        ]
        .into_iter()
        .filter_map(|(section, shown)| shown.then_some(section))
        .collect()
    }
}

impl Section {
    /// The column headings of the section's table, the same in every
    /// format that draws one (empty for sections without a table).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Section::Summary => &["Criteria", "Result", "Notes"],
            Section::Anomalies => &["Service", "Test", "Time", "What happened"],
            Section::Environment => &["Setting", "Value"],
            Section::Timeline => super::model::timeline::COLUMNS,
            Section::Integrity => &["Test", "Check", "Actual", "Result"],
            Section::Dependencies => &["Test", "Dependency", "Status", "Latency"],
            Section::Performance => &["Test", "P50", "P95", "P99", "Status"],
            Section::Totals => &["Category", "Operations", "Success", "Failures"],
            Section::Restarts => &[
                "Test",
                "Service",
                "Method",
                "Identity before",
                "Identity after",
                "Recovery",
                "Observed",
            ],
            Section::FailureClasses => &["Class", "Count"],
            Section::LoadThroughFault => super::model::load_through_fault::COLUMNS,
            Section::Agents => super::model::agents::COLUMNS,
            Section::Differences => &["Metric", "Previous", "Current", "Change"],
            Section::SignOff => &[
                "Approver",
                "Decision",
                "Comment",
                "Override reason",
                "Time",
                "Manifest digest",
                "State",
            ],
            Section::Header
            | Section::Tests
            | Section::Criteria
            | Section::Files
            | Section::Footer => &[],
        }
    }
}

/// A format of the report: how it writes a table, a cell
/// ([`Cells`]), and what stands around each section's table (its heading,
/// lead text, and the sections with no table in common).
pub trait Render: Cells {
    /// Writes `section`'s heading and what comes before its table; the
    /// whole section for one with no shared table ([`rows::of`] is `None`).
    fn open(&self, o: &mut String, section: Section, r: &Report);
    /// A table under `head`, with cells already written.
    fn table(&self, o: &mut String, head: &[&str], rows: Vec<Vec<String>>);
    /// What a section that [says so when empty](Section::says_when_empty)
    /// shows instead of a table with no rows.
    fn empty(&self, o: &mut String, section: Section);
    /// The line above one test's table of load through the fault.
    fn caption(&self, o: &mut String, test: &str, impact: &str);
    /// One test's part of the test results.
    fn test(&self, o: &mut String, t: &TestSection);
    /// What comes after `section`'s table.
    fn close(&self, o: &mut String, section: Section, r: &Report);
}

impl Section {
    /// Whether the section says so in a sentence when it has no rows
    /// (others show their table's header alone).
    pub fn says_when_empty(self) -> bool {
        matches!(self, Section::Integrity | Section::SignOff)
    }
}

/// The report's sections, in order, in `format`.
pub fn render<F: Render>(format: &F, r: &Report) -> String {
    let mut o = String::new();
    for section in Section::list(r) {
        format.open(&mut o, section, r);
        match section {
            Section::Tests => r.tests.iter().for_each(|t| format.test(&mut o, t)),
            Section::LoadThroughFault => {
                for t in &r.load_through_fault {
                    format.caption(&mut o, &t.test, &t.impact);
                    let rows = rows::load_through_fault(format, t);
                    format.table(&mut o, section.columns(), rows);
                }
            }
            _ => match rows::of(format, section, r) {
                Some(rows) if rows.is_empty() && section.says_when_empty() => {
                    format.empty(&mut o, section)
                }
                Some(rows) => format.table(&mut o, section.columns(), rows),
                None => {}
            },
        }
        format.close(&mut o, section, r);
    }
    o
}

/// `PASS` or `FAIL`.
pub fn pass(passed: bool) -> &'static str {
    if passed {
        "PASS"
    } else {
        "FAIL"
    }
}
