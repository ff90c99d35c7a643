//! Running the plan's tests group by group ([`crate::plan::parallel`]):
//! the groups one after another in plan order, the members of a group
//! concurrently. Every member's `TestStarted` is sent before any member
//! runs, each `TestFinished` as that member ends; a group ends when all of
//! its members have. A plan without `alongside` has groups of one test, so
//! it runs one test at a time, as it always did. Cancelling the run stops
//! every running member and starts no further group; results keep plan
//! order.

use super::context::TestContext;
use super::{now_ms, run_test_with_evidence, test_result};
use crate::events::{ProgressEvent, TestHeader};
use crate::plan::{parallel, Plan, TestSpec};
use crate::results::{TestResult, TestStatus};
use std::collections::BTreeMap;
use tokio::task::JoinSet;

/// Runs the plan's tests group by group until the run is cancelled; the
/// results of the tests that ran, in plan order. `shared` is what every
/// test shares: each gets a copy with its own id.
pub(super) async fn run_groups(
    plan: &Plan,
    headers: Vec<TestHeader>,
    shared: &TestContext,
) -> Vec<TestResult> {
    let mut headers: Vec<Option<TestHeader>> = headers.into_iter().map(Some).collect();
    let mut results = Vec::new();
    for range in parallel::groups(&plan.tests) {
        if shared.cancel.is_cancelled() {
            break;
        }
        let members: Vec<(usize, Option<TestHeader>)> = range
            .clone()
            .map(|i| (i, headers.get_mut(i).and_then(Option::take)))
            .collect();
        results.extend(run_group(plan, members, shared).await);
    }
    results
}

/// Starts every member of a group, then waits for all of them; their
/// results in plan order.
async fn run_group(
    plan: &Plan,
    members: Vec<(usize, Option<TestHeader>)>,
    shared: &TestContext,
) -> Vec<TestResult> {
    let mut running = JoinSet::new();
    let mut started = BTreeMap::new();
    for (index, header) in members {
        let Some(spec) = plan.tests.get(index).cloned() else {
            continue;
        };
        if let Some(header) = header {
            shared
                .sink
                .emit(&ProgressEvent::TestStarted { test: header });
        }
        let ctx = shared.for_test(&spec.id);
        let test_started = now_ms();
        started.insert(index, test_started);
        running.spawn(async move {
            let (outcome, faults) = run_test_with_evidence(&spec, &ctx).await;
            let mut result = test_result(&spec, outcome, test_started, ctx.cancel.is_cancelled());
            result.faults = faults;
            ctx.sink.emit(&ProgressEvent::TestFinished {
                result: Box::new(result.clone()),
            });
            (index, result)
        });
    }
    let mut results: BTreeMap<usize, TestResult> = BTreeMap::new();
    while let Some(joined) = running.join_next().await {
        // A task that panicked comes back as an error: its test gets an
        // error result below.
        if let Ok((index, result)) = joined {
            results.insert(index, result);
        }
    }
    // Members whose task did not come back (it panicked): an error result.
    for (index, at) in started {
        if results.contains_key(&index) {
            continue;
        }
        if let Some(spec) = plan.tests.get(index) {
            let result = panicked(spec, at, shared.cancel.is_cancelled());
            shared.sink.emit(&ProgressEvent::TestFinished {
                result: Box::new(result.clone()),
            });
            results.insert(index, result);
        }
    }
    results.into_values().collect()
}

/// The result of a test whose task panicked: an error (aborted when the
/// run was), with nothing measured.
fn panicked(spec: &TestSpec, started_at_ms: i64, aborted: bool) -> TestResult {
    TestResult {
        id: spec.id.clone(),
        title: spec.display_title().to_owned(),
        kind: spec.kind.name().to_owned(),
        status: if aborted {
            TestStatus::Aborted
        } else {
            TestStatus::Error
        },
        started_at_ms,
        finished_at_ms: now_ms(),
        parameters: serde_json::to_value(spec).unwrap_or(serde_json::Value::Null),
        metrics: None,
        windows: Vec::new(),
        histogram: None,
        warnings: Vec::new(),
        error: Some("the test stopped unexpectedly (its task panicked)".to_owned()),
        faults: Vec::new(),
        agents: Vec::new(),
    }
}
