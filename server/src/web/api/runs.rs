//! `POST /api/runs`: starts a run from a JSON `LaunchRequest`, as the New
//! run page does (`shakedown launch`); a refusal is a 400 naming the form
//! field. `GET /api/runs/{id}`: one run's summary as JSON (status, verdict,
//! times, error), for clients that follow runs they started — a plan's job
//! protocol polls it. Once the run is terminal the answer also
//! names its evidence pack: whether every file still matches the manifest,
//! and where `results.json` is served with the sha256 the manifest recorded,
//! so a client can download it and compare. Viewers and above; an unknown id
//! is a JSON 404.

use crate::auth::require;
use crate::evidence::pack;
use crate::evidence::EvidenceError;
use crate::runs::orchestrator::StartError;
use crate::web::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::Role;
use engine::access_store::AccessStore;
use engine::launch::{LaunchError, LaunchRequest};
use engine::run::{RunStatus, RunSummary};
use engine::store::StoreError;
use serde::Serialize;

/// The evidence file a client can check.
const RESULTS_FILE: &str = "results.json";

/// A run as answered.
#[derive(Debug, Serialize)]
pub struct RunAnswer {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The newest evidence pack, once the run is terminal and has one.
    pub evidence: Option<EvidenceState>,
}

/// A run's newest evidence pack, verified on reading.
#[derive(Debug, Serialize)]
pub struct EvidenceState {
    pub version: u32,
    /// Every file matches the manifest.
    pub intact: bool,
    pub manifest_sha256: String,
    /// `{run id}/evidence/results.json`: under `/api/runs/` it is served
    /// only while it matches the manifest.
    pub results_key: String,
    /// The sha256 the manifest records for `results.json`.
    pub results_sha256: Option<String>,
    /// Each file that does not match, in words.
    pub problems: Vec<String>,
}

/// A launch refused: the launch error (`field`, `message`, `problems`) and
/// its message as `error`, like the API's other refusals.
#[derive(Debug, Serialize)]
struct Refused {
    error: String,
    #[serde(flatten)]
    launch: LaunchError,
}

/// `POST /api/runs` with a JSON [`LaunchRequest`] (operators and above):
/// 201 with the run's summary; 400 naming the field when the request or
/// the plan is refused (nothing is stored); 503 when the server is
/// shutting down or its database is away.
pub async fn launch(
    State(state): State<AppState>,
    extensions: Extensions,
    body: Result<Json<LaunchRequest>, JsonRejection>,
) -> Response {
    let who = match require(&extensions, Role::Operator) {
        Ok(who) => who,
        Err(r) => return r.into_response(),
    };
    let mut request = match body {
        Ok(Json(request)) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("request body: {}", e.body_text()),
            )
        }
    };
    request.launched_by = Some(who.name.clone());
    match state.orchestrator.start(&request).await {
        Ok(run) => {
            let detail = format!("{} on {}", run.plan, run.environment);
            let at = engine::run::now_ms();
            if let Err(e) = state
                .db
                .audit(&who.name, "run_launched", &run.id, &detail, at)
                .await
            {
                tracing::warn!("run {} launched but not audited: {e}", run.id);
            }
            (StatusCode::CREATED, Json(run)).into_response()
        }
        Err(e) => {
            let status = match e {
                StartError::Store(_) | StartError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let launch = LaunchError::from(e);
            let refused = Refused {
                error: launch.to_string(),
                launch,
            };
            (status, Json(refused)).into_response()
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `GET /api/runs/{id}`.
pub async fn run(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require(&extensions, Role::Viewer) {
        return r.into_response();
    }
    let summary = match state.orchestrator.store().get_run(&id).await {
        Ok(summary) => summary,
        Err(StoreError::NotFound(_)) => {
            return error(StatusCode::NOT_FOUND, format!("no run with id {id}"))
        }
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let terminal = !matches!(summary.status, RunStatus::Queued | RunStatus::Running);
    let evidence = if terminal {
        let store = state.orchestrator.evidence().clone();
        match pack::read_pack(store.as_ref(), &id, None).await {
            Ok(pack) => Some(EvidenceState {
                version: pack.manifest.version,
                intact: pack.intact(),
                manifest_sha256: pack.manifest_digest.clone(),
                results_key: format!("{id}/evidence/{RESULTS_FILE}"),
                results_sha256: pack
                    .manifest
                    .files
                    .iter()
                    .find(|f| f.name == RESULTS_FILE)
                    .map(|f| f.sha256.clone()),
                problems: pack.problems.iter().map(ToString::to_string).collect(),
            }),
            Err(EvidenceError::NoPack { .. }) => None,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    } else {
        None
    };
    Json(RunAnswer { summary, evidence }).into_response()
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
