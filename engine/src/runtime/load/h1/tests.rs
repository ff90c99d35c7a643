//! Unit tests of the HTTP/1.1 connection: requests as serialised, and
//! answers read from a loopback server that sends canned bytes.

use super::*;
use reqwest::header::{HeaderValue, HOST};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A server on loopback that answers each request (read up to the end
/// of its headers) with the next canned answer, dribbled out in pieces,
/// then closes.
async fn serve(answers: Vec<&'static [u8]>) -> SocketAddr {
    serve_in(answers, 7).await
}

/// Like [`serve`], writing each answer in pieces of `piece` bytes.
async fn serve_in(answers: Vec<&'static [u8]>, piece: usize) -> SocketAddr {
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
            for piece in answer.chunks(piece) {
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

#[tokio::test]
async fn answers_that_come_whole_are_read_as_when_they_come_in_pieces() {
    let answers: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    ];
    let mut seen = Vec::new();
    for piece in [7, usize::MAX] {
        let addr = serve_in(answers.clone(), piece).await;
        let mut conn = Connection::open(&[addr]).await.unwrap();
        let mut replies = Vec::new();
        for _ in &answers {
            let (reply, reuse) = conn.exchange(&get(), Some(usize::MAX)).await.unwrap();
            replies.push((reply.status, reply.body, reuse));
        }
        seen.push(replies);
    }
    assert_eq!(seen[0], seen[1]);
    let statuses: Vec<u16> = seen[1].iter().map(|r| r.0).collect();
    assert_eq!(statuses, [200, 204, 201, 200, 200]);
    assert_eq!(seen[1][0].1.as_deref(), Some(&b"hello"[..]));
    assert_eq!(seen[1][3].1.as_deref(), Some(&b"abc"[..]));
    // The extra bytes put the connection out of step.
    assert!(seen[1][..4].iter().all(|r| r.2) && !seen[1][4].2);
}

#[test]
fn one_read_is_a_whole_answer_only_when_it_is_exactly_one() {
    use super::scratch::whole_answer;
    let (head, body) = whole_answer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        false,
        Some(10),
    )
    .unwrap()
    .unwrap();
    assert_eq!((head.status, body.unwrap().bytes), (200, b"ok".to_vec()));
    for partial in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nok",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ] {
        assert!(whole_answer(partial, false, None).unwrap().is_none());
    }
    assert_eq!(
        whole_answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
            Some(1)
        )
        .err(),
        Some(Failure::TooLarge)
    );
    assert!(
        whole_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", true, None)
            .unwrap()
            .is_some()
    );
}
