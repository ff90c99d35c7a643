//! The job protocol client: create a job from the plan's body template,
//! read its id and status through JSON pointers, follow it by polling or by
//! its SSE events to a terminal status, and check its artifact.

use crate::clients::sse::SseReader;
use crate::plan::{status_text, Follow, JobPhase, JobProtocol, StreamEnd};
use crate::runner::target::Target;
use crate::template::{fill_path, render, JobVars};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use url::Url;

/// Timeout of each request of the protocol.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval when the plan sets none.
const DEFAULT_POLL_MS: u32 = 250;

/// How a followed job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// A success status; the job's last document.
    Succeeded(Value),
    /// Another terminal status.
    Failed(String),
    /// Not terminal by the deadline.
    TimedOut,
    /// The run was aborted.
    Cancelled,
    /// The target could not be asked or answered nonsense.
    Error(String),
}

/// Talks the job protocol to a target.
pub struct JobClient<'a> {
    /// The plan's `[jobs]` table: paths, body template and pointers.
    pub protocol: &'a JobProtocol,
    /// The environment the jobs run in.
    pub target: &'a Target,
}

/// A job's status as read from the target.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// The value at the protocol's `status_pointer`.
    pub value: Value,
    /// Where that puts the job.
    pub phase: JobPhase,
    /// The whole answer.
    pub document: Value,
}

impl JobStatus {
    /// The status as text, for messages.
    pub fn text(&self) -> String {
        status_text(&self.value)
    }
}

/// "`/job/state` not found in the answer of GET http://…: {…}".
pub fn not_found(pointer: &str, request: &str, answer: &str) -> String {
    format!(
        "`{pointer}` not found in the answer of {request}: {}",
        clip(answer)
    )
}

impl JobClient<'_> {
    /// GETs a URL within the protocol's request timeout; the error names
    /// the request.
    async fn get(&self, url: &Url) -> Result<reqwest::Response, String> {
        self.target
            .get(url.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// GETs a path and returns its JSON answer and the request's name
    /// (`GET http://…`) for messages.
    pub async fn get_json(&self, path: &str) -> Result<(Value, String), String> {
        let url = self.target.url(path).map_err(|e| e.to_string())?;
        let request = format!("GET {url}");
        let response = self.get(&url).await?;
        let status = response.status();
        let text = self
            .target
            .read_text(response)
            .await
            .map_err(|e| format!("{request}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{request} answered {status}: {}", clip(&text)));
        }
        let document = serde_json::from_str(&text)
            .map_err(|e| format!("{request}: not JSON ({e}): {}", clip(&text)))?;
        Ok((document, request))
    }

    /// Creates a job and returns its id: read at `id_pointer`, or from the
    /// answer's `Location` header when the plan names no pointer.
    pub async fn submit(
        &self,
        kind: &str,
        params: &Value,
        test_id: &str,
    ) -> Result<String, String> {
        let key = uuid::Uuid::new_v4().to_string();
        let vars = JobVars {
            kind,
            params,
            idempotency_key: &key,
            test_id,
        };
        let body = match &self.protocol.create_body {
            Some(template) => render(template, &vars),
            None => serde_json::json!({ "kind": kind, "params": params }),
        };
        let url = self
            .target
            .url(&self.protocol.create_path)
            .map_err(|e| e.to_string())?;
        let method_name = self.protocol.create_method.as_str();
        let method =
            reqwest::Method::from_bytes(method_name.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut request = self
            .target
            .request(method, url.clone())
            .json(&body)
            .timeout(REQUEST_TIMEOUT);
        if let Some(header) = &self.protocol.idempotency_header {
            request = request.header(header.as_str(), key.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("create job at {url}: {e}"))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = match self.target.read_text(response).await {
            Ok(text) => text,
            Err(e) => return Err(format!("create job at {url} answered {status}: {e}")),
        };
        if !status.is_success() {
            return Err(format!(
                "create job at {url} answered {status}: {}",
                clip(&text)
            ));
        }
        let Some(pointer) = &self.protocol.id_pointer else {
            return location
                .as_deref()
                .and_then(id_from_location)
                .ok_or_else(|| {
                    format!(
                        "create job at {url} answered {status} without a Location header \
                         naming the job (Location: {}), and the plan names no id_pointer",
                        location.as_deref().unwrap_or("absent")
                    )
                });
        };
        let document: Value = serde_json::from_str(&text)
            .map_err(|_| format!("create job at {url}: answer is not JSON: {}", clip(&text)))?;
        match document.pointer(pointer) {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(not_found(pointer, &format!("{method_name} {url}"), &text)),
        }
    }

    /// The job's status.
    pub async fn status(&self, id: &str) -> Result<JobStatus, String> {
        let (document, request) = self
            .get_json(&fill_path(&self.protocol.status_path, id, ""))
            .await?;
        let pointer = &self.protocol.status_pointer;
        let value = match document.pointer(pointer) {
            Some(value) if !value.is_null() => value.clone(),
            _ => return Err(not_found(pointer, &request, &document.to_string())),
        };
        Ok(JobStatus {
            phase: self.protocol.phase(&value, &document),
            value,
            document,
        })
    }

    fn end(&self, status: JobStatus) -> Option<JobEnd> {
        match status.phase {
            JobPhase::Terminal(true) => Some(JobEnd::Succeeded(status.document)),
            JobPhase::Terminal(false) => Some(JobEnd::Failed(status.text())),
            JobPhase::Queued | JobPhase::InFlight => None,
        }
    }

    /// Follows a job until it is terminal, the deadline passes or the run
    /// is aborted.
    pub async fn wait(
        &self,
        id: &str,
        follow: Follow,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> JobEnd {
        let work = async {
            if follow == Follow::Events {
                if let Err(e) = self.read_events(id, |_| {}).await {
                    return JobEnd::Error(e);
                }
            }
            let poll = Duration::from_millis(u64::from(
                self.protocol
                    .poll_interval_ms
                    .map_or(DEFAULT_POLL_MS, |p| p.get()),
            ));
            loop {
                match self.status(id).await {
                    Ok(status) => {
                        if let Some(end) = self.end(status) {
                            return end;
                        }
                    }
                    Err(e) => return JobEnd::Error(e),
                }
                tokio::time::sleep(poll).await;
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => JobEnd::Cancelled,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => JobEnd::TimedOut,
            end = work => end,
        }
    }

    /// Reads a job's SSE events to the end the protocol's `stream_end`
    /// names (or to the stream's close); calls `on_event` with the time
    /// since opening for each.
    pub async fn read_events(
        &self,
        id: &str,
        on_event: impl FnMut(Duration),
    ) -> Result<(), String> {
        let path = self
            .protocol
            .events_path
            .as_deref()
            .ok_or("the job protocol has no events_path")?;
        read_sse(
            self.target,
            &fill_path(path, id, ""),
            self.protocol.stream_end.as_ref(),
            on_event,
        )
        .await
    }

    /// Checks a successful job's artifact: its key is present and, when the
    /// plan gives `artifact_path`, it downloads and (when the target reports
    /// one) matches its sha256.
    pub async fn check_artifact(&self, document: &Value) -> Result<(), String> {
        let pointer = self
            .protocol
            .artifact_pointer
            .as_deref()
            .ok_or("the job protocol has no artifact_pointer")?;
        let key = document
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| format!("no artifact key at {pointer}"))?;
        let Some(path) = &self.protocol.artifact_path else {
            return Ok(());
        };
        let url = self
            .target
            .url(&fill_path(path, "", key))
            .map_err(|e| e.to_string())?;
        let response = self.get(&url).await?;
        if !response.status().is_success() {
            return Err(format!(
                "artifact {key}: GET {url} answered {}",
                response.status()
            ));
        }
        let bytes = self
            .target
            .read_bytes(response)
            .await
            .map_err(|e| format!("artifact {key}: {e}"))?;
        if let Some(sha_pointer) = &self.protocol.artifact_sha256_pointer {
            let expected = document
                .pointer(sha_pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("artifact {key}: no sha256 at {sha_pointer}"))?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(format!(
                    "artifact {key}: sha256 {actual} does not match the reported {expected}"
                ));
            }
        }
        Ok(())
    }

    /// Samples the queue metric, when the plan names one.
    pub async fn queue_depth(&self) -> Option<Result<f64, String>> {
        let metric = self.protocol.queue_metric.as_ref()?;
        Some(
            self.get_json(&metric.path)
                .await
                .and_then(|(doc, request)| {
                    doc.pointer(&metric.pointer)
                        .and_then(Value::as_f64)
                        .ok_or_else(|| not_found(&metric.pointer, &request, &doc.to_string()))
                }),
        )
    }
}

/// The job id a `Location` header names: its last path segment
/// (`/api/v2/tasks/42?x=1` gives `42`).
pub fn id_from_location(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let segment = path.trim_end_matches('/').rsplit('/').next()?;
    (!segment.is_empty() && !segment.contains(':')).then(|| segment.to_owned())
}

/// Opens an SSE path and reads it to its end: the last event `end` names
/// (an error when the stream closes before it), or the close itself when
/// `end` names no event. Errors when the stream could not be opened or broke.
pub async fn read_sse(
    target: &Target,
    path: &str,
    end: Option<&StreamEnd>,
    mut on_event: impl FnMut(Duration),
) -> Result<(), String> {
    let url = target.url(path).map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let response = target
        .get(url.clone())
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url} answered {}", response.status()));
    }
    let mut reader = SseReader::new(response, target.answer_limit);
    let mut needs_end = false;
    while let Some(event) = reader.next().await.map_err(|e| format!("{url}: {e}"))? {
        on_event(opened.elapsed());
        match end.and_then(|end| end.is_last(&event.event, &event.data)) {
            Some(true) => return Ok(()),
            Some(false) => needs_end = true,
            None => {}
        }
    }
    if needs_end {
        Err(format!(
            "{url}: the stream ended without the last event the plan names ({})",
            end.map(describe_end).unwrap_or_default()
        ))
    } else {
        Ok(())
    }
}

/// The plan's stream end in words.
pub fn describe_end(end: &StreamEnd) -> String {
    let mut names: Vec<&str> = end.events.iter().map(String::as_str).collect();
    names.extend(end.event.as_deref());
    let mut parts = Vec::new();
    if !names.is_empty() {
        parts.push(format!("event {}", names.join(" or ")));
    }
    if let Some(pointer) = &end.pointer {
        let equals = end.equals.clone().unwrap_or(Value::Bool(true));
        parts.push(format!("{pointer} == {equals} in its data"));
    }
    if parts.is_empty() {
        "the stream's close".to_owned()
    } else {
        parts.join(", or ")
    }
}

/// At most 300 characters of a target's answer, for messages.
pub(crate) fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_names_the_job_by_its_last_segment() {
        assert_eq!(id_from_location("/api/v2/tasks/42").as_deref(), Some("42"));
        assert_eq!(
            id_from_location("http://127.0.0.1:9/jobs/ab-c/?watch=1").as_deref(),
            Some("ab-c")
        );
        assert_eq!(id_from_location("http://127.0.0.1:9"), None);
        assert_eq!(id_from_location(""), None);
    }
}
