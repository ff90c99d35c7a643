//! Helpers that read a test's metrics generically from their JSON form, so
//! new test kinds and fields show up in reports without report changes.

pub use engine::diff::{leaves, metrics_json, numbers};
use serde_json::Value;

/// `latency.p95_ms` → `Latency p95 (ms)`.
pub fn label(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut unit = None;
    for (i, part) in name.split('.').enumerate() {
        let mut part = part.to_owned();
        if let Some(stripped) = part.strip_suffix("_ms") {
            part = stripped.to_owned();
            unit = Some("ms");
        }
        let text = part.replace('_', " ");
        words.push(if i == 0 { capitalise(&text) } else { text });
    }
    let text = words.join(" ");
    match unit {
        Some(u) => format!("{text} ({u})"),
        None => text,
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A value as shown in a table.
pub fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (_, Some(i), _) => i.to_string(),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// A float with one decimal, or none when it is whole.
pub fn number(f: f64) -> String {
    if f.is_finite() && (f - f.round()).abs() < 1e-9 && f.abs() < 1e15 {
        format!("{}", f.round() as i64)
    } else {
        format!("{f:.1}")
    }
}

/// A URL without user name or password.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(not a valid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_redaction() {
        assert_eq!(label("latency.p95_ms"), "Latency p95 (ms)");
        assert_eq!(label("fail"), "Fail");
        assert_eq!(
            redact_url("https://u:secret@example.com/x"),
            "https://example.com/x"
        );
        let v = serde_json::json!({"kind":"http_load","a":1,"b":{"c":2.5},"l":[1]});
        assert_eq!(numbers(&v), vec![("a".into(), 1.0), ("b.c".into(), 2.5)]);
    }
}
