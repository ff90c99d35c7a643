//! The one way every page shows that loading its data failed.

use leptos::prelude::*;

/// Lists the errors an `ErrorBoundary` caught, in words a user can act on.
#[component]
pub fn ErrorView(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div class="error-box" role="alert">
            <p><strong>"Could not load this page's data."</strong></p>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
        </div>
    }
}
