//! The runs list: every run with its plan, environment, status and verdict.

use crate::components::error_view::ErrorView;
use crate::components::server_html::{ServerHtml, ShowHtml};
#[cfg(feature = "ssr")]
use engine::run::{format_duration, format_utc, RunSummary};
#[cfg(feature = "ssr")]
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// The runs list as of one moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunsList {
    /// Every plan and environment that has runs (for the filters).
    pub plans: Vec<String>,
    pub environments: Vec<String>,
    /// How many runs as of when, and their table (newest first, as
    /// filtered), rendered by the server: it has nothing to click but links.
    pub table: ServerHtml,
}

/// Reads the runs list from the store, filtered by plan, environment and
/// verdict (empty: all).
#[server(endpoint = "list_runs", output = crate::json_text::JsonText)]
pub async fn list_runs(
    plan: String,
    environment: String,
    verdict: String,
) -> Result<RunsList, ServerFnError> {
    crate::context::require(engine::access::Role::Viewer)?;
    let ctx = crate::context::server_context()?;
    let some = |s: String| (!s.is_empty()).then_some(s);
    let verdict = some(verdict)
        .map(|v| v.parse::<engine::run::Verdict>())
        .transpose()
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let all = ctx
        .runs
        .list_runs(&engine::store::RunFilter::default())
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let distinct = |f: fn(&RunSummary) -> &String| {
        let mut v: Vec<String> = all.iter().map(|r| f(r).clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let (plans, environments) = (distinct(|r| &r.plan), distinct(|r| &r.environment));
    let (plan, environment) = (some(plan), some(environment));
    let runs = all
        .into_iter()
        .filter(|r| plan.as_ref().is_none_or(|p| &r.plan == p))
        .filter(|r| environment.as_ref().is_none_or(|e| &r.environment == e))
        .filter(|r| verdict.is_none_or(|v| r.verdict == Some(v)))
        .collect();
    let table = ServerHtml::render(runs_table(runs, engine::run::now_ms()));
    Ok(RunsList {
        plans,
        environments,
        table,
    })
}

/// The runs page, with a button that reloads the list through the server
/// function without reloading the page.
#[component]
pub fn RunsPage() -> impl IntoView {
    let reloads = RwSignal::new(0u32);
    let plan = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let verdict = RwSignal::new(String::new());
    let runs = Resource::new(
        move || (reloads.get(), plan.get(), environment.get(), verdict.get()),
        |(_, plan, environment, verdict)| list_runs(plan, environment, verdict),
    );
    view! {
        <Title text="Runs"/>
        <div class="page-head">
            <h1>"Runs"</h1>
            <button
                type="button"
                id="reload-runs"
                on:click=move |_| reloads.update(|n| *n += 1)
            >
                "Reload"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    runs.await.map(|list| {
                        let html = list.table.clone();
                        view! {
                            <Filters list plan environment verdict/>
                            <ShowHtml html/>
                        }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

/// Filters by plan, environment and verdict.
#[component]
fn Filters(
    list: RunsList,
    plan: RwSignal<String>,
    environment: RwSignal<String>,
    verdict: RwSignal<String>,
) -> impl IntoView {
    let select = move |id: &'static str,
                       label: &'static str,
                       value: RwSignal<String>,
                       options: Vec<String>| {
        view! {
            <label for=id>
                {label} " "
                <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
                    <option value="" selected=move || value.get().is_empty()>"all"</option>
                    {options.into_iter().map(|o| {
                        let same = o.clone();
                        view! { <option value=o.clone() selected=move || value.get() == same>{o.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    };
    view! {
        <div class="filters" role="group" aria-label="Filter runs">
            {select("filter-plan", "Plan", plan, list.plans)}
            {select("filter-environment", "Environment", environment, list.environments)}
            {select("filter-verdict", "Verdict", verdict, vec!["GO".to_owned(), "NO-GO".to_owned()])}
        </div>
    }
}

/// How many runs as of `as_of_ms`, and their table, or an honest empty state.
#[cfg(feature = "ssr")]
fn runs_table(runs: Vec<RunSummary>, as_of_ms: i64) -> impl IntoView {
    let as_of = format_utc(as_of_ms);
    let count = runs.len();
    let body = if runs.is_empty() {
        Either::Left(view! {
            <div class="empty-state">
                <p><strong>"No runs yet."</strong></p>
                <p>
                    "Runs appear here as soon as one is started, from "
                    <a href="/runs/new">"New run"</a>
                    " or from a terminal with "
                    <code>"shakedown run PLAN"</code>
                    "."
                </p>
            </div>
        })
    } else {
        Either::Right(view! {
            <div class="table-wrap">
                <table class="runs">
                    {crate::components::table::column_heads(&["Plan", "Environment", "Status", "Verdict", "Started", "Duration"])}
                    <tbody>
                        {runs.into_iter().map(run_row).collect_view()}
                    </tbody>
                </table>
            </div>
        })
    };
    view! {
        <p class="as-of" id="runs-as-of">
            {format!("{count} run{} as of {as_of}", if count == 1 { "" } else { "s" })}
        </p>
        {body}
    }
}

#[cfg(feature = "ssr")]
fn run_row(run: RunSummary) -> impl IntoView {
    let started = run
        .started_at_ms
        .map(format_utc)
        .unwrap_or_else(|| "not started".to_owned());
    let duration = run.duration_ms().map(format_duration).unwrap_or_default();
    let verdict = run.verdict.map(|v| v.as_str()).unwrap_or("—");
    let verdict_class = match run.verdict {
        Some(engine::run::Verdict::Go) => "verdict go",
        Some(engine::run::Verdict::NoGo) => "verdict no-go",
        None => "verdict",
    };
    view! {
        <tr>
            <td><a href=format!("/runs/{}", run.id)>{run.plan}</a></td>
            <td>{run.environment}</td>
            <td><span class=format!("status {}", run.status.as_str())>{run.status.as_str()}</span></td>
            <td><span class=verdict_class>{verdict}</span></td>
            <td>{started}</td>
            <td>{duration}</td>
        </tr>
    }
}
