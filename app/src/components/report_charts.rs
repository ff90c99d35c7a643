//! The report page's interactive charts: the browser reads the run's
//! `results.json` from its evidence pack (served only while it matches the
//! manifest) and draws each test's charts with the same chart code as the
//! HTML export, on canvases with a readout and series toggles.

use crate::charts::Chart;
use crate::components::chart::InteractiveChart;
use leptos::either::EitherOf4;
use leptos::prelude::*;

/// Where the charts are. Only the browser reads the results, so the server
/// only ever renders `Waiting`.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
enum Loaded {
    /// Being read.
    Waiting,
    /// Could not be read, in words.
    Failed(String),
    /// Built from the results.
    Charts(Vec<Chart>),
}

/// Charts of every test, built from the results file at `results_url`.
#[component]
pub fn ReportCharts(results_url: String) -> impl IntoView {
    let loaded = RwSignal::new(Loaded::Waiting);
    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            let url = results_url.clone();
            leptos::task::spawn_local(async move {
                let next = match fetch_text(&url)
                    .await
                    .and_then(|text| crate::charts::results_json_charts(&text))
                {
                    Ok(charts) => Loaded::Charts(charts),
                    Err(e) => Loaded::Failed(e),
                };
                loaded.try_set(next);
            });
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = results_url;
    view! {
        <section aria-labelledby="report-charts-h" class="charts report-charts">
            <h2 id="report-charts-h">"Charts"</h2>
            {move || match loaded.get() {
                Loaded::Waiting => EitherOf4::A(view! { <p class="muted chart-empty">"Loading the charts…"</p> }),
                Loaded::Failed(e) => EitherOf4::B(view! { <p class="error-box chart-empty">{format!("The charts could not be read: {e}")}</p> }),
                Loaded::Charts(charts) if charts.is_empty() => EitherOf4::C(view! {
                    <p class="muted chart-empty">"No test of this run measured per-second figures or injected a fault."</p>
                }),
                Loaded::Charts(charts) => EitherOf4::D(charts
                    .into_iter()
                    .enumerate()
                    .map(|(i, chart)| {
                        let label = chart.title.clone();
                        view! { <InteractiveChart id=format!("report-chart-{i}") label chart=Signal::stored(chart)/> }
                    })
                    .collect_view()),
            }}
        </section>
    }
}

/// Reads the results file.
#[cfg(feature = "hydrate")]
async fn fetch_text(url: &str) -> Result<String, String> {
    use leptos::wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    let words = |e: JsValue| e.as_string().unwrap_or_else(|| format!("{e:?}"));
    let answer = JsFuture::from(window().fetch_with_str(url))
        .await
        .map_err(words)?;
    let response: leptos::web_sys::Response = answer.dyn_into().map_err(words)?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    JsFuture::from(response.text().map_err(words)?)
        .await
        .map_err(words)?
        .as_string()
        .ok_or_else(|| "the answer is not text".to_owned())
}
