//! The proxies and their toxics, and every operation of the Toxiproxy API
//! on them (list, create, populate, update, delete, toxics, reset), taking
//! JSON bodies and giving back the JSON views the API answers with. An
//! HTTP front end only routes to these.

use super::link::ToxicEntry;
use super::proxy::Proxy;
use super::spec::{AddressRules, ProxySpec, ProxyUpdate, Stream, ToxicSpec};
use super::NetFaultError;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How the registry treats addresses and randomness.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetFaultOptions {
    /// Allow listen addresses other than loopback.
    pub allow_remote_listen: bool,
    /// Allow upstreams other than loopback.
    pub allow_remote_upstream: bool,
    /// Seed of the draws behind `toxicity` and `jitter`.
    pub seed: u64,
}

/// A proxy as the API shows it (Toxiproxy's fields plus `stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyView {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicView>,
    pub stats: ProxyStatsView,
}

/// A proxy's counters: the proof that a fault took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatsView {
    pub connections_accepted: u64,
    pub connections_open: u64,
    pub upstream_connect_failures: u64,
    pub bytes_upstream: u64,
    pub bytes_downstream: u64,
    /// Open connections closed by disabling the proxy, over its life.
    pub connections_cut: u64,
    /// Connections each toxic acted on, by name, kept after removal.
    pub connections_affected_by_toxic: BTreeMap<String, u64>,
}

/// A toxic as the API shows it (Toxiproxy's fields plus `stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: Stream,
    pub toxicity: f64,
    pub attributes: BTreeMap<String, u64>,
    pub stats: ToxicStatsView,
}

/// A toxic's counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToxicStatsView {
    /// Connections it acted on so far.
    pub connections_affected: u64,
}

/// All proxies, by name.
pub struct ProxyRegistry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    rules: AddressRules,
    rng: Arc<Mutex<Rng>>,
    next_uid: AtomicU64,
}

fn toxic_view(t: &ToxicEntry) -> ToxicView {
    ToxicView {
        name: t.spec.name.clone(),
        kind: t.spec.kind.type_name().to_string(),
        stream: t.spec.stream,
        toxicity: t.spec.toxicity,
        attributes: t.spec.kind.attributes(),
        stats: ToxicStatsView {
            connections_affected: t.affected.load(Ordering::Relaxed),
        },
    }
}

fn proxy_view(p: &Proxy) -> ProxyView {
    ProxyView {
        name: p.name.clone(),
        listen: p.listen.to_string(),
        upstream: p.upstream(),
        enabled: p.enabled,
        toxics: p.toxics.iter().map(toxic_view).collect(),
        stats: ProxyStatsView {
            connections_accepted: p.stats.accepted.load(Ordering::Relaxed),
            connections_open: p.stats.open.load(Ordering::Relaxed),
            upstream_connect_failures: p.stats.upstream_failures.load(Ordering::Relaxed),
            bytes_upstream: p.stats.bytes_upstream.load(Ordering::Relaxed),
            bytes_downstream: p.stats.bytes_downstream.load(Ordering::Relaxed),
            connections_cut: p.stats.cut.load(Ordering::Relaxed),
            connections_affected_by_toxic: p.stats.affected(),
        },
    }
}

impl ProxyRegistry {
    /// An empty registry.
    pub fn new(options: NetFaultOptions) -> Self {
        Self {
            proxies: Mutex::new(BTreeMap::new()),
            rules: AddressRules {
                remote_listen: options.allow_remote_listen,
                remote_upstream: options.allow_remote_upstream,
            },
            rng: Arc::new(Mutex::new(Rng::new(options.seed))),
            next_uid: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Proxy>> {
        // A panic while holding the lock leaves plain data behind: go on.
        self.proxies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self, spec: ProxySpec) -> Result<Proxy, NetFaultError> {
        let mut proxy = Proxy::new(
            spec.name,
            spec.listen,
            spec.upstream,
            self.rules,
            self.rng.clone(),
        );
        if spec.enabled {
            proxy.enable()?;
        }
        Ok(proxy)
    }

    /// `GET /proxies`: every proxy, by name.
    pub fn list(&self) -> BTreeMap<String, ProxyView> {
        self.lock()
            .iter()
            .map(|(name, p)| (name.clone(), proxy_view(p)))
            .collect()
    }

    /// `POST /proxies`: creates and (unless `enabled: false`) starts a proxy.
    pub fn create(&self, body: &Value) -> Result<ProxyView, NetFaultError> {
        let spec = ProxySpec::from_json(body, self.rules)?;
        let mut proxies = self.lock();
        if proxies.contains_key(&spec.name) {
            return Err(NetFaultError::ProxyExists(spec.name));
        }
        let proxy = self.start(spec)?;
        let view = proxy_view(&proxy);
        proxies.insert(proxy.name.clone(), proxy);
        Ok(view)
    }

    /// `POST /populate` and the config file: a list of proxies; each one
    /// replaces a proxy of its name unless that one already has the same
    /// listen address and upstream (then it is kept, toxics and all). The
    /// whole list is checked before anything changes.
    pub fn populate(&self, body: &Value) -> Result<Vec<ProxyView>, NetFaultError> {
        let Some(entries) = body.as_array() else {
            return Err(NetFaultError::invalid(
                "body",
                "expected a JSON array of proxies ({\"name\", \"listen\", \"upstream\"})",
            ));
        };
        let mut specs: Vec<ProxySpec> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let spec =
                ProxySpec::from_json(entry, self.rules).map_err(|e| e.under(&format!("[{i}].")))?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(NetFaultError::invalid(
                    format!("[{i}].name"),
                    format!("proxy {:?} is listed twice", spec.name),
                ));
            }
            specs.push(spec);
        }
        let mut proxies = self.lock();
        let mut views = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = spec.name.clone();
            let same = proxies.get(&name).is_some_and(|p| {
                (p.listen == spec.listen
                    || (spec.listen.port() == 0 && p.listen.ip() == spec.listen.ip()))
                    && p.upstream() == spec.upstream
            });
            if same {
                if let Some(p) = proxies.get_mut(&name) {
                    if spec.enabled {
                        p.enable()?;
                    } else {
                        p.disable();
                    }
                }
            } else {
                // Stop the old one first: the new one may take its address.
                proxies.remove(&name);
                let proxy = self.start(spec)?;
                proxies.insert(name.clone(), proxy);
            }
            if let Some(p) = proxies.get(&name) {
                views.push(proxy_view(p));
            }
        }
        Ok(views)
    }

    /// `GET /proxies/{name}`.
    pub fn get(&self, name: &str) -> Result<ProxyView, NetFaultError> {
        self.lock()
            .get(name)
            .map(proxy_view)
            .ok_or_else(|| NetFaultError::ProxyNotFound(name.to_string()))
    }

    /// `POST /proxies/{name}`: changes `enabled`, `upstream` or `listen`
    /// (a new listen address restarts the listener).
    pub fn update(&self, name: &str, body: &Value) -> Result<ProxyView, NetFaultError> {
        let change = ProxyUpdate::from_json(name, body, self.rules)?;
        let mut proxies = self.lock();
        let proxy = proxies
            .get_mut(name)
            .ok_or_else(|| NetFaultError::ProxyNotFound(name.to_string()))?;
        if let Some(upstream) = change.upstream {
            proxy.set_upstream(upstream);
        }
        let enabled = change.enabled.unwrap_or(proxy.enabled);
        if let Some(listen) = change.listen {
            if listen != proxy.listen {
                let was = proxy.listen;
                proxy.disable();
                proxy.listen = listen;
                if enabled {
                    if let Err(e) = proxy.enable() {
                        // Back where it was, so a refused move changes nothing.
                        proxy.listen = was;
                        let _ = proxy.enable();
                        return Err(e);
                    }
                }
            }
        }
        if enabled {
            proxy.enable()?;
        } else {
            proxy.disable();
        }
        Ok(proxy_view(proxy))
    }

    /// `DELETE /proxies/{name}`: stops it and closes its connections.
    pub fn delete(&self, name: &str) -> Result<(), NetFaultError> {
        self.lock()
            .remove(name)
            .map(drop)
            .ok_or_else(|| NetFaultError::ProxyNotFound(name.to_string()))
    }

    /// `GET /proxies/{name}/toxics`.
    pub fn toxics(&self, proxy: &str) -> Result<Vec<ToxicView>, NetFaultError> {
        self.lock()
            .get(proxy)
            .map(|p| p.toxics.iter().map(toxic_view).collect())
            .ok_or_else(|| NetFaultError::ProxyNotFound(proxy.to_string()))
    }

    /// `POST /proxies/{name}/toxics`: adds a toxic; it acts on open
    /// connections as well as new ones.
    pub fn add_toxic(&self, proxy: &str, body: &Value) -> Result<ToxicView, NetFaultError> {
        let mut proxies = self.lock();
        let p = proxies
            .get_mut(proxy)
            .ok_or_else(|| NetFaultError::ProxyNotFound(proxy.to_string()))?;
        let spec = ToxicSpec::from_json(body)?;
        if p.toxics.iter().any(|t| t.spec.name == spec.name) {
            return Err(NetFaultError::ToxicExists {
                proxy: proxy.to_string(),
                toxic: spec.name,
            });
        }
        let entry = ToxicEntry {
            uid: self.next_uid.fetch_add(1, Ordering::Relaxed),
            spec,
            affected: Arc::new(AtomicU64::new(0)),
        };
        let view = toxic_view(&entry);
        p.toxics.push(entry);
        p.publish_toxics();
        Ok(view)
    }

    fn with_toxic<T>(
        &self,
        proxy: &str,
        toxic: &str,
        f: impl FnOnce(&mut Proxy, usize) -> Result<T, NetFaultError>,
    ) -> Result<T, NetFaultError> {
        let mut proxies = self.lock();
        let p = proxies
            .get_mut(proxy)
            .ok_or_else(|| NetFaultError::ProxyNotFound(proxy.to_string()))?;
        let i = p
            .toxics
            .iter()
            .position(|t| t.spec.name == toxic)
            .ok_or_else(|| NetFaultError::ToxicNotFound {
                proxy: proxy.to_string(),
                toxic: toxic.to_string(),
            })?;
        f(p, i)
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub fn toxic(&self, proxy: &str, toxic: &str) -> Result<ToxicView, NetFaultError> {
        self.with_toxic(proxy, toxic, |p, i| Ok(toxic_view(&p.toxics[i])))
    }

    /// `POST /proxies/{name}/toxics/{toxic}`: changes its attributes,
    /// toxicity or stream; connections it already holds stay held.
    pub fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        body: &Value,
    ) -> Result<ToxicView, NetFaultError> {
        self.with_toxic(proxy, toxic, |p, i| {
            let spec = p.toxics[i].spec.updated(body)?;
            p.toxics[i].spec = spec;
            p.publish_toxics();
            Ok(toxic_view(&p.toxics[i]))
        })
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), NetFaultError> {
        self.with_toxic(proxy, toxic, |p, i| {
            p.toxics.remove(i);
            p.publish_toxics();
            Ok(())
        })
    }

    /// `POST /reset`: every proxy enabled, every toxic removed (counters
    /// stay). Goes through all proxies even if one cannot listen again,
    /// then reports the first such failure.
    pub fn reset(&self) -> Result<(), NetFaultError> {
        let mut first_error = None;
        for p in self.lock().values_mut() {
            if !p.toxics.is_empty() {
                p.toxics.clear();
                p.publish_toxics();
            }
            if let Err(e) = p.enable() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every proxy and closes every connection.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
