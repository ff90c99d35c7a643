//! Reading an answer's status line and headers with `httparse`: its
//! status, how its body is framed, and whether the connection stays open.

use super::Failure;

/// Header slots tried first; an answer with more is parsed again with
/// [`MAX_HEADERS`].
const HEADERS: usize = 32;
/// Most headers an answer may have.
const MAX_HEADERS: usize = 1024;

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the status line and headers said.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head {
    pub(super) len: usize,
    pub(super) status: u16,
    pub(super) framing: Framing,
    pub(super) close: bool,
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
pub(super) fn parse_head(bytes: &[u8], head_request: bool) -> Result<Option<Head>, Failure> {
    let mut slots = [httparse::EMPTY_HEADER; HEADERS];
    match parse_with(bytes, &mut slots, head_request) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut slots = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            parse_with(bytes, &mut slots, head_request).map_err(|_| Failure::Broken)
        }
        other => other.map_err(|_| Failure::Broken),
    }
}

/// Parses with the given header slots (`TooManyHeaders` when they are too
/// few).
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

/// Whether a comma-separated header value (`Connection`) lists `token`.
pub(super) fn has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
