//! The observer: probes a service's health URL every 100 ms from the moment
//! a fault is requested, and decides whether the service really went away
//! and came back (health failed then passed, or the process identity read
//! from the health answer changed), and when it recovered.

use crate::metrics::resilience::HealthPoint;
use crate::runner::target::Target;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

/// Time between probe starts.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how to read a service's health and identity.
#[derive(Debug, Clone)]
pub struct HealthSource {
    /// The health URL.
    pub url: Url,
    /// JSON pointer to the PID.
    pub pid_pointer: Option<String>,
    /// JSON pointer to the start time.
    pub started_at_pointer: Option<String>,
    /// JSON pointer to any other identity (boot id, version).
    pub identity_pointer: Option<String>,
}

/// One probe's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// 2xx answered.
    pub healthy: bool,
    /// PID read from the answer.
    pub pid: Option<String>,
    /// Start time read from the answer.
    pub started_at: Option<String>,
    /// Other identity read from the answer.
    pub identity: Option<String>,
}

impl Probe {
    /// `pid X, started Y, identity Z` with what of it the plan reads.
    pub fn identity(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("pid", &self.pid),
            ("started", &self.started_at),
            ("identity", &self.identity),
        ]
        .into_iter()
        .filter_map(|(label, value)| value.as_ref().map(|v| format!("{label} {v}")))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
    fn key(&self) -> [Option<&str>; 3] {
        [
            self.pid.as_deref(),
            self.started_at.as_deref(),
            self.identity.as_deref(),
        ]
    }
    fn point(self, at_ms: u64) -> HealthPoint {
        HealthPoint {
            at_ms,
            healthy: self.healthy,
            pid: self.pid,
            started_at: self.started_at,
            identity: self.identity,
        }
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Probes once.
pub async fn probe(target: &Target, source: &HealthSource) -> Probe {
    let down = Probe {
        healthy: false,
        pid: None,
        started_at: None,
        identity: None,
    };
    let request = target.get(source.url.clone()).timeout(PROBE_TIMEOUT).send();
    let Ok(response) = request.await else {
        return down;
    };
    if !response.status().is_success() {
        return down;
    }
    let document: Value = match target.read_bytes(response).await {
        Ok(body) => serde_json::from_slice(&body).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let read =
        |pointer: &Option<String>| pointer.as_deref().and_then(|p| text(document.pointer(p)));
    Probe {
        healthy: true,
        pid: read(&source.pid_pointer),
        started_at: read(&source.started_at_pointer),
        identity: read(&source.identity_pointer),
    }
}

/// What the observer concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Whether the service went away and came back.
    pub restarted: bool,
    /// How it was seen, or why not.
    pub how: String,
    /// From the fault to the first healthy probe after the restart.
    pub recovery_ms: Option<u64>,
    /// Identity after recovery.
    pub identity_after: Option<String>,
    /// Every probe.
    pub timeline: Vec<HealthPoint>,
}

/// Judges a timeline against the identity seen before the fault.
pub fn judge(before: &Probe, timeline: &[HealthPoint]) -> Observed {
    let mut last_down: Option<u64> = None;
    for point in timeline {
        if !point.healthy {
            last_down = Some(point.at_ms);
            continue;
        }
        let probe = Probe {
            healthy: true,
            pid: point.pid.clone(),
            started_at: point.started_at.clone(),
            identity: point.identity.clone(),
        };
        let changed = before.healthy && probe.identity().is_some() && probe.key() != before.key();
        if changed || (before.healthy && last_down.is_some()) {
            let how = match (changed, last_down) {
                (true, _) => format!(
                    "identity changed from {} to {} (healthy at {} ms)",
                    before.identity().unwrap_or_default(),
                    probe.identity().unwrap_or_default(),
                    point.at_ms
                ),
                (false, Some(down)) => format!(
                    "health failed (last at {down} ms) and passed again at {} ms",
                    point.at_ms
                ),
                (false, None) => String::new(),
            };
            return Observed {
                restarted: true,
                how,
                recovery_ms: Some(point.at_ms),
                identity_after: probe.identity(),
                timeline: timeline.to_vec(),
            };
        }
    }
    let how = if !before.healthy {
        "the service was not healthy before the fault, so a restart cannot be told apart".to_owned()
    } else if timeline.iter().all(|p| p.healthy) {
        format!(
            "health passed on all {} probes and the identity ({}) never changed",
            timeline.len(),
            before.identity().unwrap_or_else(|| "not read".to_owned())
        )
    } else {
        "the service went away and did not come back".to_owned()
    };
    Observed {
        restarted: false,
        how,
        recovery_ms: None,
        identity_after: None,
        timeline: timeline.to_vec(),
    }
}

/// Probes every 100 ms (each probe in its own task, so a slow answer does
/// not delay the next) until `done` is cancelled and the restart has been
/// seen, or until `give_up` passes.
pub async fn watch(
    target: Target,
    source: HealthSource,
    before: Probe,
    started: Instant,
    done: CancellationToken,
    give_up: Instant,
) -> Observed {
    let mut tasks: JoinSet<(u64, Probe)> = JoinSet::new();
    let mut timeline: Vec<HealthPoint> = Vec::new();
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let at_ms = started.elapsed().as_millis() as u64;
                let (target, source) = (target.clone(), source.clone());
                tasks.spawn(async move { (at_ms, probe(&target, &source).await) });
            }
            Some(Ok((at_ms, probe))) = tasks.join_next(), if !tasks.is_empty() => {
                timeline.push(probe.point(at_ms));
                timeline.sort_by_key(|p| p.at_ms);
                if done.is_cancelled() && judge(&before, &timeline).restarted {
                    break;
                }
            }
        }
        if Instant::now() >= give_up {
            break;
        }
    }
    // Probes still waiting for an answer finish (or time out), so the
    // timeline has every 100 ms point.
    let drain_until = tokio::time::Instant::now() + PROBE_TIMEOUT;
    while let Ok(Some(Ok((at_ms, probe)))) =
        tokio::time::timeout_at(drain_until, tasks.join_next()).await
    {
        timeline.push(probe.point(at_ms));
    }
    tasks.abort_all();
    timeline.sort_by_key(|p| p.at_ms);
    judge(&before, &timeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at_ms: u64, healthy: bool, pid: Option<&str>) -> HealthPoint {
        HealthPoint {
            at_ms,
            healthy,
            pid: pid.map(str::to_owned),
            started_at: None,
            identity: None,
        }
    }

    fn before(pid: &str) -> Probe {
        Probe {
            healthy: true,
            pid: Some(pid.to_owned()),
            started_at: None,
            identity: None,
        }
    }

    #[test]
    fn a_pid_change_is_a_restart() {
        let seen = judge(
            &before("1"),
            &[point(0, true, Some("1")), point(100, true, Some("2"))],
        );
        assert!(seen.restarted);
        assert_eq!(seen.recovery_ms, Some(100));
    }

    #[test]
    fn down_then_up_is_a_restart() {
        let seen = judge(
            &before("1"),
            &[
                point(0, false, None),
                point(100, false, None),
                point(200, true, Some("1")),
            ],
        );
        assert!(seen.restarted);
        assert_eq!(seen.recovery_ms, Some(200));
    }

    #[test]
    fn any_identity_change_is_a_restart_without_a_pid() {
        let boot = |at_ms, id: &str| HealthPoint {
            identity: Some(id.to_owned()),
            ..point(at_ms, true, None)
        };
        let before = Probe {
            healthy: true,
            pid: None,
            started_at: None,
            identity: Some("boot-a".to_owned()),
        };
        let seen = judge(&before, &[boot(0, "boot-a"), boot(100, "boot-b")]);
        assert!(seen.restarted, "{}", seen.how);
        assert!(seen.how.contains("identity boot-b"), "{}", seen.how);
        let unchanged = judge(&before, &[boot(0, "boot-a"), boot(100, "boot-a")]);
        assert!(!unchanged.restarted);
    }

    #[test]
    fn nothing_changing_is_not_a_restart() {
        let seen = judge(
            &before("1"),
            &[point(0, true, Some("1")), point(100, true, Some("1"))],
        );
        assert!(!seen.restarted);
        assert!(seen.how.contains("never changed"), "{}", seen.how);
    }
}
