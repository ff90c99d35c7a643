//! A small HTTP/1.1 client connection for plain `http://` load.
//!
//! One request in flight per connection, written from bytes serialised once
//! per test, and the answer parsed with `httparse` in the worker's own task:
//! no connection task, no channel between the two, no header map built per
//! request. The socket is read into one scratch buffer per thread; an
//! answer that came whole in one read (the common case) is parsed right
//! there, and only the bytes of one that did not are copied into the
//! connection's own buffer, so an idle connection holds no buffer at all.
//! That keeps a load worker's CPU per request and memory per connection at
//! the level of wrk's.
//!
//! It reads Content-Length, chunked (with trailers) and read-until-close
//! bodies, skips 1xx interim answers, knows that HEAD, 204 and 304 answers
//! have no body, and does not reuse a connection the server said it would
//! close, left extra bytes on, or answered in HTTP/1.0 without keep-alive.

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use reqwest::Method;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod parse;
mod scratch;
#[cfg(test)]
mod tests;

use parse::{has_token, parse_head, Framing, Head};
use scratch::{read_appending, read_first};

/// Longest status line plus headers (or chunk-size line, or trailers).
const MAX_HEAD: usize = 1 << 20;
/// A connection's buffer grown past this by a large answer is let go
/// afterwards (the next answer starts a new one).
const KEEP_CAPACITY: usize = 64 * 1024;
/// A reused connection idle for this long is checked for a close by the
/// server before a request is written on it.
const IDLE_CHECK: Duration = Duration::from_millis(50);

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection ended before any byte of an answer was read (a
    /// kept-alive connection the server had closed): a request that changes
    /// nothing may be sent again on a new one.
    ClosedEarly,
    /// A broken connection or an answer that is not valid HTTP/1.1.
    Broken,
    /// A kept body past its cap (`max_answer_bytes`).
    TooLarge,
}

/// An answer body being kept, refused past its cap.
struct Kept {
    bytes: Vec<u8>,
    limit: usize,
}

impl Kept {
    fn extend(&mut self, more: &[u8]) -> Result<(), Failure> {
        if self.bytes.len().saturating_add(more.len()) > self.limit {
            return Err(Failure::TooLarge);
        }
        self.bytes.extend_from_slice(more);
        Ok(())
    }
}

/// A request's bytes, ready to be written.
#[derive(Clone)]
pub struct Wire {
    bytes: Bytes,
    head: bool,
    idempotent: bool,
    closes: bool,
}

/// Without the bytes: they hold header values such as credentials.
impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("bytes", &self.bytes.len())
            .field("head", &self.head)
            .field("idempotent", &self.idempotent)
            .field("closes", &self.closes)
            .finish()
    }
}

impl Wire {
    /// Serialises a request once: request line, the given headers (a
    /// Content-Length or Transfer-Encoding among them is replaced by the
    /// body's real length), then the body. With `close`, it asks the server
    /// to close the connection after answering (a connection per request);
    /// a `Connection: close` among the headers does the same.
    pub fn new(
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        close: bool,
    ) -> Wire {
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || (close && name == CONNECTION)
            {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let sends_body =
            !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        if sends_body {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        let closes = close
            || headers
                .get_all(CONNECTION)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| has_token(v, "close")));
        Wire {
            bytes: Bytes::from(out),
            head: *method == Method::HEAD,
            closes,
            idempotent: matches!(
                *method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
            ),
        }
    }

    /// Whether sending it twice has the effect of sending it once.
    pub fn idempotent(&self) -> bool {
        self.idempotent
    }
}

/// A status and, when asked for, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The body (decoded from chunks), when asked for.
    pub body: Option<Bytes>,
}

/// One open connection.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    last_used: Instant,
    used: bool,
}

impl Connection {
    /// Connects to the first address that accepts.
    pub async fn open(addrs: &[SocketAddr]) -> std::io::Result<Connection> {
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Connection {
                        stream,
                        buf: Vec::new(),
                        pos: 0,
                        last_used: Instant::now(),
                        used: false,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Whether a request was already answered on it.
    pub fn reused(&self) -> bool {
        self.used
    }

    /// Whether the server closed it while it sat idle (checked without
    /// blocking, and only after [`IDLE_CHECK`] of idleness).
    pub fn closed_while_idle(&self) -> bool {
        if !self.used || self.last_used.elapsed() < IDLE_CHECK {
            return false;
        }
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Writes the request and reads its whole answer, keeping the body
    /// when `keep_body` gives its cap in bytes. `Ok` carries whether the
    /// connection may be used again.
    pub async fn exchange(
        &mut self,
        wire: &Wire,
        keep_body: Option<usize>,
    ) -> Result<(Reply, bool), Failure> {
        // The buffer is empty here: every exchange ends by clearing it, and
        // a failed one drops the connection.
        // A server may answer (413, say) and close before it has read a
        // long body: when writing fails, its answer is still read if one
        // came; with none, the read below fails as the write did.
        let written = self.stream.write_all(&wire.bytes).await.is_ok();
        let first = {
            let (stream, buf) = (&mut self.stream, &mut self.buf);
            std::future::poll_fn(|cx| {
                read_first(Pin::new(&mut *stream), cx, buf, wire.head, keep_body)
            })
            .await?
        };
        let (head, body, whole) = match first {
            Some((head, body)) => (head, body, true),
            // Boxed, made only when needed: most answers come whole in one
            // read, and inline this future would take room in every
            // worker's task.
            None => Box::pin(self.read_rest(wire.head, keep_body)).await?,
        };
        // Bytes nobody asked for: the connection is out of step.
        let in_step = self.pos == self.buf.len();
        let reusable = whole && in_step && written && !head.close && !wire.closes;
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        self.used = true;
        self.last_used = Instant::now();
        Ok((
            Reply {
                status: head.status,
                body: body.map(|kept| Bytes::from(kept.bytes)),
            },
            reusable,
        ))
    }

    /// Reads an answer the first read did not bring whole (what it brought
    /// is in the buffer): its head, its body when kept, and `false` when
    /// it ended with the connection.
    async fn read_rest(
        &mut self,
        head_request: bool,
        keep_body: Option<usize>,
    ) -> Result<(Head, Option<Kept>, bool), Failure> {
        let head = self.read_head(head_request).await?;
        self.consume(head.len);
        let mut body = keep_body.map(|limit| Kept {
            bytes: Vec::new(),
            limit,
        });
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => self.read_exact_body(n, body.as_mut()).await?,
            Framing::Chunked => self.read_chunked(body.as_mut()).await?,
            Framing::UntilClose => {
                self.read_to_close(body.as_mut()).await?;
                return Ok((head, body, false));
            }
        }
        Ok((head, body, true))
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        std::future::poll_fn(|cx| read_appending(Pin::new(&mut *stream), cx, buf)).await
    }

    /// Fills until the unread part holds at least `n` bytes.
    async fn fill_to(&mut self, n: usize) -> Result<(), Failure> {
        while self.available().len() < n {
            match self.fill().await {
                Ok(0) | Err(_) => return Err(Failure::Broken),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, Failure> {
        let mut answered = false;
        loop {
            if !self.available().is_empty() {
                answered = true;
                match parse_head(self.available(), head_request)? {
                    Some(head) if (100..200).contains(&head.status) && head.status != 101 => {
                        self.consume(head.len);
                        continue;
                    }
                    Some(head) => return Ok(head),
                    None if self.available().len() > MAX_HEAD => return Err(Failure::Broken),
                    None => {}
                }
            }
            match self.fill().await {
                Ok(0) | Err(_) if !answered && self.used => return Err(Failure::ClosedEarly),
                Ok(0) | Err(_) => return Err(Failure::Broken),
                Ok(_) => {}
            }
        }
    }

    async fn read_exact_body(
        &mut self,
        n: u64,
        mut body: Option<&mut Kept>,
    ) -> Result<(), Failure> {
        let mut remaining = n;
        loop {
            let take = self
                .available()
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            if let Some(body) = body.as_deref_mut() {
                body.extend(&self.available()[..take])?;
            }
            self.consume(take);
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            self.fill_to(1).await?;
        }
    }

    async fn read_chunked(&mut self, mut body: Option<&mut Kept>) -> Result<(), Failure> {
        loop {
            let size = loop {
                // httparse reads a size line without digits as 0.
                if self
                    .available()
                    .first()
                    .is_some_and(|b| !b.is_ascii_hexdigit())
                {
                    return Err(Failure::Broken);
                }
                match httparse::parse_chunk_size(self.available()) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.consume(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.available().len() <= MAX_HEAD => {
                        let want = self.available().len() + 1;
                        self.fill_to(want).await?;
                    }
                    _ => return Err(Failure::Broken),
                }
            };
            if size == 0 {
                return self.read_trailers().await;
            }
            self.read_exact_body(size, body.as_deref_mut()).await?;
            self.fill_to(2).await?;
            if &self.available()[..2] != b"\r\n" {
                return Err(Failure::Broken);
            }
            self.consume(2);
        }
    }

    /// Skips trailer lines up to the empty line that ends a chunked body.
    async fn read_trailers(&mut self) -> Result<(), Failure> {
        let mut seen = 0usize;
        loop {
            match self.available().windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.consume(2);
                    return Ok(());
                }
                Some(end) => {
                    seen += end + 2;
                    self.consume(end + 2);
                }
                None if seen + self.available().len() > MAX_HEAD => return Err(Failure::Broken),
                None => {
                    let want = self.available().len() + 1;
                    self.fill_to(want).await?;
                }
            }
        }
    }

    async fn read_to_close(&mut self, mut body: Option<&mut Kept>) -> Result<(), Failure> {
        loop {
            if let Some(body) = body.as_deref_mut() {
                body.extend(self.available())?;
            }
            let all = self.available().len();
            self.consume(all);
            match self.fill().await {
                Ok(0) => return Ok(()),
                Err(_) => return Err(Failure::Broken),
                Ok(_) => {}
            }
        }
    }
}
