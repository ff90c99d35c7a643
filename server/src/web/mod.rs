//! The HTTP surface: probes, the Leptos pages and server functions, and the
//! built site's static files, in one router built from the app's state,
//! every route behind the authentication gate and every answer with the
//! security headers (`security_headers`).

pub mod api;
pub mod metrics;
pub mod probes;
pub mod security_headers;

use crate::approval_policy::ApprovalPolicy;
use crate::approvals::ApprovalService;
use crate::auth::{self, Auth, AuthArgs};
use crate::db::Db;
use crate::evidence::store::ObjectStore;
use crate::runs::launch::Launch;
use crate::runs::orchestrator::Orchestrator;
use api::{events, evidence, runs, signoffs};
use app::context::ServerContext;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use security_headers::CspNonce;
use std::path::PathBuf;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub plans_dir: PathBuf,
    pub leptos: LeptosOptions,
    pub orchestrator: Arc<Orchestrator>,
    pub auth: Arc<Auth>,
    pub approvals: Arc<ApprovalService>,
}

impl AppState {
    pub fn new(
        db: Db,
        evidence: Arc<dyn ObjectStore>,
        site_root: PathBuf,
        plans_dir: PathBuf,
        auth: AuthArgs,
    ) -> Self {
        let leptos = LeptosOptions::builder()
            .output_name(app::OUTPUT_NAME)
            .site_root(site_root.display().to_string())
            .site_pkg_dir("pkg")
            .build();
        let orchestrator =
            Orchestrator::new(Arc::new(db.clone()), evidence.clone(), plans_dir.clone());
        orchestrator.use_agents(db.clone());
        let approvals = Arc::new(ApprovalService::new(
            db.clone(),
            evidence,
            ApprovalPolicy::default(),
        ));
        let auth = Arc::new(Auth::new(Arc::new(db.clone()), auth));
        AppState {
            db,
            plans_dir,
            leptos,
            orchestrator,
            auth,
            approvals,
        }
    }

    /// The same state with sign-offs under the server's approval policy
    /// (`--required-approvals`).
    pub fn with_approval_policy(mut self, policy: ApprovalPolicy) -> Self {
        self.approvals = Arc::new(ApprovalService::new(
            self.db.clone(),
            self.orchestrator.evidence().clone(),
            policy,
        ));
        self
    }

    fn server_context(&self) -> ServerContext {
        ServerContext {
            runs: Arc::new(self.db.clone()),
            launcher: Arc::new(Launch(self.orchestrator.clone())),
            access: Arc::new(self.db.clone()),
            approvals: self.approvals.clone(),
            plans_dir: self.plans_dir.clone(),
        }
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// What every Leptos render gets: the server's context, and this
/// request's CSP nonce as Leptos's own (its inline scripts carry it, and
/// `security_headers` names it in the policy).
fn render_context(context: ServerContext) -> impl Fn() + Clone + Send + 'static {
    move || {
        provide_context(context.clone());
        let nonce = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
        if let Some(CspNonce(nonce)) = nonce {
            provide_context(leptos::nonce::Nonce::from_value(nonce));
        }
    }
}

/// The app's routes, listed once per process. leptos_axum lists them by
/// rendering the whole app with resource loading switched off, and that
/// switch is process-wide: a resource that starts loading anywhere while a
/// listing runs never finishes, so a page being served while a second
/// router is built (tests build many) would hang with its body half sent.
fn app_routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The whole application, every route behind the authentication gate.
pub fn router(state: AppState) -> Router {
    let routes = app_routes();
    let context = render_context(state.server_context());
    let options = state.leptos.clone();
    let gate = axum::middleware::from_fn_with_state(state.auth.clone(), auth::gate);
    // The browser bundle, served gzip-compressed when `scripts/build-site`
    // left a `.gz` beside a file and the browser accepts it (the wasm is
    // about a quarter of its size that way); the raw file otherwise.
    let pkg_dir: &str = state.leptos.site_pkg_dir.as_ref();
    let pkg_route = format!("/{pkg_dir}");
    let pkg = std::path::Path::new(state.leptos.site_root.as_ref()).join(pkg_dir);
    let bundle = tower::ServiceBuilder::new()
        // Caches in between must not hand the gzip copy to a browser that
        // did not ask for it.
        .layer(tower_http::set_header::SetResponseHeaderLayer::appending(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("accept-encoding"),
        ))
        .service(tower_http::services::ServeDir::new(pkg).precompressed_gzip());
    // The login form is small: a larger body is refused before it is read.
    let login = Router::new()
        .route(
            "/auth/login",
            post(auth::login::login).layer(DefaultBodyLimit::max(auth::login::MAX_FORM_BYTES)),
        )
        .route("/auth/logout", post(auth::login::logout))
        .with_state(state.auth.clone());
    Router::new()
        .merge(login)
        .route(
            "/api/runs/{id}/signoffs",
            get(signoffs::state).post(signoffs::sign),
        )
        .route("/api/audit.jsonl", get(signoffs::export))
        .route("/api/runs/{id}/baseline", post(api::baselines::pin))
        .route(
            "/api/share/{token}/evidence/{file}",
            get(evidence::shared_download),
        )
        .nest_service(&pkg_route, bundle)
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/agents", post(api::agents::register))
        .route("/api/agents/{id}/heartbeat", post(api::agents::heartbeat))
        .route("/api/agents/{id}/claim", post(api::agents::claim))
        .route("/api/shards/{id}", get(api::agents::shard))
        .route("/api/shards/{id}/ready", post(api::agents::ready))
        .route("/api/shards/{id}/snapshots", post(api::agents::snapshot))
        .route("/api/shards/{id}/done", post(api::agents::done))
        .route("/api/runs", post(runs::launch))
        .route("/api/runs/{id}", get(runs::run))
        .route("/api/runs/{id}/events", get(events::events))
        .route("/api/runs/{id}/evidence", get(evidence::list))
        .route("/api/runs/{id}/evidence/{file}", get(evidence::download))
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .with_state(state)
        .layer(gate)
        .layer(axum::middleware::from_fn(security_headers::add))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::testing;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use engine::store::RunStore;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(app: Router, path: &str) -> (StatusCode, String) {
        let res = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    pub(crate) fn state(db: Db, dir: &std::path::Path) -> AppState {
        let evidence = dir.join("evidence");
        std::fs::create_dir_all(&evidence).unwrap();
        AppState::new(
            db,
            Arc::new(crate::evidence::store::LocalStore::new(evidence)),
            dir.join("site"),
            dir.join("plans"),
            AuthArgs {
                local_mode: true,
                ..AuthArgs::default()
            },
        )
    }

    #[tokio::test]
    async fn probes_answer() {
        let (db, dir) = testing::sqlite().await;
        let app = router(state(db, dir.path()));
        let (status, body) = get(app.clone(), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        let (status, body) = get(app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["dependencies"][0]["name"], "database");
        assert_eq!(ready["dependencies"][0]["detail"], "sqlite");
        assert!(ready["dependencies"][0]["latency_ms"].as_f64().unwrap() >= 0.0);
        assert_eq!(ready["dependencies"][1]["name"], "evidence");
        assert_eq!(ready["dependencies"][1]["status"], "ok");
    }

    #[tokio::test]
    async fn readiness_fails_when_the_evidence_directory_goes() {
        let (db, dir) = testing::sqlite().await;
        let st = state(db, dir.path());
        std::fs::remove_dir_all(dir.path().join("evidence")).unwrap();
        let (status, body) = get(router(st), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ready["status"], "not_ready");
        assert_eq!(ready["dependencies"][0]["status"], "ok");
        assert_eq!(ready["dependencies"][1]["status"], "failing");
        assert!(ready["dependencies"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot write"));
    }

    #[tokio::test]
    async fn the_runs_page_lists_stored_runs() {
        let (db, dir) = testing::sqlite().await;
        let (status, body) = get(router(state(db.clone(), dir.path())), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("No runs yet."), "{body}");

        let run = testing::new_run(&db, "step3-plan", "demo-env").await;
        db.set_status(&run.id, engine::run::RunStatus::Running, None)
            .await
            .unwrap();
        let (status, body) = get(router(state(db, dir.path())), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("step3-plan"), "{body}");
        assert!(body.contains("demo-env"));
        assert!(body.contains("running"));
        assert!(body.contains("1 run as of"));
        assert!(!body.contains("No runs yet."));
    }

    #[tokio::test]
    async fn the_bundle_is_sent_gzipped_to_browsers_that_accept_it() {
        let (db, dir) = testing::sqlite().await;
        let pkg = dir.path().join("site").join("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("app.js"), "raw javascript").unwrap();
        std::fs::write(pkg.join("app.js.gz"), "gzipped bytes").unwrap();
        let app = router(state(db, dir.path()));
        let ask = |gzip: bool| {
            let mut req = Request::get("/pkg/app.js");
            if gzip {
                req = req.header("accept-encoding", "gzip, br");
            }
            app.clone().oneshot(req.body(Body::empty()).unwrap())
        };
        let res = ask(true).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert_eq!(res.headers()["vary"], "accept-encoding");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript"));
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"gzipped bytes");
        let res = ask(false).await.unwrap();
        assert!(res.headers().get("content-encoding").is_none());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"raw javascript");
    }

    #[tokio::test]
    async fn unknown_pages_are_404() {
        let (db, dir) = testing::sqlite().await;
        let (status, body) = get(router(state(db, dir.path())), "/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Page not found"));
    }
}
