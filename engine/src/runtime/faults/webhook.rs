//! The `http` restart method (a webhook: method, URL, headers with
//! `${secret.NAME}` filled from environment variables, expected status)
//! and the `railway` method (GraphQL `deploymentRestart(id: "…")` with a
//! bearer token read from the environment variable the plan names).
//! Secrets go into headers only; they are never part of what is recorded.

use super::Called;
use crate::plan::validate::RAILWAY_ENDPOINT;
use crate::plan::{HttpRestart, RailwayRestart};
use crate::runner::target::{fill_secrets, Target};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::time::Duration;

/// Timeout of a restart request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

async fn send(
    target: &Target,
    method: reqwest::Method,
    url: url::Url,
    headers: HeaderMap,
    body: Option<String>,
    called: String,
    accept: impl Fn(u16, &str) -> bool,
) -> Called {
    let mut request = target
        .client
        .request(method, url)
        .headers(headers)
        .timeout(REQUEST_TIMEOUT);
    if let Some(body) = body {
        request = request.body(body);
    }
    match request.send().await {
        Err(e) => Called::failed(called, format!("request failed: {e}")),
        Ok(response) => {
            let status = response.status().as_u16();
            let text = target
                .read_text(response)
                .await
                .unwrap_or_else(|e| format!("({e})"));
            Called {
                answer: format!("HTTP {status}: {}", super::clip(&text)),
                ok: accept(status, &text),
                called,
                supervisor: None,
            }
        }
    }
}

/// Calls the webhook.
pub async fn http(target: &Target, spec: &HttpRestart) -> Called {
    let called = format!("{} {}", spec.method.as_str(), spec.url);
    let url = match target.url(&spec.url) {
        Ok(url) => url,
        Err(e) => return Called::failed(called, e.to_string()),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &spec.headers {
        let value = match fill_secrets(&target.env, value) {
            Ok(value) => value,
            Err(e) => return Called::failed(called, e.to_string()),
        };
        let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            return Called::failed(called, format!("header {name:?} is not valid HTTP"));
        };
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let method = reqwest::Method::from_bytes(spec.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::POST);
    let expect = spec.expect_status;
    send(
        target,
        method,
        url,
        headers,
        spec.body.clone(),
        called,
        move |status, _| match expect {
            Some(expected) => status == expected,
            None => (200..300).contains(&status),
        },
    )
    .await
}

/// The GraphQL document that restarts a deployment.
pub fn railway_query(deployment_id: &str) -> String {
    let id = serde_json::Value::String(deployment_id.to_owned()).to_string();
    format!("mutation {{ deploymentRestart(id: {id}) }}")
}

/// Calls Railway's `deploymentRestart`.
pub async fn railway(target: &Target, spec: &RailwayRestart) -> Called {
    let endpoint = spec.endpoint.as_deref().unwrap_or(RAILWAY_ENDPOINT);
    let query = railway_query(&spec.deployment_id);
    let called = format!("POST {endpoint} {query}");
    let url = match target.url(endpoint) {
        Ok(url) => url,
        Err(e) => return Called::failed(called, e.to_string()),
    };
    let Some(var) = target.env.secrets.get(&spec.token_secret) else {
        return Called::failed(
            called,
            format!(
                "the environment declares no secret named {:?}",
                spec.token_secret
            ),
        );
    };
    let Ok(token) = std::env::var(var) else {
        return Called::failed(called, format!("environment variable {var} is not set"));
    };
    let Ok(mut auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return Called::failed(called, format!("the token in {var} is not a valid header"));
    };
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "query": query }).to_string();
    send(
        target,
        reqwest::Method::POST,
        url,
        headers,
        Some(body),
        called,
        |status, text| {
            let answer: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            (200..300).contains(&status)
                && answer.get("errors").is_none()
                && answer.pointer("/data/deploymentRestart") == Some(&serde_json::Value::Bool(true))
        },
    )
    .await
}
