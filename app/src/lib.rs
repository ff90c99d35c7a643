//! Shakedown's web interface: the HTML shell, the shared page layout and the
//! routes. Server functions sit beside the pages that call them; the server
//! hands them the database through context.

pub mod charts;
pub mod components;
pub mod live;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path,
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

    /// Everything a server function may need from the running server.
    #[derive(Clone)]
    pub struct ServerContext {
        /// Where runs are kept.
        pub runs: Arc<dyn engine::store::RunStore>,
        /// Starts and aborts runs.
        pub launcher: Arc<dyn engine::store::Launcher>,
        /// The folder plans are offered from.
        pub plans_dir: PathBuf,
    }

    /// The server's context, or an error a page can show.
    pub fn server_context() -> Result<ServerContext, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<ServerContext>().ok_or_else(|| {
            leptos::prelude::ServerFnError::new("server context is missing (server misconfigured)")
        })
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
    view! {
        <Stylesheet id="shakedown" href="/pkg/shakedown.css"/>
        <Title formatter=|page: String| format!("{page} · Shakedown")/>
        <Router>
            <header class="site-header">
                <A href="/" attr:class="brand">"Shakedown"</A>
                <nav aria-label="Main">
                    <A href="/" exact=true>"Runs"</A>
                    <A href="/runs/new">"New run"</A>
                </nav>
            </header>
            <main class="site-main">
                <Routes fallback=routes::not_found::NotFound>
                    <Route path=path!("/") view=routes::runs::RunsPage/>
                    <Route path=path!("/runs/new") view=routes::new_run::NewRunPage/>
                    <Route path=path!("/runs/:id") view=routes::run::RunPage/>
                    <Route path=path!("/runs/:id/report") view=routes::report::ReportPage/>
                </Routes>
            </main>
            <footer class="site-footer">
                "Shakedown " {VERSION}
            </footer>
        </Router>
    }
}

/// Entry point of the browser bundle: attaches to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
