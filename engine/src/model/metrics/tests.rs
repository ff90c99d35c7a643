//! Each kind's metric table against what the kind measures, and status
//! counts read back from JSON.

use super::resilience::{ChaosMetrics, HealthMetrics, StorageProbeMetrics};
use super::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[test]
fn status_counts_read_back_inside_the_tagged_metrics() {
    let mut load = HttpLoadMetrics::default();
    load.status_counts.insert(200, 2);
    load.status_counts.insert(503, 1);
    let metrics = TestMetrics::HttpLoad(load.clone());
    let text = serde_json::to_string(&metrics).expect("serialised");
    assert!(text.contains(r#""200":2"#), "{text}");
    let back: TestMetrics = serde_json::from_str(&text).expect("read back");
    assert_eq!(back, metrics);
    let bad = text.replace(r#""200""#, r#""ok""#);
    let e = serde_json::from_str::<TestMetrics>(&bad).expect_err("not a code");
    assert!(e.to_string().contains("\"ok\" is not a number"), "{e}");
}

/// Gives every number in `value` its own value (10, 11, 12, ...) and every
/// boolean `true` (read as 1), and lists each field path with its value.
fn number_fields(value: &mut Value, path: &str, next: &mut u64, found: &mut Vec<(String, f64)>) {
    let under = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Number(_) => {
            *value = Value::from(*next);
            found.push((path.to_owned(), *next as f64));
            *next += 1;
        }
        Value::Bool(_) => {
            *value = Value::Bool(true);
            found.push((path.to_owned(), 1.0));
        }
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                number_fields(field, &under(key), next, found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                number_fields(item, &under(&i.to_string()), next, found);
            }
        }
        Value::Null | Value::String(_) => {}
    }
}

/// Every entry of `table` reads a field of `populated`, each field is read
/// by exactly one entry unless it is listed in `not_metrics` (then by
/// none), and names are unique.
fn check_table<M: Serialize + DeserializeOwned>(
    populated: &M,
    table: &[Metric<M>],
    not_metrics: &[&str],
) {
    let mut json = serde_json::to_value(populated).expect("serialised");
    let mut fields = Vec::new();
    number_fields(&mut json, "", &mut 10, &mut fields);
    let measured: M = serde_json::from_value(json).expect("read back");
    let values: Vec<(&str, f64)> = table
        .iter()
        .map(|m| {
            let value = m.read(&measured);
            let value = value.unwrap_or_else(|| panic!("{} reads nothing", m.info.name));
            (m.info.name, value)
        })
        .collect();
    for (path, value) in &fields {
        let readers: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v == value)
            .map(|(name, _)| *name)
            .collect();
        let expected = usize::from(!not_metrics.contains(&path.as_str()));
        assert_eq!(
            readers.len(),
            expected,
            "field {path} is read by {readers:?}"
        );
    }
    for (name, value) in &values {
        assert!(
            fields.iter().any(|(_, v)| v == value),
            "{name} reads no field"
        );
        let same = values.iter().filter(|(n, _)| n == name).count();
        assert_eq!(same, 1, "{name} is in the table {same} times");
    }
}

#[test]
fn every_metric_of_each_kind_is_in_its_table() {
    let mut http_load = HttpLoadMetrics::default();
    http_load.status_counts.insert(200, 1);
    check_table(
        &http_load,
        HttpLoadMetrics::table(),
        &["status_counts.200", "latency.count"],
    );

    let mut jobs = JobWorkloadMetrics {
        queue_backlog_peak: Some(1.0),
        ..JobWorkloadMetrics::default()
    };
    jobs.by_kind
        .insert("export".to_owned(), KindCounts::default());
    let by_kind = ["jobs", "ok", "fail", "timed_out"].map(|f| format!("by_kind.export.{f}"));
    let mut not_metrics: Vec<&str> = by_kind.iter().map(String::as_str).collect();
    not_metrics.extend(["queue_samples", "latency.count"]);
    check_table(&jobs, JobWorkloadMetrics::table(), &not_metrics);

    let unread_first_event = ["count", "min_ms", "mean_ms", "p90_ms", "p99_ms", "p999_ms"]
        .map(|f| format!("first_event.{f}"));
    let mut not_metrics: Vec<&str> = unread_first_event.iter().map(String::as_str).collect();
    not_metrics.push("latency.count");
    check_table(
        &StreamMetrics::default(),
        StreamMetrics::table(),
        &not_metrics,
    );

    let mut assert = AssertMetrics {
        status: Some(200),
        ..AssertMetrics::default()
    };
    assert.values.insert("rows".to_owned(), 3.0);
    check_table(&assert, AssertMetrics::table(), &["status", "values.rows"]);

    check_table(&ChaosMetrics::default(), ChaosMetrics::table(), &[]);
    let load = windows::LoadThroughFault {
        recovered_at_ms: Some(1.0),
        back_to_baseline_ms: Some(1.0),
        ..windows::LoadThroughFault::default()
    };
    let not_read = [
        "fault_at_ms",
        "recovered_at_ms",
        "end_ms",
        "baseline_tolerance",
        "baseline_window_ms",
        "samples_dropped",
        "before.duration_ms",
        "during.duration_ms",
        "after.duration_ms",
    ];
    check_table(&load, windows::LoadThroughFault::table(), &not_read);
    check_table(
        &StorageProbeMetrics::default(),
        StorageProbeMetrics::table(),
        &[],
    );
    let health = HealthMetrics {
        status: Some(200),
        ..HealthMetrics::default()
    };
    check_table(&health, HealthMetrics::table(), &["status"]);
}

#[test]
fn names_and_values_come_from_the_table() {
    assert_eq!(
        HttpLoadMetrics::names()[..3],
        ["requests", "ok", "fail"],
        "names keep the table's order"
    );
    let load = HttpLoadMetrics {
        fail: 3,
        ..HttpLoadMetrics::default()
    };
    assert_eq!(load.metric("fail"), Some(3.0));
    assert_eq!(load.metric("count"), None);
    let jobs = JobWorkloadMetrics::default();
    assert_eq!(jobs.metric("queue_backlog_peak"), None, "not measured");
    let mut assert = AssertMetrics::default();
    assert.values.insert("rows".to_owned(), 3.0);
    assert_eq!(assert.metric("rows"), Some(3.0), "a named check");
    let metrics = TestMetrics::Assert(assert);
    assert_eq!(
        metrics.info("failed_checks").map(|i| i.direction),
        Some(Direction::LowerIsBetter)
    );
    assert_eq!(metrics.info("rows"), None);
}
