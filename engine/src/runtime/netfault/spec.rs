//! What a proxy and a toxic are, as Toxiproxy's API spells them in JSON
//! (a proxy in `proxies`): reading and checking request bodies and config
//! entries, with errors that name the field. Toxic types and attribute
//! names are Toxiproxy's (`latency`/`jitter` in ms, `bandwidth`/`rate` in
//! KB/s, `slow_close`/`delay`, `timeout`/`timeout`, `reset_peer`/`timeout`,
//! `limit_data`/`bytes`, `slicer`/`average_size`, `size_variation`, `delay`
//! in µs).

use super::NetFaultError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

mod proxies;
pub use proxies::{check_listen, check_upstream, AddressRules, ProxySpec, ProxyUpdate};

/// The direction a toxic acts on: `upstream` is client → service,
/// `downstream` is service → client (Toxiproxy's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    /// The API's name of the direction.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// A toxic's type and its attributes (milliseconds unless said).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToxicKind {
    /// Each chunk waits `latency` ± `jitter` after it arrived.
    Latency { latency_ms: u64, jitter_ms: u64 },
    /// At most `rate` KB/s (0: no limit).
    Bandwidth { rate_kbps: u64 },
    /// The close waits `delay` after the other side closed.
    SlowClose { delay_ms: u64 },
    /// Nothing passes while it is on; with `timeout` > 0 the connection is
    /// closed that long after the toxic took hold of it.
    Timeout { timeout_ms: u64 },
    /// The connection is reset (TCP RST) `timeout` after the toxic took hold.
    ResetPeer { timeout_ms: u64 },
    /// The connection is closed once `bytes` have passed.
    LimitData { bytes: u64 },
    /// Data passes in slices of `average_size` ± `size_variation` bytes,
    /// each followed by a pause of `delay` µs.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay_us: u64,
    },
}

/// Each type, the attributes it takes, and which of them are times (capped).
const TYPES: [(&str, &[&str]); 7] = [
    ("latency", &["latency", "jitter"]),
    ("bandwidth", &["rate"]),
    ("slow_close", &["delay"]),
    ("timeout", &["timeout"]),
    ("reset_peer", &["timeout"]),
    ("limit_data", &["bytes"]),
    ("slicer", &["average_size", "size_variation", "delay"]),
];

/// The largest time attribute accepted: one day in ms (µs for `slicer`).
const MAX_TIME: u64 = 86_400_000;

fn known_types() -> String {
    TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}

impl ToxicKind {
    /// The API's name of the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Slicer { .. } => "slicer",
        }
    }

    /// The attributes as the API shows them.
    pub fn attributes(&self) -> BTreeMap<String, u64> {
        let pairs: Vec<(&str, u64)> = match *self {
            ToxicKind::Latency {
                latency_ms,
                jitter_ms,
            } => vec![("latency", latency_ms), ("jitter", jitter_ms)],
            ToxicKind::Bandwidth { rate_kbps } => vec![("rate", rate_kbps)],
            ToxicKind::SlowClose { delay_ms } => vec![("delay", delay_ms)],
            ToxicKind::Timeout { timeout_ms } | ToxicKind::ResetPeer { timeout_ms } => {
                vec![("timeout", timeout_ms)]
            }
            ToxicKind::LimitData { bytes } => vec![("bytes", bytes)],
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay_us,
            } => vec![
                ("average_size", average_size),
                ("size_variation", size_variation),
                ("delay", delay_us),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Builds a type from its name and attributes (missing ones are 0).
    fn build(type_name: &str, attrs: &BTreeMap<String, u64>) -> Option<Self> {
        let a = |k: &str| attrs.get(k).copied().unwrap_or(0);
        Some(match type_name {
            "latency" => ToxicKind::Latency {
                latency_ms: a("latency"),
                jitter_ms: a("jitter"),
            },
            "bandwidth" => ToxicKind::Bandwidth {
                rate_kbps: a("rate"),
            },
            "slow_close" => ToxicKind::SlowClose {
                delay_ms: a("delay"),
            },
            "timeout" => ToxicKind::Timeout {
                timeout_ms: a("timeout"),
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout_ms: a("timeout"),
            },
            "limit_data" => ToxicKind::LimitData { bytes: a("bytes") },
            "slicer" => ToxicKind::Slicer {
                average_size: a("average_size"),
                size_variation: a("size_variation"),
                delay_us: a("delay"),
            },
            _ => return None,
        })
    }
}

/// One toxic on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicSpec {
    /// Unique on its proxy; default `<type>_<stream>`.
    pub name: String,
    pub kind: ToxicKind,
    pub stream: Stream,
    /// The probability that it acts on a connection, drawn once per
    /// connection (1: every connection).
    pub toxicity: f64,
}

const TOXIC_FIELDS: [&str; 6] = ["name", "type", "stream", "toxicity", "attributes", "stats"];

fn object<'a>(body: &'a Value, what: &str) -> Result<&'a Map<String, Value>, NetFaultError> {
    body.as_object()
        .ok_or_else(|| NetFaultError::invalid("body", format!("expected a JSON object ({what})")))
}

fn no_unknown_fields(map: &Map<String, Value>, known: &[&str]) -> Result<(), NetFaultError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(NetFaultError::invalid(
            k.as_str(),
            format!("unknown field; expected one of {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, NetFaultError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(NetFaultError::invalid(
            field,
            format!("expected a string, got {other}"),
        )),
    }
}

/// A name fit for a URL path segment.
fn check_name(field: &str, name: &str) -> Result<(), NetFaultError> {
    if name.is_empty() || name.len() > 100 {
        return Err(NetFaultError::invalid(
            field,
            "expected 1 to 100 characters",
        ));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '?' || c == '#' || c.is_control() || c.is_whitespace())
    {
        return Err(NetFaultError::invalid(
            field,
            format!(
                "{name:?} contains a character a URL path cannot carry as is (/, ?, #, space or control)"
            ),
        ));
    }
    Ok(())
}

fn parse_stream(map: &Map<String, Value>) -> Result<Option<Stream>, NetFaultError> {
    Ok(match string_field(map, "stream")? {
        None => None,
        Some("upstream") => Some(Stream::Upstream),
        Some("downstream") => Some(Stream::Downstream),
        Some(other) => {
            return Err(NetFaultError::invalid(
                "stream",
                format!("{other:?} is not a direction; expected upstream or downstream"),
            ));
        }
    })
}

fn parse_toxicity(map: &Map<String, Value>) -> Result<Option<f64>, NetFaultError> {
    match map.get("toxicity") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Ok(Some(t)),
            _ => Err(NetFaultError::invalid(
                "toxicity",
                format!("expected a probability from 0 to 1, got {v}"),
            )),
        },
    }
}

/// Reads `attributes` for `type_name` onto `base`.
fn parse_attributes(
    type_name: &str,
    map: &Map<String, Value>,
    mut base: BTreeMap<String, u64>,
) -> Result<BTreeMap<String, u64>, NetFaultError> {
    let allowed = TYPES
        .iter()
        .find(|(t, _)| *t == type_name)
        .map(|(_, a)| *a)
        .unwrap_or(&[]);
    let attrs = match map.get("attributes") {
        None | Some(Value::Null) => return Ok(base),
        Some(Value::Object(attrs)) => attrs,
        Some(other) => {
            return Err(NetFaultError::invalid(
                "attributes",
                format!("expected an object of attributes, got {other}"),
            ));
        }
    };
    for (key, value) in attrs {
        let field = format!("attributes.{key}");
        if !allowed.contains(&key.as_str()) {
            return Err(NetFaultError::invalid(
                field,
                format!(
                    "a `{type_name}` toxic has no such attribute; it takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        let number = value
            .as_u64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e15)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                NetFaultError::invalid(
                    field.clone(),
                    format!("expected a whole number ≥ 0, got {value}"),
                )
            })?;
        let is_time = matches!(key.as_str(), "latency" | "jitter" | "delay" | "timeout");
        if is_time && number > MAX_TIME {
            return Err(NetFaultError::invalid(
                field,
                format!("{number} is longer than a day ({MAX_TIME})"),
            ));
        }
        base.insert(key.clone(), number);
    }
    Ok(base)
}

impl ToxicSpec {
    /// Reads a toxic from the body of `POST /proxies/{name}/toxics`.
    pub fn from_json(body: &Value) -> Result<Self, NetFaultError> {
        let map = object(
            body,
            "a toxic: type, and optionally name, stream, toxicity, attributes",
        )?;
        no_unknown_fields(map, &TOXIC_FIELDS)?;
        let type_name = string_field(map, "type")?.ok_or_else(|| {
            NetFaultError::invalid(
                "type",
                format!("missing; expected one of {}", known_types()),
            )
        })?;
        if !TYPES.iter().any(|(t, _)| *t == type_name) {
            return Err(NetFaultError::invalid(
                "type",
                format!(
                    "unknown toxic type {type_name:?}; expected one of {}",
                    known_types()
                ),
            ));
        }
        let stream = parse_stream(map)?.unwrap_or(Stream::Downstream);
        let toxicity = parse_toxicity(map)?.unwrap_or(1.0);
        let attrs = parse_attributes(type_name, map, BTreeMap::new())?;
        let kind = ToxicKind::build(type_name, &attrs).ok_or_else(|| {
            NetFaultError::invalid("type", format!("unknown toxic type {type_name:?}"))
        })?;
        let name = match string_field(map, "name")? {
            Some(name) => name.to_string(),
            None => format!("{type_name}_{}", stream.name()),
        };
        check_name("name", &name)?;
        Ok(Self {
            name,
            kind,
            stream,
            toxicity,
        })
    }

    /// This toxic changed by the body of `POST /proxies/{p}/toxics/{t}`:
    /// the attributes, toxicity and stream it names; its name and type stay.
    pub fn updated(&self, body: &Value) -> Result<Self, NetFaultError> {
        let map = object(body, "the toxic's fields to change")?;
        no_unknown_fields(map, &TOXIC_FIELDS)?;
        let type_name = self.kind.type_name();
        if let Some(t) = string_field(map, "type")? {
            if t != type_name {
                return Err(NetFaultError::invalid(
                    "type",
                    format!(
                        "toxic `{}` is a {type_name}; its type cannot change to {t:?} (remove it and add a new one)",
                        self.name
                    ),
                ));
            }
        }
        if let Some(n) = string_field(map, "name")? {
            if n != self.name {
                return Err(NetFaultError::invalid(
                    "name",
                    format!("a toxic cannot be renamed ({:?} to {n:?})", self.name),
                ));
            }
        }
        let attrs = parse_attributes(type_name, map, self.kind.attributes())?;
        let kind = ToxicKind::build(type_name, &attrs).unwrap_or(self.kind);
        Ok(Self {
            name: self.name.clone(),
            kind,
            stream: parse_stream(map)?.unwrap_or(self.stream),
            toxicity: parse_toxicity(map)?.unwrap_or(self.toxicity),
        })
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
