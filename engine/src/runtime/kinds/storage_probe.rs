//! The `storage_probe` test: write an object to the environment's bucket,
//! read it back and compare, remove it, and time the write and the read.
//! Local folder buckets or S3 (aws-sdk-s3).

use crate::clients::bucket::Buckets;
use crate::metrics::resilience::StorageProbeMetrics;
use crate::metrics::TestMetrics;
use crate::plan::StorageProbeSpec;
use crate::runner::context::{TestContext, TestOutcome};
use std::time::Instant;

/// Runs the test.
pub async fn run(spec: &StorageProbeSpec, ctx: &TestContext) -> TestOutcome {
    let mut m = StorageProbeMetrics::default();
    let fail = |m: StorageProbeMetrics, e: String| {
        let mut outcome = TestOutcome::new(TestMetrics::StorageProbe(m));
        outcome.error = Some(e);
        outcome
    };
    let env = &ctx.target.env;
    let Some(access) = &env.bucket else {
        return fail(m, "the environment has no [bucket]".to_owned());
    };
    let Some(bucket) = env.expected_bucket.clone() else {
        return fail(m, "the environment names no expected_bucket".to_owned());
    };
    let buckets = match Buckets::open(&ctx.target, access).await {
        Ok(b) => b,
        Err(e) => return fail(m, e),
    };
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let prefix = spec.prefix.as_deref().unwrap_or("smoke-tests/");
    m.key = format!("{prefix}shakedown-probe-{}.txt", &tag[..12]);
    m.bucket = bucket.clone();
    m.backend = buckets.backend().to_owned();
    let size = spec.size_bytes.map_or(1024, |s| s.get()) as usize;
    let line = format!("shakedown storage probe {tag} test {}\n", ctx.test_id);
    let content: Vec<u8> = line.bytes().cycle().take(size.max(line.len())).collect();

    let t = Instant::now();
    let written = buckets.put(&bucket, &m.key, content.clone()).await;
    m.write_ms = t.elapsed().as_secs_f64() * 1000.0;
    if let Err(e) = written {
        return fail(m, e);
    }
    m.write_ok = 1;
    let t = Instant::now();
    let read = buckets.get(&bucket, &m.key).await;
    m.read_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut warnings = Vec::new();
    match read {
        Ok(Some(bytes)) if bytes == content => m.read_ok = 1,
        Ok(Some(_)) => {
            warnings.push("the object read back differs from what was written".to_owned())
        }
        Ok(None) => warnings.push("the object is missing right after the write".to_owned()),
        Err(e) => warnings.push(e),
    }
    match buckets.delete(&bucket, &m.key).await {
        Ok(()) => match buckets.get(&bucket, &m.key).await {
            Ok(None) => m.deleted = 1,
            Ok(Some(_)) => warnings.push("the object is still there after the delete".to_owned()),
            Err(e) => warnings.push(e),
        },
        Err(e) => warnings.push(e),
    }
    m.ok = u64::from(m.write_ok == 1 && m.read_ok == 1 && m.deleted == 1);
    let mut outcome = TestOutcome::new(TestMetrics::StorageProbe(m));
    outcome.warnings = warnings;
    outcome
}
