//! Templates: the job protocol's `{{kind}}`, `{{params}}`,
//! `{{idempotency_key}}` and `{{test_id}}` in a create body, and `{id}` or
//! `{artifact}` in paths; and `http_load`'s request placeholders
//! (`{{seq}}`, `{{uuid}}`, `{{row.COLUMN}}`) in its path, header values and
//! body, parsed once into a [`RequestText`] and rendered per request.

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

/// One piece of a request text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// `{{seq}}`: the request's number in the test, from 0.
    Seq,
    /// `{{uuid}}`: a random UUID, the same everywhere in one request.
    Uuid,
    /// `{{row.COLUMN}}`: that column of the request's data file row.
    Column(String),
}

/// How a rendered value is written into its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As is (header values; data values hold no control characters).
    None,
    /// Percent-encoded (paths and queries).
    Url,
    /// Escaped for the inside of a JSON string (`json` bodies).
    Json,
}

/// What a request's placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct RequestVars<'a> {
    /// The request's number in the test.
    pub seq: u64,
    /// The request's UUID.
    pub uuid: &'a str,
    /// The request's data row, as `(columns, values)`.
    pub row: Option<(&'a [String], &'a [String])>,
}

/// A text of a request with its placeholders found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestText {
    parts: Vec<Part>,
}

impl RequestText {
    /// Finds the placeholders; an unknown or unclosed one is an error
    /// saying what is expected.
    pub fn parse(text: &str) -> Result<RequestText, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed {{{{ in {text:?}"))?;
            let name = after[..end].trim();
            parts.push(match name {
                "seq" => Part::Seq,
                "uuid" => Part::Uuid,
                _ => match name.strip_prefix("row.") {
                    Some(column) if !column.is_empty() => Part::Column(column.to_owned()),
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{{{name}}}}}; expected {{{{seq}}}}, {{{{uuid}}}} or {{{{row.COLUMN}}}}"
                        ))
                    }
                },
            });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(RequestText { parts })
    }

    /// Whether it has no placeholder (the request can be built once).
    pub fn is_plain(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Whether it holds `{{seq}}`.
    pub fn uses_seq(&self) -> bool {
        self.parts.contains(&Part::Seq)
    }

    /// Whether it holds `{{uuid}}`.
    pub fn uses_uuid(&self) -> bool {
        self.parts.contains(&Part::Uuid)
    }

    /// The data file columns it names.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Column(c) => Some(c.as_str()),
            _ => None,
        })
    }

    /// The text with its placeholders filled; a column the row lacks is
    /// left empty (columns are checked against the file when the plan is
    /// loaded).
    pub fn render(&self, vars: &RequestVars<'_>, escape: Escape) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => out.push_str(&vars.seq.to_string()),
                Part::Uuid => out.push_str(&escaped(vars.uuid, escape)),
                Part::Column(name) => {
                    let value = vars.row.and_then(|(columns, values)| {
                        columns
                            .iter()
                            .position(|c| c == name)
                            .and_then(|i| values.get(i))
                    });
                    if let Some(value) = value {
                        out.push_str(&escaped(value, escape));
                    }
                }
            }
        }
        out
    }
}

fn escaped(value: &str, escape: Escape) -> String {
    match escape {
        Escape::None => value.to_owned(),
        Escape::Url => encode(value),
        Escape::Json => {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_default()
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_texts_fill_seq_uuid_and_rows() {
        let t = RequestText::parse("/users/{{row.id}}?n={{seq}}&r={{ uuid }}").unwrap();
        assert!(!t.is_plain() && t.uses_uuid());
        assert_eq!(t.columns().collect::<Vec<_>>(), ["id"]);
        let columns = ["id".to_owned(), "name".to_owned()];
        let values = ["a b/c".to_owned(), "x".to_owned()];
        let vars = RequestVars {
            seq: 41,
            uuid: "u-1",
            row: Some((&columns, &values)),
        };
        assert_eq!(t.render(&vars, Escape::Url), "/users/a%20b%2Fc?n=41&r=u-1");
        let body = RequestText::parse(r#"{"name":"{{row.name}} \"{{row.id}}\""}"#).unwrap();
        let columns = ["name".to_owned(), "id".to_owned()];
        let values = ["say \"hi\"".to_owned(), "n".to_owned()];
        let vars = RequestVars {
            seq: 0,
            uuid: "",
            row: Some((&columns, &values)),
        };
        let rendered = body.render(&vars, Escape::Json);
        let doc: serde_json::Value = serde_json::from_str(&rendered).unwrap();
        assert_eq!(doc, json!({"name": "say \"hi\" \"n\""}));
        // A column the row lacks renders empty.
        let vars = RequestVars { row: None, ..vars };
        assert_eq!(
            RequestText::parse("a{{row.id}}b")
                .unwrap()
                .render(&vars, Escape::None),
            "ab"
        );
        assert!(RequestText::parse("/plain").unwrap().is_plain());
        assert_eq!(
            RequestText::parse("/{{nope}}").unwrap_err(),
            "unknown placeholder {{nope}}; expected {{seq}}, {{uuid}} or {{row.COLUMN}}"
        );
        assert!(RequestText::parse("/{{seq")
            .unwrap_err()
            .contains("unclosed"));
        assert!(RequestText::parse("/{{row.}}").is_err());
    }

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
