//! The job protocol client: create a job from the plan's body template,
//! read its id and status through JSON pointers, follow it by polling or by
//! its SSE events to a terminal status, and check its artifact.

use crate::plan::{Follow, JobProtocol};
use crate::sse::SseReader;
use crate::target::Target;
use crate::template::{fill_path, render, JobVars};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
    /// The protocol.
    pub protocol: &'a JobProtocol,
    /// The target.
    pub target: &'a Target,
}

impl JobClient<'_> {
    async fn get_json(&self, path: &str) -> Result<Value, String> {
        let url = self.target.url(path).map_err(|e| e.to_string())?;
        let response = self
            .target
            .client
            .get(url.clone())
            .headers(self.target.headers.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
        response
            .json::<Value>()
            .await
            .map_err(|e| format!("GET {url}: not JSON: {e}"))
    }

    /// Creates a job and returns its id.
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
        let method = reqwest::Method::from_bytes(self.protocol.create_method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let response = self
            .target
            .client
            .request(method, url.clone())
            .headers(self.target.headers.clone())
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("create job at {url}: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!(
                "create job at {url} answered {status}: {}",
                clip(&text)
            ));
        }
        let document: Value = serde_json::from_str(&text)
            .map_err(|_| format!("create job at {url}: answer is not JSON: {}", clip(&text)))?;
        match document.pointer(&self.protocol.id_pointer) {
            Some(Value::String(id)) => Ok(id.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(format!(
                "create job at {url}: no id at {}",
                self.protocol.id_pointer
            )),
        }
    }

    /// The job's status and document.
    pub async fn status(&self, id: &str) -> Result<(String, Value), String> {
        let document = self
            .get_json(&fill_path(&self.protocol.status_path, id, ""))
            .await?;
        let status = document
            .pointer(&self.protocol.status_pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("job {id}: no status at {}", self.protocol.status_pointer))?
            .to_owned();
        Ok((status, document))
    }

    fn end(&self, status: String, document: Value) -> Option<JobEnd> {
        if self.protocol.success_statuses.contains(&status) {
            Some(JobEnd::Succeeded(document))
        } else if self.protocol.terminal_statuses.contains(&status) {
            Some(JobEnd::Failed(status))
        } else {
            None
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
                    Ok((status, document)) => {
                        if let Some(end) = self.end(status, document) {
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

    /// Reads a job's SSE events until the server ends the stream; calls
    /// `on_event` with the time since opening for each.
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
        read_sse(self.target, &fill_path(path, id, ""), None, on_event).await
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
        let response = self
            .target
            .client
            .get(url.clone())
            .headers(self.target.headers.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "artifact {key}: GET {url} answered {}",
                response.status()
            ));
        }
        let bytes = response
            .bytes()
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
        Some(self.get_json(&metric.path).await.and_then(|doc| {
            doc.pointer(&metric.pointer)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("no number at {} in {}", metric.pointer, metric.path))
        }))
    }
}

/// Opens an SSE path and reads it to its end. Returns an error when the
/// stream could not be opened or broke; `end_event`, when given, must have
/// been seen.
pub async fn read_sse(
    target: &Target,
    path: &str,
    end_event: Option<&str>,
    mut on_event: impl FnMut(Duration),
) -> Result<(), String> {
    let url = target.url(path).map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let response = target
        .client
        .get(url.clone())
        .headers(target.headers.clone())
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url} answered {}", response.status()));
    }
    let mut reader = SseReader::new(response);
    let mut saw_end = end_event.is_none();
    while let Some(event) = reader.next().await.map_err(|e| format!("{url}: {e}"))? {
        on_event(opened.elapsed());
        if end_event == Some(event.event.as_str()) {
            saw_end = true;
        }
    }
    if saw_end {
        Ok(())
    } else {
        Err(format!(
            "{url}: the stream ended without a {:?} event",
            end_event.unwrap_or_default()
        ))
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}
