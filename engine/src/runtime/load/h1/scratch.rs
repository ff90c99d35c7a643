//! Reading an answer off the socket through one scratch buffer per
//! thread: a connection gets only the bytes that came (and none at all for
//! an answer that came whole in one read), never room for a read.

use super::parse::{parse_head, Framing, Head};
use super::{Failure, Kept};
use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// An answer read whole: its head and, when kept, its body.
pub(super) type Whole = (Head, Option<Kept>);

/// Most bytes one read takes from the socket (the size of each thread's
/// scratch buffer).
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where this thread's reads land before their bytes are copied to
    /// their connection: borrowed only within one poll, never across an
    /// await.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// One read of what the socket holds, appended to `out`: the number of
/// bytes, 0 at the end of the stream.
pub(super) fn read_appending(
    stream: Pin<&mut TcpStream>,
    cx: &mut Context<'_>,
    out: &mut Vec<u8>,
) -> Poll<std::io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut read = ReadBuf::new(&mut scratch[..]);
        stream.poll_read(cx, &mut read).map_ok(|()| {
            out.extend_from_slice(read.filled());
            read.filled().len()
        })
    })
}

/// The first read of an answer: `Some` with its head and kept body when
/// it brought the whole answer and nothing more (the common case, parsed
/// where it landed, so the connection's buffer is not used at all);
/// `None` after copying what it brought to `out` for the rest of the
/// reading (a failed read is left to that too, which tells a close from a
/// break).
pub(super) fn read_first(
    stream: Pin<&mut TcpStream>,
    cx: &mut Context<'_>,
    out: &mut Vec<u8>,
    head_request: bool,
    keep_body: Option<usize>,
) -> Poll<Result<Option<Whole>, Failure>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let mut read = ReadBuf::new(&mut scratch[..]);
        match stream.poll_read(cx, &mut read) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Ok(None)),
            Poll::Ready(Ok(())) => {}
        }
        let whole = whole_answer(read.filled(), head_request, keep_body);
        if let Ok(None) = whole {
            out.extend_from_slice(read.filled());
        }
        Poll::Ready(whole)
    })
}

/// `bytes` as one whole answer, when they are exactly one: a final status,
/// no body or one framed by its length, and not a byte more.
pub(super) fn whole_answer(
    bytes: &[u8],
    head_request: bool,
    keep_body: Option<usize>,
) -> Result<Option<Whole>, Failure> {
    let Some(head) = parse_head(bytes, head_request)? else {
        return Ok(None);
    };
    let rest = &bytes[head.len..];
    let exact = match head.framing {
        _ if (100..200).contains(&head.status) && head.status != 101 => false,
        Framing::Empty => rest.is_empty(),
        Framing::Length(n) => u64::try_from(rest.len()).is_ok_and(|len| len == n),
        Framing::Chunked | Framing::UntilClose => false,
    };
    if !exact {
        return Ok(None);
    }
    let mut body = keep_body.map(|limit| Kept {
        bytes: Vec::new(),
        limit,
    });
    if let Some(kept) = body.as_mut() {
        kept.extend(rest)?;
    }
    Ok(Some((head, body)))
}
