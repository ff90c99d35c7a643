//! The `health` test: the readiness endpoint's dependencies (status and
//! latency) and bucket isolation: the bucket the target reports, and where
//! completed runs' artifacts really are (the bucket each run names, and the
//! object's existence in the expected bucket), must all be the plan's
//! expected bucket.

use crate::bucket::Buckets;
use crate::chaos_model::{DependencyStatus, HealthMetrics};
use crate::context::{TestContext, TestOutcome};
use crate::jobs::{JobClient, JobEnd};
use crate::metrics::TestMetrics;
use crate::plan::{Follow, HealthSpec};
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
    let url = ctx.target.url(path).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let response = ctx
        .target
        .client
        .get(url.clone())
        .headers(ctx.target.headers.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    m.status = Some(response.status().as_u16());
    let document: Value = response
        .json()
        .await
        .map_err(|e| format!("GET {url}: not JSON: {e}"))?;
    m.latency_ms = t.elapsed().as_secs_f64() * 1000.0;
    let healthy = spec.healthy_status.as_deref().unwrap_or("healthy");
    let pointer = spec
        .dependencies_pointer
        .as_deref()
        .unwrap_or("/dependencies");
    for dep in document
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let status = dep
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        m.dependencies.push(DependencyStatus {
            name: dep
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            healthy: status == healthy,
            status,
            latency_ms: dep.get("latency_ms").and_then(Value::as_f64),
        });
    }
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
    let protocol = ctx
        .jobs
        .as_deref()
        .ok_or("artifact_job needs the plan's [jobs] table")?;
    let expected = m
        .expected_bucket
        .clone()
        .ok_or("the environment names no expected_bucket")?;
    let client = JobClient {
        protocol,
        target: &ctx.target,
    };
    let buckets = match &ctx.target.env.bucket {
        Some(access) => Some(Buckets::open(&ctx.target, access).await?),
        None => None,
    };
    let bucket_pointer = spec
        .artifact_bucket_pointer
        .as_deref()
        .unwrap_or("/artifact_bucket");
    let key_pointer = protocol
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
