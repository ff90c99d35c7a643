//! The ledger of network faults in place: before a toxic is added (or a
//! proxy disabled) a small JSON file saying what, where and by which
//! process is written to the ledger folder, and deleted once the removal
//! was verified. A process that dies mid-fault (SIGKILL, a crash) leaves
//! its file behind; [`clean_up`] undoes what such files record, so the
//! next `shakedown serve` or `shakedown run` leaves no toxic in place.
//!
//! The folder is set once per process ([`use_dir`]); without one, faults
//! are still removed at their end and on abort, only not after a crash.

use super::client::{ClientError, ToxiproxyClient};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One fault in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The proxy's API.
    pub api: String,
    /// The proxy.
    pub proxy: String,
    /// The toxic added; `None`: the proxy was disabled (`down`).
    pub toxic: Option<String>,
    /// The process that put it there.
    pub pid: u32,
    /// The test that did.
    pub test_id: String,
    /// When (Unix milliseconds).
    pub at_ms: i64,
}

/// Sets the ledger folder of this process (created when missing).
pub fn use_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    *DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.to_owned());
    Ok(())
}

fn dir() -> Option<PathBuf> {
    DIR.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Records `entry` before it is injected; returns the file to forget once
/// removed (`None` without a ledger folder).
pub fn record(entry: &Entry) -> std::io::Result<Option<PathBuf>> {
    let Some(dir) = dir() else {
        return Ok(None);
    };
    let name = format!(
        "{}-{}-{}.json",
        entry.pid,
        entry.at_ms,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
    let partial = path.with_extension("part");
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
    Ok(Some(path))
}

/// Forgets a recorded fault (removed and verified).
pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Whether process `pid` still runs (and is not this process's own
/// entry, which only its own removal handles).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Undoes one entry: removes its toxic or enables its proxy again.
pub async fn undo(entry: &Entry) -> Result<String, ClientError> {
    let client = ToxiproxyClient::new(&entry.api)?;
    match &entry.toxic {
        Some(toxic) => {
            let existed = client.remove_toxic(&entry.proxy, toxic).await?;
            let left = client.toxics(&entry.proxy).await?;
            if left.iter().any(|t| &t.name == toxic) {
                return Err(ClientError::BadAnswer {
                    call: format!("GET /proxies/{}/toxics", entry.proxy),
                    reason: format!("toxic {toxic:?} still listed after its removal"),
                });
            }
            Ok(format!(
                "toxic {toxic:?} on proxy {:?} at {} {}",
                entry.proxy,
                entry.api,
                if existed { "removed" } else { "already gone" }
            ))
        }
        None => match client.set_enabled(&entry.proxy, true).await {
            Ok(p) if p.enabled => Ok(format!(
                "proxy {:?} at {} enabled again",
                entry.proxy, entry.api
            )),
            Ok(_) => Err(ClientError::BadAnswer {
                call: format!("POST /proxies/{}", entry.proxy),
                reason: "still disabled".to_owned(),
            }),
            Err(ClientError::NoProxy { .. }) => {
                Ok(format!("proxy {:?} at {} is gone", entry.proxy, entry.api))
            }
            Err(e) => Err(e),
        },
    }
}

/// Undoes every fault in `dir` left by a process that no longer runs, and
/// forgets those undone. Returns what was done, and what could not be
/// (kept for the next time).
pub async fn clean_up(dir: &Path) -> (Vec<String>, Vec<String>) {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    let Ok(read) = std::fs::read_dir(dir) else {
        return (done, failed);
    };
    let mut files: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for path in files {
        let entry: Entry = match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(entry) => entry,
            Err(e) => {
                failed.push(format!("{}: unreadable: {e}", path.display()));
                continue;
            }
        };
        if alive(entry.pid) {
            continue;
        }
        match undo(&entry).await {
            Ok(what) => {
                forget(&path);
                done.push(format!(
                    "{what} (left by test {} of process {})",
                    entry.test_id, entry.pid
                ));
            }
            Err(e) => failed.push(format!(
                "toxic of test {} on proxy {:?} not removed: {e}",
                entry.test_id, entry.proxy
            )),
        }
    }
    (done, failed)
}
