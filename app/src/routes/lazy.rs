//! Every page as a lazy route (#18): `scripts/build-site` splits each
//! page's code, and what only it uses, into a chunk of the browser bundle
//! that is fetched when the page is first shown, so a page loads the
//! shared code and its own, not every page's. On the server the routes
//! render as before.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

/// A lazy route `$route` showing the page component `$page`.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        #[doc = concat!("The lazy route of `", stringify!($page), "`.")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                (crate::SiteTitle(), $page()).into_any()
            }
        }
    };
}

lazy_page!(RunsRoute, super::runs::RunsPage);
lazy_page!(NewRunRoute, super::new_run::NewRunPage);
lazy_page!(RunRoute, super::run::RunPage);
lazy_page!(ReportRoute, super::report::ReportPage);
lazy_page!(LoginRoute, super::login::LoginPage);
lazy_page!(ShareRoute, super::share::SharePage);
lazy_page!(AuditRoute, super::audit::AuditPage);
lazy_page!(UsersRoute, super::users::UsersPage);
