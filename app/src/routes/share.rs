//! What a share link opens: the run's report, charts and evidence files,
//! read-only, for someone without an account. A revoked, expired or
//! unknown link gets a page that says which.

use super::report::{ReportView, RunReport};
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// A share link's token: the credential itself, so its `Debug` does not
/// show it (it travels as a plain string).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShareToken(pub String);

impl std::fmt::Debug for ShareToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareToken(<redacted>)")
    }
}

/// The report behind a share token (open to everyone: the token is the
/// credential).
#[server(endpoint = "shared_report", output = crate::json_text::JsonText)]
pub async fn shared_report(token: ShareToken) -> Result<RunReport, ServerFnError> {
    let ctx = crate::context::server_context()?;
    let run_id = ctx
        .approvals
        .open_share(&token.0)
        .await
        .map_err(crate::context::approval_error)?;
    let base = format!("/api/share/{}/evidence", token.0);
    super::report::run_report(&run_id, None, base).await
}

/// The shared report page.
#[component]
pub fn SharePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let report = Resource::new(move || ShareToken(token()), shared_report);
    view! {
        <Title text="Shared report"/>
        <Transition fallback=|| view! { <p class="loading">"Loading the report…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(report) => Either::Left(view! {
                        <p class="muted shared-note" id="shared-note">"Shared read-only report."</p>
                        <ReportView report/>
                    }),
                    Err(e) => Either::Right(view! {
                        <div class="error-box" role="alert" id="share-refused">
                            <p><strong>"This link does not open a report."</strong></p>
                            <p>{e.to_string().trim_start_matches("error running server function: ").to_owned()}</p>
                            <p>"Ask whoever shared it for a new link."</p>
                        </div>
                    }),
                }
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::{ShareToken, SharedReport};

    #[test]
    fn the_token_is_not_printed() {
        let call = SharedReport {
            token: ShareToken("s3cr3t-share-token".into()),
        };
        let shown = format!("{call:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
