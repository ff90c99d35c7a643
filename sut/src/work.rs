//! What a run computes and the evidence file ("REP") it leaves: a chain of
//! SHA-256 digests seeded by the run's kind and parameters, one link per
//! step, reduced to a kind-specific result. Deterministic, so every attempt
//! of a run computes the same result.

use crate::runs::RunKind;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How a run is paced: steps and milliseconds per step, from the worker's
/// configuration unless the run's params override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub steps: u32,
    pub step_ms: u64,
}

/// Largest step count and step duration params may ask for.
pub const MAX_STEPS: u64 = 1000;
pub const MAX_STEP_MS: u64 = 60_000;

/// Checks the params a client sends: an object whose optional `steps`
/// (2..=1000) and `step_ms` (0..=60000) are integers in range.
pub fn check_params(params: &Value) -> Result<(), String> {
    let Some(object) = params.as_object() else {
        return Err("params must be a JSON object".into());
    };
    if let Some(steps) = object.get("steps") {
        match steps.as_u64() {
            Some(n) if (2..=MAX_STEPS).contains(&n) => {}
            _ => {
                return Err(format!(
                    "params.steps must be an integer in 2..={MAX_STEPS}"
                ))
            }
        }
    }
    if let Some(ms) = object.get("step_ms") {
        match ms.as_u64() {
            Some(n) if n <= MAX_STEP_MS => {}
            _ => {
                return Err(format!(
                    "params.step_ms must be an integer in 0..={MAX_STEP_MS}"
                ))
            }
        }
    }
    Ok(())
}

impl Pace {
    /// The pace of a run: params override the defaults (params were
    /// checked when the run was created; out-of-range values fall back).
    pub fn of(params: &Value, default: Pace) -> Pace {
        let steps = params
            .get("steps")
            .and_then(Value::as_u64)
            .filter(|n| (2..=MAX_STEPS).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default.steps);
        let step_ms = params
            .get("step_ms")
            .and_then(Value::as_u64)
            .filter(|n| *n <= MAX_STEP_MS)
            .unwrap_or(default.step_ms);
        Pace { steps, step_ms }
    }
}

/// One step's output.
#[derive(Debug, Clone, Serialize)]
pub struct StepOutput {
    pub step: u32,
    pub digest: String,
    /// A number in [0, 1) drawn from the digest.
    pub value: f64,
}

/// The whole computation of a run.
#[derive(Debug, Clone)]
pub struct Computation {
    pub steps: Vec<StepOutput>,
    pub result: Value,
}

/// Computes the run: `steps` chained digests and the kind's reduction.
pub fn compute(kind: RunKind, params: &Value, steps: u32) -> Computation {
    let mut digest: [u8; 32] = Sha256::new()
        .chain_update(kind.as_str().as_bytes())
        .chain_update(params.to_string().as_bytes())
        .finalize()
        .into();
    let mut outputs = Vec::with_capacity(steps as usize);
    for step in 1..=steps {
        digest = Sha256::new()
            .chain_update(digest)
            .chain_update(step.to_be_bytes())
            .finalize()
            .into();
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        let value = (u64::from_be_bytes(head) >> 11) as f64 / (1u64 << 53) as f64;
        outputs.push(StepOutput {
            step,
            digest: hex::encode(digest),
            value,
        });
    }
    let values: Vec<f64> = outputs.iter().map(|s| s.value).collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let result = match kind {
        // A random walk driven by the values: final position and extremes.
        RunKind::Simulation => {
            let (mut pos, mut lo, mut hi) = (0.0f64, 0.0f64, 0.0f64);
            for v in &values {
                pos += v - 0.5;
                lo = lo.min(pos);
                hi = hi.max(pos);
            }
            json!({ "final_position": pos, "min": lo, "max": hi })
        }
        // Mean and variance of the samples: the calibrated parameters.
        RunKind::Calibration => {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            json!({ "mean": mean, "variance": var })
        }
        // The best candidate (highest score) among the steps.
        RunKind::AutoTune => {
            let best = outputs
                .iter()
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map(|s| json!({ "candidate": s.step, "score": s.value }))
                .unwrap_or(Value::Null);
            json!({ "best": best, "candidates": outputs.len() })
        }
        // An export: the rows themselves.
        RunKind::Export => json!({
            "rows": outputs.len(),
            "columns": ["step", "digest", "value"],
        }),
    };
    let result = json!({
        "kind": kind.as_str(),
        "digest": outputs.last().map(|s| s.digest.clone()).unwrap_or_default(),
        "summary": result,
    });
    Computation {
        steps: outputs,
        result,
    }
}

/// The evidence file of one attempt, as stored, and the sha256 recorded.
pub struct Rep {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Who wrote the REP and where.
pub struct RepContext<'a> {
    pub run_id: &'a str,
    pub kind: RunKind,
    pub params: &'a Value,
    pub attempt: i64,
    pub worker_id: &'a str,
    pub environment: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub stored_at_ms: i64,
}

/// Renders the REP. Normally the digest covers exactly the stored bytes.
/// With `hash_before_stamp` (the `corrupt-artifact` fault) the digest is
/// taken before `stored_at_ms` is stamped in, so it never matches.
pub fn render_rep(ctx: &RepContext<'_>, computation: &Computation, hash_before_stamp: bool) -> Rep {
    let mut doc = json!({
        "format": "shakedown-sut.rep/1",
        "run_id": ctx.run_id,
        "kind": ctx.kind.as_str(),
        "params": ctx.params,
        "attempt": ctx.attempt,
        "worker_id": ctx.worker_id,
        "environment": ctx.environment,
        "bucket": ctx.bucket,
        "key": ctx.key,
        "steps": computation.steps,
        "result": computation.result,
    });
    let early = hash_before_stamp.then(|| sha256_hex(&to_bytes(&doc)));
    if let Some(object) = doc.as_object_mut() {
        object.insert("stored_at_ms".into(), json!(ctx.stored_at_ms));
    }
    let bytes = to_bytes(&doc);
    let sha256 = early.unwrap_or_else(|| sha256_hex(&bytes));
    Rep { bytes, sha256 }
}

fn to_bytes(doc: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Lower-case hex SHA-256 of the bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computation_is_deterministic_per_params() {
        let p = json!({"seed": 7});
        let a = compute(RunKind::Calibration, &p, 5);
        let b = compute(RunKind::Calibration, &p, 5);
        assert_eq!(a.result, b.result);
        assert_eq!(a.steps.len(), 5);
        let c = compute(RunKind::Calibration, &json!({"seed": 8}), 5);
        assert_ne!(a.result, c.result);
    }

    #[test]
    fn rep_digest_matches_bytes_unless_corrupted() {
        let p = json!({});
        let comp = compute(RunKind::Export, &p, 3);
        let ctx = RepContext {
            run_id: "r",
            kind: RunKind::Export,
            params: &p,
            attempt: 1,
            worker_id: "w",
            environment: "staging",
            bucket: "b",
            key: "reps/r/attempt-1.json",
            stored_at_ms: 5,
        };
        let good = render_rep(&ctx, &comp, false);
        assert_eq!(sha256_hex(&good.bytes), good.sha256);
        let bad = render_rep(&ctx, &comp, true);
        assert_ne!(sha256_hex(&bad.bytes), bad.sha256);
    }

    #[test]
    fn params_are_checked() {
        assert!(check_params(&json!({})).is_ok());
        assert!(check_params(&json!({"steps": 3, "step_ms": 0})).is_ok());
        assert!(check_params(&json!([])).is_err());
        assert!(check_params(&json!({"steps": 1})).is_err());
        assert!(check_params(&json!({"step_ms": -1})).is_err());
        let pace = Pace::of(
            &json!({"steps": 9}),
            Pace {
                steps: 5,
                step_ms: 200,
            },
        );
        assert_eq!(
            pace,
            Pace {
                steps: 9,
                step_ms: 200
            }
        );
    }
}
