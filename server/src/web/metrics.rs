//! `GET /metrics`: the server's state in Prometheus text format (0.0.4),
//! for a team's own dashboards: runs by status (from the database), each
//! running run's requests and errors of its latest second and so far, by
//! load, the events the event writers hold in memory, and the load agents
//! connected (from the database: those whose last heartbeat is within a
//! shard's lease, so every replica reports the same count).
//!
//! Who may read it: anyone the login gate lets in with the viewer role
//! (a signed-in user or an API token, sent as `Authorization: Bearer`), as
//! for every other read. It holds run ids, test ids, statuses and counts:
//! never plan text, environment URLs, user names or secrets.

use crate::auth::require;
use crate::runs::agents::SHARD_TTL_MS;
use crate::runs::gauges::{self, LiveLoads};
use crate::web::AppState;
use axum::extract::State;
use axum::http::{header, Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::access::Role;
use engine::run::RunStatus;
use std::fmt::Write as _;

/// The content type Prometheus scrapes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What one scrape reports.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub runs_by_status: Vec<(RunStatus, i64)>,
    pub loads: LiveLoads,
    pub events_held: u64,
    pub agents_connected: u64,
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A per-load family: name, type, help, and the figure it shows.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&gauges::LoadFigures) -> u64,
);

/// The snapshot in Prometheus text format.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "shakedown_runs",
        "gauge",
        "Runs in the database by status.",
    );
    for (status, n) in &s.runs_by_status {
        let _ = writeln!(out, "shakedown_runs{{status=\"{}\"}} {n}", status.as_str());
    }
    let loads: Vec<(&String, &String, &gauges::LoadFigures)> = s
        .loads
        .iter()
        .flat_map(|(run, loads)| loads.iter().map(move |(load, f)| (run, load, f)))
        .collect();
    let series: [Series; 4] = [
        (
            "shakedown_run_requests_per_second",
            "gauge",
            "Requests a running run's load started in its latest complete second.",
            |f| f.requests_last_second,
        ),
        (
            "shakedown_run_errors_per_second",
            "gauge",
            "Of those, the ones that failed.",
            |f| f.errors_last_second,
        ),
        (
            "shakedown_run_requests",
            "gauge",
            "Requests a running run's load started so far.",
            |f| f.requests_total,
        ),
        (
            "shakedown_run_errors",
            "gauge",
            "Of those, the ones that failed.",
            |f| f.errors_total,
        ),
    ];
    for (name, kind, help, value) in series {
        family(&mut out, name, kind, help);
        for (run, load, figures) in &loads {
            let _ = writeln!(
                out,
                "{name}{{run_id=\"{}\",load=\"{}\"}} {}",
                label(run),
                label(load),
                value(figures)
            );
        }
    }
    family(
        &mut out,
        "shakedown_event_writer_backlog",
        "gauge",
        "Run events held in memory, not yet stored in the database.",
    );
    let _ = writeln!(out, "shakedown_event_writer_backlog {}", s.events_held);
    family(
        &mut out,
        "shakedown_agents_connected",
        "gauge",
        "Load agents whose last heartbeat is within a shard's lease.",
    );
    let _ = writeln!(out, "shakedown_agents_connected {}", s.agents_connected);
    out
}

/// `GET /metrics`, for viewers.
pub async fn metrics(State(state): State<AppState>, extensions: Extensions) -> Response {
    if let Err(refusal) = require(&extensions, Role::Viewer) {
        return refusal.into_response();
    }
    let unavailable = |what: &str, e: engine::store::StoreError| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot count {what}: {e}"),
        )
            .into_response()
    };
    let runs_by_status = match state.db.runs_by_status().await {
        Ok(counts) => counts,
        Err(e) => return unavailable("runs", e),
    };
    let since = engine::run::now_ms() - SHARD_TTL_MS;
    let agents_connected = match state.db.agents_seen_since(since).await {
        Ok(n) => n,
        Err(e) => return unavailable("agents", e),
    };
    let snapshot = Snapshot {
        runs_by_status,
        loads: gauges::live_loads(),
        events_held: gauges::events_held(),
        agents_connected,
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&snapshot)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_written_with_escaped_labels() {
        let mut loads = LiveLoads::new();
        loads.entry("r\"1".into()).or_default().insert(
            "L1".into(),
            gauges::LoadFigures {
                requests_last_second: 120,
                errors_last_second: 3,
                requests_total: 220,
                errors_total: 4,
            },
        );
        let text = render(&Snapshot {
            runs_by_status: vec![(RunStatus::Running, 1), (RunStatus::Finished, 7)],
            loads,
            events_held: 42,
            agents_connected: 3,
        });
        for line in [
            "# TYPE shakedown_runs gauge",
            "shakedown_runs{status=\"running\"} 1",
            "shakedown_runs{status=\"finished\"} 7",
            "shakedown_run_requests_per_second{run_id=\"r\\\"1\",load=\"L1\"} 120",
            "shakedown_run_errors_per_second{run_id=\"r\\\"1\",load=\"L1\"} 3",
            "shakedown_run_requests{run_id=\"r\\\"1\",load=\"L1\"} 220",
            "shakedown_run_errors{run_id=\"r\\\"1\",load=\"L1\"} 4",
            "shakedown_event_writer_backlog 42",
            "shakedown_agents_connected 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }
}
