//! One proxy: its listener (bound while the proxy is enabled: disabled means
//! connections are refused), the connections it accepted, its toxics and its
//! counters. Disabling closes the listener and every open connection.

use super::link::{self, ToxicEntry, ToxicSet};
use super::spec::AddressRules;
use super::NetFaultError;
use crate::rng::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A proxy's counters since it was created (`/reset` keeps them: they are
/// the proof that a fault took effect).
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: AtomicU64,
    /// Connections open now (client and upstream both connected).
    pub open: AtomicU64,
    /// Accepted connections whose upstream could not be reached.
    pub upstream_failures: AtomicU64,
    /// Bytes passed client → upstream.
    pub bytes_upstream: AtomicU64,
    /// Bytes passed upstream → client.
    pub bytes_downstream: AtomicU64,
    /// Open connections closed by disabling the proxy (what a `down`
    /// fault cut; the connections it then refuses are the kernel's, and
    /// not counted).
    pub cut: AtomicU64,
    /// Connections each toxic (by name) acted on, kept after its removal.
    affected: Mutex<BTreeMap<String, u64>>,
}

impl ProxyStats {
    /// Counts one more connection toxic `name` acted on.
    pub fn note_affected(&self, name: &str) {
        if let Ok(mut map) = self.affected.lock() {
            *map.entry(name.to_string()).or_default() += 1;
        }
    }

    /// Connections affected, by toxic name.
    pub fn affected(&self) -> BTreeMap<String, u64> {
        self.affected.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// One proxy and what runs for it.
pub struct Proxy {
    pub name: String,
    /// The address asked for, then the one bound (port 0 resolved), so a
    /// re-enabled proxy listens where it did.
    pub listen: SocketAddr,
    upstream: watch::Sender<String>,
    pub enabled: bool,
    pub toxics: Vec<ToxicEntry>,
    toxics_tx: watch::Sender<ToxicSet>,
    pub stats: Arc<ProxyStats>,
    /// The bound listener, shared with the accept loop; `None` while
    /// disabled. Disabling empties the slot, which closes the socket at
    /// once (new connections are refused before `disable` returns).
    listening: Option<(ListenerSlot, CancellationToken)>,
    /// Closes the open connections.
    connections: CancellationToken,
    rules: AddressRules,
    rng: Arc<Mutex<Rng>>,
}

impl Proxy {
    /// A proxy, not listening yet.
    pub fn new(
        name: String,
        listen: SocketAddr,
        upstream: String,
        rules: AddressRules,
        rng: Arc<Mutex<Rng>>,
    ) -> Self {
        Self {
            name,
            listen,
            upstream: watch::Sender::new(upstream),
            enabled: false,
            toxics: Vec::new(),
            toxics_tx: watch::Sender::new(Arc::new(Vec::new())),
            stats: Arc::new(ProxyStats::default()),
            listening: None,
            connections: CancellationToken::new(),
            rules,
            rng,
        }
    }

    /// Its upstream (`host:port`).
    pub fn upstream(&self) -> String {
        self.upstream.borrow().clone()
    }

    /// Points new connections at another upstream.
    pub fn set_upstream(&mut self, upstream: String) {
        self.upstream.send_replace(upstream);
    }

    /// Binds the listen address and accepts. Must run inside a tokio runtime.
    pub fn enable(&mut self) -> Result<(), NetFaultError> {
        if self.enabled {
            return Ok(());
        }
        let listen_error = |source| NetFaultError::Listen {
            proxy: self.name.clone(),
            listen: self.listen.to_string(),
            source,
        };
        let std_listener = std::net::TcpListener::bind(self.listen).map_err(listen_error)?;
        std_listener.set_nonblocking(true).map_err(listen_error)?;
        let listener = TcpListener::from_std(std_listener).map_err(listen_error)?;
        self.listen = listener.local_addr().map_err(listen_error)?;
        let stop = CancellationToken::new();
        let slot: ListenerSlot = Arc::new(Mutex::new(Some(listener)));
        tokio::spawn(accept_loop(
            slot.clone(),
            stop.clone(),
            self.connections.clone(),
            Shared {
                upstream: self.upstream.subscribe(),
                toxics: self.toxics_tx.subscribe(),
                stats: self.stats.clone(),
                rules: self.rules,
                rng: self.rng.clone(),
            },
        ));
        self.listening = Some((slot, stop));
        self.enabled = true;
        Ok(())
    }

    /// Stops listening (new connections are refused) and closes the open ones.
    pub fn disable(&mut self) {
        if self.enabled {
            let open = self.stats.open.load(Ordering::Relaxed);
            self.stats.cut.fetch_add(open, Ordering::Relaxed);
        }
        if let Some((slot, stop)) = self.listening.take() {
            // Dropping the listener closes the socket now.
            drop(slot.lock().unwrap_or_else(|e| e.into_inner()).take());
            stop.cancel();
        }
        self.connections.cancel();
        self.connections = CancellationToken::new();
        self.enabled = false;
    }

    /// Tells the connections the toxics changed.
    pub fn publish_toxics(&self) {
        self.toxics_tx.send_replace(Arc::new(self.toxics.clone()));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.disable();
    }
}

/// The listener, taken out (and so closed) when the proxy is disabled.
type ListenerSlot = Arc<Mutex<Option<TcpListener>>>;

/// Waits for the next client; `None` once the listener is gone.
async fn accept(slot: &ListenerSlot) -> Option<std::io::Result<TcpStream>> {
    std::future::poll_fn(|cx| {
        let guard = slot.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            None => Poll::Ready(None),
            Some(listener) => listener
                .poll_accept(cx)
                .map(|r| Some(r.map(|(stream, _)| stream))),
        }
    })
    .await
}

/// What the accept loop and its connections share with the proxy.
struct Shared {
    upstream: watch::Receiver<String>,
    toxics: watch::Receiver<ToxicSet>,
    stats: Arc<ProxyStats>,
    rules: AddressRules,
    rng: Arc<Mutex<Rng>>,
}

async fn accept_loop(
    listener: ListenerSlot,
    stop: CancellationToken,
    connections: CancellationToken,
    shared: Shared,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            accepted = accept(&listener) => match accepted {
                None => return,
                Some(Ok(client)) => client,
                Some(Err(e)) => {
                    tracing::warn!("proxy accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let seed = shared.rng.lock().map(|mut r| r.next_u64()).unwrap_or(0);
        let upstream = shared.upstream.borrow().clone();
        let toxics = shared.toxics.clone();
        let stats = shared.stats.clone();
        let rules = shared.rules;
        let cancel = connections.clone();
        tokio::spawn(async move {
            let connected = tokio::select! {
                () = cancel.cancelled() => return,
                c = connect_upstream(&upstream, rules) => c,
            };
            let upstream_stream = match connected {
                Ok(s) => s,
                Err(e) => {
                    stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("proxy upstream {upstream} unreachable: {e}");
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = upstream_stream.set_nodelay(true);
            stats.open.fetch_add(1, Ordering::Relaxed);
            link::run(client, upstream_stream, toxics, stats.clone(), seed, cancel).await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Connects to `upstream`, to loopback addresses only unless allowed.
async fn connect_upstream(upstream: &str, rules: AddressRules) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(upstream)
        .await?
        .filter(|a| rules.remote_upstream || a.ip().is_loopback())
        .collect();
    let mut last = std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("{upstream} resolves to no address this proxy may connect to"),
    );
    for addr in addrs {
        match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {addr} timed out"),
                )
            }
        }
    }
    Err(last)
}
