//! The runs of a chaos test: submitted through the job protocol before the
//! fault, then verified with a deadline: completed, failed, stuck,
//! duplicate results, recovered, and each completed run's artifact read
//! back (over HTTP and from the bucket) with its sha256 compared.

use crate::bucket::Buckets;
use crate::chaos_model::ChaosMetrics;
use crate::jobs::JobClient;
use crate::plan::{ChaosSpec, JobMix};
use crate::template::fill_path;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Time between status polls while verifying.
const POLL: Duration = Duration::from_millis(200);

/// Submits `mix.count` runs; returns their ids and the number refused.
pub async fn submit(client: &JobClient<'_>, mix: &JobMix, test_id: &str) -> (Vec<String>, u64) {
    let params = mix.params.clone().unwrap_or(Value::Null);
    let count = mix.count.map_or(0, |c| c.get());
    let mut ids = Vec::new();
    let mut errors = 0;
    for _ in 0..count {
        match client.submit(&mix.kind, &params, test_id).await {
            Ok(id) => ids.push(id),
            Err(_) => errors += 1,
        }
    }
    (ids, errors)
}

/// Statuses of the runs now (`None` when unreadable).
pub async fn statuses(client: &JobClient<'_>, ids: &[String]) -> Vec<Option<String>> {
    let all = ids
        .iter()
        .map(|id| async move { client.status(id).await.ok().map(|(status, _)| status) });
    futures_util::future::join_all(all).await
}

/// Follows one run to a terminal status, tolerating unreadable answers
/// (the target may be restarting) until the deadline.
async fn follow(
    client: &JobClient<'_>,
    id: &str,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Option<(String, Value)> {
    loop {
        if let Ok((status, document)) = client.status(id).await {
            if client.protocol.terminal_statuses.contains(&status) {
                return Some((status, document));
            }
        }
        if Instant::now() >= deadline || cancel.is_cancelled() {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn result_count(client: &JobClient<'_>, spec: &ChaosSpec, id: &str) -> Option<f64> {
    let path = spec.results_path.as_deref()?;
    let pointer = spec.results_count_pointer.as_deref().unwrap_or("/count");
    let url = client.target.url(&fill_path(path, id, "")).ok()?;
    let document: Value = client
        .target
        .client
        .get(url)
        .headers(client.target.headers.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    document.pointer(pointer).and_then(Value::as_f64)
}

/// Reads the artifact from the bucket and compares its sha256 with the
/// API's. `Ok(false)` when it could not be read there (missing bucket key).
async fn bucket_matches(
    client: &JobClient<'_>,
    buckets: &Buckets,
    bucket: &str,
    document: &Value,
) -> Result<(), String> {
    let protocol = client.protocol;
    let key = protocol
        .artifact_pointer
        .as_deref()
        .and_then(|p| document.pointer(p))
        .and_then(Value::as_str)
        .ok_or("no artifact key")?;
    let expected = protocol
        .artifact_sha256_pointer
        .as_deref()
        .and_then(|p| document.pointer(p))
        .and_then(Value::as_str)
        .ok_or("no sha256 reported")?;
    let bytes = buckets
        .get(bucket, key)
        .await?
        .ok_or_else(|| format!("{key} is not in bucket {bucket}"))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!(
            "{key} in bucket {bucket}: sha256 {actual}, the API reports {expected}"
        ))
    }
}

/// Verifies every run and adds the counts to `metrics`; returns notes on
/// what went wrong (for the test's warnings).
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    client: &JobClient<'_>,
    spec: &ChaosSpec,
    ids: &[String],
    open_at_fault: &BTreeSet<String>,
    buckets: Option<&Buckets>,
    bucket: Option<&str>,
    deadline: Instant,
    cancel: &CancellationToken,
    metrics: &mut ChaosMetrics,
) -> Vec<String> {
    let ends = futures_util::future::join_all(
        ids.iter()
            .map(|id| async move { (id, follow(client, id, deadline, cancel).await) }),
    )
    .await;
    let verify_artifacts =
        spec.verify_artifacts.unwrap_or(true) && client.protocol.artifact_pointer.is_some();
    let mut notes = Vec::new();
    for (id, end) in ends {
        let Some((status, document)) = end else {
            metrics.stuck += 1;
            notes.push(format!("run {id} not terminal by the deadline"));
            continue;
        };
        if let Some(count) = result_count(client, spec, id).await {
            if count > 1.0 {
                metrics.duplicates += 1;
                notes.push(format!("run {id} has {count} results"));
            }
        }
        if !client.protocol.success_statuses.contains(&status) {
            metrics.runs_failed += 1;
            continue;
        }
        metrics.runs_completed += 1;
        if open_at_fault.contains(id) {
            metrics.runs_recovered += 1;
        }
        if !verify_artifacts {
            continue;
        }
        metrics.artifacts_checked += 1;
        let mut problem = client.check_artifact(&document).await.err();
        if problem.is_none() {
            if let (Some(buckets), Some(bucket)) = (buckets, bucket) {
                match bucket_matches(client, buckets, bucket, &document).await {
                    Ok(()) => metrics.artifacts_in_bucket += 1,
                    Err(e) => problem = Some(e),
                }
            }
        }
        if let Some(problem) = problem {
            metrics.corrupted += 1;
            notes.push(format!("run {id}: {problem}"));
        }
    }
    notes
}
