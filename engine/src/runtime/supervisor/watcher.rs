//! The task that waits for each spawned process: it reports the exit and,
//! when nobody asked for it, records it as unplanned and starts the process
//! again after the back-off.

use super::process::{kill_group, kill_leftovers, life, spawn, Exit, Running};
use super::{Inner, ProcessInfo, ProcessSpec, SupervisorError};
use crate::run::now_ms;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::watch;

/// Spawns the process and the task that waits for it.
pub(super) fn launch(
    inner: &Arc<Inner>,
    spec: &ProcessSpec,
    word: u8,
) -> Result<Running, SupervisorError> {
    let child = spawn(spec)?;
    let info = ProcessInfo {
        name: spec.name.clone(),
        pid: child.id().unwrap_or_default(),
        started_at_ms: now_ms(),
    };
    let generation = inner.next();
    let spawned = Instant::now();
    let life = Arc::new(AtomicU8::new(word));
    let (tx, exited) = watch::channel(None);
    tokio::spawn(watch_process(
        inner.clone(),
        spec.name.clone(),
        child,
        Watched {
            pid: info.pid,
            generation,
            spawned,
            life: life.clone(),
        },
        tx,
    ));
    Ok(Running {
        info,
        generation,
        spawned,
        life,
        exited,
    })
}

/// What the watching task knows of its process.
struct Watched {
    pid: u32,
    generation: u64,
    spawned: Instant,
    life: Arc<AtomicU8>,
}

/// Waits for the process to exit, reports the exit, and when nobody asked
/// for it (the process was `RUNNING`), records it and starts the process
/// again after the back-off.
async fn watch_process(
    inner: Arc<Inner>,
    name: String,
    mut child: Child,
    watched: Watched,
    tx: watch::Sender<Option<Exit>>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = inner.shutdown.cancelled() => {
            // The supervisor was dropped; `child` is killed on drop too.
            kill_group(watched.pid);
            return;
        }
    };
    // Helpers it forked and left behind go with it (they may hold its port
    // or files against the next start).
    kill_leftovers(watched.pid);
    let exit = Exit::of(status);
    tx.send_replace(Some(exit.clone()));
    let before = watched
        .life
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| match s {
            life::RUNNING => Some(life::CRASHED),
            life::STARTING => Some(life::FAILED),
            _ => None,
        });
    if before != Ok(life::RUNNING) || inner.shutdown.is_cancelled() {
        return;
    }
    let index = inner.record(&name, watched.pid, watched.spawned, &exit, None);
    let uptime = exit.at.duration_since(watched.spawned);
    recover(inner, name, watched.generation, index, uptime).await;
}

/// Starts the process of `name` again after its back-off, unless a
/// requested restart or stop took over meanwhile (its generation changed).
/// A start that fails is tried again after the next back-off.
pub(super) async fn recover(
    inner: Arc<Inner>,
    name: String,
    generation: u64,
    index: usize,
    mut uptime: Duration,
) {
    let took_over = "a requested restart or stop took over";
    let Some(slot) = inner.slot(&name) else {
        inner.update(index, |e| e.note = Some("no longer supervised".to_owned()));
        return;
    };
    loop {
        let delay = {
            let mut s = slot.lock().await;
            if s.removed || s.current.generation != generation {
                inner.update(index, |e| e.note = Some(took_over.to_owned()));
                return;
            }
            s.back_off(uptime, &inner.policy)
        };
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        inner.update(index, |e| e.restart_delay_ms = Some(delay_ms));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = inner.shutdown.cancelled() => return,
        }
        let mut s = slot.lock().await;
        if s.removed || s.current.generation != generation {
            inner.update(index, |e| e.note = Some(took_over.to_owned()));
            return;
        }
        match launch(&inner, &s.spec, life::RUNNING) {
            Ok(running) => {
                tracing::info!(
                    "supervised process {name} started again as pid {} after {delay_ms} ms",
                    running.info.pid
                );
                inner.update(index, |e| {
                    e.new_pid = Some(running.info.pid);
                    e.restarted_at_ms = Some(running.info.started_at_ms);
                });
                s.current = running;
                return;
            }
            Err(e) => {
                tracing::warn!("supervised process {name} could not be started again: {e}");
                inner.update(index, |entry| {
                    entry.note = Some(format!("starting it again failed: {e}"));
                });
                uptime = Duration::ZERO;
            }
        }
    }
}
