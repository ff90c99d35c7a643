//! The page for addresses that match no route.

use leptos::prelude::*;
use leptos_meta::Title;

/// Says the page does not exist and answers 404 on the server.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        {crate::SiteTitle()}
        <h1>"Page not found"</h1>
        <p>"No page lives at this address. " <a href="/">"Back to the runs"</a></p>
    }
}
