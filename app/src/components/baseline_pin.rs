//! The baseline block of a report: which run relative criteria
//! (`L1.p95_ms < baseline.L1.p95_ms * 1.2`) of this plan and environment
//! compare with — a run an approver pinned, or else the last GO run — and,
//! for approvers on a finished run they did not launch, a button that pins
//! this run instead. Pinning is audit-logged like `POST
//! /api/runs/{id}/baseline`, which does the same.

use engine::access::BaselinePin;
use engine::run::format_utc;
use leptos::prelude::*;

/// Pins the run as the baseline of its plan in its environment.
#[server(endpoint = "pin_baseline", output = crate::json_text::JsonText)]
pub async fn pin_baseline(id: String) -> Result<BaselinePin, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Approver)?;
    let ctx = crate::context::server_context()?;
    ctx.approvals
        .pin_baseline(&who, &id)
        .await
        .map_err(crate::context::approval_error)
}

/// What the block says about `pin` when looking at run `run_id`.
fn describe(pin: Option<&BaselinePin>, run_id: &str) -> String {
    match pin {
        Some(p) if p.run_id == run_id => format!(
            "This run is the pinned baseline of {} in {} (pinned by {} at {}).",
            p.plan,
            p.environment,
            p.pinned_by,
            format_utc(p.pinned_at_ms)
        ),
        Some(p) => format!(
            "Relative criteria of {} in {} compare with run {}, pinned by {} at {}.",
            p.plan,
            p.environment,
            p.run_id,
            p.pinned_by,
            format_utc(p.pinned_at_ms)
        ),
        None => "No run is pinned: relative criteria compare with the last GO run of this plan \
                 and environment."
            .to_owned(),
    }
}

/// The baseline block; the button only when `can_pin` (an approver, on a
/// finished run).
#[component]
pub fn BaselinePanel(run_id: String, pin: Option<BaselinePin>, can_pin: bool) -> impl IntoView {
    let current = RwSignal::new(pin);
    let action = ServerAction::<PinBaseline>::new();
    Effect::new(move |_| {
        if let Some(Ok(pinned)) = action.value().get() {
            current.set(Some(pinned));
        }
    });
    let shown_id = run_id.clone();
    let text = move || current.with(|p| describe(p.as_ref(), &shown_id));
    let pinned_here = {
        let run_id = run_id.clone();
        move || current.with(|p| p.as_ref().is_some_and(|p| p.run_id == run_id))
    };
    let error = move || {
        action
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <p class="error-box" role="alert">{e.to_string()}</p> })
    };
    let pin = move |_| {
        action.dispatch(PinBaseline { id: run_id.clone() });
    };
    view! {
        <section class="baseline-panel" id="baseline">
            <h2>"Baseline"</h2>
            <p id="baseline-state" aria-live="polite">{text}</p>
            {can_pin.then(|| view! {
                <button type="button" id="baseline-pin" on:click=pin
                    disabled=move || action.pending().get() || pinned_here()>
                    "Pin this run as the baseline"
                </button>
            })}
            {error}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_names_the_pinned_run_or_the_fallback() {
        let pin = BaselinePin {
            plan: "smoke".into(),
            environment: "staging".into(),
            run_id: "r1".into(),
            pinned_by: "ann".into(),
            pinned_at_ms: 0,
        };
        assert!(describe(Some(&pin), "r1").starts_with("This run is the pinned baseline of smoke"));
        let other = describe(Some(&pin), "r2");
        assert!(
            other.contains("compare with run r1, pinned by ann"),
            "{other}"
        );
        assert!(describe(None, "r2").contains("last GO run"));
    }
}
