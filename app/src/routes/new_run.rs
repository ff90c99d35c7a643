//! New run: the plans a run can be started from.

use crate::components::error_view::ErrorView;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// A plan file offered in the plans folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    /// File name inside the plans folder.
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The plans folder and the `.toml` files in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFolder {
    /// The folder as the server sees it.
    pub folder: String,
    /// Plan files, by name.
    pub plans: Vec<PlanFile>,
}

/// Lists the plan files in the server's plans folder.
#[server]
pub async fn list_plans() -> Result<PlanFolder, ServerFnError> {
    let ctx = crate::context::server_context()?;
    let folder = ctx.plans_dir.display().to_string();
    let mut plans = Vec::new();
    let mut entries = match tokio::fs::read_dir(&ctx.plans_dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PlanFolder { folder, plans })
        }
        Err(e) => return Err(ServerFnError::new(format!("cannot read {folder}: {e}"))),
    };
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| ServerFnError::new(format!("cannot read {folder}: {e}")))?
    {
        let file = entry.file_name().to_string_lossy().into_owned();
        if !file.ends_with(".toml") {
            continue;
        }
        let bytes = entry.metadata().await.map(|m| m.len()).unwrap_or_default();
        plans.push(PlanFile { file, bytes });
    }
    plans.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(PlanFolder { folder, plans })
}

/// The plans a run can be started from.
#[component]
pub fn NewRunPage() -> impl IntoView {
    let plans = Resource::new(|| (), |_| list_plans());
    view! {
        <Title text="New run"/>
        <h1>"New run"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading plans…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    plans.await.map(|folder| view! { <PlanList folder/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn PlanList(folder: PlanFolder) -> impl IntoView {
    if folder.plans.is_empty() {
        return view! {
            <div class="empty-state">
                <p><strong>"No plans in " <code>{folder.folder}</code> "."</strong></p>
                <p>"Put a plan file (TOML) there, or start the server with "
                    <code>"--plans-dir"</code> " pointing at your plans."</p>
            </div>
        }
        .into_any();
    }
    let dir = folder.folder.clone();
    view! {
        <p>"Plans in " <code>{folder.folder}</code> ":"</p>
        <ul class="plan-list">
            {folder
                .plans
                .into_iter()
                .map(|plan| {
                    let command = format!("shakedown run {}/{}", dir, plan.file);
                    view! {
                        <li>
                            <strong>{plan.file}</strong>
                            " "
                            <span class="muted">{format!("{} bytes", plan.bytes)}</span>
                            <br/>
                            "From a terminal: "
                            <code>{command}</code>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
