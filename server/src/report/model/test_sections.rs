//! One section per test: its metrics as a table, its evidence as JSON, its
//! charts, and for chaos tests the proof of each restart.

use super::Row;
use crate::report::values::{label, leaves, metrics_json, show};
use app::charts::{self, Chart, PercentilePoint};
use engine::metrics::resilience::FaultEvidence;
use engine::results::TestResult;
use serde::Serialize;
use serde_json::Value;

/// One test's section.
#[derive(Debug, Clone, Serialize)]
pub struct TestSection {
    /// Its id in the plan.
    pub id: String,
    pub title: String,
    pub kind: String,
    /// PASS, FAIL, ERROR or ABORTED.
    pub status: String,
    /// Id, status, wall time, then every metric.
    pub metrics: Vec<Row>,
    /// Parameters and metrics as pretty JSON.
    pub evidence_json: String,
    /// Caveats.
    pub warnings: Vec<String>,
    /// Why it did not finish.
    pub error: Option<String>,
    /// Restart proofs (chaos tests).
    pub restarts: Vec<RestartProof>,
    /// Charts (drawn by the HTML renderer).
    #[serde(skip)]
    pub charts: Vec<Chart>,
}

/// Proof that a fault happened and the service came back.
#[derive(Debug, Clone, Serialize)]
pub struct RestartProof {
    pub service: String,
    /// Every field of the fault's evidence except its timeline.
    pub rows: Vec<Row>,
    /// Recovery time, when seen.
    pub recovery: Option<String>,
    /// Whether the restart was observed (not only requested), or the
    /// network fault read back at the proxy and its removal verified.
    pub observed: bool,
    /// A network fault rather than a restart.
    pub network: bool,
}

pub(super) fn test_section(t: &TestResult) -> TestSection {
    let metrics = metrics_json(t);
    let mut rows: Vec<Row> = vec![
        ("Test ID".to_owned(), format!("`{}`", t.id)),
        ("Status".to_owned(), format!("**{}**", t.status.as_str())),
        (
            // From start to end of the test, set-up and verification
            // included; the metrics' own `duration_ms` is the measured part.
            "Wall time (ms)".to_owned(),
            (t.finished_at_ms - t.started_at_ms).to_string(),
        ),
    ];
    rows.extend(
        leaves(&metrics)
            .into_iter()
            .map(|(k, v)| (label(&k), show(&v))),
    );
    let evidence = serde_json::json!({
        "test": t.id,
        "title": t.title,
        "kind": t.kind,
        "parameters": t.parameters,
        "metrics": metrics,
        "error": t.error,
    });
    let whole = serde_json::to_value(t).unwrap_or(Value::Null);
    TestSection {
        id: t.id.clone(),
        title: t.title.clone(),
        kind: t.kind.clone(),
        status: t.status.as_str().to_owned(),
        metrics: rows,
        evidence_json: serde_json::to_string_pretty(&evidence).unwrap_or_default(),
        warnings: t.warnings.clone(),
        error: t.error.clone(),
        restarts: restart_proofs(&whole),
        charts: test_charts(t),
    }
}

/// Latency and throughput per second when it lasted long enough to draw
/// over time, the latency distribution from its histogram when it has one
/// (else, for a short test, from its latency summary: the choice the live
/// and report pages make, `load_charts`), the load through the fault of a
/// chaos test with background load, the recovery timeline when it has
/// faults.
fn test_charts(t: &TestResult) -> Vec<Chart> {
    let mut charts = Vec::new();
    let histogram = t
        .histogram
        .as_deref()
        .and_then(crate::report::hgrm::percentile_points);
    if histogram.is_none() || charts::build::long_enough_over_time(&t.windows) {
        charts.extend(charts::build::load_charts(
            &t.id,
            &t.windows,
            charts::build::latency_of(t.metrics.as_ref()),
        ));
    }
    if let Some(points) = histogram {
        charts.push(charts::latency_distribution(
            &format!("{} latency distribution", t.id),
            &points
                .iter()
                .map(|&(percentile, ms)| PercentilePoint { percentile, ms })
                .collect::<Vec<_>>(),
        ));
    }
    // A chaos test's background load: p95 and error rate through the
    // fault, the windows shaded (the same charts as the report page's).
    if let Some(load) = charts::fault_load::load_of(t.metrics.as_ref()) {
        charts.extend(charts::fault_load_charts(
            &t.id,
            &charts::FaultLoad::from_result(load),
        ));
    }
    if let Some(chart) = recovery_chart(&t.id, &t.faults) {
        charts.push(chart);
    }
    charts
}

/// The `faults` list of a test (chaos tests), read generically.
fn faults(whole: &Value) -> &[Value] {
    whole
        .get("faults")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn restart_proofs(whole: &Value) -> Vec<RestartProof> {
    faults(whole).iter().map(restart_proof).collect()
}

fn restart_proof(f: &Value) -> RestartProof {
    let service = f
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or("service")
        .to_owned();
    let mut rows = Vec::new();
    if let Value::Object(map) = f {
        for (k, v) in map {
            if k == "timeline" {
                continue;
            }
            if let Value::Object(_) = v {
                rows.extend(
                    leaves(v).into_iter().map(|(sk, sv)| {
                        (format!("{} {}", label(k), sk.replace('_', " ")), show(&sv))
                    }),
                );
            } else if !v.is_null() {
                rows.push((label(k), show(v)));
            }
        }
    }
    RestartProof {
        service,
        rows,
        recovery: f
            .get("recovery_ms")
            .and_then(Value::as_f64)
            .map(|ms| format!("{:.1} s", ms / 1000.0)),
        network: f.get("network").is_some_and(|n| !n.is_null()),
        observed: match f.get("network").filter(|n| !n.is_null()) {
            // A network fault: read back at the proxy and removed.
            Some(n) => {
                n.get("removal_verified").and_then(Value::as_bool) == Some(true)
                    && n.get("connections_affected").and_then(Value::as_u64) != Some(0)
            }
            None => f
                .get("restart_observed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
    }
}

/// The recovery timeline of a chaos test, from its faults' evidence (the
/// live page builds its own with the same function).
fn recovery_chart(id: &str, faults: &[FaultEvidence]) -> Option<Chart> {
    let t0 = faults.iter().map(|f| f.requested_at_ms).min()?;
    let (lanes, markers) = charts::fault_lanes(faults, t0);
    Some(charts::recovery_timeline(
        &format!("{id} recovery timeline (health per service)"),
        lanes,
        markers,
    ))
}
