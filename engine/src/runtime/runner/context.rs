//! What every test runner gets (the target, the cancellation token, the
//! sink) and what it gives back.

use crate::agents::LoadAgents;
use crate::clients::jobs::JobClient;
use crate::events::{ProgressEvent, Sink};
use crate::load::recorder::{encode, Recorder};
use crate::metrics::{TestMetrics, Window};
use crate::plan::{JobProtocol, Service};
use crate::results::AgentShare;
use crate::runner::target::Target;
use crate::supervisor::Supervisor;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Given to a test when it starts.
#[derive(Clone)]
pub struct TestContext {
    /// The test's id in the plan, for its progress events and the job
    /// protocol's body template.
    pub test_id: String,
    /// The environment the run talks to, ready for requests.
    pub target: Arc<Target>,
    /// Cancelled when the run is aborted; tests stop within a second and
    /// return what they measured.
    pub cancel: CancellationToken,
    /// Where progress goes.
    pub sink: Arc<dyn Sink>,
    /// The plan's job protocol, when it has one.
    pub jobs: Option<Arc<JobProtocol>>,
    /// The plan's services (what chaos tests restart, and how).
    pub services: Arc<BTreeMap<String, Service>>,
    /// The supervisor that started the environment's local processes, when
    /// Shakedown started them (`shakedown run --demo`); `process` restarts
    /// need it.
    pub supervisor: Option<Arc<Supervisor>>,
    /// The server's load agents, when the run has a server that
    /// coordinates them (`shakedown serve`); `http_load` tests with
    /// `agents = N` need them.
    pub agents: Option<Arc<dyn LoadAgents>>,
}

impl TestContext {
    /// The same context for the test `test_id` (the runner holds one for
    /// the whole run and gives each test its copy).
    pub fn for_test(&self, test_id: &str) -> TestContext {
        TestContext {
            test_id: test_id.to_owned(),
            ..self.clone()
        }
    }

    /// Sends a window event.
    pub fn window(&self, window: Window, done: u64, failed: u64) {
        self.sink.emit(&ProgressEvent::Window {
            test_id: self.test_id.clone(),
            window,
            done,
            failed,
        });
    }

    /// A client for the plan's job protocol, when the plan has a `[jobs]`
    /// table.
    pub fn job_client(&self) -> Option<JobClient<'_>> {
        self.jobs.as_deref().map(|protocol| JobClient {
            protocol,
            target: &self.target,
        })
    }
}

/// What a test measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    /// The figures of the test's kind.
    pub metrics: TestMetrics,
    /// Per-second windows.
    pub windows: Vec<Window>,
    /// Whole-test latency histogram (base64 HdrHistogram V2 deflate).
    pub histogram: Option<String>,
    /// Caveats for the reader.
    pub warnings: Vec<String>,
    /// Why it could not run to the end, when it could not.
    pub error: Option<String>,
    /// Load agents: each one's share and what it did.
    pub agents: Vec<AgentShare>,
}

impl TestOutcome {
    /// An outcome with metrics only.
    pub fn new(metrics: TestMetrics) -> TestOutcome {
        TestOutcome {
            metrics,
            windows: Vec::new(),
            histogram: None,
            warnings: Vec::new(),
            error: None,
            agents: Vec::new(),
        }
    }

    /// The outcome of a test that recorded its requests: the whole-test
    /// histogram and the per-second windows go with the metrics.
    pub fn recorded(
        metrics: TestMetrics,
        mut recorder: Recorder,
        warnings: Vec<String>,
    ) -> TestOutcome {
        TestOutcome {
            histogram: encode(recorder.histogram()),
            windows: recorder.finish_windows(),
            metrics,
            warnings,
            error: None,
            agents: Vec::new(),
        }
    }
}

/// The warning of a test the run was aborted during.
pub(crate) const ABORTED_WARNING: &str =
    "the run was aborted during this test; its figures are partial";

/// "`N` `what`, first: `a`; `b`; `c`": how many errors there were and the
/// first three, when there were any.
pub(crate) fn errors_warning(errors: &[String], what: &str) -> Option<String> {
    if errors.is_empty() {
        return None;
    }
    let shown: Vec<String> = errors.iter().take(3).cloned().collect();
    Some(format!(
        "{} {what}, first: {}",
        errors.len(),
        shown.join("; ")
    ))
}
