//! Sending one request on a worker's own connection.
//!
//! Plain `http://` targets use one [`h1`](super::h1) connection per worker
//! (no pool, no locks, no second task: the fastest path). `https://`
//! targets go through reqwest with rustls. Either way a request ends in a status and,
//! when checks need it, the body; or in an error class.

use super::deadline::Deadline;
use super::h1::{Connection, Failure, Wire};
use super::recorder::Outcome;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use reqwest::Method;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use url::Url;

/// A request prepared once and sent many times.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: Method,
    /// Full URL (for reqwest).
    pub url: Url,
    /// The request serialised for plain HTTP/1.1.
    pub wire: Wire,
    /// Resolved addresses of the host (for plain HTTP/1.1).
    pub addrs: Vec<SocketAddr>,
    /// Headers, Host included.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Read and return the body (checks need it).
    pub want_body: bool,
    /// Largest body read, in bytes; a larger one fails the request.
    pub body_limit: usize,
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
    /// Largest body read, in bytes (`max_answer_bytes`).
    pub body_limit: usize,
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
        // An address literal in the URL was allowed by name already.
        let literal: Vec<std::net::IpAddr> = bare.parse().into_iter().collect();
        let addrs = crate::runner::target::checked_addresses(&host, addrs, &literal)
            .map_err(PrepareError)?;
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
        // A connection per request tells the server too, so it does not
        // keep the connection open waiting for a request that never comes.
        let wire = Wire::new(
            &method,
            &path_and_query,
            &headers,
            &body,
            options.new_connection,
        );
        Ok(Prepared {
            method,
            url,
            wire,
            addrs,
            headers,
            body,
            want_body: options.want_body,
            body_limit: options.body_limit,
            timeout: options.timeout,
            new_connection: options.new_connection,
            roots: options.roots,
        })
    }
}

/// One request of a templated spec, rendered for sending.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Full URL (for reqwest).
    pub url: Url,
    /// Headers, Host included.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The request serialised for plain HTTP/1.1.
    pub wire: Wire,
}

impl Prepared {
    /// Another request to the same host, sent the same way: `url` must be
    /// on the prepared host (the templates keep the host fixed).
    pub fn render(&self, url: Url, headers: HeaderMap, body: Bytes) -> Rendered {
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let wire = Wire::new(
            &self.method,
            &path_and_query,
            &headers,
            &body,
            self.new_connection,
        );
        Rendered {
            url,
            headers,
            body,
            wire,
        }
    }
}

/// A status and, when asked for, the body.
pub type Answer = (u16, Option<Bytes>);

/// One worker's way of sending.
pub enum Conn {
    /// A plain HTTP/1.1 connection, opened on first use and after errors.
    Plain(Option<Connection>),
    /// reqwest (TLS), with its own pool.
    Reqwest(reqwest::Client),
}

impl Conn {
    /// The right kind of connection for a prepared request.
    pub fn for_request(prepared: &Prepared) -> Result<Conn, PrepareError> {
        if prepared.url.scheme() == "http" {
            return Ok(Conn::Plain(None));
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
        // Connect to the addresses checked when the request was prepared.
        if let Some(host) = prepared.url.host_str() {
            builder = builder.resolve_to_addrs(host, &prepared.addrs);
        }
        builder
            .build()
            .map(Conn::Reqwest)
            .map_err(|e| PrepareError(format!("cannot build the HTTPS client: {e}")))
    }

    /// Another worker's connection of the same kind (reqwest clients share
    /// their pool; plain connections are each worker's own).
    pub fn sibling(&self) -> Conn {
        match self {
            Conn::Plain(_) => Conn::Plain(None),
            Conn::Reqwest(client) => Conn::Reqwest(client.clone()),
        }
    }

    /// Sends one request, sent at `sent`, within the timeout (`deadline`
    /// is the worker's; reqwest keeps its own). Not an `async fn` of its
    /// own: that would store the arguments once more in every worker's task.
    pub fn send<'a>(
        &'a mut self,
        p: &'a Prepared,
        deadline: &'a mut Deadline,
        sent: Instant,
    ) -> impl std::future::Future<Output = Result<Answer, Outcome>> + 'a {
        self.send_rendered(p, None, deadline, sent)
    }

    /// Like [`Conn::send`], sending `rendered` instead of the prepared
    /// request when there is one.
    pub async fn send_rendered(
        &mut self,
        p: &Prepared,
        rendered: Option<&Rendered>,
        deadline: &mut Deadline,
        sent: Instant,
    ) -> Result<Answer, Outcome> {
        match self {
            Conn::Plain(slot) => {
                let wire = rendered.map_or(&p.wire, |r| &r.wire);
                let answered = {
                    // Pinned where it is made, so the request's future is
                    // stored once in the worker's task, not once more
                    // inside the deadline's.
                    let work = std::pin::pin!(send_plain(slot, p, wire));
                    deadline.run(sent, work).await
                };
                match answered {
                    Some(result) => result,
                    None => {
                        *slot = None;
                        Err(Outcome::Timeout)
                    }
                }
            }
            // Boxed: reqwest's future is large, and inline it would take
            // room in every plain worker's task as well.
            Conn::Reqwest(client) => Box::pin(send_reqwest(client, p, rendered)).await,
        }
    }
}

/// Sends on the worker's connection, opening one when there is none or the
/// server closed it; a request that changes nothing is sent once more on a
/// new connection when a kept-alive one turns out closed before answering.
/// The connection stays in `slot` throughout (a request that times out is
/// dropped with it, and the caller empties the slot).
async fn send_plain(
    slot: &mut Option<Connection>,
    p: &Prepared,
    wire: &Wire,
) -> Result<Answer, Outcome> {
    if slot.as_ref().is_some_and(Connection::closed_while_idle) {
        *slot = None;
    }
    loop {
        let conn = match slot {
            Some(conn) => conn,
            None => {
                // Boxed: a connect is rare next to the requests on it, and
                // inline its future would take room in every worker's task.
                let opened = Box::pin(Connection::open(&p.addrs))
                    .await
                    .map_err(|_| Outcome::Connect)?;
                slot.insert(opened)
            }
        };
        let reused = conn.reused();
        let result = conn
            .exchange(wire, p.want_body.then_some(p.body_limit))
            .await;
        match result {
            Ok((reply, reusable)) => {
                // Not after a connection-per-request one: its wire asked
                // the server to close.
                if !reusable {
                    *slot = None;
                }
                return Ok((reply.status, reply.body));
            }
            Err(Failure::ClosedEarly) if reused && wire.idempotent() => *slot = None,
            Err(_) => {
                *slot = None;
                return Err(Outcome::Protocol);
            }
        }
    }
}

async fn send_reqwest(
    client: &reqwest::Client,
    p: &Prepared,
    rendered: Option<&Rendered>,
) -> Result<Answer, Outcome> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Outcome::Timeout
        } else if e.is_connect() {
            Outcome::Connect
        } else {
            Outcome::Protocol
        }
    };
    let (url, headers, body) = match rendered {
        Some(r) => (&r.url, &r.headers, &r.body),
        None => (&p.url, &p.headers, &p.body),
    };
    let response = client
        .request(p.method.clone(), url.clone())
        .headers(headers.clone())
        .body(body.clone())
        .timeout(p.timeout)
        .send()
        .await
        .map_err(classify)?;
    let status = response.status().as_u16();
    let bytes = crate::clients::answer::read_bytes(response, p.body_limit)
        .await
        .map_err(|e| match e {
            crate::clients::answer::AnswerError::Read(e) => classify(e),
            crate::clients::answer::AnswerError::TooLarge { .. } => Outcome::Protocol,
        })?;
    Ok((status, p.want_body.then_some(bytes)))
}
