//! The audit log, for admins: who did what and when (logins, runs launched
//! and aborted, sign-offs, share links, user changes), newest first, with
//! an export as JSON lines.

use crate::components::error_view::ErrorView;
use crate::components::server_html::{ServerHtml, ShowHtml};
use leptos::prelude::*;
use leptos_meta::Title;

/// The newest audit entries, as the table the page shows (rendered here:
/// the table has nothing to click).
#[server(endpoint = "load_audit", output = crate::json_text::JsonText)]
pub async fn load_audit() -> Result<ServerHtml, ServerFnError> {
    crate::context::require(engine::access::Role::Admin)?;
    let ctx = crate::context::server_context()?;
    let entries = ctx
        .access
        .audit_log(1000)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    Ok(ServerHtml::render(audit_table(entries)))
}

/// How many entries there are, and the table of them.
#[cfg(feature = "ssr")]
fn audit_table(entries: Vec<engine::access::AuditEntry>) -> impl IntoView {
    use engine::run::format_utc;
    view! {
        <p class="muted">{format!("{} newest entries", entries.len())}</p>
        <table class="audit" id="audit">
            <thead><tr><th>"Time (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"On"</th><th>"Detail"</th></tr></thead>
            <tbody>
                {entries.into_iter().map(|e| view! {
                    <tr>
                        <td>{format_utc(e.at_ms)}</td>
                        <td>{e.actor}</td>
                        <td>{e.action}</td>
                        <td><code>{e.target}</code></td>
                        <td>{e.detail}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The audit page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let entries = Resource::new(|| (), |_| load_audit());
    view! {
        <Title text="Audit log"/>
        <div class="page-head">
            <h1>"Audit log"</h1>
            <a href="/api/audit.jsonl" download="shakedown-audit.jsonl" id="audit-export">"Export (JSON lines)"</a>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    entries.await.map(|html| view! { <ShowHtml html/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}
