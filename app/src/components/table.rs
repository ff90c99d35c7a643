//! What the pages' tables share.

use leptos::prelude::*;

/// A table's header row: a column header for each name, in order.
pub fn column_heads(names: &'static [&'static str]) -> impl IntoView {
    view! {
        <thead>
            <tr>{names.iter().map(|name| view! { <th scope="col">{*name}</th> }).collect_view()}</tr>
        </thead>
    }
}
