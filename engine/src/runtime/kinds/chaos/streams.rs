//! The SSE sessions of a chaos test. Each session creates a job and reads
//! its event stream; when the connection breaks before the last event it
//! reconnects (every 100 ms until the deadline), with `Last-Event-ID` when
//! the events carry ids, and checks that the ids continue with no gap and
//! no repeat: numeric ids by sequence, other ids (UUIDs) by whether they
//! were seen before, so a stream that replays from the start shows as
//! repeats. The last event is what the plan names (an event name or a
//! value in the data), or the stream's close once the job is terminal.

use crate::clients::jobs::JobClient;
use crate::clients::sse::{SseEvent, SseReader};
use crate::plan::{ChaosStreams, JobPhase, StreamEnd};
use crate::template::fill_path;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How one session ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionEnd {
    /// The job the session followed, once created.
    pub job: Option<String>,
    /// The first connection opened.
    pub opened: bool,
    /// The final event arrived.
    pub finished: bool,
    /// The job behind the stream ended in a failure status.
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

/// Sessions under way, for the fault's trigger and its evidence.
#[derive(Debug, Default)]
pub struct SessionCounters {
    first_events: AtomicU64,
    finished: AtomicU64,
}

impl SessionCounters {
    /// Sessions that had their first event and not yet their last.
    pub fn in_flight(&self) -> u64 {
        let first = self.first_events.load(Ordering::Relaxed);
        first.saturating_sub(self.finished.load(Ordering::Relaxed))
    }
}

/// What marks a stream's last event.
enum LastEvent {
    /// An event name or a value in the data.
    Marked(StreamEnd),
    /// The stream closing once the job is terminal.
    Close,
}

impl LastEvent {
    fn for_session(spec: &ChaosStreams, protocol_end: Option<&StreamEnd>) -> LastEvent {
        if let Some(pointer) = &spec.final_pointer {
            return LastEvent::Marked(StreamEnd {
                pointer: Some(pointer.clone()),
                equals: spec.final_equals.clone(),
                ..StreamEnd::default()
            });
        }
        match protocol_end {
            Some(end) if end.is_last("", "").is_some() => LastEvent::Marked(end.clone()),
            _ => LastEvent::Close,
        }
    }

    fn is_last(&self, event: &SseEvent) -> bool {
        match self {
            LastEvent::Marked(end) => end.is_last(&event.event, &event.data) == Some(true),
            LastEvent::Close => false,
        }
    }
}

/// The ids a session has seen, to count gaps and repeats.
#[derive(Default)]
struct Ids {
    /// The last id received, sent back as `Last-Event-ID`.
    last: Option<String>,
    /// The highest numeric id so far.
    highest: Option<u64>,
    /// Every id so far.
    seen: HashSet<String>,
}

impl Ids {
    fn record(&mut self, id: &str, end: &mut SessionEnd) {
        let id = id.trim();
        if let Ok(n) = id.parse::<u64>() {
            let expected = self.highest.map_or(1, |h| h + 1);
            if n < expected {
                end.repeats += 1;
            } else if n > expected && self.highest.is_some() {
                end.gaps += n - expected;
            }
            self.highest = Some(self.highest.map_or(n, |h| h.max(n)));
        } else if self.seen.contains(id) {
            end.repeats += 1;
        }
        self.seen.insert(id.to_owned());
        self.last = Some(id.to_owned());
    }
}

enum Read {
    Final,
    Broken(String),
}

/// Runs one session to its final event or the deadline.
pub async fn session(
    client: &JobClient<'_>,
    spec: &ChaosStreams,
    test_id: &str,
    deadline: Instant,
    cancel: &CancellationToken,
    counters: &SessionCounters,
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
    end.job = Some(id.clone());
    let Some(path) = client.protocol.events_path.as_deref() else {
        end.note = Some("the job protocol has no events_path".to_owned());
        return end;
    };
    let path = fill_path(path, &id, "");
    let last_event = LastEvent::for_session(spec, client.protocol.stream_end.as_ref());
    let mut ids = Ids::default();
    let mut session = Session {
        client,
        path: &path,
        job: &id,
        last_event: &last_event,
        counters,
        deadline,
        got_first: false,
    };
    loop {
        if Instant::now() >= deadline || cancel.is_cancelled() {
            end.note = Some(format!(
                "stream of job {id} did not reach its final event by the deadline"
            ));
            break;
        }
        match session.read_once(&mut ids, &mut end).await {
            Read::Final => {
                end.finished = true;
                end.failed_run = matches!(
                    client.status(&id).await.map(|s| s.phase),
                    Ok(JobPhase::Terminal(false))
                );
                break;
            }
            Read::Broken(why) => {
                if end.opened {
                    end.interrupted = true;
                }
                end.note = Some(why);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    if session.got_first {
        counters.finished.fetch_add(1, Ordering::Relaxed);
    }
    end
}

/// One session's fixed parts.
struct Session<'a> {
    client: &'a JobClient<'a>,
    path: &'a str,
    job: &'a str,
    last_event: &'a LastEvent,
    counters: &'a SessionCounters,
    deadline: Instant,
    got_first: bool,
}

impl Session<'_> {
    /// One connection: reads until the last event, a break, or the deadline.
    async fn read_once(&mut self, ids: &mut Ids, end: &mut SessionEnd) -> Read {
        let target = self.client.target;
        let url = match target.url(self.path) {
            Ok(url) => url,
            Err(e) => return Read::Broken(e.to_string()),
        };
        let mut request = target
            .get(url.clone())
            .header("accept", "text/event-stream");
        if let Some(id) = &ids.last {
            request = request.header("last-event-id", id.as_str());
        }
        let response = match request.send().await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return Read::Broken(format!("GET {url} answered {}", r.status())),
            Err(e) => return Read::Broken(format!("GET {url}: {e}")),
        };
        end.opened = true;
        let mut reader = SseReader::new(response, target.answer_limit);
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(remaining, reader.next()).await {
                Err(_) => return Read::Broken("deadline passed while reading".to_owned()),
                Ok(next) => next,
            };
            let event = match next {
                Ok(Some(event)) => event,
                Ok(None) => return self.closed(&url).await,
                Err(e) => return Read::Broken(format!("{url}: {e}")),
            };
            if !self.got_first {
                self.got_first = true;
                self.counters.first_events.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(id) = event.id.as_deref().filter(|i| !i.trim().is_empty()) {
                ids.record(id, end);
            }
            if self.last_event.is_last(&event) {
                return Read::Final;
            }
        }
    }

    /// The server closed the stream: the end when the plan says the close
    /// ends it and the job is terminal, else a break to reconnect after.
    async fn closed(&self, url: &url::Url) -> Read {
        if let LastEvent::Close = self.last_event {
            match self.client.status(self.job).await {
                Ok(status) if matches!(status.phase, JobPhase::Terminal(_)) => return Read::Final,
                Ok(status) => {
                    return Read::Broken(format!(
                        "{url}: stream closed while job {} was {}",
                        self.job,
                        status.text()
                    ))
                }
                Err(e) => return Read::Broken(format!("{url}: stream closed; {e}")),
            }
        }
        Read::Broken(format!("{url}: stream ended before the final event"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str, data: Value) -> SseEvent {
        SseEvent {
            id: None,
            event: name.to_owned(),
            data: data.to_string(),
        }
    }

    fn streams(final_pointer: Option<&str>, final_equals: Option<Value>) -> ChaosStreams {
        ChaosStreams {
            sessions: crate::plan::Positive::new(1).expect("positive"),
            job: crate::plan::JobMix {
                kind: "k".to_owned(),
                count: None,
                weight: None,
                params: None,
            },
            final_pointer: final_pointer.map(str::to_owned),
            final_equals,
        }
    }

    #[test]
    fn the_last_event_is_a_value_in_the_data_an_event_name_or_the_close() {
        let by_kind = LastEvent::for_session(&streams(Some("/kind"), Some(json!("end"))), None);
        assert!(by_kind.is_last(&event("message", json!({"seq": 9, "kind": "end"}))));
        assert!(!by_kind.is_last(&event("message", json!({"seq": 8, "kind": "status"}))));
        let by_true = LastEvent::for_session(&streams(Some("/final"), None), None);
        assert!(by_true.is_last(&event("completed", json!({"final": true}))));
        assert!(!by_true.is_last(&event("progress", json!({"final": false}))));
        let named = StreamEnd {
            event: Some("end".to_owned()),
            ..StreamEnd::default()
        };
        let by_name = LastEvent::for_session(&streams(None, None), Some(&named));
        assert!(by_name.is_last(&event("end", Value::Null)));
        assert!(!by_name.is_last(&event("progress", json!({"final": true}))));
        let close = LastEvent::for_session(&streams(None, None), Some(&StreamEnd::default()));
        assert!(matches!(close, LastEvent::Close));
        assert!(!close.is_last(&event("end", json!({"final": true}))));
    }

    #[test]
    fn numeric_ids_count_gaps_and_repeats_and_other_ids_count_repeats_by_membership() {
        let mut end = SessionEnd::default();
        let mut ids = Ids::default();
        for id in ["1", "2", "4", "4", "3"] {
            ids.record(id, &mut end);
        }
        assert_eq!((end.gaps, end.repeats), (1, 2));
        assert_eq!(ids.last.as_deref(), Some("3"));

        let mut end = SessionEnd::default();
        let mut ids = Ids::default();
        let replay = [
            "ev-a1", "ev-b2", "ev-c3", "ev-a1", "ev-b2", "ev-c3", "ev-d4",
        ];
        for id in replay {
            ids.record(id, &mut end);
        }
        assert_eq!((end.gaps, end.repeats), (0, 3));
    }

    #[test]
    fn a_stream_resumed_mid_way_has_no_gap_at_its_first_id() {
        let mut end = SessionEnd::default();
        let mut ids = Ids::default();
        for id in ["7", "8", "9"] {
            ids.record(id, &mut end);
        }
        assert_eq!((end.gaps, end.repeats), (0, 0));
    }
}
