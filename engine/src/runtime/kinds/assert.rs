//! `assert`: one request whose JSON answer must hold given values (a graph
//! integrity check, say, whose answer must report no integrity errors).

use crate::json_checks;
use crate::metrics::{AssertMetrics, CheckOutcome, TestMetrics};
use crate::plan::AssertSpec;
use crate::runner::context::{TestContext, TestOutcome};
use std::time::{Duration, Instant};

/// Timeout when the plan sets none.
const DEFAULT_TIMEOUT_MS: u32 = 30_000;

/// Runs an `assert` test.
pub async fn run(spec: &AssertSpec, ctx: &TestContext) -> TestOutcome {
    let url = match ctx.target.url(&spec.path) {
        Ok(url) => url,
        Err(e) => return failed(spec, e.to_string(), None, 0.0),
    };
    let timeout = Duration::from_millis(u64::from(
        spec.timeout_ms.map_or(DEFAULT_TIMEOUT_MS, |t| t.get()),
    ));
    let method = reqwest::Method::from_bytes(spec.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let started = Instant::now();
    let request = ctx
        .target
        .request(method, url.clone())
        .timeout(timeout)
        .send();
    let response = tokio::select! {
        _ = ctx.cancel.cancelled() => return failed(spec, "aborted".to_owned(), None, 0.0),
        response = request => response,
    };
    let response = match response {
        Ok(response) => response,
        Err(e) => return failed(spec, format!("GET {url}: {e}"), None, ms(started)),
    };
    let status = response.status().as_u16();
    let body = ctx.target.read_bytes(response).await;
    let latency_ms = ms(started);
    let document = match body.map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
        Ok(Ok(document)) => document,
        Ok(Err(_)) => {
            return failed(
                spec,
                format!("{url} answered {status} without a JSON body"),
                Some(status),
                latency_ms,
            )
        }
        Err(e) => {
            return failed(
                spec,
                format!("{url} answered {status}: {e}"),
                Some(status),
                latency_ms,
            )
        }
    };
    checked(spec, &document, status, latency_ms)
}

/// The outcome of an answer that came with a JSON body: its status and
/// every check of the plan, with the values the named checks read.
fn checked(
    spec: &AssertSpec,
    document: &serde_json::Value,
    status: u16,
    latency_ms: f64,
) -> TestOutcome {
    let expected = if spec.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        spec.expect_status.contains(&status)
    };
    let outcomes = json_checks::run(document, &spec.checks);
    let values = spec
        .checks
        .iter()
        .zip(&outcomes)
        .filter_map(|(check, outcome)| {
            let name = check.name.clone()?;
            let value = outcome.actual.as_ref().and_then(json_checks::as_metric)?;
            Some((name, value))
        })
        .collect();
    let failed_checks = outcomes.iter().filter(|o| !o.passed).count() as u64;
    TestOutcome::new(TestMetrics::Assert(AssertMetrics {
        status: Some(status),
        ok: expected && failed_checks == 0,
        failed_checks,
        checks: outcomes,
        values,
        latency_ms,
    }))
}

/// The outcome of an assertion that could not be checked: every check
/// failed, none read a value.
fn failed(spec: &AssertSpec, error: String, status: Option<u16>, latency_ms: f64) -> TestOutcome {
    let checks: Vec<CheckOutcome> = spec
        .checks
        .iter()
        .map(|c| CheckOutcome {
            pointer: c.pointer.clone(),
            expected: c.equals.clone(),
            actual: None,
            passed: false,
        })
        .collect();
    TestOutcome {
        error: Some(error),
        ..TestOutcome::new(TestMetrics::Assert(AssertMetrics {
            status,
            ok: false,
            failed_checks: checks.len() as u64,
            checks,
            values: Default::default(),
            latency_ms,
        }))
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
