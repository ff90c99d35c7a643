//! The login page: a plain form posted to `/auth/login` (it works before
//! the page's script has loaded). Failures come back as `?error=` and are
//! worded the same whether the user exists or not.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn error_text(code: &str) -> Option<String> {
    match code {
        "" => None,
        "invalid" => Some("Wrong user name or password.".to_owned()),
        "unavailable" => Some("Cannot log in right now: the database is unavailable.".to_owned()),
        "form" => Some("The form was incomplete: enter a user name and a password.".to_owned()),
        other => match other.strip_prefix("locked:") {
            Some(minutes) => Some(format!(
                "Too many failed attempts for this account or from this address. Try again in {minutes} minute(s)."
            )),
            None => Some("Could not log in.".to_owned()),
        },
    }
}

/// The login page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error").and_then(|e| error_text(&e));
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    view! {
        <Title text="Log in"/>
        <section class="login">
            <h1>"Log in"</h1>
            {move || error().map(|e| view! { <p class="error-box" role="alert" id="login-error">{e}</p> })}
            <form method="post" action="/auth/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                <label for="login-name">"User name"</label>
                <input id="login-name" name="name" autocomplete="username" required/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit" id="login-submit">"Log in"</button>
            </form>
            <p class="muted">"Accounts are created by an admin with " <code>"shakedown user add"</code> "."</p>
        </section>
    }
}
