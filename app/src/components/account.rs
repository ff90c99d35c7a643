//! The header's account corner: who is logged in, with which role, and a
//! logout button; in single-user local mode, a banner that says so plainly.

use engine::access::Principal;
use leptos::either::EitherOf3;
use leptos::prelude::*;

/// Who is asking (`None` when nobody is logged in). Open to everyone: the
/// login page's header calls it too.
#[server(endpoint = "whoami", output = crate::json_text::JsonText)]
pub async fn whoami() -> Result<Option<Principal>, ServerFnError> {
    Ok(crate::context::principal())
}

/// The account corner of the header.
#[component]
pub fn AccountBar(me: Option<Principal>) -> impl IntoView {
    match me {
        None => EitherOf3::A(view! { <a class="account" href="/login">"Log in"</a> }),
        Some(p) if p.local => EitherOf3::B(view! {
            <span class="local-mode" id="local-mode" title="Started with --local-mode: no login; everyone who can reach this server acts as admin.">
                "Local mode: no login, everyone here is admin"
            </span>
        }),
        Some(p) => EitherOf3::C(view! {
            <span class="account" id="account">
                <span id="account-name">{p.name.clone()}</span>
                " " <span class="role">{p.role.as_str()}</span>
            </span>
            <form method="post" action="/auth/logout" class="logout">
                <button type="submit" id="logout">"Log out"</button>
            </form>
        }),
    }
}
