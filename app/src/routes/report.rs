//! A run's report page: the verdict, whether its evidence pack still matches
//! its manifest (file by file), a download link for every file of the pack,
//! and the report itself (the pack's report.html, charts included).

use crate::components::error_view::ErrorView;
use engine::launch::EvidenceSummary;
use engine::run::{format_duration, format_utc, RunSummary};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// A run and its verified evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub run: RunSummary,
    /// `None` while the run has no pack yet.
    pub evidence: Option<EvidenceSummary>,
}

/// Reads a run and verifies its newest evidence pack.
#[server]
pub async fn load_report(id: String) -> Result<RunReport, ServerFnError> {
    let ctx = crate::context::server_context()?;
    let run = ctx
        .runs
        .get_run(&id)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let evidence = ctx
        .launcher
        .evidence(&id)
        .await
        .map_err(ServerFnError::new)?;
    Ok(RunReport { run, evidence })
}

/// The report page.
#[component]
pub fn ReportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let report = Resource::new(id, load_report);
    view! {
        <Title text="Report"/>
        <Transition fallback=|| view! { <p class="loading">"Loading the report…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    report.await.map(|report| view! { <ReportView report/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn ReportView(report: RunReport) -> impl IntoView {
    let run = report.run;
    let id = run.id.clone();
    let verdict = run.verdict.map(|v| v.as_str()).unwrap_or("no verdict");
    let verdict_class = match run.verdict {
        Some(engine::run::Verdict::Go) => "verdict go",
        Some(engine::run::Verdict::NoGo) => "verdict no-go",
        None => "verdict",
    };
    let evidence = match report.evidence {
        None => view! {
            <div class="empty-state">
                <p><strong>"No evidence pack for this run yet."</strong></p>
                <p>"A pack is written when a run finishes or is aborted."</p>
            </div>
        }
        .into_any(),
        Some(ev) => {
            let status = if ev.intact {
                view! {
                    <p class="integrity ok" id="integrity">
                        {format!("Evidence pack v{} verified: all {} files match the manifest (sha256 {}).", ev.version, ev.files.len(), ev.manifest_sha256)}
                    </p>
                }
                .into_any()
            } else {
                view! {
                    <div class="integrity broken error-box" role="alert" id="integrity">
                        <p><strong>{format!("Evidence pack v{} does NOT match its manifest.", ev.version)}</strong></p>
                        <ul>{ev.problems.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
                    </div>
                }
                .into_any()
            };
            let has_html = ev.files.iter().any(|f| f.name == "report.html" && f.intact);
            let files = ev.files.clone();
            let id_links = id.clone();
            view! {
                {status}
                <h2>"Files"</h2>
                <ul class="pack-files" id="pack-files">
                    {files.into_iter().map(|f| {
                        let href = format!("/api/runs/{}/evidence/{}", id_links, f.name);
                        view! {
                            <li>
                                <a href=href download=f.name.clone()>{f.name.clone()}</a>
                                " " <span class="muted">{format!("{} bytes", f.bytes)}</span>
                                {(!f.intact).then(|| view! { " " <strong class="verdict no-go">"altered or missing"</strong> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
                {has_html.then(|| view! {
                    <h2>"Report"</h2>
                    <iframe class="report-frame" title="Evidence report"
                        src=format!("/api/runs/{id}/evidence/report.html?inline=1")></iframe>
                })}
            }
            .into_any()
        }
    };
    view! {
        <div class="page-head">
            <h1>{format!("Report: {} on {}", run.plan, run.environment)}</h1>
            <a href=format!("/runs/{}", run.id)>"Live page"</a>
        </div>
        <p class="run-meta">
            <span class=format!("status {}", run.status.as_str())>{run.status.as_str()}</span>
            " " <span class=verdict_class id="report-verdict">{verdict}</span>
            " · started " {run.started_at_ms.map(format_utc).unwrap_or_default()}
            {run.duration_ms().map(|d| format!(" · took {}", format_duration(d)))}
        </p>
        {run.error.clone().map(|e| view! { <p class="error-box">{e}</p> })}
        {evidence}
    }
}
