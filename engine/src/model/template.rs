//! The job protocol's templates: `{{kind}}`, `{{params}}`,
//! `{{idempotency_key}}` and `{{test_id}}` in a create body, and `{id}` or
//! `{artifact}` in paths.

use serde_json::Value;

/// What a create body's placeholders stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct JobVars<'a> {
    /// The job kind.
    pub kind: &'a str,
    /// The job's params (any JSON); `{}` when the plan gives none.
    pub params: &'a Value,
    /// A key unique to this job submission.
    pub idempotency_key: &'a str,
    /// The test that submits it.
    pub test_id: &'a str,
}

const NAMES: [&str; 4] = ["kind", "params", "idempotency_key", "test_id"];

/// Fills a create body. A string that is exactly `"{{params}}"` becomes the
/// params value; other placeholders are replaced inside strings.
pub fn render(body: &Value, vars: &JobVars<'_>) -> Value {
    match body {
        Value::String(s) if s == "{{params}}" => vars.params.clone(),
        Value::String(s) => Value::String(
            s.replace("{{kind}}", vars.kind)
                .replace("{{idempotency_key}}", vars.idempotency_key)
                .replace("{{test_id}}", vars.test_id),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Refuses unknown placeholders and `{{params}}` inside a longer string.
pub fn check_body(body: &Value) -> Result<(), String> {
    match body {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let end = after
                    .find("}}")
                    .ok_or_else(|| format!("unclosed {{{{ in {s:?}"))?;
                let name = &after[..end];
                if !NAMES.contains(&name) {
                    return Err(format!(
                        "unknown placeholder {{{{{name}}}}}; expected one of {{{{kind}}}}, {{{{params}}}}, {{{{idempotency_key}}}}, {{{{test_id}}}}"
                    ));
                }
                if name == "params" && s != "{{params}}" {
                    return Err(
                        "{{params}} must be a whole string value (it is replaced by JSON)"
                            .to_owned(),
                    );
                }
                rest = &after[end + 2..];
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_body),
        Value::Object(map) => map.values().try_for_each(check_body),
        _ => Ok(()),
    }
}

/// A path template with `{id}` and `{artifact}` filled (percent-encoded).
pub fn fill_path(template: &str, id: &str, artifact: &str) -> String {
    template
        .replace("{id}", &encode(id))
        .replace("{artifact}", &encode_keep_slash(artifact))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn encode_keep_slash(s: &str) -> String {
    s.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_become_json_and_text_is_replaced() {
        let body =
            json!({"kind": "{{kind}}", "params": "{{params}}", "key": "t-{{idempotency_key}}"});
        let params = json!({"n": 3});
        let vars = JobVars {
            kind: "export",
            params: &params,
            idempotency_key: "abc",
            test_id: "L3",
        };
        assert_eq!(
            render(&body, &vars),
            json!({"kind": "export", "params": {"n": 3}, "key": "t-abc"})
        );
        assert!(check_body(&body).is_ok());
        assert!(check_body(&json!({"x": "{{nope}}"})).is_err());
        assert!(check_body(&json!({"x": "a{{params}}"})).is_err());
    }

    #[test]
    fn paths_are_filled_and_encoded() {
        assert_eq!(fill_path("/runs/{id}", "a b", ""), "/runs/a%20b");
        assert_eq!(
            fill_path("/artifacts/{artifact}", "", "exports/x.json"),
            "/artifacts/exports/x.json"
        );
    }
}
