//! The runs of a chaos test: submitted through the job protocol before the
//! fault, then verified with a deadline: completed, failed, stuck,
//! duplicate results, recovered, and each completed run's artifact read
//! back (over HTTP and from the bucket) with its sha256 compared.

use crate::clients::bucket::Buckets;
use crate::clients::jobs::{not_found, JobClient, JobStatus};
use crate::metrics::resilience::ChaosMetrics;
use crate::plan::{ChaosSpec, JobMix, JobPhase};
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

/// Phases of the runs now (`None` when unreadable).
pub async fn phases(client: &JobClient<'_>, ids: &[String]) -> Vec<Option<JobPhase>> {
    let all = ids
        .iter()
        .map(|id| async move { client.status(id).await.ok().map(|s| s.phase) });
    futures_util::future::join_all(all).await
}

/// Returns once every run is terminal (an unreadable status counts as
/// open), reading them every 200 ms; the caller bounds the wait.
pub async fn settled(client: &JobClient<'_>, ids: &[String]) {
    loop {
        let phases = phases(client, ids).await;
        if phases
            .iter()
            .all(|p| matches!(p, Some(JobPhase::Terminal(_))))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Follows one run to a terminal status, tolerating unreadable answers
/// (the target may be restarting) until the deadline.
async fn follow(
    client: &JobClient<'_>,
    id: &str,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Option<JobStatus> {
    loop {
        if let Ok(status) = client.status(id).await {
            if matches!(status.phase, JobPhase::Terminal(_)) {
                return Some(status);
            }
        }
        if Instant::now() >= deadline || cancel.is_cancelled() {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How many results a run has, and how many of them repeat another
/// (by `results_key_pointer`, or any result after the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCount {
    /// Results read.
    pub count: u64,
    /// Results beyond the first of their kind.
    pub repeated: u64,
}

/// Counts the results in an answer: a number or a list at `pointer`;
/// with `key_pointer`, list items whose key was seen before are repeats.
pub fn count_results(
    document: &Value,
    pointer: &str,
    key_pointer: Option<&str>,
) -> Option<ResultCount> {
    match document.pointer(pointer)? {
        Value::Number(n) => {
            let count = n.as_f64().filter(|c| *c >= 0.0)? as u64;
            Some(ResultCount {
                count,
                repeated: count.saturating_sub(1),
            })
        }
        Value::Array(items) => {
            let count = items.len() as u64;
            let repeated = match key_pointer {
                Some(key) => {
                    let mut seen = BTreeSet::new();
                    items
                        .iter()
                        .filter(|item| {
                            let k = item.pointer(key).map(Value::to_string).unwrap_or_default();
                            !seen.insert(k)
                        })
                        .count() as u64
                }
                None => count.saturating_sub(1),
            };
            Some(ResultCount { count, repeated })
        }
        _ => None,
    }
}

/// Reads a run's results; `Err` names the pointer and what was found.
async fn result_count(
    client: &JobClient<'_>,
    spec: &ChaosSpec,
    id: &str,
) -> Option<Result<ResultCount, String>> {
    let path = spec.results_path.as_deref()?;
    let pointer = spec.results_count_pointer.as_deref().unwrap_or("/count");
    Some(
        client
            .get_json(&fill_path(path, id, ""))
            .await
            .and_then(|(document, request)| {
                count_results(&document, pointer, spec.results_key_pointer.as_deref()).ok_or_else(
                    || {
                        format!(
                            "duplicates not counted: {} (expected a number or a list)",
                            not_found(pointer, &request, &document.to_string())
                        )
                    },
                )
            }),
    )
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
        let Some(status) = end else {
            metrics.stuck += 1;
            notes.push(format!("run {id} not terminal by the deadline"));
            continue;
        };
        match result_count(client, spec, id).await {
            Some(Ok(results)) if results.repeated > 0 => {
                metrics.duplicates += 1;
                notes.push(format!(
                    "run {id} has {} results ({} repeated)",
                    results.count, results.repeated
                ));
            }
            Some(Err(e)) => {
                metrics.results_unreadable += 1;
                notes.push(format!("run {id}: {e}"));
            }
            Some(Ok(_)) | None => {}
        }
        let document = status.document;
        if status.phase != JobPhase::Terminal(true) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_are_a_number_or_a_list_and_repeats_may_be_read_by_key() {
        let count = |doc: Value, key: Option<&str>| count_results(&doc, "/r", key);
        assert_eq!(
            count(json!({"r": 2}), None),
            Some(ResultCount {
                count: 2,
                repeated: 1
            })
        );
        assert_eq!(
            count(json!({"r": [{"step": 1}]}), None),
            Some(ResultCount {
                count: 1,
                repeated: 0
            })
        );
        let twice = json!({"r": [{"task": "a"}, {"task": "a"}]});
        assert_eq!(count(twice.clone(), None).map(|c| c.repeated), Some(1));
        let distinct = json!({"r": [{"step": 1}, {"step": 2}, {"step": 2}]});
        assert_eq!(count(distinct, Some("/step")).map(|c| c.repeated), Some(1));
        assert_eq!(count(json!({"r": "two"}), None), None);
        assert_eq!(count(json!({"other": 1}), None), None);
    }
}
