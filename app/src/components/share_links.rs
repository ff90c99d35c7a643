//! Share links on a report, for operators and admins: create one (read-only,
//! expiring, default 30 days) and copy it — its token is shown this once —,
//! see the run's links with who made them and until when, revoke them.

use engine::access::{NewShare, ShareLink};
use engine::run::format_utc;
use leptos::prelude::*;

/// Creates a link to the run's report, valid for `days`.
#[server(endpoint = "create_share_link", output = crate::json_text::JsonText)]
pub async fn create_share_link(id: String, days: u32) -> Result<NewShare, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Operator)?;
    let ctx = crate::context::server_context()?;
    ctx.approvals
        .create_share(&who, &id, days)
        .await
        .map_err(crate::context::approval_error)
}

/// Revokes one of the run's links.
#[server(endpoint = "revoke_share_link", output = crate::json_text::JsonText)]
pub async fn revoke_share_link(id: String, link: i64) -> Result<ShareLink, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Operator)?;
    let ctx = crate::context::server_context()?;
    ctx.approvals
        .revoke_share(&who, &id, link)
        .await
        .map_err(crate::context::approval_error)
}

/// The share links block; `now` is the server's time when the page was read (the browser has no
/// clock the engine's types use).
#[component]
pub fn SharePanel(run_id: String, shares: Vec<ShareLink>, now: i64) -> impl IntoView {
    let links = RwSignal::new(shares);
    let create = ServerAction::<CreateShareLink>::new();
    let revoke = ServerAction::<RevokeShareLink>::new();
    let created = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(new)) = create.value().get() {
            links.update(|l| l.insert(0, new.link.clone()));
            let origin = window_origin();
            created.set(Some(format!("{origin}{}", new.path)));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(revoked)) = revoke.value().get() {
            links.update(|l| {
                if let Some(x) = l.iter_mut().find(|x| x.id == revoked.id) {
                    *x = revoked.clone();
                }
            });
        }
    });
    let error = move || {
        let create_err = create.value().get().and_then(|r| r.err());
        let revoke_err = revoke.value().get().and_then(|r| r.err());
        create_err
            .or(revoke_err)
            .map(|e| view! { <p class="error-box" role="alert">{e.to_string()}</p> })
    };
    view! {
        <section class="share-panel" id="share">
            <h2>"Share"</h2>
            <ShareForm run_id=run_id.clone() create/>
            {move || created.get().map(|url| view! {
                <p class="share-created">
                    "Copy it now, it is not shown again: "
                    <input id="share-url" readonly prop:value=url.clone() size="70"/>
                </p>
            })}
            {error}
            {move || {
                let run_id = run_id.clone();
                let links = links.get();
                (!links.is_empty()).then(|| view! { <ShareLinks run_id links now revoke/> })
            }}
        </section>
    }
}

/// Creating a link: how many days it lasts.
#[component]
fn ShareForm(run_id: String, create: ServerAction<CreateShareLink>) -> impl IntoView {
    let days = RwSignal::new("30".to_owned());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = days.get().trim().parse::<u32>().unwrap_or(0);
        create.dispatch(CreateShareLink {
            id: run_id.clone(),
            days: n,
        });
    };
    view! {
        <form class="inline-form" on:submit=submit>
            <label for="share-days">"Read-only link valid for (days)"</label>
            <input id="share-days" type="number" min="1" max="365"
                prop:value=move || days.get()
                on:input=move |ev| days.set(event_target_value(&ev))/>
            <button type="submit" id="share-create" disabled=move || create.pending().get()>
                "Create link"
            </button>
        </form>
    }
}

/// The run's links, each revocable while it is usable.
#[component]
fn ShareLinks(
    run_id: String,
    links: Vec<ShareLink>,
    now: i64,
    revoke: ServerAction<RevokeShareLink>,
) -> impl IntoView {
    view! {
        <table class="share-links" id="share-links">
            <thead><tr>
                <th>"Link"</th><th>"Created by"</th><th>"Created"</th>
                <th>"Expires"</th><th>"State"</th><th></th>
            </tr></thead>
            <tbody>
                {links.into_iter().map(|link| view! {
                    <ShareLinkRow run_id=run_id.clone() link now revoke/>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn ShareLinkRow(
    run_id: String,
    link: ShareLink,
    now: i64,
    revoke: ServerAction<RevokeShareLink>,
) -> impl IntoView {
    let l = link;
    let usable = l.usable(now);
    let state = match l.revoked_at_ms {
        Some(at) => format!("revoked {}", format_utc(at)),
        None if usable => "active".to_owned(),
        None => "expired".to_owned(),
    };
    view! {
        <tr>
            <td>{format!("#{}", l.id)}</td>
            <td>{l.created_by.clone()}</td>
            <td>{format_utc(l.created_at_ms)}</td>
            <td>{format_utc(l.expires_at_ms)}</td>
            <td class="share-state">{state}</td>
            <td>{usable.then(|| view! {
                <button type="button" class="revoke"
                    on:click=move |_| {
                        revoke.dispatch(RevokeShareLink { id: run_id.clone(), link: l.id });
                    }>
                    "Revoke"
                </button>
            })}</td>
        </tr>
    }
}

/// `https://host:port` of the page, so a copied link is complete.
fn window_origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window()
            .location()
            .origin()
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}
