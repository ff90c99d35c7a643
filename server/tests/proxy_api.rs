//! The built-in proxy's HTTP API, served in-process on 127.0.0.1: the
//! shapes a Toxiproxy client expects, `/reset`, and clear 4xx answers that
//! name the field for bad requests.

use engine::netfault::{NetFaultOptions, ProxyRegistry};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Guards against a hang only.
const HANG: Duration = Duration::from_secs(30);

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

/// The API on a free loopback port; its base URL.
async fn api() -> String {
    let registry = Arc::new(ProxyRegistry::new(NetFaultOptions::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = server::proxy_api::router(registry, true);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Sends a request; the status and the JSON body (Null when empty).
async fn call(method: &str, url: &str, body: Option<&str>) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        req = req.body(body.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, value)
}

async fn create_db(base: &str, upstream: SocketAddr) -> SocketAddr {
    let (status, proxy) = call(
        "POST",
        &format!("{base}/proxies"),
        Some(
            &json!({"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.to_string()})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{proxy}");
    proxy["listen"].as_str().unwrap().parse().unwrap()
}

fn message(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

#[tokio::test]
async fn answers_in_toxiproxy_shapes() {
    let echo = echo_server().await;
    let base = api().await;
    let listen = create_db(&base, echo).await;

    let (status, all) = call("GET", &format!("{base}/proxies"), None).await;
    assert_eq!(status, StatusCode::OK);
    let db = &all["db"];
    assert_eq!(db["name"], "db");
    assert_eq!(db["upstream"], echo.to_string());
    assert_eq!(db["enabled"], true);
    assert_eq!(db["listen"], listen.to_string());
    assert_eq!(db["toxics"], json!([]));

    let (status, toxic) = call(
        "POST",
        &format!("{base}/proxies/db/toxics"),
        Some(r#"{"type": "latency", "attributes": {"latency": 100, "jitter": 10}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(toxic["name"], "latency_downstream");
    assert_eq!(toxic["type"], "latency");
    assert_eq!(toxic["stream"], "downstream");
    assert_eq!(toxic["toxicity"], 1.0);
    assert_eq!(toxic["attributes"], json!({"latency": 100, "jitter": 10}));

    let (status, updated) = call(
        "POST",
        &format!("{base}/proxies/db/toxics/latency_downstream"),
        Some(r#"{"attributes": {"latency": 250}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["attributes"], json!({"latency": 250, "jitter": 10}));
    let (_, toxics) = call("GET", &format!("{base}/proxies/db/toxics"), None).await;
    assert_eq!(toxics.as_array().unwrap().len(), 1);
    let (status, one) = call(
        "GET",
        &format!("{base}/proxies/db/toxics/latency_downstream"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["attributes"]["latency"], 250);

    // Traffic through the link shows in the counters.
    let mut s = TcpStream::connect(listen).await.unwrap();
    s.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    let (_, db) = call("GET", &format!("{base}/proxies/db"), None).await;
    assert_eq!(db["stats"]["connections_accepted"], 1);
    assert_eq!(db["stats"]["bytes_upstream"], 5);
    assert_eq!(db["stats"]["bytes_downstream"], 5);
    assert_eq!(db["toxics"][0]["stats"]["connections_affected"], 1);
    assert_eq!(
        db["stats"]["connections_affected_by_toxic"]["latency_downstream"],
        1
    );

    let (status, _) = call(
        "DELETE",
        &format!("{base}/proxies/db/toxics/latency_downstream"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, down) = call(
        "POST",
        &format!("{base}/proxies/db"),
        Some(r#"{"enabled": false}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(down["enabled"], false);
    let refused = TcpStream::connect(listen).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    let (status, version) = call("GET", &format!("{base}/version"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(version["version"].is_string());
    let (status, _) = call("DELETE", &format!("{base}/proxies/db"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = call("GET", &format!("{base}/proxies"), None).await;
    assert_eq!(all, json!({}));
}

#[tokio::test]
async fn reset_removes_every_toxic_and_enables_every_proxy() {
    let echo = echo_server().await;
    let base = api().await;
    let listen = create_db(&base, echo).await;
    for body in [
        r#"{"type": "timeout", "attributes": {"timeout": 0}}"#,
        r#"{"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1}}"#,
    ] {
        let (status, t) = call("POST", &format!("{base}/proxies/db/toxics"), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }
    let (status, _) = call(
        "POST",
        &format!("{base}/populate"),
        Some(&json!([{"name": "bucket", "listen": "127.0.0.1:0", "upstream": echo.to_string(), "enabled": false}]).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, toxics) = call("GET", &format!("{base}/proxies/db/toxics"), None).await;
    assert_eq!(toxics.as_array().unwrap().len(), 2);

    let (status, _) = call("POST", &format!("{base}/reset"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = call("GET", &format!("{base}/proxies"), None).await;
    for (name, proxy) in all.as_object().unwrap() {
        assert_eq!(
            proxy["toxics"],
            json!([]),
            "{name} keeps toxics after /reset"
        );
        assert_eq!(proxy["enabled"], true, "{name} is still down after /reset");
    }
    // Nothing holds the traffic any more.
    let mut s = TcpStream::connect(listen).await.unwrap();
    s.write_all(b"free").await.unwrap();
    let mut back = [0u8; 4];
    tokio::time::timeout(HANG, s.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"free");
}

#[tokio::test]
async fn bad_requests_get_4xx_naming_what_is_wrong() {
    let echo = echo_server().await;
    let base = api().await;
    create_db(&base, echo).await;
    let toxics = format!("{base}/proxies/db/toxics");

    let (status, body) = call("POST", &toxics, Some(r#"{"type": "lag"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).contains("field `type`") && message(&body).contains("\"lag\""),
        "{body}"
    );
    assert_eq!(body["status"], 400);

    let (status, body) = call(
        "POST",
        &format!("{base}/proxies/nope/toxics"),
        Some(r#"{"type": "latency"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("proxy `nope` not found"), "{body}");
    let (status, body) = call("GET", &format!("{base}/proxies/nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("`nope`"));
    let (status, body) = call("DELETE", &format!("{base}/proxies/db/toxics/ghost"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        message(&body).contains("toxic `ghost` not found on proxy `db`"),
        "{body}"
    );

    let (status, body) = call(
        "POST",
        &format!("{base}/proxies"),
        Some(
            &json!({"name": "db", "listen": "127.0.0.1:0", "upstream": echo.to_string()})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&body).contains("proxy `db` already exists"),
        "{body}"
    );
    let (status, _) = call("POST", &toxics, Some(r#"{"type": "latency"}"#)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call("POST", &toxics, Some(r#"{"type": "latency"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&body).contains("toxic `latency_downstream` already exists"),
        "{body}"
    );

    let (status, body) = call(
        "POST",
        &toxics,
        Some(r#"{"type": "latency", "attributes": {"latency": 1"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).contains("not valid JSON at line 1 column"),
        "{body}"
    );
    let (status, body) = call(
        "POST",
        &format!("{base}/proxies"),
        Some(r#"{"name": "x", "listen": "127.0.0.1:0"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).contains("field `upstream`: missing"),
        "{body}"
    );
    let (status, body) = call(
        "POST",
        &format!("{base}/proxies"),
        Some(r#"{"name": "x", "listen": "127.0.0.1:0", "upstream": "203.0.113.7:5432"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).contains("field `upstream`") && message(&body).contains("loopback"),
        "{body}"
    );
    let (status, body) = call(
        "POST",
        &toxics,
        Some(r#"{"type": "bandwidth", "name": "slow", "attributes": {"rate": "fast"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("field `attributes.rate`"), "{body}");
    let (status, body) = call(
        "POST",
        &format!("{base}/proxies/db"),
        Some(r#"{"enabled": "no"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("field `enabled`"), "{body}");
    let (status, body) = call("GET", &format!("{base}/nothing"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("/nothing"));
}

#[tokio::test]
async fn refuses_requests_addressed_to_other_hosts() {
    let base = api().await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/proxies"))
        .header("Host", "attacker.example:8474")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, _) = call("GET", &format!("{base}/proxies"), None).await;
    assert_eq!(status, StatusCode::OK);
}
