//! Fault injection: restart a service of the plan by its method (`process`,
//! `command`, `http`, `railway`) and prove it. The proof has three parts:
//! what was called, what it answered, and what Shakedown itself observed
//! (the service's health failing then passing, or the PID / start time in
//! its health answer changing, probed every 100 ms from the fault; for
//! `process`, also the supervisor's own view). Without an observation the
//! restart is "not observed", whatever the method answered.

pub mod command;
pub mod network;
pub mod observe;
pub mod process;
pub mod webhook;

use crate::metrics::resilience::{FaultEvidence, SupervisorObservation};
use crate::plan::{RestartMethod, Service, Signal};
use crate::runner::context::TestContext;
use observe::HealthSource;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long to observe when the service sets no limit.
const DEFAULT_OBSERVE_S: u32 = 60;

/// A fault that could not even be attempted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// The plan names no such service.
    #[error("no service named {0:?}")]
    UnknownService(String),
    /// `process` without a supervisor.
    #[error("service {0:?} is restarted by `process`, but no supervisor runs this plan's processes (use `shakedown run --demo`, or give the service a program)")]
    NoSupervisor(String),
    /// The health URL cannot be used.
    #[error("service {service:?}: health {health:?}: {reason}")]
    Health {
        service: String,
        /// Its health path or URL.
        health: String,
        reason: String,
    },
}

/// What a method's call did.
#[derive(Debug, Clone)]
pub struct Called {
    /// What was called (no secrets).
    pub called: String,
    /// What it answered.
    pub answer: String,
    /// Whether the call succeeded.
    pub ok: bool,
    /// `process` only: whether the supervisor saw a new PID pass its health
    /// check, and what it saw.
    pub supervisor: Option<(bool, SupervisorObservation)>,
}

impl Called {
    /// A call that failed before any answer.
    pub fn failed(called: String, answer: String) -> Called {
        Called {
            called,
            answer,
            ok: false,
            supervisor: None,
        }
    }
}

/// At most 500 characters of a text.
pub fn clip(text: &str) -> String {
    let trimmed = text.trim();
    let mut out: String = trimmed.chars().take(500).collect();
    if out.len() < trimmed.len() {
        out.push('…');
    }
    out
}

use crate::run::now_ms;

/// The method's name.
pub fn method_name(method: &RestartMethod) -> &'static str {
    match method {
        RestartMethod::Process(_) => "process",
        RestartMethod::Command(_) => "command",
        RestartMethod::Http(_) => "http",
        RestartMethod::Railway(_) => "railway",
    }
}

pub(crate) fn health_source(
    ctx: &TestContext,
    name: &str,
    service: &Service,
) -> Result<Option<HealthSource>, FaultError> {
    let Some(health) = &service.health else {
        return Ok(None);
    };
    let url = ctx.target.url(health).map_err(|e| FaultError::Health {
        service: name.to_owned(),
        health: health.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(HealthSource {
        url,
        pid_pointer: service.pid_pointer.clone(),
        started_at_pointer: service.started_at_pointer.clone(),
        identity_pointer: service.identity_pointer.clone(),
    }))
}

async fn call(ctx: &TestContext, name: &str, service: &Service, signal: Option<Signal>) -> Called {
    match &service.restart {
        RestartMethod::Process(p) => match &ctx.supervisor {
            Some(supervisor) => {
                let process = p.name.as_deref().unwrap_or(name);
                process::call(supervisor, process, signal.or(p.signal)).await
            }
            None => Called::failed(
                "supervisor restart".to_owned(),
                FaultError::NoSupervisor(name.to_owned()).to_string(),
            ),
        },
        RestartMethod::Command(c) => command::call(c).await,
        RestartMethod::Http(h) => webhook::http(&ctx.target, h).await,
        RestartMethod::Railway(r) => webhook::railway(&ctx.target, r).await,
    }
}

/// Restarts the service and returns the proof. `signal` overrides a
/// `process` restart's stop signal.
pub async fn inject(
    ctx: &TestContext,
    name: &str,
    signal: Option<Signal>,
) -> Result<FaultEvidence, FaultError> {
    let service = ctx
        .services
        .get(name)
        .ok_or_else(|| FaultError::UnknownService(name.to_owned()))?;
    if matches!(service.restart, RestartMethod::Process(_)) && ctx.supervisor.is_none() {
        return Err(FaultError::NoSupervisor(name.to_owned()));
    }
    let source = health_source(ctx, name, service)?;
    let observe_for = Duration::from_secs(u64::from(
        service
            .observe_timeout_s
            .map_or(DEFAULT_OBSERVE_S, |t| t.get()),
    ));
    let before = match &source {
        Some(source) => Some(observe::probe(&ctx.target, source).await),
        None => None,
    };
    let started = Instant::now();
    let requested_at_ms = now_ms();
    let done = CancellationToken::new();
    let watcher = match (&source, &before) {
        (Some(source), Some(before)) => Some(tokio::spawn(observe::watch(
            (*ctx.target).clone(),
            source.clone(),
            before.clone(),
            started,
            done.clone(),
            started + observe_for,
        ))),
        _ => None,
    };
    let called = call(ctx, name, service, signal).await;
    done.cancel();
    let observed = match watcher {
        Some(watcher) => watcher.await.ok(),
        None => None,
    };
    let (supervisor_saw, supervisor) = match called.supervisor.clone() {
        Some((saw, observation)) => (saw, Some(observation)),
        None => (false, None),
    };
    let (restart_observed, observation, recovery_ms) =
        verdict(observed.as_ref(), supervisor_saw, supervisor.as_ref());
    Ok(FaultEvidence {
        service: name.to_owned(),
        method: method_name(&service.restart).to_owned(),
        called: called.called,
        answer: called.answer,
        call_ok: called.ok,
        requested_at_ms,
        restart_observed,
        observation,
        recovery_ms,
        identity_before: before.as_ref().and_then(observe::Probe::identity),
        identity_after: observed.as_ref().and_then(|o| o.identity_after.clone()),
        timeline: observed.map(|o| o.timeline).unwrap_or_default(),
        supervisor,
        network: None,
    })
}

/// Whether the restart was observed, how, and how long recovery took: the
/// health URL's view when it saw the restart, else the supervisor's when it
/// saw one.
fn verdict(
    observed: Option<&observe::Observed>,
    supervisor_saw: bool,
    supervisor: Option<&SupervisorObservation>,
) -> (bool, String, Option<u64>) {
    match (observed, supervisor_saw) {
        (Some(o), _) if o.restarted => (true, o.how.clone(), o.recovery_ms),
        (o, true) => {
            let why = o
                .map(|o| format!("; health URL: {}", o.how))
                .unwrap_or_default();
            (
                true,
                format!(
                    "supervisor saw pid {} end and pid {} pass its health check{why}",
                    supervisor.map_or(0, |s| s.old_pid),
                    supervisor.map_or(0, |s| s.new_pid)
                ),
                supervisor.map(|s| s.recovery_ms),
            )
        }
        (Some(o), false) => (false, o.how.clone(), None),
        (None, false) => (
            false,
            "the service has no health URL to observe the restart with".to_owned(),
            None,
        ),
    }
}
