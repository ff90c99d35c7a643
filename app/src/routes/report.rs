//! A run's report page: the verdict, whether its evidence pack still matches
//! its manifest (file by file), the sign-off block (recommendation, human
//! decisions, final decision; the form for approvers), the baseline its
//! plan's relative criteria compare with (approvers pin this run), share
//! links for
//! operators, a download link for every file of the pack, and the report
//! itself (the pack's report.html, charts included). The same view, without
//! any control, is what a share link opens.

use crate::components::baseline_pin::BaselinePanel;
use crate::components::error_view::ErrorView;
use crate::components::report_charts::ReportCharts;
use crate::components::server_html::{ServerHtml, ShowHtml};
use crate::components::share_links::SharePanel;
use crate::components::signoff::SignOffPanel;
use engine::access::{BaselinePin, Principal, Role, ShareLink, SignOffState};
#[cfg(feature = "ssr")]
use engine::launch::{EvidenceFile, EvidenceSummary};
#[cfg(feature = "ssr")]
use engine::run::{format_duration, format_utc, RunSummary};
#[cfg(feature = "ssr")]
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// A run and its verified evidence. The parts with nothing to click are
/// rendered by the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    /// The run finished (so an approver may pin it as the baseline).
    pub finished: bool,
    /// The report's title, the run's status, verdict, times and error.
    pub head: ServerHtml,
    /// Where the pack's files are fetched (the run's, or a share link's).
    pub evidence_base: String,
    /// Whether the pack matches its manifest and a link to each file, or
    /// that the run has no pack yet.
    pub evidence: ServerHtml,
    /// The pack's `results.json` matches the manifest (the charts read it).
    pub results_intact: bool,
    /// The pack's `report.html` matches the manifest (shown in a frame).
    pub html_intact: bool,
    /// Recommendation, sign-offs and final decision.
    pub signoff: SignOffState,
    /// Who is looking (`None` through a share link).
    pub me: Option<Principal>,
    /// The run's share links (for operators and admins).
    pub shares: Vec<ShareLink>,
    /// The baseline pinned for the run's plan and environment (not read
    /// through a share link).
    pub baseline: Option<BaselinePin>,
    /// The server's clock when this was read.
    pub as_of_ms: i64,
}

/// Reads a run, verifies its newest evidence pack and its sign-offs; the
/// pack's files are linked under `evidence_base`.
#[cfg(feature = "ssr")]
pub async fn run_report(
    id: &str,
    me: Option<Principal>,
    evidence_base: String,
) -> Result<RunReport, ServerFnError> {
    let ctx = crate::context::server_context()?;
    let run = ctx
        .runs
        .get_run(id)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let evidence = ctx
        .launcher
        .evidence(id)
        .await
        .map_err(ServerFnError::new)?;
    let signoff = ctx
        .approvals
        .state(id)
        .await
        .map_err(crate::context::approval_error)?;
    let shares = match &me {
        Some(p) if p.can(Role::Operator) => ctx
            .approvals
            .shares(id)
            .await
            .map_err(crate::context::approval_error)?,
        _ => Vec::new(),
    };
    let baseline = match &me {
        Some(_) => ctx
            .approvals
            .baseline_pin(id)
            .await
            .map_err(crate::context::approval_error)?,
        None => None,
    };
    let intact = |name: &str| {
        evidence
            .as_ref()
            .is_some_and(|ev| ev.files.iter().any(|f| f.name == name && f.intact))
    };
    let (results_intact, html_intact) = (intact("results.json"), intact("report.html"));
    Ok(RunReport {
        run_id: run.id.clone(),
        finished: run.status == engine::run::RunStatus::Finished,
        head: ServerHtml::render(run_head(run, me.is_none())),
        evidence: ServerHtml::render(evidence_section(evidence, evidence_base.clone())),
        evidence_base,
        results_intact,
        html_intact,
        signoff,
        me,
        shares,
        baseline,
        as_of_ms: engine::run::now_ms(),
    })
}

/// The report page's data.
#[server(endpoint = "load_report", output = crate::json_text::JsonText)]
pub async fn load_report(id: String) -> Result<RunReport, ServerFnError> {
    let me = crate::context::require(Role::Viewer)?;
    let base = format!("/api/runs/{id}/evidence");
    run_report(&id, Some(me), base).await
}

/// The report page.
#[component]
pub fn ReportPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let loaded = Resource::new(id, load_report);
    view! {
        <Title text="Report"/>
        <Transition fallback=|| view! { <p class="loading">"Loading the report…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    loaded.await.map(|report| {
                        // A sign-off writes a new pack version: show it.
                        let on_signed = Callback::new(move |()| loaded.refetch());
                        view! { <ReportView report on_signed=Some(on_signed)/> }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

/// The report: shared by the report page and share links (`me` is `None`
/// there, so no control is shown). `on_signed` runs after a sign-off is
/// stored.
#[component]
pub fn ReportView(
    report: RunReport,
    #[prop(default = None)] on_signed: Option<Callback<()>>,
) -> impl IntoView {
    let me = report.me;
    let can_sign = me.as_ref().is_some_and(|p| p.can(Role::Approver));
    let can_share = me.as_ref().is_some_and(|p| p.can(Role::Operator));
    let run_id = report.run_id;
    let shares = report.shares;
    let as_of = report.as_of_ms;
    let can_pin = can_sign && report.finished;
    let baseline = report.baseline;
    let base = report.evidence_base;
    let results_url = report
        .results_intact
        .then(|| format!("{base}/results.json"));
    view! {
        <ShowHtml html=report.head/>
        <SignOffPanel run_id=run_id.clone() state=report.signoff can_sign on_signed/>
        {me.is_some().then(|| view! { <BaselinePanel run_id=run_id.clone() pin=baseline can_pin/> })}
        {can_share.then(|| view! { <SharePanel run_id=run_id.clone() shares now=as_of/> })}
        <ShowHtml html=report.evidence/>
        {results_url.map(|results_url| view! { <ReportCharts results_url/> })}
        {report.html_intact.then(|| view! {
            <h2>"Report"</h2>
            <iframe class="report-frame" title="Evidence report"
                src=format!("{base}/report.html?inline=1")></iframe>
        })}
    }
}

/// The report's title, the run's status, verdict and times, and its error.
#[cfg(feature = "ssr")]
fn run_head(run: RunSummary, shared: bool) -> impl IntoView {
    let verdict = run.verdict.map(|v| v.as_str()).unwrap_or("no verdict");
    let verdict_class = match run.verdict {
        Some(engine::run::Verdict::Go) => "verdict go",
        Some(engine::run::Verdict::NoGo) => "verdict no-go",
        None => "verdict",
    };
    view! {
        <div class="page-head">
            <h1>{format!("Report: {} on {}", run.plan, run.environment)}</h1>
            {(!shared).then(|| view! { <a href=format!("/runs/{}", run.id)>"Live page"</a> })}
        </div>
        <p class="run-meta">
            <span class=format!("status {}", run.status.as_str())>{run.status.as_str()}</span>
            " " <span class=verdict_class id="report-verdict">{verdict}</span>
            " · started " {run.started_at_ms.map(format_utc).unwrap_or_default()}
            {run.duration_ms().map(|d| format!(" · took {}", format_duration(d)))}
        </p>
        {run.error.clone().map(|e| view! { <p class="error-box">{e}</p> })}
    }
}

/// The evidence pack: whether it verifies and its files (under
/// `evidence_base`); or that there is none yet.
#[cfg(feature = "ssr")]
fn evidence_section(evidence: Option<EvidenceSummary>, evidence_base: String) -> impl IntoView {
    let Some(ev) = evidence else {
        return Either::Left(view! {
            <div class="empty-state">
                <p><strong>"No evidence pack for this run yet."</strong></p>
                <p>"A pack is written when a run finishes or is aborted."</p>
            </div>
        });
    };
    let files = ev.files.clone();
    Either::Right(view! {
        {integrity(ev)}
        <h2>"Files"</h2>
        {pack_files(files, evidence_base)}
    })
}

/// Whether every file of the pack matches its manifest, or which do not.
#[cfg(feature = "ssr")]
fn integrity(ev: EvidenceSummary) -> impl IntoView {
    if ev.intact {
        Either::Left(view! {
            <p class="integrity ok" id="integrity">
                {format!("Evidence pack v{} verified: all {} files match the manifest (sha256 {}).", ev.version, ev.files.len(), ev.manifest_sha256)}
            </p>
        })
    } else {
        Either::Right(view! {
            <div class="integrity broken error-box" role="alert" id="integrity">
                <p><strong>{format!("Evidence pack v{} does NOT match its manifest.", ev.version)}</strong></p>
                <ul>{ev.problems.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
            </div>
        })
    }
}

/// A download link for every file of the pack, under `base`.
#[cfg(feature = "ssr")]
fn pack_files(files: Vec<EvidenceFile>, base: String) -> impl IntoView {
    view! {
        <ul class="pack-files" id="pack-files">
            {files.into_iter().map(|f| {
                let href = format!("{}/{}", base, f.name);
                view! {
                    <li>
                        <a href=href download=f.name.clone()>{f.name.clone()}</a>
                        " " <span class="muted">{format!("{} bytes", f.bytes)}</span>
                        {(!f.intact).then(|| view! { " " <strong class="verdict no-go">"altered or missing"</strong> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}
