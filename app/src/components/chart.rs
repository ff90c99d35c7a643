//! A chart on a canvas that can be read and changed: pointing at it (or the
//! arrow keys, Home and End on the focused canvas) shows the values nearest
//! the pointer in a readout under it, and a legend of toggle buttons hides
//! and shows each series or lane, redrawing the canvas. The values come from
//! the chart model (`charts::interact`), never from pixels. A chart with
//! shaded windows or markers also lists them in words under it (each
//! window's figures, when known), for readers who cannot see the canvas.

#[cfg(feature = "hydrate")]
use crate::charts::ChartError;
use crate::charts::{Chart, Frame, LegendEntry};
use leptos::prelude::*;

/// Said by the readout until a value is asked for.
const HINT: &str = "Point at the chart, or focus it and use the arrow keys, to read its values.";

/// One interactive chart: legend, canvas and readout.
#[component]
pub fn InteractiveChart(
    /// The canvas' id, unique on the page.
    id: String,
    /// What the chart shows, for screen readers.
    label: String,
    /// The chart; the canvas is redrawn when it changes.
    #[prop(into)]
    chart: Signal<Chart>,
) -> impl IntoView {
    let hidden = RwSignal::new(Vec::<String>::new());
    let cursor = RwSignal::new(None::<f64>);
    let frame = StoredValue::new(None::<Frame>);
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let shown = Memo::new(move |_| chart.with(|c| hidden.with(|h| c.hiding(h))));
    let readout = Memo::new(move |_| cursor.get().and_then(|x| shown.with(|c| c.readout(x))));
    #[cfg(feature = "hydrate")]
    redraw_on_change(id.clone(), shown, readout, frame);
    let readout_id = format!("{id}-readout");
    let legend_label = format!("Series of {label}");
    let label_for_lists = label.clone();
    view! {
        <figure class="chart" data-title=move || chart.with(|c| c.title.clone())>
            <ChartLegend chart hidden label=legend_label/>
            <canvas
                id=id
                node_ref=canvas
                width="760"
                height="300"
                role="img"
                aria-label=label
                aria-describedby=readout_id.clone()
                tabindex="0"
                on:mousemove=pointer_handler(frame, canvas, cursor)
                on:keydown=key_handler(shown, readout, cursor)
            ></canvas>
            <p class="chart-readout" id=readout_id aria-live="polite">
                {move || readout.get().map(|(_, text)| text).unwrap_or_else(|| HINT.to_owned())}
            </p>
            <ChartWindows chart label=label_for_lists/>
        </figure>
    }
}

/// The chart's shaded windows (with their figures) and its markers, in
/// words; nothing for a chart that has neither.
#[component]
fn ChartWindows(chart: Signal<Chart>, label: String) -> impl IntoView {
    let windows_label = format!("Windows of {label}");
    let markers_label = format!("Moments marked on {label}");
    let bands = move || {
        chart.with(|c| {
            let x_text = |x: f64| format!("{} s", crate::charts::draw::format_number(x));
            c.bands
                .iter()
                .map(|b| {
                    let figures = b
                        .figures
                        .iter()
                        .map(|f| {
                            view! {
                                " · "
                                <span data-figure=f.name.clone() data-value=f.value.to_string()>{f.text()}</span>
                            }
                        })
                        .collect_view();
                    view! {
                        <li data-band=b.kind.as_str() data-from=b.from.to_string() data-to=b.to.to_string()>
                            {format!("{}: {} to {}", b.label, x_text(b.from), x_text(b.to))}
                            {figures}
                        </li>
                    }
                })
                .collect_view()
        })
    };
    let markers = move || {
        chart.with(|c| {
            c.markers
                .iter()
                .map(|m| {
                    let kind = match m.kind {
                        crate::charts::MarkerKind::Fault => "fault",
                        crate::charts::MarkerKind::Recovered => "recovered",
                        crate::charts::MarkerKind::Note => "note",
                    };
                    let text = format!(
                        "{} at {} s",
                        m.label,
                        crate::charts::draw::format_number(m.x)
                    );
                    view! { <li data-marker=kind data-x=m.x.to_string()>{text}</li> }
                })
                .collect_view()
        })
    };
    view! {
        <Show when=move || chart.with(|c| !c.bands.is_empty())>
            <ul class="chart-windows" aria-label=windows_label.clone()>{bands}</ul>
        </Show>
        <Show when=move || chart.with(|c| !c.bands.is_empty() && !c.markers.is_empty())>
            <ul class="chart-markers" aria-label=markers_label.clone()>{markers}</ul>
        </Show>
    }
}

/// What the readout shows: the x it is at and its text.
type Readout = Memo<Option<(f64, String)>>;

/// Redraws the canvas whenever the chart, its hidden series or the
/// readout's position change, and keeps where the plot area ended up.
/// The drawing code is its own chunk of the browser bundle
/// ([`draw_latest`]), fetched when the first chart is drawn, so a page
/// hydrates without it.
#[cfg(feature = "hydrate")]
fn redraw_on_change(
    id: String,
    shown: Memo<Chart>,
    readout: Readout,
    frame: StoredValue<Option<Frame>>,
) {
    Effect::new(move |_| {
        shown.track();
        readout.track();
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match draw_latest(id.clone(), shown, readout).await {
                Ok(Some(f)) => {
                    // The chart may have left the page meanwhile.
                    let _ = frame.try_set_value(Some(f));
                }
                Ok(None) => {}
                Err(e) => leptos::logging::warn!("chart {id}: {e}"),
            }
        });
    });
}

/// Draws the chart as it is when called (not when asked): a draw asked for
/// while the drawing chunk was still loading then shows the latest chart
/// and readout, whichever order the waiting draws run in. Nothing is drawn
/// when the chart has left the page (its signals are gone).
#[cfg(feature = "hydrate")]
#[leptos::lazy]
fn draw_latest(
    id: String,
    shown: Memo<Chart>,
    readout: Readout,
) -> Result<Option<Frame>, ChartError> {
    use crate::charts::{Marker, MarkerKind};
    let (Some(mut drawn), Some(at)) = (shown.try_get_untracked(), readout.try_get_untracked())
    else {
        return Ok(None);
    };
    // The readout's position, as a thin line.
    if let Some((x, _)) = at {
        drawn.markers.push(Marker {
            x,
            label: String::new(),
            kind: MarkerKind::Note,
        });
    }
    crate::charts::draw_canvas(&id, &drawn).map(Some)
}

/// Moves the readout to the value under the pointer.
fn pointer_handler(
    frame: StoredValue<Option<Frame>>,
    canvas: NodeRef<leptos::html::Canvas>,
    cursor: RwSignal<Option<f64>>,
) -> impl Fn(leptos::ev::MouseEvent) + 'static {
    move |ev| {
        let (Some(f), Some(el)) = (frame.get_value(), canvas.get_untracked()) else {
            return;
        };
        // The canvas may be drawn smaller than its pixel size (phones).
        let shown_width = f64::from(el.client_width().max(1));
        let px = f64::from(ev.offset_x()) * f64::from(el.width()) / shown_width;
        cursor.set(Some(f.value_at(px)));
    }
}

/// Arrow keys step the readout from point to point; Home and End go to
/// the first and last.
fn key_handler(
    shown: Memo<Chart>,
    readout: Readout,
    cursor: RwSignal<Option<f64>>,
) -> impl Fn(leptos::ev::KeyboardEvent) + 'static {
    move |ev| {
        let from = readout.get_untracked().map(|(x, _)| x);
        let next = shown.with_untracked(|c| match ev.key().as_str() {
            "ArrowRight" | "ArrowUp" => Some(c.step(from, true)),
            "ArrowLeft" | "ArrowDown" => Some(c.step(from, false)),
            "Home" => Some(c.step(None, true)),
            "End" => Some(c.step(None, false)),
            _ => None,
        });
        if let Some(next) = next {
            ev.prevent_default();
            cursor.set(next);
        }
    }
}

/// The legend: one toggle button per series or lane.
#[component]
fn ChartLegend(
    chart: Signal<Chart>,
    hidden: RwSignal<Vec<String>>,
    label: String,
) -> impl IntoView {
    view! {
        <div class="chart-legend" role="group" aria-label=label>
            <For
                each=move || chart.with(|c| c.legend())
                key=|entry| entry.name.clone()
                children=move |entry| view! { <LegendToggle entry hidden/> }
            />
        </div>
    }
}

/// A button that hides or shows one series, pressed while it is shown.
#[component]
fn LegendToggle(entry: LegendEntry, hidden: RwSignal<Vec<String>>) -> impl IntoView {
    let name = entry.name.clone();
    let pressed = {
        let name = name.clone();
        Memo::new(move |_| hidden.with(|h| !h.contains(&name)))
    };
    let swatch = entry
        .color
        .map(|c| format!("background: {}", crate::charts::draw::palette_css(c)));
    let toggle = move |_| {
        hidden.update(|h| {
            if let Some(i) = h.iter().position(|n| *n == name) {
                h.remove(i);
            } else {
                h.push(name.clone());
            }
        })
    };
    view! {
        <button
            type="button"
            class="legend-toggle"
            aria-pressed=move || pressed.get().to_string()
            title=move || if pressed.get() { "Hide this series" } else { "Show this series" }
            on:click=toggle
        >
            {swatch.map(|style| view! { <span class="swatch" style=style aria-hidden="true"></span> })}
            {entry.name.clone()}
        </button>
    }
}
