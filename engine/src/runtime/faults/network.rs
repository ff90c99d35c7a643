//! A network fault on a link, as a chaos test's fault: put the toxic on
//! the link's proxy (or take the proxy down), hold it for the window while
//! probing the watched service's health, read the proxy's counters, remove
//! it and read the removal back, then wait for the service to pass its
//! health check again. The fault is recorded in the [`ledger`] before it
//! is injected; a [`Removal`] guard removes it if the test is dropped
//! half-way, and the abort of the run ends the window early.

use super::observe::{self, HealthSource, PROBE_EVERY};
use crate::metrics::resilience::{FaultEvidence, HealthPoint, NetworkFaultEvidence};
use crate::netfault::client::{RemoteProxy, RemoteProxyStats, ToxiproxyClient};
use crate::netfault::ledger::{self, Entry};
use crate::plan::{NetworkFault, NetworkToxic};
use crate::run::now_ms;
use crate::runner::context::TestContext;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod evidence;
mod placement;
use evidence::{describe_seen, fault_evidence};
use placement::{not_injected, toxic_body, Placed, Removal};

/// How long the service may take to pass its health check after removal.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);

/// `b - a` of a counter, when both sides count.
fn delta(
    before: Option<&RemoteProxyStats>,
    after: Option<&RemoteProxyStats>,
    f: fn(&RemoteProxyStats) -> u64,
) -> Option<u64> {
    Some(f(after?).saturating_sub(f(before?)))
}

/// Probes `source` every 100 ms until `stop`; the points are measured from
/// `from`.
async fn watch_health(
    ctx: TestContext,
    source: HealthSource,
    from: Instant,
    stop: CancellationToken,
) -> Vec<HealthPoint> {
    let mut points = Vec::new();
    while !stop.is_cancelled() && points.len() < 20_000 {
        let probe = observe::probe(&ctx.target, &source).await;
        points.push(HealthPoint {
            at_ms: from.elapsed().as_millis() as u64,
            healthy: probe.healthy,
            pid: probe.pid,
            started_at: probe.started_at,
            identity: probe.identity,
        });
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = stop.cancelled() => {}
        }
    }
    points
}

/// Probes the watched service, when there is one, until `stop`.
fn spawn_watch(
    ctx: &TestContext,
    source: Option<&HealthSource>,
    started: Instant,
    stop: &CancellationToken,
) -> Option<tokio::task::JoinHandle<Vec<HealthPoint>>> {
    source
        .cloned()
        .map(|source| tokio::spawn(watch_health(ctx.clone(), source, started, stop.clone())))
}

/// Runs the fault and returns its proof. `Err` means nothing was left
/// injected: the API could not be reached, the link or proxy is unknown,
/// or the toxic was refused.
pub async fn inject(
    ctx: &TestContext,
    fault: &NetworkFault,
    service: Option<&str>,
    hold: Hold<'_>,
) -> Result<FaultEvidence, String> {
    let link = Link::resolve(ctx, fault, service).await?;
    let started = Instant::now();
    let call = link.place().await?;
    let injected_at_ms = now_ms();
    // The window is held from the moment the proxy accepted the fault, not
    // from the request that asked for it.
    let held_from = Instant::now();
    let placed = link.placed();
    let mut guard = Removal(Some(placed.clone()));
    let stop_watch = CancellationToken::new();
    let watcher = spawn_watch(ctx, link.source.as_ref(), started, &stop_watch);
    let window = link.hold(ctx, hold, held_from).await;
    let removed = link.remove(&placed).await;
    if removed.verified {
        guard.disarm();
        if let Some(path) = &link.ledger_file {
            ledger::forget(path);
        }
    }

    // Recovery: the watched service passing its health check after
    // removal; its probes go on the same timeline.
    stop_watch.cancel();
    let mut timeline = match watcher {
        Some(w) => w.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let recovery_ms = await_recovery(
        ctx,
        link.source.as_ref(),
        started,
        removed.at,
        &mut timeline,
    )
    .await;
    let held = removed.at.duration_since(started);
    let network = link.evidence(fault, window, &removed, injected_at_ms);
    Ok(fault_evidence(
        service,
        fault,
        call,
        held,
        recovery_ms,
        timeline,
        network,
    ))
}

/// The fault's link, resolved before anything is injected: its proxy, the
/// watched service's health, the API's client, the proxy as it stood, the
/// toxic's body and the fault's entry in the ledger.
struct Link {
    proxy: String,
    source: Option<HealthSource>,
    client: ToxiproxyClient,
    before: RemoteProxy,
    toxic: Option<(String, Value, BTreeMap<String, u64>)>,
    entry: Entry,
    ledger_file: Option<PathBuf>,
}

/// The call that put the fault in place, and the API's answer.
struct Call {
    called: String,
    answer: String,
    requested_at_ms: i64,
}

/// How long a fault is held: a fixed window, or until the test's
/// condition is met (`settled` resolves) within a bound.
pub enum Hold<'a> {
    /// The plan's `duration_s`.
    For(Duration),
    /// The plan's `until`: what it waits for, by its name, the future that
    /// resolves when it is met, and the longest the fault is held.
    Until {
        what: &'static str,
        settled: BoxFuture<'a, ()>,
        bound: Duration,
    },
}

/// What the window showed: its planned length (the bound, when held
/// `until`), and the proxy as read at its start and at its end (its
/// counters, before removal).
struct Window {
    planned: Duration,
    /// When held `until`: what it waited for and whether that came before
    /// the bound (`None`: the run was aborted first).
    until: Option<(&'static str, Option<bool>)>,
    seen: Option<RemoteProxy>,
    during: Option<RemoteProxy>,
}

/// How the removal went, and when it was done.
struct Removed {
    /// The removal call succeeded.
    ok: bool,
    at: Instant,
    at_ms: i64,
    /// The API, read back, no longer shows the fault.
    verified: bool,
    /// What the read back showed, or why the removal failed.
    removal: String,
}

impl Link {
    /// Finds the environment's network, the link's proxy, the watched
    /// service's health source, and reads the proxy; records the fault in
    /// the ledger. `Err` when any of it fails: nothing was injected.
    async fn resolve(
        ctx: &TestContext,
        fault: &NetworkFault,
        service: Option<&str>,
    ) -> Result<Link, String> {
        let nothing = "; nothing was injected";
        let network = ctx.target.env.network.as_ref().ok_or_else(|| {
            format!(
                "environment {:?} has no network-fault proxy{nothing}",
                ctx.target.name
            )
        })?;
        let proxy = network.links.get(&fault.link).ok_or_else(|| {
            format!(
                "environment {:?} has no link named {:?}{nothing}",
                ctx.target.name, fault.link
            )
        })?;
        let source = watched(ctx, service, nothing)?;
        let client = ToxiproxyClient::new(&network.api).map_err(|e| format!("{e}{nothing}"))?;
        let before = client
            .proxy(proxy)
            .await
            .map_err(|e| format!("{e}{nothing}"))?;
        if fault.toxic == NetworkToxic::Down && !before.enabled {
            return Err(format!(
                "proxy {proxy:?} of link {:?} is already disabled, so the link was down before the fault; put it back first{nothing}",
                fault.link
            ));
        }
        let toxic = toxic_body(fault, &ctx.test_id);
        let entry = Entry::new(
            client.api(),
            proxy.clone(),
            toxic.as_ref().map(|(name, _, _)| name.clone()),
            ctx.test_id.clone(),
        );
        let ledger_file = ledger::record(&entry)
            .map_err(|e| format!("the fault could not be recorded in the ledger: {e}{nothing}"))?;
        Ok(Link {
            proxy: proxy.clone(),
            source,
            client,
            before,
            toxic,
            entry,
            ledger_file,
        })
    }

    /// Adds the toxic to the proxy, or disables the proxy for `down`.
    /// `Err` settles the ledger (see [`not_injected`]).
    async fn place(&self) -> Result<Call, String> {
        let requested_at_ms = now_ms();
        let (client, proxy) = (&self.client, &self.proxy);
        let (called, answer) = match &self.toxic {
            Some((_, body, _)) => {
                let called = format!("POST {}/proxies/{proxy}/toxics {body}", client.api());
                match client.add_toxic(proxy, body).await {
                    Ok(t) => (
                        called,
                        format!("toxic {:?} ({}, {}) added", t.name, t.kind, t.stream),
                    ),
                    Err(e) => return Err(not_injected(&self.entry, &self.ledger_file, e).await),
                }
            }
            None => {
                let called = format!(
                    "POST {}/proxies/{proxy} {{\"enabled\":false}}",
                    client.api()
                );
                match client.set_enabled(proxy, false).await {
                    Ok(p) => (called, format!("proxy {:?} enabled={}", p.name, p.enabled)),
                    Err(e) => return Err(not_injected(&self.entry, &self.ledger_file, e).await),
                }
            }
        };
        Ok(Call {
            called,
            answer,
            requested_at_ms,
        })
    }

    /// What was put in place, for its removal.
    fn placed(&self) -> Placed {
        Placed {
            client: self.client.clone(),
            proxy: self.proxy.clone(),
            toxic: self.entry.toxic.clone(),
            ledger: self.ledger_file.clone(),
        }
    }

    /// Holds the fault from `held_from` for its window, or until the
    /// test's condition is met within its bound (the run's abort ends it
    /// early), reading the proxy at its start and at its end.
    async fn hold(&self, ctx: &TestContext, hold: Hold<'_>, held_from: Instant) -> Window {
        let seen = self.client.proxy(&self.proxy).await.ok();
        let (planned, settled) = match hold {
            Hold::For(window) => (window, None),
            Hold::Until {
                what,
                settled,
                bound,
            } => (bound, Some((what, settled))),
        };
        let window = tokio::time::sleep(planned.saturating_sub(held_from.elapsed()));
        let until = match settled {
            None => {
                tokio::select! {
                    _ = window => {}
                    _ = ctx.cancel.cancelled() => {}
                }
                None
            }
            Some((what, settled)) => {
                let met = tokio::select! {
                    _ = settled => Some(true),
                    _ = window => Some(false),
                    _ = ctx.cancel.cancelled() => None,
                };
                Some((what, met))
            }
        };
        // The proxy's counters, read before removal.
        let during = self.client.proxy(&self.proxy).await.ok();
        Window {
            planned,
            until,
            seen,
            during,
        }
    }

    /// Removes the fault, retrying a failed call twice, and reads the
    /// removal back.
    async fn remove(&self, placed: &Placed) -> Removed {
        let mut removed = Err(String::new());
        for _ in 0..3 {
            removed = placed.remove().await;
            if removed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let at = Instant::now();
        let at_ms = now_ms();
        let (verified, removal) = self.read_back(&removed).await;
        Removed {
            ok: removed.is_ok(),
            at,
            at_ms,
            verified,
            removal,
        }
    }

    /// Whether the API no longer shows the fault, and what it showed.
    async fn read_back(&self, removed: &Result<bool, String>) -> (bool, String) {
        let (client, proxy) = (&self.client, &self.proxy);
        match (removed, &self.entry.toxic) {
            (Err(e), _) => (false, format!("removal failed: {e}")),
            (Ok(_), Some(name)) => match client.toxics(proxy).await {
                Ok(left) if left.iter().any(|t| &t.name == name) => (
                    false,
                    format!("GET /proxies/{proxy}/toxics still lists {name:?}"),
                ),
                Ok(left) => (
                    true,
                    format!(
                        "GET /proxies/{proxy}/toxics no longer lists {name:?} ({} toxics left)",
                        left.len()
                    ),
                ),
                Err(e) => (false, format!("removal not read back: {e}")),
            },
            (Ok(_), None) => match client.proxy(proxy).await {
                Ok(p) if p.enabled => (true, format!("GET /proxies/{proxy} shows enabled=true")),
                Ok(_) => (
                    false,
                    format!("GET /proxies/{proxy} still shows enabled=false"),
                ),
                Err(e) => (false, format!("removal not read back: {e}")),
            },
        }
    }

    /// The network evidence: the fault as planned, what the proxy showed
    /// and counted during its window, and its removal.
    fn evidence(
        self,
        fault: &NetworkFault,
        window: Window,
        removed: &Removed,
        injected_at_ms: i64,
    ) -> NetworkFaultEvidence {
        let stats_before = self.before.stats.as_ref();
        let stats_during = window.during.as_ref().and_then(|p| p.stats.as_ref());
        let affected = match (&self.entry.toxic, stats_during) {
            (Some(name), Some(stats)) => Some(
                stats
                    .connections_affected_by_toxic
                    .get(name)
                    .copied()
                    .unwrap_or(0),
            ),
            _ => None,
        };
        // `down` disables the proxy: the open connections it closed then.
        let cut = match self.entry.toxic {
            None => delta(stats_before, stats_during, |s| {
                s.connections_cut.unwrap_or(0)
            })
            .filter(|_| stats_during.is_some_and(|s| s.connections_cut.is_some())),
            Some(_) => None,
        };
        let (seen_at_proxy, seen_in_effect) =
            describe_seen(window.seen.as_ref(), self.entry.toxic.as_deref());
        let attributes = self.toxic.map(|(_, _, a)| a).unwrap_or_default();
        NetworkFaultEvidence {
            link: fault.link.clone(),
            proxy: self.proxy,
            api: self.client.api(),
            toxic: fault.toxic.name().to_owned(),
            toxic_name: self.entry.toxic,
            direction: fault.direction().name().to_owned(),
            attributes,
            toxicity: fault.toxicity.unwrap_or(1.0),
            planned_ms: window.planned.as_millis() as u64,
            until: window.until.map(|(what, _)| what.to_owned()),
            until_met: window.until.and_then(|(_, met)| met),
            injected_at_ms,
            removed_at_ms: removed.ok.then_some(removed.at_ms),
            seen_at_proxy,
            seen_in_effect,
            connections_affected: affected,
            connections_cut: cut,
            connections_accepted: delta(stats_before, stats_during, |s| s.connections_accepted),
            bytes_upstream: delta(stats_before, stats_during, |s| s.bytes_upstream),
            bytes_downstream: delta(stats_before, stats_during, |s| s.bytes_downstream),
            upstream_connect_failures: delta(stats_before, stats_during, |s| {
                s.upstream_connect_failures
            }),
            removal_verified: removed.verified,
            removal: removed.removal.clone(),
        }
    }
}

/// The health source of the watched service, when the fault names one.
fn watched(
    ctx: &TestContext,
    service: Option<&str>,
    nothing: &str,
) -> Result<Option<HealthSource>, String> {
    Ok(match service {
        Some(name) => match ctx.services.get(name) {
            Some(s) => super::health_source(ctx, name, s).map_err(|e| e.to_string())?,
            None => return Err(format!("no service named {name:?}{nothing}")),
        },
        None => None,
    })
}

/// When the watched service passed its health check after the removal at
/// `removed_at`, in ms from `started`; its probes are appended to
/// `timeline`. With no service watched, the removal counts as recovery.
async fn await_recovery(
    ctx: &TestContext,
    source: Option<&HealthSource>,
    started: Instant,
    removed_at: Instant,
    timeline: &mut Vec<HealthPoint>,
) -> Option<u64> {
    let Some(source) = source else {
        return Some(removed_at.duration_since(started).as_millis() as u64);
    };
    let limit = removed_at + RECOVERY_LIMIT;
    while Instant::now() < limit && !ctx.cancel.is_cancelled() {
        let probe = observe::probe(&ctx.target, source).await;
        let at_ms = started.elapsed().as_millis() as u64;
        let healthy = probe.healthy;
        timeline.push(HealthPoint {
            at_ms,
            healthy,
            pid: probe.pid,
            started_at: probe.started_at,
            identity: probe.identity,
        });
        if healthy {
            return Some(at_ms);
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    None
}
