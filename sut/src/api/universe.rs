//! Universe endpoints: `POST /universe/nodes/{id}/expand` and
//! `GET /universe/integrity`. The `slow` and `graph-corruption` faults act
//! here.

use super::error::ApiError;
use super::State;
use crate::faults::Fault;
use crate::universe::{self, Expansion, Integrity};
use axum::extract::{Path, State as Extract};
use axum::Json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Expands the node (creating it as a root if new).
pub async fn expand(
    Extract(state): Extract<State>,
    Path(id): Path<String>,
) -> Result<Json<Expansion>, ApiError> {
    if !universe::check_node_id(&id) {
        return Err(ApiError::bad_request(
            "node id must be 1-200 characters of [A-Za-z0-9._-]",
        ));
    }
    if state.faults.on(Fault::Slow) {
        tokio::time::sleep(Duration::from_millis(state.cfg.slow_ms)).await;
    }
    let (children, rounds) = (state.cfg.expand_children, state.cfg.expand_work);
    let node = id.clone();
    let digests =
        tokio::task::spawn_blocking(move || universe::child_digests(&node, children, rounds))
            .await
            .map_err(|e| {
                ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            })?;
    let n = state.expansions.fetch_add(1, Ordering::Relaxed);
    let dangling =
        state.faults.on(Fault::GraphCorruption) && n % state.cfg.graph_corruption_every == 0;
    let expansion = crate::db::retrying("expand", Duration::from_secs(5), || {
        universe::expand(
            &state.db,
            &id,
            &digests,
            u64::from(rounds) * u64::from(children),
            dangling,
        )
    })
    .await?;
    Ok(Json(expansion))
}

/// Counts nodes, edges and integrity errors.
pub async fn integrity(Extract(state): Extract<State>) -> Result<Json<Integrity>, ApiError> {
    Ok(Json(universe::integrity(&state.db).await?))
}
