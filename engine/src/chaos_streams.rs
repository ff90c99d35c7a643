//! The SSE sessions of a chaos test. Each session creates a job and reads
//! its event stream; when the connection breaks before the final event it
//! reconnects with `Last-Event-ID` (every 100 ms until the deadline) and
//! checks that the ids continue with no gap and no repeat.

use crate::jobs::JobClient;
use crate::plan::ChaosStreams;
use crate::sse::SseReader;
use crate::target::Target;
use crate::template::fill_path;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How one session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionEnd {
    /// The first connection opened.
    pub opened: bool,
    /// The final event arrived.
    pub finished: bool,
    /// The final event reported a failed run.
    pub failed_run: bool,
    /// The connection broke at least once before the final event.
    pub interrupted: bool,
    /// Ids skipped.
    pub gaps: u64,
    /// Ids received again.
    pub repeats: u64,
    /// What went wrong, when something did.
    pub note: Option<String>,
}

/// What marks a stream's last event: the value at a JSON pointer of its data.
struct FinalMark<'a> {
    pointer: &'a str,
    equals: &'a Value,
}

impl FinalMark<'_> {
    fn is_final(&self, data: &Value) -> bool {
        data.pointer(self.pointer) == Some(self.equals)
    }
}

enum Read {
    Final,
    Broken(String),
}

/// Runs one session to its final event or the deadline. `first_events`
/// counts sessions that got their first event (for the fault trigger).
pub async fn session(
    client: &JobClient<'_>,
    spec: &ChaosStreams,
    test_id: &str,
    deadline: Instant,
    cancel: &CancellationToken,
    first_events: Arc<AtomicU64>,
) -> SessionEnd {
    let mut end = SessionEnd::default();
    let params = spec.job.params.clone().unwrap_or(Value::Null);
    let id = match client.submit(&spec.job.kind, &params, test_id).await {
        Ok(id) => id,
        Err(e) => {
            end.note = Some(e);
            return end;
        }
    };
    let Some(path) = client.protocol.events_path.as_deref() else {
        end.note = Some("the job protocol has no events_path".to_owned());
        return end;
    };
    let path = fill_path(path, &id, "");
    let final_mark = FinalMark {
        pointer: spec.final_pointer.as_deref().unwrap_or("/final"),
        equals: spec.final_equals.as_ref().unwrap_or(&Value::Bool(true)),
    };
    let mut last: Option<u64> = None;
    let mut connected_once = false;
    loop {
        if Instant::now() >= deadline || cancel.is_cancelled() {
            end.note = Some(format!(
                "stream of job {id} did not reach its final event by the deadline"
            ));
            return end;
        }
        let read = read_once(
            client.target,
            &path,
            last,
            &final_mark,
            &mut end,
            &mut last,
            &first_events,
            &mut connected_once,
            deadline,
        )
        .await;
        match read {
            Read::Final => {
                end.finished = true;
                return end;
            }
            Read::Broken(why) => {
                if connected_once {
                    end.interrupted = true;
                }
                end.note = Some(why);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_once(
    target: &Target,
    path: &str,
    resume_from: Option<u64>,
    final_mark: &FinalMark<'_>,
    end: &mut SessionEnd,
    last: &mut Option<u64>,
    first_events: &AtomicU64,
    connected_once: &mut bool,
    deadline: Instant,
) -> Read {
    let url = match target.url(path) {
        Ok(url) => url,
        Err(e) => return Read::Broken(e.to_string()),
    };
    let mut request = target
        .client
        .get(url.clone())
        .headers(target.headers.clone())
        .header("accept", "text/event-stream");
    if let Some(id) = resume_from {
        request = request.header("last-event-id", id.to_string());
    }
    let response = match request.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Read::Broken(format!("GET {url} answered {}", r.status())),
        Err(e) => return Read::Broken(format!("GET {url}: {e}")),
    };
    if !*connected_once {
        *connected_once = true;
        end.opened = true;
    }
    let mut reader = SseReader::new(response);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(remaining, reader.next()).await {
            Err(_) => return Read::Broken("deadline passed while reading".to_owned()),
            Ok(next) => next,
        };
        let event = match next {
            Ok(Some(event)) => event,
            Ok(None) => return Read::Broken(format!("{url}: stream ended before the final event")),
            Err(e) => return Read::Broken(format!("{url}: {e}")),
        };
        let Some(id) = event
            .id
            .as_deref()
            .and_then(|i| i.trim().parse::<u64>().ok())
        else {
            continue;
        };
        if last.is_none() {
            first_events.fetch_add(1, Ordering::Relaxed);
        }
        let expected = last.map_or(1, |l| l + 1);
        if id < expected {
            end.repeats += 1;
        } else if id > expected {
            end.gaps += id - expected;
        }
        *last = Some(last.map_or(id, |l| l.max(id)));
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        if final_mark.is_final(&data) {
            end.failed_run = event.event == "failed";
            return Read::Final;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_event_is_marked_by_true_unless_the_plan_names_a_value() {
        let default = FinalMark {
            pointer: "/final",
            equals: &Value::Bool(true),
        };
        assert!(default.is_final(&json!({"final": true})));
        assert!(!default.is_final(&json!({"final": false})));
        assert!(!default.is_final(&json!({"kind": "end"})));
        let end = json!("end");
        let by_kind = FinalMark {
            pointer: "/kind",
            equals: &end,
        };
        assert!(by_kind.is_final(&json!({"seq": 9, "kind": "end", "data": "{}"})));
        assert!(!by_kind.is_final(&json!({"seq": 8, "kind": "status"})));
        assert!(!by_kind.is_final(&Value::Null));
    }
}
