//! The supervisor: starts named local processes, restarts them on request
//! (stop signal, grace period, SIGKILL, respawn) and proves each restart
//! with what it observed: old and new PID, start times, and how long the
//! service took to pass its health check again.
//!
//! It backs the `process` restart method and `shakedown demo`. Children are
//! put in their own process group and die with Shakedown (parent-death
//! signal), so nothing outlives it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

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

struct Managed {
    spec: ProcessSpec,
    child: Child,
    info: ProcessInfo,
}

/// Starts, restarts and stops named processes.
#[derive(Default)]
pub struct Supervisor {
    procs: Mutex<BTreeMap<String, Managed>>,
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

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns the process and waits until its health check passes.
    pub async fn start(&self, spec: ProcessSpec) -> Result<ProcessInfo, SupervisorError> {
        let mut procs = self.procs.lock().await;
        if procs.contains_key(&spec.name) {
            return Err(SupervisorError::Duplicate(spec.name));
        }
        let (child, info) = spawn_healthy(&spec).await?;
        procs.insert(
            spec.name.clone(),
            Managed {
                spec,
                child,
                info: info.clone(),
            },
        );
        Ok(info)
    }

    /// The running process of that name.
    pub async fn info(&self, name: &str) -> Option<ProcessInfo> {
        self.procs.lock().await.get(name).map(|m| m.info.clone())
    }

    /// Names of every supervised process.
    pub async fn names(&self) -> Vec<String> {
        self.procs.lock().await.keys().cloned().collect()
    }

    /// Stops the process (its stop signal, then SIGKILL after the grace
    /// period, or SIGKILL at once when `signal` says so), starts it again
    /// and waits for its health check, probing every 100 ms.
    pub async fn restart(
        &self,
        name: &str,
        signal: Option<StopSignal>,
    ) -> Result<RestartProof, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let managed = procs
            .get_mut(name)
            .ok_or_else(|| SupervisorError::Unknown(name.to_owned()))?;
        let signal = signal.unwrap_or(managed.spec.stop_signal);
        let requested = Instant::now();
        let requested_at_ms = now_ms();
        let old = managed.info.clone();
        let (old_exit, killed) = stop(&managed.spec, &mut managed.child, signal).await?;
        let stop_ms = requested.elapsed().as_millis() as u64;

        let mut timeline = vec![HealthSample {
            at_ms: stop_ms,
            healthy: false,
        }];
        let mut child = spawn(&managed.spec)?;
        let new_pid = child.id().unwrap_or_default();
        let new_started_at_ms = now_ms();
        let deadline = Instant::now() + managed.spec.start_timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(SupervisorError::ExitedEarly {
                    name: name.to_owned(),
                    status: describe_exit(status),
                    log: log_name(&managed.spec),
                });
            }
            let healthy = probe(&managed.spec.health).await;
            timeline.push(HealthSample {
                at_ms: requested.elapsed().as_millis() as u64,
                healthy,
            });
            if healthy {
                break;
            }
            if Instant::now() >= deadline {
                managed.child = child;
                return Err(SupervisorError::Unhealthy {
                    name: name.to_owned(),
                    secs: managed.spec.start_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recovery_ms = requested.elapsed().as_millis() as u64;
        managed.child = child;
        managed.info = ProcessInfo {
            name: name.to_owned(),
            pid: new_pid,
            started_at_ms: new_started_at_ms,
        };
        Ok(RestartProof {
            service: name.to_owned(),
            method: "process".to_owned(),
            old_pid: old.pid,
            new_pid,
            old_started_at_ms: old.started_at_ms,
            new_started_at_ms,
            stop_signal: signal,
            killed,
            old_exit,
            requested_at_ms,
            stop_ms,
            recovery_ms,
            timeline,
        })
    }

    /// Stops every process, in the reverse order of their names' start
    /// (last started first), and forgets them.
    pub async fn stop_all(&self) {
        let mut procs = self.procs.lock().await;
        let mut all: Vec<Managed> = std::mem::take(&mut *procs).into_values().collect();
        all.sort_by_key(|m| std::cmp::Reverse(m.info.started_at_ms));
        for mut managed in all {
            let signal = managed.spec.stop_signal;
            if let Err(e) = stop(&managed.spec, &mut managed.child, signal).await {
                tracing::warn!("{e}");
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
/// it ended and whether SIGKILL was needed.
async fn stop(
    spec: &ProcessSpec,
    child: &mut Child,
    signal: StopSignal,
) -> Result<(String, bool), SupervisorError> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok((format!("already gone ({})", describe_exit(status)), false));
    }
    let Some(pid) = child.id() else {
        return Ok(("already gone".to_owned(), false));
    };
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    // Each child leads its own process group (see `spawn`). SIGKILL goes to
    // the whole group, so helpers it forked (PostgreSQL's backends) die with
    // it and cannot hold its resources against the next start.
    let sent = if signal == StopSignal::Sigkill {
        nix::sys::signal::killpg(pid, signal.signal())
    } else {
        nix::sys::signal::kill(pid, signal.signal())
    };
    sent.map_err(|e| SupervisorError::Signal {
        name: spec.name.clone(),
        reason: e.to_string(),
    })?;
    match tokio::time::timeout(spec.grace, child.wait()).await {
        Ok(Ok(status)) => Ok((describe_exit(status), signal == StopSignal::Sigkill)),
        Ok(Err(e)) => Err(SupervisorError::Signal {
            name: spec.name.clone(),
            reason: e.to_string(),
        }),
        Err(_) => {
            if nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).is_err() {
                let _ = child.start_kill();
            }
            let status = child.wait().await.map_err(|e| SupervisorError::Signal {
                name: spec.name.clone(),
                reason: e.to_string(),
            })?;
            Ok((describe_exit(status), true))
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
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
    // child when its parent goes, so no supervised process outlives Shakedown.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| spawn_error(format!("{program}: {e}")))
}

async fn spawn_healthy(spec: &ProcessSpec) -> Result<(Child, ProcessInfo), SupervisorError> {
    let mut child = spawn(spec)?;
    let info = ProcessInfo {
        name: spec.name.clone(),
        pid: child.id().unwrap_or_default(),
        started_at_ms: now_ms(),
    };
    let deadline = Instant::now() + spec.start_timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(SupervisorError::ExitedEarly {
                name: spec.name.clone(),
                status: describe_exit(status),
                log: log_name(spec),
            });
        }
        if probe(&spec.health).await {
            return Ok((child, info));
        }
        if Instant::now() >= deadline {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(SupervisorError::Unhealthy {
                name: spec.name.clone(),
                secs: spec.start_timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
