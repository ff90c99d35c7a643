//! What a proxy is, as Toxiproxy's API spells it in JSON: a new proxy's
//! body and `POST /proxies/{name}`'s changes, with the rules on where
//! its `listen` and `upstream` addresses may point.

use super::{check_name, no_unknown_fields, object, string_field};
use crate::runtime::netfault::NetFaultError;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A proxy as created: `listen` is checked and resolved, `upstream` is
/// checked (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySpec {
    pub name: String,
    pub listen: SocketAddr,
    pub upstream: String,
    pub enabled: bool,
}

/// Changes asked by `POST /proxies/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    pub listen: Option<SocketAddr>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

/// Where addresses may point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressRules {
    /// Allow listening on an address other than loopback.
    pub remote_listen: bool,
    /// Allow an upstream other than loopback.
    pub remote_upstream: bool,
}

const PROXY_FIELDS: [&str; 6] = ["name", "listen", "upstream", "enabled", "toxics", "stats"];

/// Splits `host:port` (`[::1]:5432` for IPv6).
fn host_port<'a>(field: &str, s: &'a str) -> Result<(&'a str, u16), NetFaultError> {
    let bad = || {
        NetFaultError::invalid(
            field,
            format!("{s:?} is not host:port (e.g. 127.0.0.1:5432)"),
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

/// A listen address: an IP (or `localhost`) and a port (0: any free one).
pub fn check_listen(
    field: &str,
    s: &str,
    rules: AddressRules,
) -> Result<SocketAddr, NetFaultError> {
    let (host, port) = host_port(field, s)?;
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().map_err(|_| {
            NetFaultError::invalid(field, format!("{host:?} is not an IP address or localhost"))
        })?
    };
    if !ip.is_loopback() && !rules.remote_listen {
        return Err(NetFaultError::invalid(
            field,
            format!(
                "{s} is not a loopback address; proxies listen on 127.0.0.1 or ::1 unless allowed to listen elsewhere (--allow-remote-listen)"
            ),
        ));
    }
    Ok(SocketAddr::new(ip, port))
}

/// An upstream: `host:port`, loopback unless remote upstreams are allowed.
pub fn check_upstream(field: &str, s: &str, rules: AddressRules) -> Result<String, NetFaultError> {
    let (host, port) = host_port(field, s)?;
    if port == 0 {
        return Err(NetFaultError::invalid(
            field,
            format!("{s}: port 0 cannot be connected to"),
        ));
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !rules.remote_upstream {
        return Err(NetFaultError::invalid(
            field,
            format!(
                "{s} is not a loopback address; upstreams are 127.0.0.1, ::1 or localhost unless allowed elsewhere (--allow-remote-upstream)"
            ),
        ));
    }
    Ok(s.to_string())
}

impl ProxySpec {
    /// Reads a proxy from the body of `POST /proxies` (or a config entry).
    pub fn from_json(body: &Value, rules: AddressRules) -> Result<Self, NetFaultError> {
        let map = object(
            body,
            "a proxy: name, listen, upstream, and optionally enabled",
        )?;
        no_unknown_fields(map, &PROXY_FIELDS)?;
        let required = |field: &str| -> Result<&str, NetFaultError> {
            string_field(map, field)?.ok_or_else(|| NetFaultError::invalid(field, "missing"))
        };
        let name = required("name")?.to_string();
        check_name("name", &name)?;
        let listen = check_listen("listen", required("listen")?, rules)?;
        let upstream = check_upstream("upstream", required("upstream")?, rules)?;
        let enabled = match map.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(NetFaultError::invalid(
                    "enabled",
                    format!("expected true or false, got {other}"),
                ));
            }
        };
        Ok(Self {
            name,
            listen,
            upstream,
            enabled,
        })
    }
}

impl ProxyUpdate {
    /// Reads the body of `POST /proxies/{name}`.
    pub fn from_json(name: &str, body: &Value, rules: AddressRules) -> Result<Self, NetFaultError> {
        let map = object(
            body,
            "the proxy's fields to change: listen, upstream, enabled",
        )?;
        no_unknown_fields(map, &PROXY_FIELDS)?;
        if let Some(n) = string_field(map, "name")? {
            if n != name {
                return Err(NetFaultError::invalid(
                    "name",
                    format!("a proxy cannot be renamed ({name:?} to {n:?})"),
                ));
            }
        }
        let listen = string_field(map, "listen")?
            .map(|s| check_listen("listen", s, rules))
            .transpose()?;
        let upstream = string_field(map, "upstream")?
            .map(|s| check_upstream("upstream", s, rules))
            .transpose()?;
        let enabled = match map.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(NetFaultError::invalid(
                    "enabled",
                    format!("expected true or false, got {other}"),
                ));
            }
        };
        Ok(Self {
            listen,
            upstream,
            enabled,
        })
    }
}
