//! What the supervisor runs and how it knows a process is up: a process's
//! spec, the signal that stops it, and its health check.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

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
    pub(super) fn signal(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal;
        match self {
            StopSignal::Sigterm => Signal::SIGTERM,
            StopSignal::Sigint => Signal::SIGINT,
            StopSignal::Sigkill => Signal::SIGKILL,
        }
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

/// Where a process's output goes, for messages.
pub(super) fn log_name(spec: &ProcessSpec) -> String {
    spec.log
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "its output (discarded)".to_owned())
}
