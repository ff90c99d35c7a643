//! Helpers for tests and benchmarks of the evidence store: a run's results
//! built from a few fields, and a store wrapper that records every key it
//! is asked to read or list (to prove what a look-up touches).

use super::store::ObjectStore;
use super::EvidenceError;
use async_trait::async_trait;
use engine::results::RunResults;
use std::sync::{Arc, Mutex};

/// A finished GO run of `plan` in `environment` that started at
/// `started_at_ms`, with one held criterion (built from JSON, so fields
/// added later with defaults need no change here).
pub fn results(run_id: &str, plan: &str, environment: &str, started_at_ms: i64) -> RunResults {
    let value = serde_json::json!({
        "schema_version": engine::results::SCHEMA_VERSION,
        "tool": { "name": "shakedown", "version": "0" },
        "run_id": run_id,
        "plan": { "name": plan, "title": null, "file": format!("{plan}.toml"), "sha256": "00" },
        "environment": { "name": environment, "base_url": "http://127.0.0.1:9", "expected_bucket": null },
        "status": "finished",
        "verdict": "GO",
        "started_at_ms": started_at_ms,
        "finished_at_ms": started_at_ms + 10_000,
        "started_at": "",
        "finished_at": "",
        "tests": [],
        "criteria": [{
            "expr": "L1.fail == 0", "group": null, "label": null, "test": "L1",
            "metric": "fail", "actual": 0.0, "passed": true, "note": null
        }],
        "error": null
    });
    match serde_json::from_value(value) {
        Ok(results) => results,
        Err(e) => panic!("the sample results no longer parse: {e}"),
    }
}

/// One request a [`Recording`] store saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Get(String),
    List(String),
    Put(String),
}

/// A store that passes every call to another and records the keys read,
/// listed and written.
pub struct Recording {
    inner: Arc<dyn ObjectStore>,
    seen: Mutex<Vec<Access>>,
}

impl Recording {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Recording {
            inner,
            seen: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, access: Access) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(access);
        }
    }

    /// Everything seen since the last call, in order.
    pub fn take(&self) -> Vec<Access> {
        self.seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

#[async_trait]
impl ObjectStore for Recording {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), EvidenceError> {
        self.note(Access::Put(key.to_owned()));
        self.inner.put(key, bytes).await
    }

    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, EvidenceError> {
        self.note(Access::Put(key.to_owned()));
        self.inner.put_new(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        self.note(Access::Get(key.to_owned()));
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, EvidenceError> {
        self.note(Access::List(prefix.to_owned()));
        self.inner.list(prefix).await
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, EvidenceError> {
        self.note(Access::List(prefix.to_owned()));
        self.inner.list_after(prefix, start_after, limit).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn probe(&self) -> Result<(), EvidenceError> {
        self.inner.probe().await
    }
}
