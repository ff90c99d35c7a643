//! The programs a plan's services name (`restart.process = { program = …,
//! args = […], env = {…} }`): started before a run under a supervisor, each
//! healthy before the next (in the order of the services' names), restarted
//! by the `process` restart method during chaos tests, started again by the
//! supervisor when they crash, and stopped when the run ends, aborted or not.
//!
//! One mechanism for every caller (`shakedown run` with or without
//! `--demo`, runs the web app launches). A caller may hand the run its
//! supervisor (the demo's): a process it already supervises under the
//! service's name is used as it is. Without one the run creates its own.
//! Either way the run stops what it started; a supervisor the run created
//! also kills its processes when dropped, so an early return leaves nothing.
//!
//! A program named without a slash is looked for beside the running
//! `shakedown` first (where `shakedown-sut` is built and installed), then on
//! `PATH`; it runs in Shakedown's working directory. Its output goes to
//! `<name>.log` in a temporary folder, removed after the run; the error of
//! a program that failed to start quotes its last lines.

use crate::plan::{Plan, ProcessRestart, RestartMethod, TestKind};
use crate::runner::target::Target;
use crate::runner::RunError;
use crate::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor, SupervisorError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a program may take to pass its health check.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Time between the stop signal and SIGKILL unless the plan says.
const DEFAULT_GRACE_MS: u64 = 10_000;

/// The supervisor a run uses and what the run started under it.
pub struct Programs {
    supervisor: Option<Arc<Supervisor>>,
    /// Names this run started, in start order.
    started: Vec<String>,
    /// Whether the run created the supervisor (then it stops it all).
    owned: bool,
    /// Where the programs' output goes, once one was started.
    logs: Option<PathBuf>,
}

impl Programs {
    /// The supervisor, when the run has one.
    pub fn supervisor(&self) -> Option<&Arc<Supervisor>> {
        self.supervisor.as_ref()
    }

    /// Stops what the run started, the last started first, and removes the
    /// logs folder.
    pub async fn stop(mut self) {
        self.stop_started().await;
        if let Some(dir) = self.logs.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    async fn stop_started(&mut self) {
        let Some(supervisor) = &self.supervisor else {
            return;
        };
        if self.owned {
            supervisor.stop_all().await;
        } else {
            for name in self.started.iter().rev() {
                if let Err(e) = supervisor.stop(name).await {
                    tracing::warn!("{e}");
                }
            }
        }
        self.started.clear();
    }

    /// The logs folder, created on first use.
    fn log_dir(&mut self) -> std::io::Result<&Path> {
        let dir = match self.logs.take() {
            Some(dir) => dir,
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "shakedown-programs-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir_all(&dir)?;
                dir
            }
        };
        Ok(self.logs.insert(dir))
    }
}

/// A service whose program Shakedown starts.
struct Program<'a> {
    service: &'a str,
    /// The supervised process's name.
    name: &'a str,
    program: &'a str,
    process: &'a ProcessRestart,
    health: Option<&'a str>,
}

fn programs(plan: &Plan) -> Vec<Program<'_>> {
    plan.services
        .iter()
        .filter_map(|(service, s)| match &s.restart {
            RestartMethod::Process(process) => process.program.as_deref().map(|program| Program {
                service,
                name: process.name.as_deref().unwrap_or(service),
                program,
                process,
                health: s.health.as_deref(),
            }),
            _ => None,
        })
        .collect()
}

/// Starts every program the plan's services name that is not supervised
/// yet, then checks that every `process` service a chaos test restarts is
/// supervised. On any failure what was started is stopped again.
pub async fn start(
    plan: &Plan,
    given: Option<Arc<Supervisor>>,
    target: &Target,
    cancel: &CancellationToken,
) -> Result<Programs, RunError> {
    let wanted = programs(plan);
    let owned = given.is_none() && !wanted.is_empty();
    let mut run = Programs {
        supervisor: given.or_else(|| owned.then(|| Arc::new(Supervisor::new()))),
        started: Vec::new(),
        owned,
        logs: None,
    };
    match start_all(&mut run, plan, &wanted, target, cancel).await {
        Ok(()) => Ok(run),
        Err(e) => {
            run.stop().await;
            Err(e)
        }
    }
}

async fn start_all(
    run: &mut Programs,
    plan: &Plan,
    wanted: &[Program<'_>],
    target: &Target,
    cancel: &CancellationToken,
) -> Result<(), RunError> {
    if let Some(supervisor) = run.supervisor.clone() {
        for program in wanted {
            if supervisor.info(program.name).await.is_some() {
                continue;
            }
            let spec = spec(run, program, target)?;
            let log = spec.log.clone();
            let started = tokio::select! {
                started = supervisor.start(spec) => started,
                () = cancel.cancelled() => {
                    return Err(RunError::Interrupted(format!(
                        "interrupted while starting service {:?} (program {})",
                        program.service, program.program
                    )))
                }
            };
            if let Err(e) = started {
                // The log goes with the run: its last lines are quoted instead.
                let what = match e {
                    SupervisorError::ExitedEarly { status, .. } => {
                        format!("it exited during start-up ({status})")
                    }
                    other => other.to_string(),
                };
                return Err(RunError::Start {
                    service: program.service.to_owned(),
                    program: program.program.to_owned(),
                    reason: format!("{what}{}", log.as_deref().map(tail).unwrap_or_default()),
                });
            }
            run.started.push(program.name.to_owned());
        }
    }
    check_chaos_services(plan, run.supervisor.as_deref()).await
}

/// What to run for a service, with its health check on the environment.
fn spec(run: &mut Programs, p: &Program<'_>, target: &Target) -> Result<ProcessSpec, RunError> {
    let Some(path) = p.health else {
        return Err(RunError::Invalid(format!(
            "service {:?}: Shakedown starts its program {}, which needs the service's `health` path to know when it is up",
            p.service, p.program
        )));
    };
    let url = target
        .url(path)
        .map_err(|e| RunError::Invalid(format!("service {:?}: health: {e}", p.service)))?;
    let log = run
        .log_dir()
        .map(|dir| dir.join(format!("{}.log", safe_name(p.name))))
        .map_err(|e| RunError::Start {
            service: p.service.to_owned(),
            program: p.program.to_owned(),
            reason: format!("cannot create a folder for its output: {e}"),
        })?;
    Ok(ProcessSpec {
        name: p.name.to_owned(),
        argv: std::iter::once(resolve(p.program))
            .chain(p.process.args.iter().cloned())
            .collect(),
        env: p.process.env.clone().into_iter().collect(),
        cwd: None,
        user: None,
        stop_signal: p
            .process
            .signal
            .map_or(StopSignal::Sigterm, crate::faults::process::stop_signal),
        grace: Duration::from_millis(
            p.process
                .grace_ms
                .map_or(DEFAULT_GRACE_MS, |g| u64::from(g.get())),
        ),
        start_timeout: START_TIMEOUT,
        health: HealthCheck::Http {
            url: url.to_string(),
        },
        log: Some(log),
    })
}

/// Every `process` service a chaos test restarts must be supervised by now.
async fn check_chaos_services(
    plan: &Plan,
    supervisor: Option<&Supervisor>,
) -> Result<(), RunError> {
    for spec in &plan.tests {
        let TestKind::Chaos(chaos) = &spec.kind else {
            continue;
        };
        // A network fault restarts nothing; its service is only watched.
        let Some(service_name) = chaos.service.as_ref().filter(|_| chaos.fault.is_none()) else {
            continue;
        };
        let Some(service) = plan.services.get(service_name) else {
            return Err(RunError::Invalid(format!(
                "test {}: no service named {service_name:?}",
                spec.id
            )));
        };
        let RestartMethod::Process(process) = &service.restart else {
            continue;
        };
        let Some(supervisor) = supervisor else {
            return Err(RunError::Invalid(format!(
                "test {}: service {service_name:?} is restarted by `process`, which needs a process Shakedown supervises: give the service a `program` to start, or use shakedown run --demo",
                spec.id
            )));
        };
        let name = process.name.as_deref().unwrap_or(service_name);
        if supervisor.info(name).await.is_none() {
            return Err(RunError::Invalid(format!(
                "test {}: no supervised process named {name:?} and the service names no program to start",
                spec.id
            )));
        }
    }
    Ok(())
}

/// The program to execute: a bare name found beside the running executable
/// (or one folder up, for test binaries in `target/debug/deps`) is run from
/// there; anything else is left to the operating system (`PATH`, or the
/// path as written).
fn resolve(program: &str) -> String {
    if program.contains('/') {
        return program.to_owned();
    }
    let here = std::env::current_exe().ok();
    let dirs = here
        .iter()
        .filter_map(|exe| exe.parent())
        .flat_map(|dir| [Some(dir), dir.parent()])
        .flatten();
    for dir in dirs {
        let beside = dir.join(program);
        if beside.is_file() {
            return beside.display().to_string();
        }
    }
    program.to_owned()
}

/// A process name usable as a file name.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The last lines of a log, indented, for an error message.
fn tail(log: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(log) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let last = &lines[lines.len().saturating_sub(10)..];
    format!("\n  its last output:\n    {}", last.join("\n    "))
}
