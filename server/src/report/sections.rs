//! The report's sections in reading order, shared by the Markdown and HTML
//! renderings: [`Section::list`] says which sections a report has, and a
//! [`Render`] implementation writes each one in its format.

use super::model::Report;

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

/// A format of the report: one function per section, each appending the
/// section to `o`.
pub trait Render {
    fn header(&self, o: &mut String, r: &Report);
    fn summary(&self, o: &mut String, r: &Report);
    fn anomalies(&self, o: &mut String, r: &Report);
    fn environment(&self, o: &mut String, r: &Report);
    fn timeline(&self, o: &mut String, r: &Report);
    fn tests(&self, o: &mut String, r: &Report);
    fn integrity(&self, o: &mut String, r: &Report);
    fn dependencies(&self, o: &mut String, r: &Report);
    fn performance(&self, o: &mut String, r: &Report);
    fn totals(&self, o: &mut String, r: &Report);
    fn restarts(&self, o: &mut String, r: &Report);
    fn failure_classes(&self, o: &mut String, r: &Report);
    fn load_through_fault(&self, o: &mut String, r: &Report);
    fn agents(&self, o: &mut String, r: &Report);
    fn criteria(&self, o: &mut String, r: &Report);
    fn differences(&self, o: &mut String, r: &Report);
    fn signoff(&self, o: &mut String, r: &Report);
    fn files(&self, o: &mut String, r: &Report);
    fn footer(&self, o: &mut String, r: &Report);
}

/// The report's sections, in order, in `format`.
pub fn render<F: Render>(format: &F, r: &Report) -> String {
    let mut o = String::new();
    for section in Section::list(r) {
        let write: fn(&F, &mut String, &Report) = match section {
            Section::Header => Render::header,
            Section::Summary => Render::summary,
            Section::Anomalies => Render::anomalies,
            Section::Environment => Render::environment,
            Section::Timeline => Render::timeline,
            Section::Tests => Render::tests,
            Section::Integrity => Render::integrity,
            Section::Dependencies => Render::dependencies,
            Section::Performance => Render::performance,
            Section::Totals => Render::totals,
            Section::Restarts => Render::restarts,
            Section::FailureClasses => Render::failure_classes,
            Section::LoadThroughFault => Render::load_through_fault,
            Section::Agents => Render::agents,
            Section::Criteria => Render::criteria,
            Section::Differences => Render::differences,
            Section::SignOff => Render::signoff,
            Section::Files => Render::files,
            Section::Footer => Render::footer,
        };
        write(format, &mut o, r);
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
