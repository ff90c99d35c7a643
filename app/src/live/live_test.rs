//! One test as the live page shows it: where it is, its progress, its
//! latest second and, once it has finished, its whole-length figures.

use crate::charts;
use engine::events::TestHeader;
use engine::metrics::{LatencySummary, Window};
use engine::results::TestStatus;
use engine::view::finished::FinishedTest;
use std::fmt;

/// Where a test is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TestState {
    /// Not started yet.
    #[default]
    Waiting,
    /// Running now.
    Running,
    /// Over, with its result's status.
    Done(TestStatus),
}

impl TestState {
    /// `waiting`, `running`, or the result's status (`PASS`, `FAIL`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TestState::Waiting => "waiting",
            TestState::Running => "running",
            TestState::Done(status) => status.as_str(),
        }
    }

    /// Whether the test is over.
    pub fn is_done(self) -> bool {
        matches!(self, TestState::Done(_))
    }
}

impl fmt::Display for TestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One test as the live page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveTest {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// Operations the test will do, when known in advance.
    pub planned: Option<u64>,
    /// Planned length in seconds, for duration-based tests.
    pub duration_s: Option<u32>,
    /// Operations finished so far.
    pub done: u64,
    /// Of those, failed.
    pub failed: u64,
    pub state: TestState,
    /// Every second seen so far, one window per second (a later report of
    /// a second replaces the earlier one).
    pub windows: Vec<Window>,
    /// The whole test's figures, once it has finished and measured any.
    pub summary: Option<Summary>,
    /// A chaos test's background load: its seconds and the fault's
    /// moments while it runs, its windows once it has ended.
    pub fault_load: Option<charts::FaultLoad>,
}

/// A finished test's figures over its whole length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Operations per second over the test's length.
    pub rate: f64,
    /// Latency of its operations (requests, jobs, sessions and exports).
    pub latency: LatencySummary,
}

/// Test kinds that check something once: no operation count to follow.
const CHECK_KINDS: [&str; 3] = ["assert", "storage_probe", "health"];

/// Rate, p50 and p95 as the tests table shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Operations per second.
    pub rate: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
}

impl LiveTest {
    /// A test announced at the run's start.
    pub(super) fn waiting(header: &TestHeader) -> Self {
        LiveTest {
            id: header.id.clone(),
            title: header.title.clone(),
            kind: header.kind.clone(),
            planned: header.planned,
            duration_s: header.duration_s,
            ..LiveTest::default()
        }
    }

    /// Progress from 0 to 1, when it can be known. Chaos tests and checks
    /// report nothing until they end, so theirs is unknown while they run.
    pub fn progress(&self) -> Option<f64> {
        if self.state.is_done() {
            return Some(1.0);
        }
        if self.is_check() || self.kind == "chaos" {
            return (self.state == TestState::Waiting).then_some(0.0);
        }
        if let Some(planned) = self.planned.filter(|p| *p > 0) {
            return Some((self.done as f64 / planned as f64).min(1.0));
        }
        let duration = f64::from(self.duration_s.filter(|d| *d > 0)?);
        Some((self.windows.len() as f64 / duration).min(1.0))
    }

    /// The most recent second.
    pub fn last_window(&self) -> Option<&Window> {
        self.windows.last()
    }

    /// Whether the test checks something once (assert, storage probe,
    /// health) rather than counting operations.
    pub fn is_check(&self) -> bool {
        CHECK_KINDS.contains(&self.kind.as_str())
    }

    /// What the Progress column says: operations done of those planned for
    /// load tests, runs ended of those started for chaos tests (known when
    /// the test ends), and only whether it is done for a check.
    pub fn progress_text(&self) -> String {
        if self.is_check() {
            return match self.state {
                TestState::Waiting => String::new(),
                TestState::Running => "checking".to_owned(),
                TestState::Done(_) => "done".to_owned(),
            };
        }
        if self.kind == "chaos" {
            let planned = self.planned.map(|p| format!(" / {p}")).unwrap_or_default();
            return match self.state {
                TestState::Waiting => String::new(),
                TestState::Running => match self.planned {
                    Some(p) => format!("{p} runs under way"),
                    None => "runs under way".to_owned(),
                },
                TestState::Done(_) => format!("{}{planned} runs ended", self.done),
            };
        }
        match (self.state, self.planned) {
            (TestState::Waiting, _) => String::new(),
            (_, Some(planned)) => format!("{} / {planned}", self.done),
            (_, None) if self.state.is_done() || self.done > 0 => self.done.to_string(),
            _ => String::new(),
        }
    }

    /// Rate, p50 and p95: the whole test's once it has finished, else its
    /// latest second's; `None` when it measured no latency.
    pub fn figures(&self) -> Option<Figures> {
        if let Some(s) = self.summary.as_ref().filter(|s| s.latency.count > 0) {
            return Some(Figures {
                rate: s.rate,
                p50_ms: s.latency.p50_ms,
                p95_ms: s.latency.p95_ms,
            });
        }
        self.last_window().filter(|w| w.count > 0).map(|w| Figures {
            rate: w.count as f64,
            p50_ms: w.p50_ms,
            p95_ms: w.p95_ms,
        })
    }

    /// Changes whenever anything the tests table shows of this test
    /// changes (the table's row key).
    pub fn row_key(&self) -> (String, &'static str, u64, u64, usize, u64, u64, bool) {
        let last = self.last_window();
        (
            self.id.clone(),
            self.state.as_str(),
            self.done,
            self.failed,
            self.windows.len(),
            last.map_or(0, |w| w.count),
            last.map_or(0, |w| w.p95_ms.to_bits()),
            self.summary.is_some(),
        )
    }

    /// Records a second's window, replacing an earlier report of the same
    /// second (jobs and streams report a second again as its operations
    /// end), keeping seconds in order.
    pub(super) fn put_window(&mut self, window: Window) {
        match self
            .windows
            .binary_search_by_key(&window.second, |w| w.second)
        {
            Ok(i) => self.windows[i] = window,
            Err(i) => self.windows.insert(i, window),
        }
    }
}

/// A finished test's whole-length figures, for kinds that measure latency.
pub(super) fn summary(result: &FinishedTest) -> Option<Summary> {
    let latency = result.metrics.as_ref()?.latency()?;
    let seconds = (result.finished_at_ms - result.started_at_ms) as f64 / 1000.0;
    let total = result.tally().map_or(latency.count, |t| t.total());
    Some(Summary {
        rate: if seconds > 0.0 {
            total as f64 / seconds
        } else {
            0.0
        },
        latency: latency.clone(),
    })
}
