//! The built-in proxy's toxics, each against a local echo server on
//! 127.0.0.1: every toxic measurably does what it says. Times are computed
//! from what the test measured and compared with the configured figure from
//! below only (a slow machine makes them longer, never shorter); waits that
//! guard against a hang are generous and only fail a broken proxy.

use engine::netfault::{NetFaultOptions, ProxyRegistry, ProxyView};
use serde_json::{json, Value};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What no healthy step here gets near: only a hang reaches it.
const HANG: Duration = Duration::from_secs(30);

/// An echo server: every connection gets back what it sends, and is closed
/// when the client closes its side.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

fn registry() -> ProxyRegistry {
    ProxyRegistry::new(NetFaultOptions {
        seed: 19,
        ..NetFaultOptions::default()
    })
}

/// A proxy `name` on a free loopback port in front of `upstream`.
fn proxy(reg: &ProxyRegistry, name: &str, upstream: SocketAddr) -> SocketAddr {
    let view = reg
        .create(&json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()}))
        .unwrap();
    view.listen.parse().unwrap()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `msg` and reads the echo; the time it took.
async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .expect("the echo came back")
        .unwrap();
    assert_eq!(back, msg);
    start.elapsed()
}

/// Reads until end of file or an error: the bytes, and the error if any.
async fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::Error>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG, s.read(&mut buf))
            .await
            .expect("the read ended")
        {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn stats(reg: &ProxyRegistry, name: &str) -> ProxyView {
    reg.get(name).unwrap()
}

/// Waits (bounded) until the proxy's view satisfies `done`: counters move
/// on the proxy's tasks, a moment after what the client saw.
async fn until(reg: &ProxyRegistry, name: &str, what: &str, done: impl Fn(&ProxyView) -> bool) {
    let start = Instant::now();
    while !done(&stats(reg, name)) {
        assert!(start.elapsed() < HANG, "{what}: {:?}", stats(reg, name));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn latency_shows_in_the_measured_round_trip() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    let mut s = connect(addr).await;
    round_trip(&mut s, b"warm").await;
    reg.add_toxic(
        "db",
        &json!({"type": "latency", "attributes": {"latency": 200, "jitter": 20}}),
    )
    .unwrap();
    let mut rtts = Vec::new();
    for i in 0..5 {
        rtts.push(round_trip(&mut s, format!("ping {i}").as_bytes()).await);
    }
    let measured = median(rtts);
    // latency − jitter is the least a chunk can be held.
    assert!(
        measured >= Duration::from_millis(180).mul_f64(0.8),
        "median round trip {measured:?} with 200 ± 20 ms of latency"
    );
    let view = stats(&reg, "db");
    assert_eq!(view.toxics[0].stats.connections_affected, 1);
    assert_eq!(
        view.stats.connections_affected_by_toxic["latency_downstream"],
        1
    );
    assert_eq!(view.stats.connections_accepted, 1);
    assert_eq!(view.stats.connections_open, 1);
    let sent = (4 + 5 * 6) as u64;
    assert_eq!(view.stats.bytes_upstream, sent);
    assert_eq!(view.stats.bytes_downstream, sent);

    // Removed, the toxic no longer holds anything: a held read would show it.
    reg.remove_toxic("db", "latency_downstream").unwrap();
    assert!(stats(&reg, "db").toxics.is_empty());
}

#[tokio::test]
async fn upstream_latency_delays_the_request_side() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    reg.add_toxic(
        "db",
        &json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 150}}),
    )
    .unwrap();
    let mut s = connect(addr).await;
    let mut rtts = Vec::new();
    for _ in 0..3 {
        rtts.push(round_trip(&mut s, b"q").await);
    }
    assert!(median(rtts) >= Duration::from_millis(120));
    assert_eq!(stats(&reg, "db").toxics[0].name, "latency_upstream");
}

#[tokio::test]
async fn toxicity_is_drawn_per_connection_from_the_seed() {
    async fn affected(toxicity: f64) -> u64 {
        let echo = echo_server().await;
        let reg = registry();
        let addr = proxy(&reg, "db", echo);
        reg.add_toxic(
            "db",
            &json!({"type": "latency", "toxicity": toxicity, "attributes": {"latency": 1}}),
        )
        .unwrap();
        for _ in 0..20 {
            let mut s = connect(addr).await;
            round_trip(&mut s, b"x").await;
        }
        stats(&reg, "db").toxics[0].stats.connections_affected
    }
    assert_eq!(affected(0.0).await, 0);
    assert_eq!(affected(1.0).await, 20);
    let half = affected(0.5).await;
    assert!(
        half > 0 && half < 20,
        "{half} of 20 connections at toxicity 0.5"
    );
    assert_eq!(affected(0.5).await, half, "same seed, same draws");
}

#[tokio::test]
async fn bandwidth_caps_the_throughput() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    reg.add_toxic(
        "db",
        &json!({"type": "bandwidth", "attributes": {"rate": 32}}),
    )
    .unwrap();
    let mut s = connect(addr).await;
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let elapsed = round_trip(&mut s, &payload).await;
    let kb_per_s = payload.len() as f64 / 1024.0 / elapsed.as_secs_f64();
    // 64 KB at 32 KB/s is 2 s; the last tenth of a second may be in flight.
    assert!(
        kb_per_s <= 32.0 * 1.25,
        "{kb_per_s:.1} KB/s through a 32 KB/s link ({elapsed:?} for 64 KB)"
    );
    assert_eq!(
        stats(&reg, "db").stats.bytes_downstream,
        payload.len() as u64
    );
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    reg.add_toxic(
        "db",
        &json!({"type": "slow_close", "attributes": {"delay": 300}}),
    )
    .unwrap();
    let mut s = connect(addr).await;
    round_trip(&mut s, b"bye").await;
    let start = Instant::now();
    s.shutdown().await.unwrap();
    let (rest, err) = read_to_end(&mut s).await;
    assert!(rest.is_empty() && err.is_none(), "a clean close");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(240),
        "the close came {waited:?} after ours, slow_close is 300 ms"
    );
}

#[tokio::test]
async fn timeout_stalls_until_removed() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    let mut s = connect(addr).await;
    round_trip(&mut s, b"before").await;
    reg.add_toxic(
        "db",
        &json!({"type": "timeout", "attributes": {"timeout": 0}}),
    )
    .unwrap();
    s.write_all(b"held").await.unwrap();
    let mut back = [0u8; 4];
    let stalled = tokio::time::timeout(Duration::from_millis(400), s.read_exact(&mut back)).await;
    assert!(stalled.is_err(), "nothing passes while `timeout` is on");
    // A new connection is accepted, and stalls too.
    let mut other = connect(addr).await;
    other.write_all(b"new").await.unwrap();
    let mut three = [0u8; 3];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), other.read_exact(&mut three))
            .await
            .is_err()
    );

    until(&reg, "db", "both connections held", |v| {
        v.toxics[0].stats.connections_affected == 2
    })
    .await;
    reg.remove_toxic("db", "timeout_downstream").unwrap();
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .expect("the held data passes once the toxic is removed")
        .unwrap();
    assert_eq!(&back, b"held");
    tokio::time::timeout(HANG, other.read_exact(&mut three))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&three, b"new");
    assert_eq!(
        stats(&reg, "db").stats.connections_affected_by_toxic["timeout_downstream"],
        2
    );
}

#[tokio::test]
async fn timeout_with_a_duration_closes_the_connection() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    let mut s = connect(addr).await;
    round_trip(&mut s, b"before").await;
    let added = Instant::now();
    reg.add_toxic(
        "db",
        &json!({"type": "timeout", "attributes": {"timeout": 200}}),
    )
    .unwrap();
    s.write_all(b"lost").await.unwrap();
    let (got, _) = read_to_end(&mut s).await;
    assert!(got.is_empty(), "nothing passed before the close: {got:?}");
    assert!(added.elapsed() >= Duration::from_millis(160));
    until(&reg, "db", "the connection closed", |v| {
        v.stats.connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn reset_peer_resets_open_and_new_connections() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    let mut open = connect(addr).await;
    round_trip(&mut open, b"fine").await;
    reg.add_toxic(
        "db",
        &json!({"type": "reset_peer", "attributes": {"timeout": 0}}),
    )
    .unwrap();
    let (_, err) = read_to_end(&mut open).await;
    let kind = err.map(|e| e.kind());
    assert_eq!(
        kind,
        Some(ErrorKind::ConnectionReset),
        "an open connection is reset"
    );

    reg.update_toxic(
        "db",
        "reset_peer_downstream",
        &json!({"attributes": {"timeout": 100}}),
    )
    .unwrap();
    let mut fresh = connect(addr).await;
    let (_, err) = read_to_end(&mut fresh).await;
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
    let view = stats(&reg, "db");
    assert_eq!(view.toxics[0].attributes["timeout"], 100);
    assert_eq!(view.toxics[0].stats.connections_affected, 2);
}

#[tokio::test]
async fn limit_data_closes_after_the_limit() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    reg.add_toxic(
        "db",
        &json!({"type": "limit_data", "attributes": {"bytes": 10}}),
    )
    .unwrap();
    let mut s = connect(addr).await;
    let msg: Vec<u8> = (0..100u8).collect();
    s.write_all(&msg).await.unwrap();
    let (got, err) = read_to_end(&mut s).await;
    assert!(err.is_none(), "closed, not reset: {err:?}");
    assert_eq!(got, msg[..10].to_vec(), "exactly 10 bytes passed");
    assert_eq!(stats(&reg, "db").stats.bytes_downstream, 10);
}

#[tokio::test]
async fn slicer_delivers_everything_in_slices() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    reg.add_toxic(
        "db",
        &json!({"type": "slicer", "attributes": {"average_size": 100, "size_variation": 40, "delay": 2000}}),
    )
    .unwrap();
    let mut s = connect(addr).await;
    let payload: Vec<u8> = (0..2000).map(|i| (i % 7) as u8).collect();
    let elapsed = round_trip(&mut s, &payload).await;
    // At least 2000 / 140 slices (more if the bytes came in several
    // chunks), each followed by 2 ms.
    assert!(
        elapsed >= Duration::from_millis(15 * 2).mul_f64(0.8),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn down_refuses_new_connections_and_closes_open_ones() {
    let echo = echo_server().await;
    let reg = registry();
    let addr = proxy(&reg, "db", echo);
    let mut open = connect(addr).await;
    round_trip(&mut open, b"up").await;
    reg.update("db", &json!({"enabled": false})).unwrap();
    let (got, _) = read_to_end(&mut open).await;
    assert!(got.is_empty());
    let refused = TcpStream::connect(addr).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    assert!(!stats(&reg, "db").enabled);
    assert_eq!(
        stats(&reg, "db").stats.connections_cut,
        1,
        "the one open connection was cut"
    );
    until(&reg, "db", "open connections closed", |v| {
        v.stats.connections_open == 0
    })
    .await;
    reg.update("db", &json!({"enabled": false})).unwrap();
    assert_eq!(
        stats(&reg, "db").stats.connections_cut,
        1,
        "disabling a disabled proxy cuts nothing more"
    );

    reg.update("db", &json!({"enabled": true})).unwrap();
    let mut again = connect(addr).await;
    round_trip(&mut again, b"back").await;
    assert_eq!(
        stats(&reg, "db").listen,
        addr.to_string(),
        "same address after re-enabling"
    );
}

#[tokio::test]
async fn reset_removes_every_toxic_and_enables_every_proxy() {
    let echo = echo_server().await;
    let reg = registry();
    let a = proxy(&reg, "db", echo);
    let b = proxy(&reg, "bucket", echo);
    reg.add_toxic("db", &json!({"type": "timeout"})).unwrap();
    reg.add_toxic(
        "db",
        &json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 50}}),
    )
    .unwrap();
    reg.update("bucket", &json!({"enabled": false})).unwrap();
    let mut s = connect(a).await;
    s.write_all(b"held").await.unwrap();
    let mut back = [0u8; 4];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut back))
            .await
            .is_err()
    );

    until(&reg, "db", "the connection held", |v| {
        v.stats
            .connections_affected_by_toxic
            .get("timeout_downstream")
            == Some(&1)
    })
    .await;
    reg.reset().unwrap();
    for view in reg.list().values() {
        assert!(view.toxics.is_empty(), "{} still has toxics", view.name);
        assert!(view.enabled, "{} is still down", view.name);
    }
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"held");
    let mut c = connect(b).await;
    round_trip(&mut c, b"ok").await;
    // The counters survive the reset: they are the proof.
    assert_eq!(
        stats(&reg, "db").stats.connections_affected_by_toxic["timeout_downstream"],
        1
    );
}

#[tokio::test]
async fn addresses_outside_loopback_need_permission() {
    let reg = registry();
    let err = reg
        .create(&json!({"name": "db", "listen": "127.0.0.1:0", "upstream": "192.0.2.10:5432"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `upstream`"), "{err}");
    let err = reg
        .create(&json!({"name": "db", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:5432"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `listen`"), "{err}");
    let open = ProxyRegistry::new(NetFaultOptions {
        allow_remote_upstream: true,
        ..NetFaultOptions::default()
    });
    // Created (nothing is sent there: no client connects).
    open.create(&json!({"name": "db", "listen": "127.0.0.1:0", "upstream": "192.0.2.10:5432"}))
        .unwrap();
}

#[tokio::test]
async fn unreachable_upstream_is_counted() {
    // A port that was free a moment ago: nothing listens there.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let reg = registry();
    let addr = proxy(&reg, "db", gone);
    let mut s = connect(addr).await;
    let (got, _) = read_to_end(&mut s).await;
    assert!(got.is_empty());
    let view = stats(&reg, "db");
    assert_eq!(view.stats.connections_accepted, 1);
    assert_eq!(view.stats.upstream_connect_failures, 1);
}

#[tokio::test]
async fn populate_replaces_and_keeps() {
    let echo = echo_server().await;
    let reg = registry();
    let body: Value = json!([
        {"name": "db", "listen": "127.0.0.1:0", "upstream": echo.to_string()},
        {"name": "bucket", "listen": "127.0.0.1:0", "upstream": echo.to_string(), "enabled": false}
    ]);
    let views = reg.populate(&body).unwrap();
    assert_eq!(views.len(), 2);
    assert!(views[0].enabled && !views[1].enabled);
    let err = reg
        .populate(&json!([{"name": "x", "listen": "127.0.0.1:0", "upstream": "nowhere"}]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `[0].upstream`"), "{err}");
    let err = reg
        .populate(&json!([
            {"name": "x", "listen": "127.0.0.1:0", "upstream": echo.to_string()},
            {"name": "x", "listen": "127.0.0.1:0", "upstream": echo.to_string()}
        ]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `[1].name`"), "{err}");
    assert_eq!(reg.list().len(), 2, "a refused list changes nothing");
}
