//! Per-request rendering of an `http_load` spec whose path, header values
//! or body hold placeholders (`{{seq}}`, `{{uuid}}`, `{{row.COLUMN}}`, see
//! [`crate::template::RequestText`]). A spec without any keeps the request
//! prepared once ([`Prepared`]): nothing here runs on that path.

use super::transport::{Prepared, Rendered};
use crate::data_file::DataRows;
use crate::plan::HttpLoadSpec;
use crate::runner::target::Target;
use crate::template::{Escape, RequestText, RequestVars};
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use std::sync::Arc;

/// The templated parts of a spec's request.
#[derive(Debug)]
pub struct Templates {
    /// The path (with query), when it has placeholders.
    path: Option<RequestText>,
    /// Header values with placeholders (secrets already filled).
    headers: Vec<(HeaderName, RequestText)>,
    /// The body and how values are written into it, when it has
    /// placeholders.
    body: Option<(RequestText, Escape)>,
    /// Whether a UUID is drawn per request.
    uuid: bool,
    /// The data file's rows.
    data: Option<Arc<DataRows>>,
}

impl Templates {
    /// The templated parts of `spec`, or `None` when it has no placeholder
    /// (the request is sent as prepared).
    pub fn new(spec: &HttpLoadSpec, prepared: &Prepared) -> Result<Option<Templates>, String> {
        let path = Some(parse("path", &spec.path)?).filter(|t| !t.is_plain());
        let mut headers = Vec::new();
        for (name, raw) in &spec.headers {
            if let Some(header) = templated_header(name, raw, prepared)? {
                headers.push(header);
            }
        }
        let body = templated_body(spec)?;
        if path.is_none() && headers.is_empty() && body.is_none() {
            return Ok(None);
        }
        let all = path
            .iter()
            .chain(headers.iter().map(|(_, t)| t))
            .chain(body.iter().map(|(t, _)| t));
        let mut uuid = false;
        let mut columns = false;
        for text in all {
            uuid |= text.uses_uuid();
            columns |= text.columns().next().is_some();
        }
        if columns && spec.data.is_none() {
            return Err(match &spec.data_file {
                Some(file) => format!(
                    "data_file {file} was not read: a plan with a data file must be loaded from its file"
                ),
                None => "{{row.COLUMN}} placeholders need data_file".to_owned(),
            });
        }
        Ok(Some(Templates {
            path,
            headers,
            body,
            uuid,
            data: spec.data.clone(),
        }))
    }

    /// The `seq`-th request.
    pub fn render(
        &self,
        prepared: &Prepared,
        target: &Target,
        seq: u64,
    ) -> Result<Rendered, String> {
        let uuid = if self.uuid {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        };
        let row = self
            .data
            .as_deref()
            .map(|d| (d.columns.as_slice(), d.row(seq)));
        let vars = RequestVars {
            seq,
            uuid: &uuid,
            row,
        };
        let url = match &self.path {
            Some(path) => target
                .url(&path.render(&vars, Escape::Url))
                .map_err(|e| e.to_string())?,
            None => prepared.url.clone(),
        };
        let mut headers = prepared.headers.clone();
        for (name, text) in &self.headers {
            let value = HeaderValue::from_str(&text.render(&vars, Escape::None))
                .map_err(|_| format!("header {name}: the rendered value is not valid"))?;
            headers.insert(name.clone(), value);
        }
        let body = match &self.body {
            Some((text, escape)) => Bytes::from(text.render(&vars, *escape)),
            None => prepared.body.clone(),
        };
        Ok(prepared.render(url, headers, body))
    }
}

/// A request text of the plan's `field`, its error naming the field.
fn parse(field: &str, text: &str) -> Result<RequestText, String> {
    RequestText::parse(text).map_err(|e| format!("{field}: {e}"))
}

/// Header `name` as templated, or `None` when its text in the plan has no
/// placeholder (or it was not prepared). The template is read from the
/// prepared value, the environment's secrets filled in.
fn templated_header(
    name: &str,
    raw: &str,
    prepared: &Prepared,
) -> Result<Option<(HeaderName, RequestText)>, String> {
    // Whether the plan's text is templated decides; a secret's value
    // is never read as placeholders.
    if parse(&format!("headers.{name}"), raw)?.is_plain() {
        return Ok(None);
    }
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("headers.{name}: not a valid header name"))?;
    // The value with the environment's secrets filled in.
    let Some(value) = prepared.headers.get(&header) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| format!("headers.{name}: not valid text"))?;
    // A secret's value holding `{{` would be read as placeholders
    // (and quoted in errors): refuse it without quoting it.
    let secret_braces = || {
        format!(
            "headers.{name}: a secret in this templated header holds `{{{{`, which \
             would be read as a placeholder; send that secret in a header without placeholders"
        )
    };
    if value.matches("{{").count() != raw.matches("{{").count() {
        return Err(secret_braces());
    }
    let text = RequestText::parse(value).map_err(|_| secret_braces())?;
    Ok(Some((header, text)))
}

/// The body (`json` or `body`) as templated and how values are written into
/// it, or `None` when it has no placeholder.
fn templated_body(spec: &HttpLoadSpec) -> Result<Option<(RequestText, Escape)>, String> {
    Ok(match (&spec.json, &spec.body) {
        (Some(json), _) => Some((parse("json", &json.to_string())?, Escape::Json)),
        (None, Some(body)) => Some((parse("body", body)?, Escape::None)),
        (None, None) => None,
    }
    .filter(|(t, _)| !t.is_plain()))
}
