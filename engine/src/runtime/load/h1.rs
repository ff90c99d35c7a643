//! A small HTTP/1.1 client connection for plain `http://` load.
//!
//! One request in flight per connection, written from bytes serialised once
//! per test, and the answer parsed with `httparse` in the worker's own task:
//! no connection task, no channel between the two, no header map built per
//! request and a read buffer sized by what the answers need (a kilobyte for
//! small ones). That keeps a load worker's CPU per request and memory per
//! connection at the level of wrk's.
//!
//! It reads Content-Length, chunked (with trailers) and read-until-close
//! bodies, skips 1xx interim answers, knows that HEAD, 204 and 304 answers
//! have no body, and does not reuse a connection the server said it would
//! close, left extra bytes on, or answered in HTTP/1.0 without keep-alive.

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use reqwest::Method;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Header slots tried first; an answer with more is parsed again with
/// [`MAX_HEADERS`].
const HEADERS: usize = 32;
/// Most headers an answer may have.
const MAX_HEADERS: usize = 1024;
/// Longest status line plus headers (or chunk-size line, or trailers).
const MAX_HEAD: usize = 1 << 20;
/// The read buffer's first size, and the least room a read is given.
const READ_CHUNK: usize = 1024;
/// A buffer grown past this by a large answer is shrunk back afterwards.
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

/// Whether a comma-separated header value (`Connection`) lists `token`.
fn has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A status and, when asked for, the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// The body (decoded from chunks), when asked for.
    pub body: Option<Bytes>,
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the status line and headers said.
#[derive(Debug, Clone, Copy)]
struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    close: bool,
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
        let head = self.read_head(wire.head).await?;
        self.consume(head.len);
        let mut body = keep_body.map(|limit| Kept {
            bytes: Vec::new(),
            limit,
        });
        let mut reusable = written && !head.close && !wire.closes;
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => self.read_exact_body(n, body.as_mut()).await?,
            Framing::Chunked => self.read_chunked(body.as_mut()).await?,
            Framing::UntilClose => {
                self.read_to_close(body.as_mut()).await?;
                reusable = false;
            }
        }
        if self.pos < self.buf.len() {
            // Bytes nobody asked for: the connection is out of step.
            reusable = false;
        }
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf.shrink_to(READ_CHUNK);
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
        if self.pos > 0 && self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(self.buf.capacity().max(READ_CHUNK));
        }
        self.stream.read_buf(&mut self.buf).await
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

/// The answer headers that decide how its body ends and whether the
/// connection stays open.
#[derive(Debug, Clone, Copy)]
enum Framer {
    ContentLength,
    TransferEncoding,
    Connection,
}

impl Framer {
    fn named(name: &str) -> Option<Framer> {
        [
            ("content-length", Framer::ContentLength),
            ("transfer-encoding", Framer::TransferEncoding),
            ("connection", Framer::Connection),
        ]
        .into_iter()
        .find(|(known, _)| name.eq_ignore_ascii_case(known))
        .map(|(_, which)| which)
    }
}

/// Parses a status line and headers, `None` when more bytes are needed.
fn parse_head(bytes: &[u8], head_request: bool) -> Result<Option<Head>, Failure> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS];
    match parse_with(bytes, &mut slots, head_request) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut slots = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            parse_with(bytes, &mut slots, head_request).map_err(|_| Failure::Broken)
        }
        other => other.map_err(|_| Failure::Broken),
    }
}

fn parse_with<'b>(
    bytes: &'b [u8],
    slots: &mut [httparse::Header<'b>],
    head_request: bool,
) -> Result<Option<Head>, httparse::Error> {
    let mut response = httparse::Response::new(slots);
    let len = match response.parse(bytes)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in response.headers.iter() {
        // Only three headers matter here; the rest are not even decoded.
        let Some(which) = Framer::named(header.name) else {
            continue;
        };
        let value = std::str::from_utf8(header.value).map_err(|_| httparse::Error::HeaderValue)?;
        match which {
            Framer::ContentLength => {
                // 1*DIGIT, possibly as a list of the same value repeated.
                for item in value.split(',').map(str::trim) {
                    if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(httparse::Error::HeaderValue);
                    }
                    let n: u64 = item.parse().map_err(|_| httparse::Error::HeaderValue)?;
                    if length.is_some_and(|l| l != n) {
                        return Err(httparse::Error::HeaderValue);
                    }
                    length = Some(n);
                }
            }
            Framer::TransferEncoding => {
                encoded = true;
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            }
            Framer::Connection => {
                close |= has_token(value, "close");
                keep_alive |= has_token(value, "keep-alive");
            }
        }
    }
    let framing = if head_request || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if encoded {
        Framing::UntilClose
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        len,
        status,
        framing,
        // After 101 the connection speaks another protocol.
        close: close || (http10 && !keep_alive) || status == 101,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, HOST};
    use tokio::net::TcpListener;

    /// A server on loopback that answers each request (read up to the end
    /// of its headers) with the next canned answer, then closes.
    async fn serve(answers: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                loop {
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        break;
                    }
                    let mut chunk = [0u8; 512];
                    let n = socket.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&chunk[..n]);
                }
                // Dribble the answer out to exercise partial reads.
                for piece in answer.chunks(7) {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    fn get() -> Wire {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("x"));
        Wire::new(&Method::GET, "/a?b=1", &headers, b"", false)
    }

    #[test]
    fn requests_are_serialised_with_the_body_length() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("h:1"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        let wire = Wire::new(&Method::POST, "/jobs", &headers, b"{}", false);
        assert_eq!(
            &wire.bytes[..],
            b"POST /jobs HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert!(!wire.idempotent());
        let wire = Wire::new(&Method::GET, "/", &headers, b"", false);
        assert_eq!(&wire.bytes[..], b"GET / HTTP/1.1\r\nhost: h:1\r\n\r\n");
        assert!(!wire.closes);
    }

    #[test]
    fn a_wire_hides_its_bytes_and_knows_when_it_asks_to_close() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));
        headers.insert(CONNECTION, HeaderValue::from_static("Keep-Alive, Close"));
        let wire = Wire::new(&Method::GET, "/", &headers, b"", false);
        assert!(wire.closes);
        let shown = format!("{wire:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[tokio::test]
    async fn length_chunked_interim_and_close_delimited_answers_are_read_whole() {
        let addr = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
            b"HTTP/1.1 503 Busy\r\n\r\nuntil the end",
        ])
        .await;
        let mut conn = Connection::open(&[addr]).await.unwrap();
        let wire = get();
        let (reply, reuse) = conn.exchange(&wire, Some(usize::MAX)).await.unwrap();
        assert_eq!(
            (reply.status, reply.body.as_deref(), reuse),
            (200, Some(&b"hello"[..]), true)
        );
        let (reply, reuse) = conn.exchange(&wire, Some(usize::MAX)).await.unwrap();
        assert_eq!(
            (reply.status, reply.body.as_deref(), reuse),
            (201, Some(&b"abc0123456789"[..]), true)
        );
        let (reply, reuse) = conn.exchange(&wire, None).await.unwrap();
        assert_eq!((reply.status, reply.body, reuse), (204, None, true));
        let (reply, reuse) = conn.exchange(&wire, Some(usize::MAX)).await.unwrap();
        assert_eq!(
            (reply.status, reply.body.as_deref(), reuse),
            (503, Some(&b"until the end"[..]), false)
        );
    }

    #[tokio::test]
    async fn a_close_before_any_answer_on_a_reused_connection_can_be_retried() {
        let addr = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]).await;
        let mut conn = Connection::open(&[addr]).await.unwrap();
        let wire = get();
        assert!(conn.exchange(&wire, None).await.is_ok());
        assert_eq!(
            conn.exchange(&wire, None).await.unwrap_err(),
            Failure::ClosedEarly
        );
    }

    #[tokio::test]
    async fn truncated_and_invalid_answers_are_broken() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Le",
        ] {
            let addr = serve(vec![answer]).await;
            let mut conn = Connection::open(&[addr]).await.unwrap();
            assert_eq!(
                conn.exchange(&get(), Some(usize::MAX)).await.unwrap_err(),
                Failure::Broken,
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn http10_and_connection_close_are_not_reused_and_head_has_no_body() {
        let head = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(head.close);
        let head = parse_head(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(!head.close);
        let head = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(head.close);
        assert_eq!(head.framing, Framing::UntilClose);
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Length(3));
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Empty);
        let head = parse_head(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.framing, head.close), (Framing::Empty, true));
    }

    #[test]
    fn answers_with_many_headers_are_parsed() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..200 {
            text.push_str(&format!("x-h{i}: {}\r\n", "v".repeat(40)));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        let head = parse_head(text.as_bytes(), false).unwrap().unwrap();
        assert_eq!((head.status, head.framing), (200, Framing::Length(0)));
    }
}
