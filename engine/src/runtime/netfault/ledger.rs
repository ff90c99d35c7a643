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
    /// That process's own random name: a process id is reused (a
    /// container's server is PID 1 after every restart), this is not.
    #[serde(default)]
    pub owner: String,
    /// That process's start time (Linux clock ticks since boot), when
    /// known: another process with the same id started at another time.
    #[serde(default)]
    pub started_ticks: Option<u64>,
    /// The test that did.
    pub test_id: String,
    /// When (Unix milliseconds).
    pub at_ms: i64,
}

impl Entry {
    /// A fault this process is about to put in place.
    pub fn new(api: String, proxy: String, toxic: Option<String>, test_id: String) -> Entry {
        let me = this_process();
        Entry {
            api,
            proxy,
            toxic,
            pid: me.pid,
            owner: me.owner.clone(),
            started_ticks: me.started_ticks,
            test_id,
            at_ms: crate::run::now_ms(),
        }
    }
}

/// Who this process is, for the entries it writes.
struct ThisProcess {
    pid: u32,
    owner: String,
    started_ticks: Option<u64>,
}

fn this_process() -> &'static ThisProcess {
    static ME: std::sync::OnceLock<ThisProcess> = std::sync::OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        ThisProcess {
            pid,
            owner: uuid::Uuid::new_v4().to_string(),
            started_ticks: started_ticks(pid),
        }
    })
}

/// When process `pid` started (field 22 of `/proc/PID/stat`); `None` where
/// there is no such file.
fn started_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
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

/// Whether the process that wrote `entry` still runs (this process's own
/// entries count as running: only their own removal handles them).
fn alive(entry: &Entry) -> bool {
    let me = this_process();
    if entry.owner == me.owner {
        return true;
    }
    if entry.pid == me.pid {
        // Our id, another process: an earlier life of ours (a restarted
        // container's PID 1).
        return false;
    }
    let running = match nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(entry.pid).unwrap_or(i32::MAX)),
        None,
    ) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    };
    // A running process with that id that started at another time is not
    // the one that wrote the entry.
    running
        && match (entry.started_ticks, started_ticks(entry.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
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
/// (kept for the next time). Each proxy API's entries are undone in turn,
/// the APIs side by side; once an API is unreachable its other entries are
/// not tried, so a start waits for one call timeout per dead API, not one
/// per fault left behind.
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
    let mut by_api: std::collections::BTreeMap<String, Vec<(PathBuf, Entry)>> =
        std::collections::BTreeMap::new();
    for path in files {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()))
        {
            Ok(entry) if alive(&entry) => {}
            Ok(entry) => by_api
                .entry(entry.api.clone())
                .or_default()
                .push((path, entry)),
            Err(e) => failed.push(format!("{}: unreadable: {e}", path.display())),
        }
    }
    let outcomes = futures_util::future::join_all(by_api.into_values().map(clean_up_one_api)).await;
    for (d, f) in outcomes {
        done.extend(d);
        failed.extend(f);
    }
    (done, failed)
}

/// Undoes the entries of one proxy API in turn; stops trying at the first
/// that finds the API unreachable.
async fn clean_up_one_api(entries: Vec<(PathBuf, Entry)>) -> (Vec<String>, Vec<String>) {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    let mut unreachable: Option<String> = None;
    for (path, entry) in entries {
        let not_removed = |why: &str| {
            format!(
                "toxic of test {} on proxy {:?} not removed: {why}",
                entry.test_id, entry.proxy
            )
        };
        if let Some(why) = &unreachable {
            failed.push(not_removed(&format!("not tried: {why}")));
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
            Err(e) => {
                if matches!(e, ClientError::Unreachable { .. }) {
                    unreachable = Some(e.to_string());
                }
                failed.push(not_removed(&e.to_string()));
            }
        }
    }
    (done, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: u32, owner: &str, started_ticks: Option<u64>) -> Entry {
        Entry {
            pid,
            owner: owner.to_owned(),
            started_ticks,
            ..Entry::new("http://127.0.0.1:9".into(), "p".into(), None, "T1".into())
        }
    }

    #[test]
    fn a_process_is_told_apart_from_an_earlier_one_with_its_id() {
        let me = std::process::id();
        // This process's own entry is left to its own removal.
        assert!(alive(&Entry::new(
            "http://127.0.0.1:9".into(),
            "p".into(),
            None,
            "T1".into()
        )));
        // Our id, another owner: an earlier life (a restarted container's
        // PID 1), whose faults are to be undone.
        assert!(!alive(&entry(me, "an-earlier-process", None)));
        // Another running process: alive, unless it started at another
        // time than the one that wrote the entry (its id was reused).
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let started = started_ticks(pid);
        assert!(alive(&entry(pid, "other", started)));
        if let Some(ticks) = started {
            assert!(!alive(&entry(pid, "other", Some(ticks + 1))));
        }
        let _ = child.kill();
        let _ = child.wait();
        // A process that no longer runs.
        assert!(!alive(&entry(pid, "other", started)));
    }

    /// Two different loopback ports nothing listens on (connections are
    /// refused): both are bound at once, so they differ, then let go.
    fn closed_ports() -> (u16, u16) {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = |l: &std::net::TcpListener| l.local_addr().expect("addr").port();
        (port(&a), port(&b))
    }

    #[tokio::test]
    async fn an_unreachable_api_is_tried_once_and_its_faults_are_kept() {
        let dir = std::env::temp_dir().join(format!(
            "shakedown-ledger-unreachable-{}-{}",
            std::process::id(),
            crate::run::now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let (a, b) = closed_ports();
        for (i, port) in [a, a, a, b].into_iter().enumerate() {
            let left = Entry {
                toxic: Some(format!("t{i}")),
                test_id: format!("N{i}"),
                ..entry(std::process::id(), "an-earlier-process", None)
            };
            let left = Entry {
                api: format!("http://127.0.0.1:{port}"),
                ..left
            };
            std::fs::write(
                dir.join(format!("{i}.json")),
                serde_json::to_vec(&left).expect("json"),
            )
            .expect("write");
        }
        let (done, failed) = clean_up(&dir).await;
        assert!(done.is_empty(), "{done:?}");
        assert_eq!(failed.len(), 4, "{failed:?}");
        let unreachable = failed
            .iter()
            .filter(|f| f.contains("is unreachable") && !f.contains("not tried"))
            .count();
        let skipped = failed.iter().filter(|f| f.contains("not tried")).count();
        // One call per API; the API's other faults wait for the next start.
        assert_eq!((unreachable, skipped), (2, 2), "{failed:?}");
        let kept = std::fs::read_dir(&dir).expect("read").count();
        assert_eq!(kept, 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
