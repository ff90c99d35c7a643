//! Sending one request on a worker's own connection.
//!
//! Plain `http://` targets use a hyper 1 HTTP/1.1 connection per worker
//! (no pool, no locks: the fastest path). `https://` targets go through
//! reqwest with rustls. Either way a request ends in a status and,
//! when checks need it, the body; or in an error class.

use super::deadline::Deadline;
use super::recorder::Outcome;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use url::Url;

/// A request prepared once and sent many times.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Method.
    pub method: Method,
    /// Full URL (for reqwest).
    pub url: Url,
    /// Path and query (for hyper).
    pub uri: Uri,
    /// Resolved addresses of the host (for hyper).
    pub addrs: Vec<SocketAddr>,
    /// Headers, Host included.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Read and return the body (checks need it).
    pub want_body: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Open a new connection for every request.
    pub new_connection: bool,
    /// Extra certificate authorities trusted for `https://`.
    pub roots: Vec<reqwest::Certificate>,
}

/// How requests are sent.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Read and return the body (checks need it).
    pub want_body: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Open a new connection for every request.
    pub new_connection: bool,
    /// Extra certificate authorities trusted for `https://` (the
    /// environment's `ca_file`).
    pub roots: Vec<reqwest::Certificate>,
}

/// Why a request could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PrepareError(pub String);

impl Prepared {
    /// Prepares a request: resolves the host once, sets Host, User-Agent and,
    /// for JSON bodies, Content-Type.
    pub async fn new(
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Bytes,
        json: bool,
        options: SendOptions,
    ) -> Result<Prepared, PrepareError> {
        let host = url
            .host_str()
            .ok_or_else(|| PrepareError(format!("{url} has no host")))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| PrepareError(format!("{url} has no port")))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let uri: Uri = path_and_query
            .parse()
            .map_err(|e| PrepareError(format!("{url}: {e}")))?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| PrepareError(format!("cannot resolve {host}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(PrepareError(format!("{host} resolves to no address")));
        }
        let authority = HeaderValue::from_str(&authority)
            .map_err(|_| PrepareError(format!("{authority} is not a valid Host header")))?;
        headers.insert(HOST, authority);
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "shakedown/",
                env!("CARGO_PKG_VERSION")
            )));
        if json {
            headers
                .entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
        }
        Ok(Prepared {
            method,
            url,
            uri,
            addrs,
            headers,
            body,
            want_body: options.want_body,
            timeout: options.timeout,
            new_connection: options.new_connection,
            roots: options.roots,
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// A status and, when asked for, the body.
pub type Answer = (u16, Option<Bytes>);

/// One worker's way of sending.
pub enum Conn {
    /// A hyper HTTP/1.1 connection, opened on first use and after errors.
    Hyper(Option<SendRequest<Full<Bytes>>>),
    /// reqwest (TLS), with its own pool.
    Reqwest(reqwest::Client),
}

impl Conn {
    /// The right kind of connection for a prepared request.
    pub fn for_request(prepared: &Prepared) -> Result<Conn, PrepareError> {
        if prepared.url.scheme() == "http" {
            return Ok(Conn::Hyper(None));
        }
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        if prepared.new_connection {
            builder = builder.pool_max_idle_per_host(0);
        }
        for root in &prepared.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder
            .build()
            .map(Conn::Reqwest)
            .map_err(|e| PrepareError(format!("cannot build the HTTPS client: {e}")))
    }

    /// Sends one request, sent at `sent`, within the timeout (`deadline`
    /// is the worker's; reqwest keeps its own).
    pub async fn send(
        &mut self,
        p: &Prepared,
        deadline: &mut Deadline,
        sent: Instant,
    ) -> Result<Answer, Outcome> {
        match self {
            Conn::Hyper(slot) => match deadline.run(sent, send_hyper(slot, p)).await {
                Some(result) => result,
                None => {
                    *slot = None;
                    Err(Outcome::Timeout)
                }
            },
            Conn::Reqwest(client) => send_reqwest(client, p).await,
        }
    }
}

async fn connect(p: &Prepared) -> Result<SendRequest<Full<Bytes>>, Outcome> {
    let mut last = Outcome::Connect;
    for addr in &p.addrs {
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(_) => {
                last = Outcome::Connect;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match handshake(TokioIo::new(stream)).await {
            Ok((sender, connection)) => {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                return Ok(sender);
            }
            Err(_) => last = Outcome::Protocol,
        }
    }
    Err(last)
}

async fn send_hyper(
    slot: &mut Option<SendRequest<Full<Bytes>>>,
    p: &Prepared,
) -> Result<Answer, Outcome> {
    let reusable = match slot.take() {
        Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
        None => None,
    };
    let mut sender = match reusable {
        Some(sender) => sender,
        None => connect(p).await?,
    };
    let response = sender
        .send_request(p.request())
        .await
        .map_err(|_| Outcome::Protocol)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let bytes = if p.want_body {
        Some(
            body.collect()
                .await
                .map_err(|_| Outcome::Protocol)?
                .to_bytes(),
        )
    } else {
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| Outcome::Protocol)?;
        }
        None
    };
    if !p.new_connection {
        *slot = Some(sender);
    }
    Ok((status, bytes))
}

async fn send_reqwest(client: &reqwest::Client, p: &Prepared) -> Result<Answer, Outcome> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Outcome::Timeout
        } else if e.is_connect() {
            Outcome::Connect
        } else {
            Outcome::Protocol
        }
    };
    let response = client
        .request(p.method.clone(), p.url.clone())
        .headers(p.headers.clone())
        .body(p.body.clone())
        .timeout(p.timeout)
        .send()
        .await
        .map_err(classify)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(classify)?;
    Ok((status, p.want_body.then_some(bytes)))
}
