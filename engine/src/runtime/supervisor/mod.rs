//! The supervisor: starts named local processes, restarts them on request
//! (stop signal, grace period, SIGKILL, respawn) and proves each restart
//! with what it observed: old and new PID, start times, and how long the
//! service took to pass its health check again.
//!
//! It also supervises. A process that exits without being asked to (a
//! crash, an OOM kill, a `kill -9` from a shell) is recorded as an
//! [`UnplannedExit`] and started again after a back-off that doubles while
//! it keeps crashing (100 ms up to 5 s, back to 100 ms once it stayed up
//! 10 s: [`RestartPolicy`]), as systemd's `Restart=on-failure` would; a
//! service is meant to run until asked to stop, so any unasked exit counts,
//! exit code 0 included. Restarts and stops requested through
//! [`Supervisor::restart`], [`Supervisor::stop`] and [`Supervisor::stop_all`]
//! are not unplanned: each process carries one atomic word saying who owns
//! its exit, the request claims it before the signal is sent, and the task
//! that waits for the process then leaves it alone.
//!
//! It backs the `process` restart method, `shakedown demo` and the programs
//! a plan's services name. Nothing outlives Shakedown: each child leads its
//! own process group (a terminal's Ctrl-C reaches Shakedown only, which then
//! stops its children in order; SIGKILL restarts reach a service's helpers
//! too), gets SIGKILL from the kernel when the thread that started it ends
//! (`PR_SET_PDEATHSIG`: Shakedown's runtime threads live as long as it does,
//! so in effect when Shakedown dies, SIGKILL included), and is killed with
//! its group when the supervisor is dropped.

mod policy;
mod process;
mod report;
mod spec;
#[cfg(test)]
mod tests;
mod watcher;

pub use policy::RestartPolicy;
pub use report::{HealthSample, ProcessInfo, RestartProof, SupervisorError};
pub use spec::{probe, HealthCheck, ProcessSpec, StopSignal};

use crate::results::UnplannedExit;
use crate::run::now_ms;
use process::{await_healthy, exit_text, kill_group, life, stop, Exit, Running};
use spec::log_name;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use watcher::{launch, recover};

/// A supervised name: its spec, its current process and its back-off.
struct Slot {
    spec: ProcessSpec,
    /// Start order, for stopping in reverse.
    order: u64,
    current: Running,
    /// Set once stopped and forgotten: nothing may start it again.
    removed: bool,
    /// The wait before the next restart after a crash.
    next_delay: Duration,
}

impl Slot {
    /// The wait before restarting after a process that ran `uptime`.
    fn back_off(&mut self, uptime: Duration, policy: &RestartPolicy) -> Duration {
        let (delay, next) = policy.back_off(self.next_delay, uptime);
        self.next_delay = next;
        delay
    }
}

#[derive(Default)]
struct Table {
    slots: BTreeMap<String, Arc<Mutex<Slot>>>,
    /// Names being started (not yet healthy), so a second start is refused.
    starting: BTreeSet<String>,
}

struct Inner {
    table: std::sync::Mutex<Table>,
    exits: std::sync::Mutex<Vec<UnplannedExit>>,
    policy: RestartPolicy,
    /// Cancelled when the supervisor is dropped: watching tasks kill their
    /// process and end.
    shutdown: CancellationToken,
    /// Generations and start order.
    counter: AtomicU64,
}

impl Inner {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, name: &str) -> Option<Arc<Mutex<Slot>>> {
        self.table().slots.get(name).cloned()
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    /// Records an unplanned exit; returns its index for later updates.
    fn record(
        &self,
        name: &str,
        pid: u32,
        spawned: Instant,
        exit: &Exit,
        note: Option<String>,
    ) -> usize {
        let entry = UnplannedExit {
            service: name.to_owned(),
            pid,
            exit: exit.text.clone(),
            code: exit.code,
            signal: exit.signal.clone(),
            at_ms: exit.at_ms,
            uptime_ms: u64::try_from(exit.at.duration_since(spawned).as_millis())
                .unwrap_or(u64::MAX),
            restart_delay_ms: None,
            restarted_at_ms: None,
            new_pid: None,
            note,
            test: None,
        };
        tracing::warn!(
            "supervised process {name} (pid {}) exited unasked: {}",
            entry.pid,
            entry.exit
        );
        let mut exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        exits.push(entry);
        exits.len() - 1
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut UnplannedExit)) {
        let mut exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = exits.get_mut(index) {
            change(entry);
        }
    }
}

/// Starts, restarts and stops named processes, and starts again those that
/// exit unasked.
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::with_policy(RestartPolicy::default())
    }
}

/// Holds a name in `starting` and kills the process being started, unless
/// the start completed (also when the start's future is dropped midway, as
/// a cancelled run does).
struct Reservation<'a> {
    inner: &'a Inner,
    name: String,
    process: Option<(u32, Arc<AtomicU8>)>,
    done: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.inner.table().starting.remove(&self.name);
        if let Some((pid, word)) = self.process.take() {
            word.store(life::STOPPING, Ordering::SeqCst);
            kill_group(pid);
        }
    }
}

impl Supervisor {
    /// A supervisor with the default restart policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// A supervisor that restarts crashed processes with this policy.
    pub fn with_policy(policy: RestartPolicy) -> Self {
        Supervisor {
            inner: Arc::new(Inner {
                table: std::sync::Mutex::new(Table::default()),
                exits: std::sync::Mutex::new(Vec::new()),
                policy,
                shutdown: CancellationToken::new(),
                counter: AtomicU64::new(1),
            }),
        }
    }

    /// Spawns the process and waits until its health check passes; from
    /// then on it is supervised.
    pub async fn start(&self, spec: ProcessSpec) -> Result<ProcessInfo, SupervisorError> {
        {
            let mut table = self.inner.table();
            if table.slots.contains_key(&spec.name) || !table.starting.insert(spec.name.clone()) {
                return Err(SupervisorError::Duplicate(spec.name));
            }
        }
        let mut reservation = Reservation {
            inner: &self.inner,
            name: spec.name.clone(),
            process: None,
            done: false,
        };
        let running = launch(&self.inner, &spec, life::STARTING)?;
        reservation.process = Some((running.info.pid, running.life.clone()));
        if let Err(e) = await_healthy(&spec, &running, |_| {}).await {
            if running.claim(&[life::STARTING], life::STOPPING) {
                kill_group(running.info.pid);
            }
            running.wait().await;
            reservation.process = None;
            return Err(e);
        }
        let info = running.info.clone();
        let log = log_name(&spec);
        let failed = {
            let mut table = self.inner.table();
            table.starting.remove(&info.name);
            reservation.done = true;
            // From here on an exit is unplanned. The slot is in the table
            // before anyone can see the process running, so a crash's
            // recovery finds it.
            if running.claim(&[life::STARTING], life::RUNNING) {
                let slot = Slot {
                    order: self.inner.next(),
                    current: running,
                    removed: false,
                    next_delay: self.inner.policy.initial_delay,
                    spec,
                };
                table
                    .slots
                    .insert(info.name.clone(), Arc::new(Mutex::new(slot)));
                None
            } else {
                Some(running)
            }
        };
        if let Some(running) = failed {
            let exit = running.wait().await;
            return Err(SupervisorError::ExitedEarly {
                name: info.name,
                status: exit_text(exit.as_ref()),
                log,
            });
        }
        Ok(info)
    }

    /// The running process of that name (the last one started, while a
    /// crashed one waits for its restart).
    pub async fn info(&self, name: &str) -> Option<ProcessInfo> {
        let slot = self.inner.slot(name)?;
        let s = slot.lock().await;
        (!s.removed).then(|| s.current.info.clone())
    }

    /// Names of every supervised process.
    pub async fn names(&self) -> Vec<String> {
        self.inner.table().slots.keys().cloned().collect()
    }

    /// Every unplanned exit so far, oldest first, with what the supervisor
    /// did about each.
    pub fn unplanned_exits(&self) -> Vec<UnplannedExit> {
        self.inner
            .exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The unplanned exits at or after `since_ms` (Unix milliseconds).
    pub fn unplanned_exits_since(&self, since_ms: i64) -> Vec<UnplannedExit> {
        let mut exits = self.unplanned_exits();
        exits.retain(|e| e.at_ms >= since_ms);
        exits
    }

    /// Stops the process (its stop signal, then SIGKILL after the grace
    /// period, or SIGKILL at once when `signal` says so), starts it again
    /// and waits for its health check, probing every 100 ms. Neither exit
    /// is unplanned; a new process that exits during its start-up is, and
    /// is started again after the back-off.
    pub async fn restart(
        &self,
        name: &str,
        signal: Option<StopSignal>,
    ) -> Result<RestartProof, SupervisorError> {
        let unknown = || SupervisorError::Unknown(name.to_owned());
        let slot = self.inner.slot(name).ok_or_else(unknown)?;
        let mut s = slot.lock().await;
        if s.removed {
            return Err(unknown());
        }
        let signal = signal.unwrap_or(s.spec.stop_signal);
        let requested = Instant::now();
        let requested_at_ms = now_ms();
        let old = s.current.info.clone();
        let (old_exit, killed) = stop(&self.inner, &s.spec, &s.current, signal).await?;
        let stop_ms = requested.elapsed().as_millis() as u64;

        let mut timeline = vec![HealthSample {
            at_ms: stop_ms,
            healthy: false,
        }];
        s.current = launch(&self.inner, &s.spec, life::STARTING)?;
        let new = s.current.info.clone();
        let health = await_healthy(&s.spec, &s.current, |healthy| {
            timeline.push(HealthSample {
                at_ms: requested.elapsed().as_millis() as u64,
                healthy,
            })
        })
        .await;
        if !s.current.claim(&[life::STARTING], life::RUNNING) {
            // The new process exited while starting: supervised like any
            // crash (recorded, started again after the back-off).
            let exit = s.current.wait().await;
            let status = exit_text(exit.as_ref());
            if let Some(exit) = exit {
                let index = self.inner.record(
                    name,
                    s.current.info.pid,
                    s.current.spawned,
                    &exit,
                    Some("exited while starting after a requested restart".to_owned()),
                );
                let uptime = exit.at.duration_since(s.current.spawned);
                tokio::spawn(recover(
                    self.inner.clone(),
                    name.to_owned(),
                    s.current.generation,
                    index,
                    uptime,
                ));
            }
            return Err(SupervisorError::ExitedEarly {
                name: name.to_owned(),
                status,
                log: log_name(&s.spec),
            });
        }
        health?;
        let recovery_ms = requested.elapsed().as_millis() as u64;
        Ok(RestartProof {
            service: name.to_owned(),
            method: "process".to_owned(),
            old_pid: old.pid,
            new_pid: new.pid,
            old_started_at_ms: old.started_at_ms,
            new_started_at_ms: new.started_at_ms,
            stop_signal: signal,
            killed,
            old_exit,
            requested_at_ms,
            stop_ms,
            recovery_ms,
            timeline,
        })
    }

    /// Stops one process (its stop signal, grace, SIGKILL) and forgets it;
    /// returns how it ended.
    pub async fn stop(&self, name: &str) -> Result<String, SupervisorError> {
        let slot = self
            .inner
            .table()
            .slots
            .remove(name)
            .ok_or_else(|| SupervisorError::Unknown(name.to_owned()))?;
        let mut s = slot.lock().await;
        s.removed = true;
        let signal = s.spec.stop_signal;
        stop(&self.inner, &s.spec, &s.current, signal)
            .await
            .map(|(exit, _)| exit)
    }

    /// Stops every process, the last started first, and forgets them.
    pub async fn stop_all(&self) {
        let slots: Vec<Arc<Mutex<Slot>>> = std::mem::take(&mut self.inner.table().slots)
            .into_values()
            .collect();
        let mut locked = Vec::with_capacity(slots.len());
        for slot in slots {
            // Waits for a restart in progress.
            locked.push(slot.lock_owned().await);
        }
        locked.sort_by_key(|s| std::cmp::Reverse(s.order));
        for mut s in locked {
            s.removed = true;
            let signal = s.spec.stop_signal;
            if let Err(e) = stop(&self.inner, &s.spec, &s.current, signal).await {
                tracing::warn!("{e}");
            }
        }
    }
}

impl Drop for Supervisor {
    /// Kills what is still running, with its group: nothing outlives the
    /// supervisor, even when nobody called [`Supervisor::stop_all`].
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
        let table = self.inner.table();
        for slot in table.slots.values() {
            if let Ok(s) = slot.try_lock() {
                if s.current
                    .claim(&[life::STARTING, life::RUNNING], life::STOPPING)
                {
                    kill_group(s.current.info.pid);
                }
            }
        }
    }
}
