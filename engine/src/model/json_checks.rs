//! Checks on JSON answers: the value at a JSON pointer must equal the
//! plan's value. Numbers compare by value (`0` equals `0.0`).

use crate::metrics::CheckOutcome;
use crate::plan::JsonCheck;
use serde_json::Value;

/// Whether two JSON values are equal, numbers compared by value.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Runs each check against a document.
pub fn run(document: &Value, checks: &[JsonCheck]) -> Vec<CheckOutcome> {
    checks
        .iter()
        .map(|check| {
            let actual = document.pointer(&check.pointer).cloned();
            let passed = actual
                .as_ref()
                .is_some_and(|actual| json_equal(actual, &check.equals));
            CheckOutcome {
                pointer: check.pointer.clone(),
                expected: check.equals.clone(),
                actual,
                passed,
            }
        })
        .collect()
}

/// Whether every check passes, without keeping the details (hot path).
pub fn all_pass(document: &Value, checks: &[JsonCheck]) -> bool {
    checks.iter().all(|check| {
        document
            .pointer(&check.pointer)
            .is_some_and(|actual| json_equal(actual, &check.equals))
    })
}

/// A number or boolean as a metric value.
pub fn as_metric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(0), &json!(0.0)));
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!(0), &json!("0")));
    }

    #[test]
    fn a_missing_pointer_fails() {
        let check = JsonCheck {
            pointer: "/errors".into(),
            equals: json!(0),
            name: None,
        };
        let out = run(&json!({"ok": true}), std::slice::from_ref(&check));
        assert!(!out[0].passed);
        assert_eq!(out[0].actual, None);
        assert!(all_pass(&json!({"errors": 0}), &[check]));
    }
}
