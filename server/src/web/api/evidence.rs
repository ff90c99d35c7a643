//! A run's evidence pack over HTTP: `GET /api/runs/{id}/evidence` lists the
//! newest pack's files with the outcome of its verification, and
//! `GET /api/runs/{id}/evidence/{file}` serves one file — only when it still
//! matches the manifest (only the manifest and that file are read); an
//! altered or missing file is refused by name.
//! Both need a viewer (checked here as well as by the login gate); a share
//! link's token opens its own run's files without an account
//! (`/api/share/{token}/evidence/{file}`).

use crate::auth::require;
use crate::evidence::pack::{self, FileProblem, PackFile};
use crate::evidence::EvidenceError;
use crate::web::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::access::Role;
use serde::{Deserialize, Serialize};

/// One file of the pack as listed.
#[derive(Debug, Serialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    /// Still matches the manifest.
    pub intact: bool,
}

/// The newest pack of a run.
#[derive(Debug, Serialize)]
pub struct PackListing {
    pub run_id: String,
    pub version: u32,
    pub manifest_sha256: String,
    pub intact: bool,
    pub files: Vec<FileEntry>,
    /// Each file that does not match, in words.
    pub problems: Vec<String>,
}

fn refuse(e: EvidenceError) -> Response {
    match e {
        EvidenceError::NoPack { .. } => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
        other => (StatusCode::SERVICE_UNAVAILABLE, other.to_string()).into_response(),
    }
}

fn problem_name(p: &FileProblem) -> &str {
    match p {
        FileProblem::Missing { name }
        | FileProblem::Altered { name, .. }
        | FileProblem::Unlisted { name }
        | FileProblem::PlanMismatch { name, .. } => name,
    }
}

/// Lists the newest pack's files and whether each is intact.
pub async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Err(refusal) = require(&extensions, Role::Viewer) {
        return refusal.into_response();
    }
    let store = state.orchestrator.evidence().clone();
    let pack = match pack::read_pack(store.as_ref(), &id, None).await {
        Ok(pack) => pack,
        Err(e) => return refuse(e),
    };
    let files = pack
        .manifest
        .files
        .iter()
        .map(|entry| FileEntry {
            name: entry.name.clone(),
            bytes: entry.bytes,
            sha256: entry.sha256.clone(),
            intact: !pack.problems.iter().any(|p| problem_name(p) == entry.name),
        })
        .collect();
    Json(PackListing {
        run_id: id,
        version: pack.manifest.version,
        manifest_sha256: pack.manifest_digest.clone(),
        intact: pack.intact(),
        files,
        problems: pack.problems.iter().map(ToString::to_string).collect(),
    })
    .into_response()
}

/// `?inline=1` shows the file in the browser instead of downloading it.
#[derive(Debug, Deserialize)]
pub struct Inline {
    inline: Option<u8>,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("xml") => "application/xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// Serves one verified file of the newest pack.
pub async fn download(
    State(state): State<AppState>,
    extensions: Extensions,
    Path((id, file)): Path<(String, String)>,
    Query(inline): Query<Inline>,
) -> Response {
    if let Err(refusal) = require(&extensions, Role::Viewer) {
        return refusal.into_response();
    }
    serve_file(&state, &id, &file, inline).await
}

/// The same through a share link: the token opens its run's files only,
/// while the link is neither expired nor revoked.
pub async fn shared_download(
    State(state): State<AppState>,
    Path((token, file)): Path<(String, String)>,
    Query(inline): Query<Inline>,
) -> Response {
    use engine::access_store::Approvals;
    match state.approvals.open_share(&token).await {
        Ok(id) => serve_file(&state, &id, &file, inline).await,
        Err(e) => as_document(
            (
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::NOT_FOUND),
                e.message,
            )
                .into_response(),
        ),
    }
}

/// Pack files are documents, never code: even an HTML report shown inline
/// (the report page frames it) runs no script and loads nothing.
const DOCUMENT_POLICY: &str =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// A refusal where a pack file was asked for gets the files' own policy:
/// it shows (as text) in the report page's frame like the file would.
fn as_document(mut res: Response) -> Response {
    res.headers_mut()
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(header::HeaderValue::from_static(DOCUMENT_POLICY));
    res
}

async fn serve_file(state: &AppState, id: &str, file: &str, inline: Inline) -> Response {
    as_document(pack_file(state, id, file, inline).await)
}

async fn pack_file(state: &AppState, id: &str, file: &str, inline: Inline) -> Response {
    let store = state.orchestrator.evidence().clone();
    // The manifest and that one file, checked against its entry.
    let bytes = match pack::read_file(store.as_ref(), id, None, file).await {
        Ok(PackFile::Intact(bytes)) => bytes,
        Ok(PackFile::Broken(problem)) => {
            return (
                StatusCode::CONFLICT,
                format!("evidence of run {id} is not intact: {problem}"),
            )
                .into_response()
        }
        Ok(PackFile::Absent) => {
            return (
                StatusCode::NOT_FOUND,
                format!("no file {file:?} in the evidence of run {id}"),
            )
                .into_response()
        }
        Err(e) => return refuse(e),
    };
    let disposition = if inline.inline == Some(1) {
        "inline".to_owned()
    } else {
        format!("attachment; filename=\"{id}-{file}\"")
    };
    (
        [
            (header::CONTENT_TYPE, content_type(file).to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_SECURITY_POLICY, DOCUMENT_POLICY.to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response()
}
