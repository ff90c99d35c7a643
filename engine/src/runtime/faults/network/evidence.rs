//! A network fault's proof as the report shows it: what the proxy's API
//! showed during the window, and one line of what was done and counted.

use super::Call;
use crate::metrics::resilience::{FaultEvidence, HealthPoint, NetworkFaultEvidence};
use crate::netfault::client::RemoteProxy;
use crate::plan::NetworkFault;
use std::time::Duration;

/// The fault's proof: its call, the fault held for `held`, the recovery
/// and the health timeline, and the network evidence.
pub(super) fn fault_evidence(
    service: Option<&str>,
    fault: &NetworkFault,
    call: Call,
    held: Duration,
    recovery_ms: Option<u64>,
    timeline: Vec<HealthPoint>,
    network: NetworkFaultEvidence,
) -> FaultEvidence {
    let observation = observation(&network, held);
    FaultEvidence {
        service: service.map_or_else(|| format!("link {}", fault.link), str::to_owned),
        method: "network".to_owned(),
        called: call.called,
        answer: call.answer,
        call_ok: true,
        requested_at_ms: call.requested_at_ms,
        restart_observed: false,
        observation,
        recovery_ms,
        identity_before: None,
        identity_after: None,
        timeline,
        supervisor: None,
        network: Some(network),
    }
}

/// What the API showed of the fault during its window.
pub(super) fn describe_seen(
    proxy: Option<&RemoteProxy>,
    toxic: Option<&str>,
) -> (String, Option<bool>) {
    let Some(p) = proxy else {
        return (
            "the proxy could not be read back during the window".to_owned(),
            None,
        );
    };
    match toxic {
        Some(name) => match p.toxics.iter().find(|t| t.name == name) {
            Some(t) => (
                format!(
                    "proxy {:?} listed toxic {:?} ({} on {}, attributes {})",
                    p.name,
                    t.name,
                    t.kind,
                    t.stream,
                    serde_json::to_string(&t.attributes).unwrap_or_default()
                ),
                Some(true),
            ),
            None => (
                format!("proxy {:?} did not list toxic {name:?}", p.name),
                Some(false),
            ),
        },
        None => (
            format!("proxy {:?} showed enabled={}", p.name, p.enabled),
            Some(!p.enabled),
        ),
    }
}

/// `latency on downstream of proxy sut_db (link db) for 10.0 s: 12
/// connections affected, …; removed, verified: …`.
fn observation(n: &NetworkFaultEvidence, held: Duration) -> String {
    let attributes: Vec<String> = n
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut counted = Vec::new();
    if let Some(a) = n.connections_affected {
        counted.push(format!("{a} connections affected"));
    }
    if let Some(c) = n.connections_cut {
        counted.push(format!("{c} open connections cut"));
    }
    if let Some(a) = n.connections_accepted {
        counted.push(format!("{a} accepted"));
    }
    if let (Some(u), Some(d)) = (n.bytes_upstream, n.bytes_downstream) {
        counted.push(format!("{u} bytes up, {d} bytes down"));
    }
    if let Some(f) = n.upstream_connect_failures.filter(|f| *f > 0) {
        counted.push(format!("{f} upstream connect failures"));
    }
    let until = match (&n.until, n.until_met) {
        (Some(what), Some(true)) => format!(" (held until {what}: met)"),
        (Some(what), Some(false)) => format!(
            " (held until {what}: not met within {:.0} s, removed then)",
            n.planned_ms as f64 / 1000.0
        ),
        (Some(what), None) => format!(" (held until {what}: ended by the run's abort)"),
        (None, _) => String::new(),
    };
    format!(
        "{}{} on {} of proxy {} (link {}) for {:.1} s{until}; {}; counters: {}; {}",
        n.toxic,
        if attributes.is_empty() {
            String::new()
        } else {
            format!(" ({})", attributes.join(", "))
        },
        n.direction,
        n.proxy,
        n.link,
        held.as_secs_f64(),
        n.seen_at_proxy,
        if counted.is_empty() {
            "none kept by this proxy".to_owned()
        } else {
            counted.join(", ")
        },
        if n.removal_verified {
            format!("removed, verified: {}", n.removal)
        } else {
            format!("NOT removed: {}", n.removal)
        }
    )
}
