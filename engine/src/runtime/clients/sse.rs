//! A small Server-Sent Events reader over a reqwest response: enough for
//! `id`, `event` and `data` fields, comments and multi-line data.

use futures_util::StreamExt;

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field, when sent.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// Reads events from a streaming response.
pub struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pending: SseEvent,
    has_data: bool,
    limit: usize,
}

impl SseReader {
    /// Wraps a response (its status should already be checked); one
    /// event or line past `limit` bytes ends the reading with an error.
    pub fn new(response: reqwest::Response, limit: usize) -> SseReader {
        SseReader {
            stream: response.bytes_stream().boxed(),
            buffer: String::new(),
            pending: SseEvent::default(),
            has_data: false,
            limit,
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, String> {
        loop {
            while let Some(newline) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=newline).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(event) = self.line(line) {
                    return Ok(Some(event));
                }
            }
            if self.buffer.len() + self.pending.data.len() > self.limit {
                return Err(format!(
                    "an event is larger than max_answer_bytes ({} bytes)",
                    self.limit
                ));
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(e)) => return Err(e.to_string()),
                None => return Ok(None),
            }
        }
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data && self.pending.event.is_empty() {
                return None;
            }
            let mut event = std::mem::take(&mut self.pending);
            self.has_data = false;
            if event.event.is_empty() {
                event.event = "message".to_owned();
            }
            return Some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.pending.event = value.to_owned(),
            "id" => self.pending.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}
