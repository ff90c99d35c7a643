//! Putting a network fault in place and taking it away: the toxic's body,
//! what was placed, the guard that removes it when a test is dropped
//! half-way, and the ledger settled when placing it failed.

use crate::netfault::client::{ClientError, ToxiproxyClient};
use crate::netfault::ledger::{self, Entry};
use crate::plan::{NetworkFault, NetworkToxic};
use crate::run::now_ms;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What was put in place, so it can be taken away.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub(super) client: ToxiproxyClient,
    pub(super) proxy: String,
    /// The toxic's name; `None`: the proxy was disabled.
    pub(super) toxic: Option<String>,
    pub(super) ledger: Option<PathBuf>,
}

impl Placed {
    /// Removes it; `Ok(existed)`.
    pub(super) async fn remove(&self) -> Result<bool, String> {
        let entry = Entry::new(
            self.client.api(),
            self.proxy.clone(),
            self.toxic.clone(),
            String::new(),
        );
        ledger::undo(&entry)
            .await
            .map(|_| true)
            .map_err(|e| e.to_string())
    }
}

/// Removes the fault when dropped before [`Removal::disarm`]: a test
/// future dropped mid-window still leaves no toxic behind.
pub(super) struct Removal(pub(super) Option<Placed>);

impl Removal {
    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        let Some(placed) = self.0.take() else {
            return;
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if placed.remove().await.is_ok() {
                    if let Some(path) = &placed.ledger {
                        ledger::forget(path);
                    }
                }
            });
        }
    }
}

/// The toxic's Toxiproxy body, its name and attributes; `None` for `down`.
pub(super) fn toxic_body(
    fault: &NetworkFault,
    test_id: &str,
) -> Option<(String, Value, BTreeMap<String, u64>)> {
    let v = |x: Option<u64>| x.unwrap_or(0);
    let pairs: Vec<(&str, u64)> = match fault.toxic {
        NetworkToxic::Latency => vec![
            ("latency", v(fault.latency_ms)),
            ("jitter", v(fault.jitter_ms)),
        ],
        NetworkToxic::Bandwidth => vec![("rate", v(fault.rate_kbps))],
        NetworkToxic::Timeout | NetworkToxic::ResetPeer => vec![("timeout", v(fault.timeout_ms))],
        NetworkToxic::SlowClose => vec![("delay", v(fault.delay_ms))],
        NetworkToxic::LimitData => vec![("bytes", v(fault.bytes))],
        NetworkToxic::Down => return None,
    };
    let attributes: BTreeMap<String, u64> =
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let name = format!(
        "shakedown_{}_{}_{}",
        test_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>(),
        fault.toxic.name(),
        now_ms()
    );
    let body = json!({
        "name": name,
        "type": fault.toxic.name(),
        "stream": fault.direction().name(),
        "toxicity": fault.toxicity.unwrap_or(1.0),
        "attributes": attributes,
    });
    Some((name, body, attributes))
}

/// Why a fault could not be put in place, and the ledger settled: a
/// definite refusal injected nothing; a call that got no clear answer (a
/// timeout, a 5xx, an odd body) may have been applied all the same, so it
/// is undone now, or kept in the ledger for the next start to undo.
pub(super) async fn not_injected(
    entry: &Entry,
    ledger_file: &Option<PathBuf>,
    e: ClientError,
) -> String {
    let forget = || {
        if let Some(path) = ledger_file {
            ledger::forget(path);
        }
    };
    let definite = match &e {
        ClientError::BadUrl { .. } | ClientError::NoProxy { .. } => true,
        ClientError::Refused { status, .. } => *status < 500,
        ClientError::Unreachable { .. } | ClientError::BadAnswer { .. } => false,
    };
    if definite {
        forget();
        return format!("{e}; nothing was injected");
    }
    match ledger::undo(entry).await {
        Ok(what) => {
            forget();
            format!("{e}; whether it took effect was unknown, so it was undone: {what}")
        }
        Err(undo) => format!(
            "{e}; whether it took effect is unknown and undoing it failed ({undo}): it stays in \
             the ledger, and the next start of shakedown undoes it"
        ),
    }
}
