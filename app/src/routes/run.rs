//! A run's live page: per-test progress, current rate and latency, errors,
//! the event log and charts drawn on a canvas in the browser (latency,
//! throughput, a chaos test's load through the fault, recovery timeline;
//! hover or arrow keys for values, legend buttons to hide series). It follows the
//! run's event stream, which resumes with Last-Event-ID after a dropped
//! connection or a server restart, without gaps or duplicated points.

use crate::charts::build::load_charts;
use crate::charts::{latency_over_time, recovery_timeline, Chart};
use crate::components::chart::InteractiveChart;
use crate::components::error_view::ErrorView;
use crate::components::table::column_heads;
use crate::live::{LiveRun, LiveTest};
use engine::run::{format_duration, format_utc, RunSummary, StoredEvent, Verdict};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// A run and every event it has produced so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: RunSummary,
    pub events: Vec<StoredEvent>,
}

/// Reads a run and its events.
#[server(endpoint = "load_run", output = crate::json_text::JsonText)]
pub async fn load_run(id: String) -> Result<RunDetail, ServerFnError> {
    crate::context::require(engine::access::Role::Viewer)?;
    let ctx = crate::context::server_context()?;
    let run = ctx
        .runs
        .get_run(&id)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let events = ctx
        .runs
        .events_after(&id, 0, 100_000)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    Ok(RunDetail { run, events })
}

/// Asks a run in progress to stop; what it measured is kept.
#[server(endpoint = "abort_run", output = crate::json_text::JsonText)]
pub async fn abort_run(id: String) -> Result<bool, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Operator)?;
    let ctx = crate::context::server_context()?;
    let stopped = ctx.launcher.abort(&id);
    if stopped {
        crate::context::audit(&ctx, &who, "run_aborted", &id, "").await;
    }
    Ok(stopped)
}

/// The live page of one run.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, load_run);
    view! {
        <Title text="Run"/>
        <Transition fallback=|| view! { <p class="loading">"Loading the run…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    detail.await.map(|detail| view! { <LiveView detail/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn LiveView(detail: RunDetail) -> impl IntoView {
    let live = RwSignal::new(LiveRun::from_events(&detail.events));
    #[cfg(feature = "hydrate")]
    {
        let id = detail.run.id.clone();
        Effect::new(move |started: Option<()>| {
            if started.is_none() {
                follow(id.clone(), live);
            }
        });
    }
    view! {
        <RunHead run=detail.run live/>
        <TestsTable live/>
        <Charts live/>
        <EventLog live/>
    }
}

/// The run's title, abort button, status, verdict and error.
#[component]
fn RunHead(run: RunSummary, live: RwSignal<LiveRun>) -> impl IntoView {
    let id = run.id.clone();
    let abort = ServerAction::<AbortRun>::new();
    let abort_id = id.clone();
    let status = move || live.with(|l| l.status).unwrap_or(run.status);
    let running = move || !status().is_terminal();
    let verdict = move || live.with(|l| l.verdict);
    let started = run
        .started_at_ms
        .map(format_utc)
        .unwrap_or_else(|| "not started".into());
    let duration = run.duration_ms().map(format_duration);
    view! {
        <div class="page-head">
            <h1>{format!("{} on {}", run.plan, run.environment)}</h1>
            <Show when=running>
                <button
                    type="button"
                    id="abort-run"
                    disabled=move || abort.pending().get()
                    on:click={
                        let abort_id = abort_id.clone();
                        move |_| {
                            abort.dispatch(AbortRun { id: abort_id.clone() });
                        }
                    }
                >
                    {move || if abort.pending().get() { "Aborting…" } else { "Abort" }}
                </button>
            </Show>
        </div>
        <p class="run-meta">
            <span id="run-status" class=move || format!("status {}", status())>{move || status().as_str()}</span>
            " "
            {move || verdict().map(|v| {
                let class = if v == Verdict::Go { "verdict go" } else { "verdict no-go" };
                view! { <span id="run-verdict" class=class>{v.as_str()}</span> }
            })}
            " · started " {started}
            {duration.map(|d| format!(" · took {d}"))}
            " · id " <code>{id.clone()}</code>
            {
                let report = format!("/runs/{id}/report");
                move || live.with(|l| l.ended).then(|| view! { " · " <a id="report-link" href=report.clone()>"Report and evidence"</a> })
            }
        </p>
        {move || live.with(|l| l.error.clone()).map(|e| view! { <p class="error-box" role="alert">{e}</p> })}
    }
}

/// One row per test.
#[component]
fn TestsTable(live: RwSignal<LiveRun>) -> impl IntoView {
    view! {
        <section aria-labelledby="tests-h">
            <h2 id="tests-h">"Tests"</h2>
            <div class="table-wrap">
                <table class="tests">
                    {column_heads(&["Test", "State", "Progress", "Rate", "p50", "p95", "Errors"])}
                    <tbody>
                        <For
                            each=move || live.with(|l| l.tests.clone())
                            key=LiveTest::row_key
                            children=move |t| view! { <TestRow test=t/> }
                        />
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// Every event of the run, one line each.
#[component]
fn EventLog(live: RwSignal<LiveRun>) -> impl IntoView {
    view! {
        <section aria-labelledby="log-h">
            <h2 id="log-h">"Event log"</h2>
            <ol class="event-log" id="event-log">
                <For
                    // The log only grows: a line's position is its key.
                    each=move || live.with(|l| l.log.clone().into_iter().enumerate().collect::<Vec<_>>())
                    key=|(index, _)| *index
                    children=|(_, line)| view! {
                        <li><time>{format_utc(line.at_ms)}</time> " " {line.text}</li>
                    }
                />
            </ol>
        </section>
    }
}

#[component]
fn TestRow(test: LiveTest) -> impl IntoView {
    let progress = test.progress();
    let figures = test.figures();
    let state_class = format!("state {}", test.state.as_str().to_ascii_lowercase());
    let progress_text = test.progress_text();
    view! {
        <tr data-test=test.id.clone()>
            <th scope="row">{test.id.clone()} " " <span class="muted">{test.title.clone()}</span></th>
            <td><span class=state_class>{test.state.as_str()}</span></td>
            <td class="progress">
                <progress max="1" value=progress aria-label=format!("{} progress", test.id)></progress>
                " " <span class="progress-text">{progress_text}</span>
            </td>
            <td class="rate">{figures.as_ref().map(|f| format!("{:.1}/s", f.rate)).unwrap_or_default()}</td>
            <td class="p50">{figures.as_ref().map(|f| format!("{:.1} ms", f.p50_ms)).unwrap_or_default()}</td>
            <td class="p95">{figures.as_ref().map(|f| format!("{:.1} ms", f.p95_ms)).unwrap_or_default()}</td>
            <td class="errors">{test.failed}</td>
        </tr>
    }
}

/// Latency and throughput of one test over time, drawn on canvases, and
/// the run's recovery timeline.
#[component]
fn Charts(live: RwSignal<LiveRun>) -> impl IntoView {
    let chosen = RwSignal::new(None::<String>);
    // The test shown: the one chosen, else the latest with data.
    let shown = Memo::new(move |_| {
        live.with(|l| {
            chosen.get().or_else(|| {
                l.tests
                    .iter()
                    .rev()
                    .find(|t| !t.windows.is_empty() || t.summary.is_some())
                    .map(|t| t.id.clone())
            })
        })
    });
    // Over time, or a short test's latency distribution (one piece of
    // chart code with the report).
    let charts = Memo::new(move |_| {
        let id = shown.get();
        live.with(|l| {
            l.tests
                .iter()
                .find(|t| Some(&t.id) == id.as_ref())
                .map(|t| load_charts(&t.id, &t.windows, t.summary.as_ref().map(|s| &s.latency)))
                .unwrap_or_default()
        })
    });
    let nth = move |i: usize| nth_chart(charts, i);
    let (latency, throughput) = (nth(0), nth(1));
    view! {
        <section aria-labelledby="charts-h" class="charts">
            <div class="page-head">
                <h2 id="charts-h">"Charts"</h2>
                <label>
                    "Test "
                    <select
                        id="chart-test"
                        on:change=move |ev| {
                            let value = event_target_value(&ev);
                            chosen.set((!value.is_empty()).then_some(value));
                        }
                    >
                        <option value="">"latest"</option>
                        <For
                            each=move || live.with(|l| l.tests.iter().map(|t| t.id.clone()).collect::<Vec<_>>())
                            key=|id| id.clone()
                            children=|id| view! { <option value=id.clone()>{id.clone()}</option> }
                        />
                    </select>
                </label>
            </div>
            <Show
                when=move || charts.with(|c| !c.is_empty())
                fallback=|| view! { <p class="muted chart-empty">"Charts appear after the first second of load, or when a short test ends."</p> }
            >
                <InteractiveChart id="latency-canvas".to_owned() label="Latency percentiles over time, or a short test's latency distribution".to_owned() chart=latency/>
                <Show when=move || charts.with(|c| c.len() > 1)>
                    <InteractiveChart id="throughput-canvas".to_owned() label="Throughput and errors over time".to_owned() chart=throughput/>
                </Show>
            </Show>
        </section>
        <FaultLoadCharts live chosen/>
        <RecoveryChart live/>
    }
}

/// A chaos test's background load through the fault: p95 latency and
/// error rate over time, the windows shaded and the fault and recovery
/// marked, live from its events and final from its result (the same
/// charts as the report's). The test chosen above when it has such a
/// load, else the latest that has.
#[component]
fn FaultLoadCharts(live: RwSignal<LiveRun>, chosen: RwSignal<Option<String>>) -> impl IntoView {
    let charts = Memo::new(move |_| {
        let chosen = chosen.get();
        live.with(|l| {
            let with_load = |t: &&LiveTest| t.fault_load.is_some();
            let test = l
                .tests
                .iter()
                .filter(with_load)
                .find(|t| Some(&t.id) == chosen.as_ref())
                .or_else(|| l.tests.iter().rev().find(with_load))?;
            let load = test.fault_load.as_ref()?;
            Some(crate::charts::fault_load_charts(&test.id, load))
        })
        .unwrap_or_default()
    });
    let nth = move |i: usize| nth_chart(charts, i);
    let (latency, errors) = (nth(0), nth(1));
    view! {
        <Show when=move || charts.with(|c| c.len() > 1)>
            <section aria-labelledby="fault-load-h" class="charts" id="fault-load">
                <h2 id="fault-load-h">"Load through the fault"</h2>
                <InteractiveChart id="fault-latency-canvas".to_owned() label="Background load's p95 latency through the fault, with the windows before, during and after it".to_owned() chart=latency/>
                <InteractiveChart id="fault-errors-canvas".to_owned() label="Background load's error rate through the fault, with the windows before, during and after it".to_owned() chart=errors/>
            </section>
        </Show>
    }
}

/// Health per service and the faults injected, as chaos and health tests
/// report them.
#[component]
fn RecoveryChart(live: RwSignal<LiveRun>) -> impl IntoView {
    let chart = Memo::new(move |_| live.with(|l| l.recovery_chart()));
    let empty = move || {
        live.with(|l| {
            if l.tests.is_empty() {
                "The recovery timeline appears once the run has started."
            } else if l.recovery_expected {
                "The recovery timeline appears when the first chaos test starts or a health test finishes."
            } else {
                "This run has no chaos or health test, so there is no recovery timeline."
            }
        })
    };
    let drawn = Signal::derive(move || {
        chart
            .get()
            .unwrap_or_else(|| recovery_timeline("Recovery timeline", Vec::new(), Vec::new()))
    });
    view! {
        <section aria-labelledby="recovery-h" class="charts">
            <h2 id="recovery-h">"Recovery timeline"</h2>
            <Show
                when=move || chart.with(Option::is_some)
                fallback=move || view! { <p class="muted chart-empty" id="recovery-empty">{empty}</p> }
            >
                <InteractiveChart id="recovery-canvas".to_owned() label="Health per service over time, with faults and recoveries".to_owned() chart=drawn/>
            </Show>
        </section>
    }
}

/// Follows the run's event stream in the browser. The browser reconnects by
/// itself and sends Last-Event-ID, so the stream resumes where it stopped.
#[cfg(feature = "hydrate")]
fn follow(id: String, live: RwSignal<LiveRun>) {
    use leptos::wasm_bindgen::{closure::Closure, JsCast};
    use leptos::web_sys::{EventSource, MessageEvent};
    if live.with_untracked(|l| l.ended) {
        return;
    }
    let after = live.with_untracked(|l| l.last_seq);
    let Ok(source) = EventSource::new(&format!("/api/runs/{id}/events?after={after}")) else {
        return;
    };
    let closer = source.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |msg: MessageEvent| {
        let Some(text) = msg.data().as_string() else {
            return;
        };
        // A stored event: its number, time, kind and JSON; `apply`
        // decodes the typed event.
        let Ok(event) = serde_json::from_str::<StoredEvent>(&text) else {
            return;
        };
        // The page is gone (signal disposed): stop listening.
        match live.try_update(|l| {
            l.apply(&event);
            l.ended
        }) {
            Some(false) => {}
            _ => closer.close(),
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

/// The `i`-th of a list of charts as a signal of its own, an empty latency
/// chart while the list is shorter.
fn nth_chart(charts: Memo<Vec<Chart>>, i: usize) -> Signal<Chart> {
    Signal::derive(move || {
        charts.with(|c| {
            c.get(i)
                .cloned()
                .unwrap_or_else(|| latency_over_time("", &[]))
        })
    })
}
