//! One proxied connection: bytes pumped both ways, each direction through
//! the toxics of its stream, until both sides have closed, a toxic ends the
//! connection (closed, or reset with TCP RST), or the proxy is disabled.
//!
//! Each direction has a reader, which takes chunks off the source as they
//! come (stamped with their arrival), and a writer, which passes them on
//! through the toxics in force at that moment: the toxic set is watched, so
//! adding or removing a toxic acts on open connections too. Whether a toxic
//! acts on a connection is drawn once, when the writer first sees it
//! (`toxicity`), and counted on the toxic and on the proxy.

use super::proxy::ProxyStats;
use super::spec::{Stream, ToxicKind, ToxicSpec};
use crate::rng::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// A toxic as the connections see it.
#[derive(Debug, Clone)]
pub struct ToxicEntry {
    /// Distinct for every toxic ever added (a re-added name is a new toxic).
    pub uid: u64,
    pub spec: ToxicSpec,
    /// Connections this toxic has acted on.
    pub affected: Arc<AtomicU64>,
}

/// The toxics of a proxy, as one snapshot.
pub type ToxicSet = Arc<Vec<ToxicEntry>>;

/// How a direction (or the connection) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The source closed and the close was passed on.
    Finished,
    /// Close the whole connection (a toxic, an error, the proxy disabled).
    Close,
    /// Reset the whole connection.
    Reset,
}

enum Chunk {
    Data(Vec<u8>, Instant),
    Eof,
}

/// The largest chunk read at once.
const CHUNK: usize = 16 * 1024;

/// Pumps `client` ⇄ `upstream` until the connection ends or `cancel` fires.
pub async fn run(
    mut client: TcpStream,
    mut upstream: TcpStream,
    toxics: watch::Receiver<ToxicSet>,
    stats: Arc<ProxyStats>,
    seed: u64,
    cancel: CancellationToken,
) {
    let end = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(
            client_read,
            upstream_write,
            Stream::Upstream,
            toxics.clone(),
            &stats,
            Rng::new(seed),
        );
        let down = pump(
            upstream_read,
            client_write,
            Stream::Downstream,
            toxics,
            &stats,
            Rng::new(seed.rotate_left(32) ^ 0xD1B5_4A32_D192_ED03),
        );
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                end = &mut up, if !up_done => {
                    if end != End::Finished { break end; }
                    up_done = true;
                }
                end = &mut down, if !down_done => {
                    if end != End::Finished { break end; }
                    down_done = true;
                }
                () = cancel.cancelled() => break End::Close,
            }
            if up_done && down_done {
                break End::Finished;
            }
        }
    };
    if end == End::Reset {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
}

/// One direction: `src` → toxics → `dst`.
async fn pump(
    mut src: ReadHalf<'_>,
    mut dst: WriteHalf<'_>,
    stream: Stream,
    toxics: watch::Receiver<ToxicSet>,
    stats: &ProxyStats,
    rng: Rng,
) -> End {
    let (tx, rx) = mpsc::channel::<Chunk>(8);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let chunk = match src.read(&mut buf).await {
                Ok(0) | Err(_) => Chunk::Eof,
                Ok(n) => {
                    buf.truncate(n);
                    Chunk::Data(buf, Instant::now())
                }
            };
            let eof = matches!(chunk, Chunk::Eof);
            if tx.send(chunk).await.is_err() || eof {
                break;
            }
        }
        // The writer decides when this direction ends.
        std::future::pending::<()>().await;
    };
    let counter = match stream {
        Stream::Upstream => &stats.bytes_upstream,
        Stream::Downstream => &stats.bytes_downstream,
    };
    let writer = Writer {
        stream,
        toxics,
        stats,
        counter,
        rng,
        held: HashMap::new(),
    }
    .run(rx, &mut dst);
    tokio::select! {
        () = reader => End::Finished,
        end = writer => end,
    }
}

/// A toxic's hold on one connection.
struct Hold {
    /// Drawn from `toxicity` when first seen.
    acts: bool,
    since: Instant,
    /// Bytes passed since (for `limit_data`).
    passed: u64,
}

struct Writer<'a> {
    stream: Stream,
    toxics: watch::Receiver<ToxicSet>,
    stats: &'a ProxyStats,
    counter: &'a AtomicU64,
    rng: Rng,
    held: HashMap<u64, Hold>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Writer<'_> {
    /// The toxics of this direction that act on this connection, with the
    /// holds brought up to date (new toxics drawn, removed ones forgotten).
    fn active(&mut self) -> Vec<(u64, ToxicKind)> {
        let set: ToxicSet = self.toxics.borrow_and_update().clone();
        let now = Instant::now();
        let mine: Vec<&ToxicEntry> = set
            .iter()
            .filter(|t| t.spec.stream == self.stream)
            .collect();
        self.held
            .retain(|uid, _| mine.iter().any(|t| t.uid == *uid));
        let mut active = Vec::new();
        for t in mine {
            let hold = match self.held.get(&t.uid) {
                Some(hold) => hold,
                None => {
                    let acts = self.rng.chance(t.spec.toxicity);
                    if acts {
                        t.affected.fetch_add(1, Ordering::Relaxed);
                        self.stats.note_affected(&t.spec.name);
                    }
                    self.held.entry(t.uid).or_insert(Hold {
                        acts,
                        since: now,
                        passed: 0,
                    })
                }
            };
            if hold.acts {
                active.push((t.uid, t.spec.kind));
            }
        }
        active
    }

    /// The earliest moment a toxic ends the connection, and how.
    fn deadline(&self, active: &[(u64, ToxicKind)]) -> Option<(Instant, End)> {
        let mut first: Option<(Instant, End)> = None;
        for (uid, kind) in active {
            let Some(hold) = self.held.get(uid) else {
                continue;
            };
            let due = match *kind {
                ToxicKind::ResetPeer { timeout_ms } => (hold.since + ms(timeout_ms), End::Reset),
                ToxicKind::Timeout { timeout_ms } if timeout_ms > 0 => {
                    (hold.since + ms(timeout_ms), End::Close)
                }
                _ => continue,
            };
            if first.is_none_or(|f| due.0 < f.0) {
                first = Some(due);
            }
        }
        first
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Chunk>, dst: &mut WriteHalf<'_>) -> End {
        let mut pending: Option<Chunk> = None;
        loop {
            let active = self.active();
            let deadline = self.deadline(&active);
            if let Some((at, end)) = deadline {
                if at <= Instant::now() {
                    return end;
                }
            }
            // `timeout` holds everything back while it is on.
            let hold = active
                .iter()
                .any(|(_, k)| matches!(k, ToxicKind::Timeout { .. }));
            if hold || pending.is_none() {
                tokio::select! {
                    changed = self.toxics.changed() => {
                        if changed.is_err() {
                            return End::Close;
                        }
                        continue;
                    }
                    () = sleep_until_opt(deadline.map(|d| d.0)) => {
                        return deadline.map_or(End::Close, |d| d.1);
                    }
                    chunk = rx.recv(), if !hold => {
                        pending = Some(chunk.unwrap_or(Chunk::Eof));
                    }
                }
            }
            let Some(chunk) = pending.take() else {
                continue;
            };
            match chunk {
                Chunk::Eof => {
                    let delay = active
                        .iter()
                        .filter_map(|(_, k)| match k {
                            ToxicKind::SlowClose { delay_ms } => Some(*delay_ms),
                            _ => None,
                        })
                        .max();
                    if let Some(delay) = delay {
                        sleep(ms(delay)).await;
                    }
                    let _ = dst.shutdown().await;
                    return End::Finished;
                }
                Chunk::Data(bytes, arrived) => {
                    if let Some(end) = self.pass(&active, deadline, &bytes, arrived, dst).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Passes one chunk through the active toxics; `Some` ends the connection.
    async fn pass(
        &mut self,
        active: &[(u64, ToxicKind)],
        deadline: Option<(Instant, End)>,
        bytes: &[u8],
        arrived: Instant,
        dst: &mut WriteHalf<'_>,
    ) -> Option<End> {
        let mut delay = 0u64;
        for (_, kind) in active {
            if let ToxicKind::Latency {
                latency_ms,
                jitter_ms,
            } = *kind
            {
                let spread = self.rng.up_to(jitter_ms.saturating_mul(2));
                delay += (latency_ms + spread).saturating_sub(jitter_ms);
            }
        }
        if delay > 0 {
            tokio::select! {
                () = sleep_until(arrived + ms(delay)) => {}
                () = sleep_until_opt(deadline.map(|d| d.0)) => {
                    return Some(deadline.map_or(End::Close, |d| d.1));
                }
            }
        }
        // `limit_data`: pass at most what is left, then close.
        let mut allowed = bytes.len() as u64;
        let mut limit_reached = false;
        for (uid, kind) in active {
            if let ToxicKind::LimitData { bytes: limit } = *kind {
                let passed = self.held.get(uid).map_or(0, |h| h.passed);
                let left = limit.saturating_sub(passed);
                if left <= allowed {
                    allowed = left;
                    limit_reached = true;
                }
            }
        }
        let data = &bytes[..allowed as usize];
        if self.write_paced(active, data, dst).await.is_err() {
            return Some(End::Close);
        }
        for (uid, kind) in active {
            if matches!(kind, ToxicKind::LimitData { .. }) {
                if let Some(hold) = self.held.get_mut(uid) {
                    hold.passed += allowed;
                }
            }
        }
        limit_reached.then_some(End::Close)
    }

    /// Writes `data`, in slices (`slicer`) and at a rate (`bandwidth`).
    async fn write_paced(
        &mut self,
        active: &[(u64, ToxicKind)],
        data: &[u8],
        dst: &mut WriteHalf<'_>,
    ) -> std::io::Result<()> {
        let rate = active
            .iter()
            .filter_map(|(_, k)| match k {
                ToxicKind::Bandwidth { rate_kbps } if *rate_kbps > 0 => Some(*rate_kbps * 1024),
                _ => None,
            })
            .min();
        let slicer = active.iter().find_map(|(_, k)| match *k {
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay_us,
            } => Some((average_size.max(1), size_variation, delay_us)),
            _ => None,
        });
        let start = Instant::now();
        let mut offset = 0usize;
        while offset < data.len() {
            let mut size = data.len() - offset;
            if let Some((average, variation, _)) = slicer {
                let variation = variation.min(average - 1);
                let slice = average - variation + self.rng.up_to(variation * 2);
                size = size.min(slice as usize);
            }
            if let Some(rate) = rate {
                // A tenth of a second's worth at a time.
                size = size.min((rate / 10).max(1) as usize);
            }
            // Counted when handed over, so a reader who got them sees them.
            self.counter.fetch_add(size as u64, Ordering::Relaxed);
            dst.write_all(&data[offset..offset + size]).await?;
            offset += size;
            if let Some(rate) = rate {
                let due = start + Duration::from_secs_f64(offset as f64 / rate as f64);
                sleep_until(due).await;
            }
            if let Some((_, _, delay_us)) = slicer {
                if delay_us > 0 {
                    sleep(Duration::from_micros(delay_us)).await;
                }
            }
        }
        Ok(())
    }
}
