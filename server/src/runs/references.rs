//! The earlier runs a new run is judged against: the baseline relative
//! criteria compare with (`baseline.L1.p95_ms`) and the previous run a plan
//! with `regressions_fail` is diffed with. Found in the run database and
//! read from their evidence packs, for runs launched from the web app and
//! headless `shakedown run` alike.

use crate::evidence::store::ObjectStore;
use engine::results::{Baseline, RunResults};
use engine::run::{RunStatus, Verdict};
use engine::store::{RunFilter, RunStore};

/// What a run compares itself with.
pub struct References {
    pub baseline: Option<Baseline>,
    pub previous: Option<RunResults>,
}

/// The baseline and, when the plan's regressions fail the run, the previous
/// run of `plan` in `environment`, never `current` itself.
pub async fn for_run(
    store: &dyn RunStore,
    evidence: &dyn ObjectStore,
    plan: &engine::plan::Plan,
    environment: &str,
    current: &str,
) -> References {
    let name = &plan.plan.name;
    References {
        baseline: baseline_for(store, evidence, name, environment, current).await,
        previous: if plan.plan.regressions_fail {
            newest_finished(store, evidence, name, environment, current, None).await
        } else {
            None
        },
    }
}

/// The run an approver pinned for the plan and environment, else the
/// newest finished GO run of both, read from its evidence pack.
async fn baseline_for(
    store: &dyn RunStore,
    evidence: &dyn ObjectStore,
    plan: &str,
    environment: &str,
    current: &str,
) -> Option<Baseline> {
    if let Ok(Some((run_id, pinned_by))) = store.pinned_baseline(plan, environment).await {
        match results_of(evidence, &run_id).await {
            Some(results) => {
                return Some(Baseline::of(&results, format!("pinned by {pinned_by}")));
            }
            None => tracing::warn!(
                "pinned baseline {run_id} of {plan}/{environment} has no readable results"
            ),
        }
    }
    newest_finished(
        store,
        evidence,
        plan,
        environment,
        current,
        Some(Verdict::Go),
    )
    .await
    .map(|results| Baseline::of(&results, "last GO run"))
}

/// The newest finished run of the plan and environment (with the verdict,
/// when given) other than `current`, whose evidence can be read.
async fn newest_finished(
    store: &dyn RunStore,
    evidence: &dyn ObjectStore,
    plan: &str,
    environment: &str,
    current: &str,
    verdict: Option<Verdict>,
) -> Option<RunResults> {
    let filter = RunFilter {
        plan: Some(plan.to_owned()),
        environment: Some(environment.to_owned()),
        verdict,
    };
    for run in store.list_runs(&filter).await.ok()? {
        if run.id == current || run.status != RunStatus::Finished {
            continue;
        }
        if let Some(results) = results_of(evidence, &run.id).await {
            return Some(results);
        }
    }
    None
}

/// A run's results, from its newest intact evidence pack.
async fn results_of(evidence: &dyn ObjectStore, run_id: &str) -> Option<RunResults> {
    let pack = crate::evidence::pack::read_pack(evidence, run_id, None)
        .await
        .ok()?;
    if !pack.intact() {
        return None;
    }
    crate::report::parse_results(pack.file("results.json")?).ok()
}
