//! The HTTP surface: probes, the Leptos pages and server functions, and the
//! built site's static files, in one router built from the app's state.

use crate::db::Db;
use crate::readiness;
use app::context::ServerContext;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::path::PathBuf;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub evidence_dir: PathBuf,
    pub plans_dir: PathBuf,
    pub leptos: LeptosOptions,
}

impl AppState {
    pub fn new(db: Db, evidence_dir: PathBuf, site_root: PathBuf, plans_dir: PathBuf) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name(app::OUTPUT_NAME)
            .site_root(site_root.display().to_string())
            .site_pkg_dir("pkg")
            .build();
        AppState {
            db,
            evidence_dir,
            plans_dir,
            leptos,
        }
    }

    fn server_context(&self) -> ServerContext {
        ServerContext {
            runs: Arc::new(self.db.clone()),
            plans_dir: self.plans_dir.clone(),
        }
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let context = state.server_context();
    let options = state.leptos.clone();
    Router::new()
        .route("/healthz", get(readiness::healthz))
        .route("/readyz", get(readiness::readyz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context.clone()),
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .with_state(state)
}
