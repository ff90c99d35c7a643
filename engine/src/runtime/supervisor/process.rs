//! One spawned process: started as the leader of a process group of its
//! own, the word that says who owns its exit, how it ended, how it is
//! stopped (its stop signal, the grace period, SIGKILL to its group), and
//! the wait for its health check.

use super::spec::log_name;
use super::{probe, Inner, ProcessInfo, ProcessSpec, StopSignal, SupervisorError};
use crate::run::now_ms;
use std::process::Stdio;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Who owns a process's exit. Exactly one party acts on it: whoever moves
/// the word out of `STARTING` or `RUNNING` first.
pub(super) mod life {
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
pub(super) struct Exit {
    /// `exit code 1`, `killed by SIGKILL`.
    pub(super) text: String,
    pub(super) code: Option<i32>,
    pub(super) signal: Option<String>,
    pub(super) at_ms: i64,
    pub(super) at: Instant,
}

impl Exit {
    pub(super) fn of(status: std::io::Result<std::process::ExitStatus>) -> Exit {
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

pub(super) fn exit_text(exit: Option<&Exit>) -> String {
    exit.map_or_else(|| "ended".to_owned(), |e| e.text.clone())
}

/// One spawned process and the channel its watching task reports its exit on.
pub(super) struct Running {
    pub(super) info: ProcessInfo,
    /// Unique per spawned process: a watching task acts only while its
    /// process is still the slot's current one.
    pub(super) generation: u64,
    pub(super) spawned: Instant,
    pub(super) life: Arc<AtomicU8>,
    pub(super) exited: watch::Receiver<Option<Exit>>,
}

impl Running {
    /// Its exit, when it has exited.
    pub(super) fn exit(&self) -> Option<Exit> {
        self.exited.borrow().clone()
    }

    /// Waits for its exit (`None` when the watching task went away first,
    /// which happens only when the runtime shuts down).
    pub(super) async fn wait(&self) -> Option<Exit> {
        let mut rx = self.exited.clone();
        let seen = rx.wait_for(Option::is_some).await.ok()?;
        seen.clone()
    }

    /// Moves its life from `from` to `to`; false when it was elsewhere.
    pub(super) fn claim(&self, from: &[u8], to: u8) -> bool {
        self.life
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                from.contains(&s).then_some(to)
            })
            .is_ok()
    }
}

/// SIGKILL to the process's group (it leads one), or to the process alone
/// when that fails. Never to PID 0 or 1 (our own group, init).
pub(super) fn kill_group(pid: u32) {
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
pub(super) fn kill_leftovers(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        if raw > 1 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Sends the stop signal, waits the grace period, then SIGKILL. Returns how
/// it ended and whether SIGKILL was needed. The exit is claimed as planned
/// before any signal; a process found already gone is reported so (and,
/// when nobody had noticed yet, recorded as an unplanned exit).
pub(super) async fn stop(
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

pub(super) fn spawn(spec: &ProcessSpec) -> Result<Child, SupervisorError> {
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

/// Probes until healthy (every 100 ms, `on_probe` sees each result), the
/// process exits, or its start timeout passes.
pub(super) async fn await_healthy(
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
