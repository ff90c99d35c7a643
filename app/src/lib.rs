//! Shakedown's web interface: the HTML shell, the shared page layout and the
//! routes. Server functions sit beside the pages that call them; the server
//! hands them the database through context.

#![recursion_limit = "256"]

pub mod charts;
pub mod components;
pub mod json_text;
pub mod live;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{FlatRoutes, Route, Router, A},
    path, Lazy,
};
use routes::lazy::{
    AuditRoute, LoginRoute, NewRunRoute, ReportRoute, RunRoute, RunsRoute, ShareRoute, UsersRoute,
};

/// The name of the wasm, JS and CSS bundles under `/pkg`.
pub const OUTPUT_NAME: &str = "shakedown";

/// The version shown in the footer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the server gives server functions through context.
#[cfg(feature = "ssr")]
pub mod context {
    use std::path::PathBuf;
    use std::sync::Arc;

    use engine::access::{Principal, Role};
    use leptos::prelude::{use_context, ServerFnError};

    /// Everything a server function may need from the running server.
    #[derive(Clone)]
    pub struct ServerContext {
        /// Where runs are kept.
        pub runs: Arc<dyn engine::store::RunStore>,
        /// Starts and aborts runs.
        pub launcher: Arc<dyn engine::store::Launcher>,
        /// Users, share links and the audit log.
        pub access: Arc<dyn engine::access_store::AccessStore>,
        /// Sign-offs and share links with their rules.
        pub approvals: Arc<dyn engine::access_store::Approvals>,
        /// The folder plans are offered from.
        pub plans_dir: PathBuf,
    }

    /// The server's context, or an error a page can show.
    pub fn server_context() -> Result<ServerContext, ServerFnError> {
        use_context::<ServerContext>()
            .ok_or_else(|| ServerFnError::new("server context is missing (server misconfigured)"))
    }

    /// Who is asking, as the server's gate established it.
    pub fn principal() -> Option<Principal> {
        use_context::<http::request::Parts>()?
            .extensions
            .get::<Principal>()
            .cloned()
    }

    fn refuse(status: http::StatusCode, message: String) -> ServerFnError {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
        ServerFnError::new(message)
    }

    /// The principal when they have at least `role`; otherwise the call is
    /// refused (401 without a login, 403 with too weak a role).
    pub fn require(role: Role) -> Result<Principal, ServerFnError> {
        match principal() {
            Some(p) if p.can(role) => Ok(p),
            Some(p) => Err(refuse(
                http::StatusCode::FORBIDDEN,
                format!("{} may not do this: it needs the {role} role", p.role),
            )),
            None => Err(refuse(
                http::StatusCode::UNAUTHORIZED,
                "log in first".to_owned(),
            )),
        }
    }

    /// A refusal from the approvals service, with its status.
    pub fn approval_error(e: engine::access::ApprovalError) -> ServerFnError {
        refuse(
            http::StatusCode::from_u16(e.status).unwrap_or(http::StatusCode::BAD_REQUEST),
            e.message,
        )
    }

    /// Records what a user did (failures are logged, never shown).
    pub async fn audit(
        ctx: &ServerContext,
        who: &Principal,
        action: &str,
        target: &str,
        detail: &str,
    ) {
        let _ = ctx
            .access
            .audit(&who.name, action, target, detail, engine::run::now_ms())
            .await;
    }
}

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: layout shared by every page, and the routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let me = Resource::new(|| (), |_| components::account::whoami());
    let nav = move || {
        Suspend::new(async move {
            let me = me.await.ok().flatten();
            let operator = me
                .as_ref()
                .is_some_and(|p| p.can(engine::access::Role::Operator));
            let admin = me
                .as_ref()
                .is_some_and(|p| p.can(engine::access::Role::Admin));
            view! {
                <nav aria-label="Main">
                    {me.is_some().then(|| view! { <A href="/" exact=true>"Runs"</A> })}
                    {operator.then(|| view! { <A href="/runs/new">"New run"</A> })}
                    {admin.then(|| view! {
                        <A href="/users">"Users"</A>
                        <A href="/audit">"Audit log"</A>
                    })}
                </nav>
                <div class="account-bar">
                    <components::account::AccountBar me/>
                </div>
            }
        })
    };
    view! {
        <Stylesheet id="shakedown" href="/pkg/shakedown.css"/>
        <Router>
            <header class="site-header">
                <A href="/" attr:class="brand">"Shakedown"</A>
                <Transition fallback=|| ()>{nav}</Transition>
            </header>
            <main class="site-main">
                // Flat: no page nests another, and the flat router costs the
                // browser bundle less than the nested one. Lazy: each page's
                // code is a chunk of its own (routes/lazy.rs).
                <FlatRoutes fallback=routes::not_found::NotFound>
                    <Route path=path!("/") view={Lazy::<RunsRoute>::new()}/>
                    <Route path=path!("/runs/new") view={Lazy::<NewRunRoute>::new()}/>
                    <Route path=path!("/runs/:id") view={Lazy::<RunRoute>::new()}/>
                    <Route path=path!("/runs/:id/report") view={Lazy::<ReportRoute>::new()}/>
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()}/>
                    <Route path=path!("/share/:token") view={Lazy::<ShareRoute>::new()}/>
                    <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("/users") view={Lazy::<UsersRoute>::new()}/>
                </FlatRoutes>
            </main>
            <footer class="site-footer">
                "Shakedown " {VERSION}
            </footer>
        </Router>
    }
}

/// Appends the site's name to the page's title ("Runs · Shakedown"). Each
/// page has it (routes/lazy.rs, the not-found page), not `App`: hydrated
/// before a page's chunk of the bundle arrives, it would blank the
/// server's title until then.
#[component]
pub fn SiteTitle() -> impl IntoView {
    view! { <Title formatter=|page: String| format!("{page} · Shakedown")/> }
}

/// Entry point of the browser bundle: attaches to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Asynchronously: the page's route waits for its chunk of the bundle.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body, App).await.forget();
        // Tells tests and benchmarks that the page is now interactive.
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
