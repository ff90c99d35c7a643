//! The `health` test: the readiness endpoint's dependencies (status and
//! latency) and bucket isolation: the bucket the target reports, and where
//! completed runs' artifacts really are (the bucket each run names, and the
//! object's existence in the expected bucket), must all be the plan's
//! expected bucket.

use crate::clients::bucket::Buckets;
use crate::clients::jobs::JobEnd;
use crate::metrics::resilience::{DependencyStatus, HealthMetrics, RecordedAnswer};
use crate::metrics::TestMetrics;
use crate::plan::{Follow, HealthSpec};
use crate::runner::context::{TestContext, TestOutcome};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Runs the test.
pub async fn run(spec: &HealthSpec, ctx: &TestContext) -> TestOutcome {
    let mut m = HealthMetrics {
        expected_bucket: ctx.target.env.expected_bucket.clone(),
        ..HealthMetrics::default()
    };
    let mut warnings = Vec::new();
    let error = readiness(spec, ctx, &mut m).await.err();
    if error.is_none() {
        if let Some(mix) = &spec.artifact_job {
            if let Err(e) = artifacts(spec, ctx, mix, &mut m, &mut warnings).await {
                warnings.push(e);
            }
        }
    }
    let artifacts_ok = spec.artifact_job.is_none()
        || (m.artifacts_checked > 0 && m.artifacts_in_expected_bucket == m.artifacts_checked);
    m.isolation_ok = u64::from(m.bucket_match == 1 && artifacts_ok);
    let mut outcome = TestOutcome::new(TestMetrics::Health(m));
    outcome.warnings = warnings;
    outcome.error = error;
    outcome
}

/// GETs a path and keeps the answer as evidence; the JSON body when it is JSON.
async fn record(ctx: &TestContext, path: &str) -> Result<(RecordedAnswer, Duration), String> {
    let url = ctx.target.url(path).map_err(|e| e.to_string())?;
    let request = format!("GET {url}");
    let t = Instant::now();
    let response = ctx
        .target
        .get(url.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("{request}: {e}"))?;
    let status = response.status().as_u16();
    let text = ctx
        .target
        .read_text(response)
        .await
        .map_err(|e| format!("{request}: {e}"))?;
    let took = t.elapsed();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| Value::String(text.chars().take(4096).collect()));
    Ok((
        RecordedAnswer {
            request,
            status,
            body,
        },
        took,
    ))
}

/// Whether a dependency's status means healthy: the plan's value, else
/// `true` or a usual word (`healthy`, `ok`, `up`, `pass`).
fn is_healthy(status: &Value, wanted: Option<&Value>) -> bool {
    match (wanted, status) {
        (Some(wanted), status) => crate::plan::status_eq(wanted, status),
        (None, Value::Bool(b)) => *b,
        (None, Value::String(word)) => ["healthy", "ok", "up", "pass"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w)),
        (None, _) => false,
    }
}

/// The dependencies in a readiness answer: a list of entries with a name,
/// or an object keyed by name.
pub fn dependencies(spec: &HealthSpec, document: &Value) -> Result<Vec<DependencyStatus>, String> {
    let pointer = spec
        .dependencies_pointer
        .as_deref()
        .unwrap_or("/dependencies");
    let status_pointer = spec
        .dependency_status_pointer
        .as_deref()
        .unwrap_or("/status");
    let latency_pointer = spec
        .dependency_latency_pointer
        .as_deref()
        .unwrap_or("/latency_ms");
    let name_pointer = spec.dependency_name_pointer.as_deref().unwrap_or("/name");
    let named: Vec<(String, &Value)> = match document.pointer(pointer) {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let name = item
                    .pointer(name_pointer)
                    .map(crate::plan::status_text)
                    .unwrap_or_else(|| format!("#{i}"));
                (name, item)
            })
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        _ => {
            return Err(format!(
            "`{pointer}` in the readiness answer is not a list or an object of dependencies: {}",
            crate::clients::jobs::clip(&document.to_string())
        ))
        }
    };
    Ok(named
        .into_iter()
        .map(|(name, dep)| {
            let status = dep.pointer(status_pointer).cloned().unwrap_or(Value::Null);
            DependencyStatus {
                name,
                healthy: is_healthy(&status, spec.healthy_status.as_ref()),
                status: crate::plan::status_text(&status),
                latency_ms: dep.pointer(latency_pointer).and_then(Value::as_f64),
            }
        })
        .collect())
}

async fn readiness(
    spec: &HealthSpec,
    ctx: &TestContext,
    m: &mut HealthMetrics,
) -> Result<(), String> {
    let path = ctx
        .target
        .env
        .readiness_path
        .as_deref()
        .ok_or("the environment has no readiness_path")?;
    if let Some(health) = &ctx.target.env.health_path {
        m.health_answer = record(ctx, health).await.ok().map(|(answer, _)| answer);
    }
    let (answer, took) = record(ctx, path).await?;
    m.status = Some(answer.status);
    m.latency_ms = took.as_secs_f64() * 1000.0;
    let document = answer.body.clone();
    m.readiness_answer = Some(answer);
    m.dependencies = dependencies(spec, &document)?;
    m.dependencies_total = m.dependencies.len() as u64;
    m.dependencies_healthy = m.dependencies.iter().filter(|d| d.healthy).count() as u64;
    if let Some(pointer) = &spec.bucket_pointer {
        m.reported_bucket = document
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    m.bucket_match =
        u64::from(m.reported_bucket.is_some() && m.reported_bucket == m.expected_bucket);
    Ok(())
}

async fn artifacts(
    spec: &HealthSpec,
    ctx: &TestContext,
    mix: &crate::plan::JobMix,
    m: &mut HealthMetrics,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let client = ctx
        .job_client()
        .ok_or("artifact_job needs the plan's [jobs] table")?;
    let expected = m
        .expected_bucket
        .clone()
        .ok_or("the environment names no expected_bucket")?;
    let buckets = match &ctx.target.env.bucket {
        Some(access) => Some(Buckets::open(&ctx.target, access).await?),
        None => None,
    };
    let bucket_pointer = spec
        .artifact_bucket_pointer
        .as_deref()
        .unwrap_or("/artifact_bucket");
    let key_pointer = client
        .protocol
        .artifact_pointer
        .as_deref()
        .ok_or("the job protocol has no artifact_pointer")?;
    let deadline =
        Instant::now() + Duration::from_secs(u64::from(spec.timeout_s.map_or(60, |t| t.get())));
    let params = mix.params.clone().unwrap_or(Value::Null);
    for _ in 0..mix.count.map_or(1, |c| c.get()) {
        let id = client.submit(&mix.kind, &params, &ctx.test_id).await?;
        let document = match client.wait(&id, Follow::Poll, deadline, &ctx.cancel).await {
            JobEnd::Succeeded(document) => document,
            other => {
                warnings.push(format!("artifact job {id}: {other:?}"));
                m.artifacts_checked += 1;
                continue;
            }
        };
        m.artifacts_checked += 1;
        let named = document.pointer(bucket_pointer).and_then(Value::as_str);
        let key = document.pointer(key_pointer).and_then(Value::as_str);
        let Some(key) = key else {
            warnings.push(format!("run {id}: no artifact key"));
            continue;
        };
        if named != Some(expected.as_str()) {
            warnings.push(format!(
                "run {id}: artifact in bucket {named:?}, expected {expected:?}"
            ));
            continue;
        }
        if let Some(buckets) = &buckets {
            match buckets.get(&expected, key).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    warnings.push(format!("run {id}: {key} is not in bucket {expected}"));
                    continue;
                }
                Err(e) => {
                    warnings.push(e);
                    continue;
                }
            }
        }
        m.artifacts_in_expected_bucket += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> HealthSpec {
        HealthSpec {
            dependencies_pointer: None,
            dependency_name_pointer: None,
            dependency_status_pointer: None,
            dependency_latency_pointer: None,
            healthy_status: None,
            bucket_pointer: None,
            artifact_job: None,
            artifact_bucket_pointer: None,
            timeout_s: None,
        }
    }

    #[test]
    fn dependencies_are_read_from_a_list_of_named_entries() {
        let answer = json!({"dependencies": [
            {"name": "database", "status": "healthy", "latency_ms": 1.5},
            {"name": "bucket", "status": "degraded"}
        ]});
        let deps = dependencies(&spec(), &answer).expect("a list");
        assert_eq!(deps.len(), 2);
        assert!(deps[0].healthy && !deps[1].healthy);
        assert_eq!(deps[0].latency_ms, Some(1.5));
        assert_eq!(deps[1].status, "degraded");
    }

    #[test]
    fn dependencies_are_read_from_an_object_keyed_by_name_with_boolean_status() {
        let answer = json!({"ready": false, "checks": {
            "db": {"ok": true, "took_ms": 0.7},
            "store": {"ok": false, "took_ms": 3}
        }});
        let spec = HealthSpec {
            dependencies_pointer: Some("/checks".to_owned()),
            dependency_status_pointer: Some("/ok".to_owned()),
            dependency_latency_pointer: Some("/took_ms".to_owned()),
            ..spec()
        };
        let deps = dependencies(&spec, &answer).expect("an object");
        let names: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["db", "store"]);
        assert!(deps[0].healthy && !deps[1].healthy);
        assert_eq!(deps[1].latency_ms, Some(3.0));
        assert_eq!(deps[1].status, "false");
    }

    #[test]
    fn a_plan_may_name_the_healthy_value_and_a_missing_list_is_named() {
        let answer = json!({"deps": [{"name": "a", "status": "GREEN"}]});
        let spec = HealthSpec {
            dependencies_pointer: Some("/deps".to_owned()),
            healthy_status: Some(json!("GREEN")),
            ..spec()
        };
        assert!(dependencies(&spec, &answer).expect("list")[0].healthy);
        let e = dependencies(&spec, &json!({"other": 1})).expect_err("no deps");
        assert!(e.contains("`/deps`"), "{e}");
    }
}
