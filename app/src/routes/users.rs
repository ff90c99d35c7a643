//! Users, for admins: every account with its role and state; change a
//! role, disable or enable an account (their sessions end). Accounts are
//! created on the server's machine with `shakedown user add`, so passwords
//! never cross the web app. Every change is audited.

use crate::components::error_view::ErrorView;
use engine::access::{Role, User};
use engine::run::format_utc;
use leptos::prelude::*;
use leptos_meta::Title;

/// Every user.
#[server(endpoint = "list_users", output = crate::json_text::JsonText)]
pub async fn list_users() -> Result<Vec<User>, ServerFnError> {
    crate::context::require(Role::Admin)?;
    let ctx = crate::context::server_context()?;
    ctx.access
        .users()
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))
}

/// Changes a user's role and whether they may log in; not one's own
/// account (another admin must, so nobody locks the last admin out).
#[server(endpoint = "change_user", output = crate::json_text::JsonText)]
pub async fn change_user(name: String, role: Role, disabled: bool) -> Result<User, ServerFnError> {
    let who = crate::context::require(Role::Admin)?;
    if who.name == name {
        return Err(ServerFnError::new(
            "you cannot change your own account; ask another admin",
        ));
    }
    let ctx = crate::context::server_context()?;
    let before = ctx
        .access
        .credentials(&name)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?
        .ok_or_else(|| ServerFnError::new(format!("no user named {name:?}")))?
        .user;
    let user = ctx
        .access
        .update_user(&name, Some(role), None, Some(disabled))
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let mut changes = Vec::new();
    if before.role != user.role {
        changes.push(format!("role {} -> {}", before.role, user.role));
    }
    if before.disabled != user.disabled {
        changes.push(if user.disabled { "disabled" } else { "enabled" }.to_owned());
    }
    if !changes.is_empty() {
        crate::context::audit(&ctx, &who, "user_changed", &name, &changes.join(", ")).await;
    }
    Ok(user)
}

/// The users page.
#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    view! {
        <Title text="Users"/>
        <h1>"Users"</h1>
        <p class="muted">
            "Add accounts on the server with " <code>"shakedown user add NAME --role ROLE"</code>
            " (the password is typed there, never sent through this page)."
        </p>
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    users.await.map(|users| view! {
                        <table class="users" id="users">
                            <thead><tr><th>"Name"</th><th>"Role"</th><th>"State"</th><th>"Created"</th><th></th></tr></thead>
                            <tbody>
                                {users.into_iter().map(|u| view! { <UserRow user=u/> }).collect_view()}
                            </tbody>
                        </table>
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn UserRow(user: User) -> impl IntoView {
    let current = RwSignal::new(user.clone());
    let role = RwSignal::new(user.role);
    let change = ServerAction::<ChangeUser>::new();
    Effect::new(move |_| {
        if let Some(Ok(u)) = change.value().get() {
            role.set(u.role);
            current.set(u);
        }
    });
    let error = move || {
        change
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <p class="field-error" role="alert">{e.to_string()}</p> })
    };
    let name = user.name.clone();
    let select_id = format!("role-{}", user.name);
    let save = {
        let name = name.clone();
        move |_| {
            change.dispatch(ChangeUser {
                name: name.clone(),
                role: role.get(),
                disabled: current.with(|u| u.disabled),
            });
        }
    };
    let toggle = {
        let name = name.clone();
        move |_| {
            change.dispatch(ChangeUser {
                name: name.clone(),
                role: current.with(|u| u.role),
                disabled: !current.with(|u| u.disabled),
            });
        }
    };
    view! {
        <tr>
            <td>{name.clone()}</td>
            <td>
                <label class="visually-hidden" for=select_id.clone()>{format!("Role of {name}")}</label>
                <select id=select_id
                    on:change=move |ev| {
                        if let Ok(r) = event_target_value(&ev).parse::<Role>() {
                            role.set(r);
                        }
                    }>
                    {Role::CHOOSABLE.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option>
                    }).collect_view()}
                </select>
                " "
                <button type="button" on:click=save disabled=move || change.pending().get()>"Save role"</button>
                {error}
            </td>
            <td>{move || if current.with(|u| u.disabled) { "disabled" } else { "active" }}</td>
            <td>{format_utc(user.created_at_ms)}</td>
            <td>
                <button type="button" on:click=toggle disabled=move || change.pending().get()>
                    {move || if current.with(|u| u.disabled) { "Enable" } else { "Disable" }}
                </button>
            </td>
        </tr>
    }
}
