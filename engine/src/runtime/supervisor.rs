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

use crate::results::UnplannedExit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::{watch, Mutex};
use tokio_util::sync::CancellationToken;

/// How to tell that a service is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HealthCheck {
    /// An HTTP GET that answers 2xx.
    Http { url: String },
    /// A TCP connection that is accepted.
    Tcp { addr: String },
    /// A command that exits 0 (e.g. `pg_isready`).
    Command { argv: Vec<String> },
}

/// What to run and how to know it is healthy.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The service's name (`api`, `worker`, `postgres`).
    pub name: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Run as this user (by name), when Shakedown runs as root.
    pub user: Option<String>,
    /// The signal that asks it to stop (SIGTERM for most; SIGINT is
    /// PostgreSQL's fast shutdown).
    pub stop_signal: StopSignal,
    /// How long it may take to stop before SIGKILL.
    pub grace: Duration,
    /// How long it may take to become healthy after a start.
    pub start_timeout: Duration,
    /// Passes when the service is up.
    pub health: HealthCheck,
    /// Where its stdout and stderr go (appended); discarded when unset.
    pub log: Option<PathBuf>,
}

/// The signals a stop may start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StopSignal {
    Sigterm,
    Sigint,
    Sigkill,
}

impl StopSignal {
    fn signal(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal;
        match self {
            StopSignal::Sigterm => Signal::SIGTERM,
            StopSignal::Sigint => Signal::SIGINT,
            StopSignal::Sigkill => Signal::SIGKILL,
        }
    }
}

/// What the supervisor knows of a running process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub name: String,
    pub pid: u32,
    /// When it was spawned (Unix milliseconds).
    pub started_at_ms: i64,
}

/// One health probe during a restart, for the recovery timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSample {
    /// Milliseconds since the restart was requested.
    pub at_ms: u64,
    /// Whether the health check passed.
    pub healthy: bool,
}

/// Proof that a restart really happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartProof {
    pub service: String,
    /// Always `process` here.
    pub method: String,
    pub old_pid: u32,
    pub new_pid: u32,
    pub old_started_at_ms: i64,
    pub new_started_at_ms: i64,
    /// The signal the stop began with.
    pub stop_signal: StopSignal,
    /// True when the grace period ran out and SIGKILL was needed.
    pub killed: bool,
    /// How the old process ended (exit code or signal).
    pub old_exit: String,
    /// When the restart was requested (Unix milliseconds).
    pub requested_at_ms: i64,
    /// From the request until the old process was gone.
    pub stop_ms: u64,
    /// From the request until the new process passed its health check.
    pub recovery_ms: u64,
    /// Health probes, at least every 100 ms, from the request to recovery.
    pub timeline: Vec<HealthSample>,
}

impl RestartProof {
    /// A restart is observed only if the PID changed and the new process
    /// passed its health check.
    pub fn observed(&self) -> bool {
        self.old_pid != self.new_pid && self.timeline.last().is_some_and(|s| s.healthy)
    }
}

/// What can go wrong while supervising.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("no process named {0:?} is supervised")]
    Unknown(String),
    #[error("a process named {0:?} is already supervised")]
    Duplicate(String),
    #[error("cannot start {name}: {reason}")]
    Spawn { name: String, reason: String },
    #[error("{name} exited during start-up ({status}); see {log}")]
    ExitedEarly {
        name: String,
        status: String,
        log: String,
    },
    #[error("{name} did not pass its health check within {secs} s")]
    Unhealthy { name: String, secs: u64 },
    #[error("cannot signal {name}: {reason}")]
    Signal { name: String, reason: String },
}

/// How the supervisor starts again a process that exited unasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The wait before the first restart after a crash.
    pub initial_delay: Duration,
    /// The longest wait: doubling stops here.
    pub max_delay: Duration,
    /// A process that ran at least this long before it exited is started
    /// again after `initial_delay`: the doubling starts over.
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    /// 100 ms doubling up to 5 s, reset after 10 s up.
    fn default() -> Self {
        RestartPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            reset_after: Duration::from_secs(10),
        }
    }
}

/// Who owns a process's exit. Exactly one party acts on it: whoever moves
/// the word out of `STARTING` or `RUNNING` first.
mod life {
    /// Being started: the starter reports an exit (the process exited
    /// during start-up).
    pub const STARTING: u8 = 0;
    /// Up: an exit is unplanned, the watching task records it and starts
    /// the process again.
    pub const RUNNING: u8 = 1;
    /// A restart or stop was requested: an exit is planned.
    pub const STOPPING: u8 = 2;
    /// Exited while running; the watching task owns it.
    pub const CRASHED: u8 = 3;
    /// Exited while starting; the starter owns it.
    pub const FAILED: u8 = 4;
}

/// How a process ended.
#[derive(Debug, Clone)]
struct Exit {
    /// `exit code 1`, `killed by SIGKILL`.
    text: String,
    code: Option<i32>,
    signal: Option<String>,
    at_ms: i64,
    at: Instant,
}

impl Exit {
    fn of(status: std::io::Result<std::process::ExitStatus>) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        let (text, code, signal) = match status {
            Ok(status) => (
                describe_exit(status),
                status.code(),
                status.signal().map(signal_name),
            ),
            Err(e) => (
                format!("ended (its status could not be read: {e})"),
                None,
                None,
            ),
        };
        Exit {
            text,
            code,
            signal,
            at_ms: now_ms(),
            at: Instant::now(),
        }
    }
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// One spawned process and the channel its watching task reports its exit on.
struct Running {
    info: ProcessInfo,
    /// Unique per spawned process: a watching task acts only while its
    /// process is still the slot's current one.
    generation: u64,
    spawned: Instant,
    life: Arc<AtomicU8>,
    exited: watch::Receiver<Option<Exit>>,
}

impl Running {
    /// Its exit, when it has exited.
    fn exit(&self) -> Option<Exit> {
        self.exited.borrow().clone()
    }

    /// Waits for its exit (`None` when the watching task went away first,
    /// which happens only when the runtime shuts down).
    async fn wait(&self) -> Option<Exit> {
        let mut rx = self.exited.clone();
        let seen = rx.wait_for(Option::is_some).await.ok()?;
        seen.clone()
    }

    /// Moves its life from `from` to `to`; false when it was elsewhere.
    fn claim(&self, from: &[u8], to: u8) -> bool {
        self.life
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                from.contains(&s).then_some(to)
            })
            .is_ok()
    }
}

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

impl RestartPolicy {
    /// Given the wait planned for the next restart and how long the
    /// process that just exited ran: the wait to use now (the planned one,
    /// or `initial_delay` again after a long enough run), and the one after
    /// it (doubled, at most `max_delay`).
    fn back_off(&self, planned: Duration, uptime: Duration) -> (Duration, Duration) {
        let delay = if uptime >= self.reset_after {
            self.initial_delay
        } else {
            planned
        };
        let next = delay
            .saturating_mul(2)
            .min(self.max_delay)
            .max(self.initial_delay);
        (delay, next)
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

use crate::run::now_ms;

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => nix::sys::signal::Signal::try_from(sig)
            .map(|s| format!("killed by {s}"))
            .unwrap_or_else(|_| format!("killed by signal {sig}")),
        _ => "ended".to_owned(),
    }
}

fn exit_text(exit: Option<&Exit>) -> String {
    exit.map_or_else(|| "ended".to_owned(), |e| e.text.clone())
}

/// SIGKILL to the process's group (it leads one), or to the process alone
/// when that fails. Never to PID 0 or 1 (our own group, init).
fn kill_group(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    if raw <= 1 {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(raw);
    if nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).is_err() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// SIGKILL to what is left of an exited leader's group (the kernel does
/// not reuse a PID while a group of that id has members, so only its own
/// leftovers are hit; with none, nothing is).
fn kill_leftovers(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        if raw > 1 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Spawns the process and the task that waits for it.
fn launch(inner: &Arc<Inner>, spec: &ProcessSpec, word: u8) -> Result<Running, SupervisorError> {
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
async fn recover(
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

/// Probes until healthy (every 100 ms, `on_probe` sees each result), the
/// process exits, or its start timeout passes.
async fn await_healthy(
    spec: &ProcessSpec,
    running: &Running,
    mut on_probe: impl FnMut(bool),
) -> Result<(), SupervisorError> {
    let deadline = Instant::now() + spec.start_timeout;
    loop {
        if let Some(exit) = running.exit() {
            return Err(SupervisorError::ExitedEarly {
                name: spec.name.clone(),
                status: exit.text,
                log: log_name(spec),
            });
        }
        let healthy = probe(&spec.health).await;
        on_probe(healthy);
        if healthy {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SupervisorError::Unhealthy {
                name: spec.name.clone(),
                secs: spec.start_timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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

fn log_name(spec: &ProcessSpec) -> String {
    spec.log
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "its output (discarded)".to_owned())
}

/// Sends the stop signal, waits the grace period, then SIGKILL. Returns how
/// it ended and whether SIGKILL was needed. The exit is claimed as planned
/// before any signal; a process found already gone is reported so (and,
/// when nobody had noticed yet, recorded as an unplanned exit).
async fn stop(
    inner: &Inner,
    spec: &ProcessSpec,
    running: &Running,
    signal: StopSignal,
) -> Result<(String, bool), SupervisorError> {
    if !running.claim(&[life::STARTING, life::RUNNING], life::STOPPING) {
        // Crashed (its watching task recorded it) or already stopped.
        let exit = running.wait().await;
        return Ok((
            format!("already gone ({})", exit_text(exit.as_ref())),
            false,
        ));
    }
    if let Some(exit) = running.exit() {
        // It had ended before this request, and its watching task had not
        // claimed the exit yet: that exit was not planned either.
        inner.record(
            &spec.name,
            running.info.pid,
            running.spawned,
            &exit,
            Some("found ended when a restart or stop was requested".to_owned()),
        );
        return Ok((format!("already gone ({})", exit.text), false));
    }
    let raw = i32::try_from(running.info.pid).unwrap_or(0);
    if raw <= 1 {
        return Err(SupervisorError::Signal {
            name: spec.name.clone(),
            reason: format!("no usable pid ({raw})"),
        });
    }
    let pid = nix::unistd::Pid::from_raw(raw);
    // Each child leads its own process group (see `spawn`). SIGKILL goes to
    // the whole group, so helpers it forked (PostgreSQL's backends) die with
    // it and cannot hold its resources against the next start.
    let sent = if signal == StopSignal::Sigkill {
        nix::sys::signal::killpg(pid, signal.signal())
    } else {
        nix::sys::signal::kill(pid, signal.signal())
    };
    match sent {
        // ESRCH: it is gone and being reaped; the wait below returns.
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            return Err(SupervisorError::Signal {
                name: spec.name.clone(),
                reason: e.to_string(),
            })
        }
    }
    match tokio::time::timeout(spec.grace, running.wait()).await {
        Ok(exit) => Ok((exit_text(exit.as_ref()), signal == StopSignal::Sigkill)),
        Err(_) => {
            kill_group(running.info.pid);
            let exit = running.wait().await;
            Ok((exit_text(exit.as_ref()), true))
        }
    }
}

fn spawn(spec: &ProcessSpec) -> Result<Child, SupervisorError> {
    let spawn_error = |reason: String| SupervisorError::Spawn {
        name: spec.name.clone(),
        reason,
    };
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| spawn_error("empty command".to_owned()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    if let Some(path) = &spec.log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| spawn_error(format!("cannot open log {}: {e}", path.display())))?;
        let err = file
            .try_clone()
            .map_err(|e| spawn_error(format!("cannot open log {}: {e}", path.display())))?;
        cmd.stdout(file).stderr(err);
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    if let Some(user) = &spec.user {
        if nix::unistd::geteuid().is_root() {
            let found = nix::unistd::User::from_name(user)
                .map_err(|e| spawn_error(format!("cannot look up user {user}: {e}")))?
                .ok_or_else(|| spawn_error(format!("no user named {user}")))?;
            cmd.uid(found.uid.as_raw()).gid(found.gid.as_raw());
        }
    }
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: prctl and getppid are async-signal-safe and nothing here
    // allocates. The kernel kills the child when the thread that spawned it
    // ends (with Shakedown); if Shakedown died between fork and prctl the
    // child has another parent already and gives up instead of running on.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| spawn_error(format!("{program}: {e}")))
}

/// Runs one health check, bounded to one second.
pub async fn probe(check: &HealthCheck) -> bool {
    let attempt = async {
        match check {
            HealthCheck::Http { url } => match reqwest::Client::new().get(url).send().await {
                Ok(res) => res.status().is_success(),
                Err(_) => false,
            },
            HealthCheck::Tcp { addr } => tokio::net::TcpStream::connect(addr).await.is_ok(),
            HealthCheck::Command { argv } => match argv.split_first() {
                Some((program, args)) => Command::new(program)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .status()
                    .await
                    .map(|s| s.success())
                    .unwrap_or(false),
                None => false,
            },
        }
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_cap_and_starts_over_after_a_long_run() {
        let policy = RestartPolicy::default();
        let ms = Duration::from_millis;
        let mut planned = policy.initial_delay;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (delay, next) = policy.back_off(planned, ms(10));
            waits.push(delay.as_millis());
            planned = next;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        // A process that stayed up 10 s is restarted after 100 ms again.
        let (delay, next) = policy.back_off(planned, Duration::from_secs(10));
        assert_eq!((delay, next), (ms(100), ms(200)));
    }
}
