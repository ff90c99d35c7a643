//! The sign-off block of a report: the system's recommendation beside the
//! approvers' decisions (each with name, time, comment, override reason and
//! the digest it is bound to; superseded and void ones marked), the final
//! decision with the approvals it needs and where that number comes from
//! (the server's policy or the plan), a prominent warning when the evidence
//! no longer matches what was signed, and — for approvers — the GO / NO-GO
//! form.

use engine::access::{
    ApprovalError, Decision, FinalDecision, SignOffState, SignOffView, SignRequest,
};
use engine::run::format_utc;
use leptos::either::Either;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

/// Signs the run; a refusal about a field comes back as `Ok(Err(..))` so the
/// form shows it next to that field.
#[server(input = Json, endpoint = "sign_run", output = crate::json_text::JsonText)]
pub async fn sign_run(
    id: String,
    request: SignRequest,
) -> Result<Result<SignOffState, ApprovalError>, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Approver)?;
    let ctx = crate::context::server_context()?;
    match ctx.approvals.sign(&who, &id, request).await {
        Ok(state) => Ok(Ok(state)),
        Err(e) if e.field.is_some() || e.status == 409 => Ok(Err(e)),
        Err(e) => Err(crate::context::approval_error(e)),
    }
}

fn decision_class(d: &FinalDecision) -> &'static str {
    match d {
        FinalDecision::Go { .. } => "verdict go",
        FinalDecision::NoGo { .. } => "verdict no-go",
        FinalDecision::Pending { .. } => "verdict",
    }
}

/// What a sign-off counts for, in words, and its row's class.
fn row_state(view: &SignOffView) -> (&'static str, &'static str) {
    if view.void {
        ("VOID: evidence changed", "signoff void")
    } else if view.superseded {
        ("superseded", "signoff superseded")
    } else {
        ("counts", "signoff")
    }
}

#[component]
fn SignOffRow(view: SignOffView) -> impl IntoView {
    let (state, class) = row_state(&view);
    let s = view.signoff;
    let decision_class = match s.decision {
        Decision::Go => "verdict go",
        Decision::NoGo => "verdict no-go",
    };
    view! {
        <tr class=class>
            <td class="approver">{s.approver.clone()}</td>
            <td><span class=decision_class>{s.decision.label()}</span></td>
            <td class="comment">
                {s.comment.clone()}
                {s.override_reason.clone().map(|r| view! {
                    <p class="override-reason warn-box">
                        <strong>"Override of failed criteria: "</strong>{r}
                    </p>
                })}
            </td>
            <td>{format_utc(s.at_ms)}</td>
            <td><code title=s.manifest_sha256.clone()>{s.manifest_sha256.chars().take(12).collect::<String>()}</code></td>
            <td class="state">{state}</td>
        </tr>
    }
}

/// The approvers' sign-offs, newest first.
#[component]
fn SignOffTable(signoffs: Vec<SignOffView>) -> impl IntoView {
    view! {
        <table class="signoffs" id="signoffs">
            <thead><tr>
                <th>"Approver"</th><th>"Decision"</th><th>"Comment"</th>
                <th>"Time (UTC)"</th><th>"Evidence"</th><th>"State"</th>
            </tr></thead>
            <tbody>
                {signoffs.into_iter().rev().map(|v| view! { <SignOffRow view=v/> }).collect_view()}
            </tbody>
        </table>
    }
}

/// The system's recommendation, with how many criteria failed.
#[component]
fn Recommendation(state: SignOffState) -> impl IntoView {
    let recommendation = match state.recommendation {
        Some(v) => Either::Left(view! {
            <span class=format!("verdict {}", v.as_str().to_ascii_lowercase())>{v.as_str()}</span>
        }),
        None => Either::Right(view! { <span class="verdict">"none (run did not finish)"</span> }),
    };
    let failed = state.failed_criteria;
    view! {
        <p id="recommendation">
            "System recommendation: " {recommendation}
            {(failed > 0).then(|| format!(" ({failed} criteria failed)"))}
        </p>
    }
}

/// The block's reading part: recommendation, final decision, what it needs,
/// the sign-offs and why the run cannot be signed (to those who could).
#[component]
fn SignOffSummary(state: SignOffState, can_sign: bool) -> impl IntoView {
    let s = state;
    view! {
        <Recommendation state=s.clone()/>
        {(!s.left_out_tests.is_empty()).then(|| view! {
            <p class="warning" id="partial-run">
                "Partial run: tests " {s.left_out_tests.join(", ")}
                " of the plan were left out, so its criteria about them were not checked."
            </p>
        })}
        <p id="final-decision">
            "Final decision: "
            <span class=decision_class(&s.decision)>{s.decision.describe()}</span>
        </p>
        {s.required_approvals_source.clone().map(|source| view! {
            <p class="muted" id="required-approvals-source">
                {format!("Required approvals: {}, from {source}.", s.required_approvals)}
            </p>
        })}
        {(!s.evidence_intact && !s.signoffs.is_empty()).then(|| view! {
            <div class="error-box void-warning" role="alert" id="signoff-void">
                <p><strong>"The evidence no longer matches what was signed."</strong></p>
                <p>"Every sign-off below is VOID: the evidence pack they are bound to is missing, altered, or differs from the digest recorded when the run ended."</p>
            </div>
        })}
        {if s.signoffs.is_empty() {
            Either::Left(view! { <p class="muted" id="no-signoffs">"Not signed yet."</p> })
        } else {
            Either::Right(view! { <SignOffTable signoffs=s.signoffs.clone()/> })
        }}
        {s.not_signable_because.clone().filter(|_| can_sign).map(|why| view! {
            <p class="muted" id="not-signable">{format!("Cannot be signed: {why}.")}</p>
        })}
    }
}

/// The sign-off form's inputs and its action; they outlive the form, which
/// is drawn again whenever the block changes.
#[derive(Clone, Copy)]
struct SignInputs {
    decision: RwSignal<Decision>,
    comment: RwSignal<String>,
    override_reason: RwSignal<String>,
    sign: ServerAction<SignRun>,
    state: RwSignal<SignOffState>,
}

impl SignInputs {
    /// Signing GO where criteria failed or tests were left out: a reason is
    /// required.
    fn needs_override(self) -> bool {
        self.decision.get() == Decision::Go
            && self
                .state
                .with(|s| s.failed_criteria > 0 || !s.left_out_tests.is_empty())
    }

    /// Why the last sign-off was refused, if it was.
    fn refusal(self) -> Option<ApprovalError> {
        match self.sign.value().get() {
            Some(Ok(Err(e))) => Some(e),
            Some(Err(e)) => Some(ApprovalError::status(500, e.to_string())),
            _ => None,
        }
    }
}

/// The sign-off block; the form only when `can_sign`. `on_signed` runs
/// after a sign-off is stored (the page reloads what it wrote: a new pack
/// version).
#[component]
pub fn SignOffPanel(
    run_id: String,
    state: SignOffState,
    can_sign: bool,
    #[prop(default = None)] on_signed: Option<Callback<()>>,
) -> impl IntoView {
    let inputs = SignInputs {
        decision: RwSignal::new(Decision::Go),
        comment: RwSignal::new(String::new()),
        override_reason: RwSignal::new(String::new()),
        sign: ServerAction::<SignRun>::new(),
        state: RwSignal::new(state),
    };
    let SignInputs {
        comment,
        override_reason,
        sign,
        state,
        ..
    } = inputs;
    Effect::new(move |_| {
        if let Some(Ok(Ok(new_state))) = sign.value().get() {
            state.set(new_state);
            comment.set(String::new());
            override_reason.set(String::new());
            if let Some(on_signed) = on_signed {
                on_signed.run(());
            }
        }
    });
    view! {
        <section class="signoff-panel" id="signoff">
            <h2>"Sign-off"</h2>
            {move || view! { <SignOffSummary state=state.get() can_sign/> }}
            {move || (can_sign && state.with(|s| s.signable)).then(|| view! {
                <SignOffForm run_id=run_id.clone() inputs/>
            })}
        </section>
    }
}

/// One choice of the decision radios.
#[component]
fn DecisionRadio(decision: RwSignal<Decision>, value: Decision) -> impl IntoView {
    view! {
        <label>
            <input type="radio" name="decision" value=value.as_str()
                prop:checked=move || decision.get() == value
                on:change=move |_| decision.set(value)/>
            {format!(" {}", value.label())}
        </label>
    }
}

/// The GO / NO-GO form: decision, comment, and the override reason when
/// one is needed.
#[component]
fn SignOffForm(run_id: String, inputs: SignInputs) -> impl IntoView {
    let SignInputs {
        decision,
        comment,
        override_reason,
        sign,
        ..
    } = inputs;
    let field_error = move |field: &'static str| {
        move || {
            inputs
                .refusal()
                .filter(|e| e.field.as_deref() == Some(field))
                .map(|e| view! { <p class="field-error" role="alert">{e.message}</p> })
        }
    };
    let general_error = move || {
        inputs
            .refusal()
            .filter(|e| e.field.is_none())
            .map(|e| view! { <p class="error-box" role="alert" id="signoff-error">{e.message}</p> })
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let reason = override_reason.get();
        sign.dispatch(SignRun {
            id: run_id.clone(),
            request: SignRequest {
                decision: decision.get(),
                comment: comment.get(),
                override_reason: inputs.needs_override().then_some(reason),
            },
        });
    };
    view! {
        <form class="signoff-form" id="signoff-form" on:submit=submit>
            <fieldset>
                <legend>"Your decision"</legend>
                <DecisionRadio decision value=Decision::Go/>
                <DecisionRadio decision value=Decision::NoGo/>
            </fieldset>
            <label for="signoff-comment">"Comment"</label>
            <textarea id="signoff-comment" name="comment" rows="3"
                prop:value=move || comment.get()
                on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
            {field_error("comment")}
            {move || inputs.needs_override().then(|| view! {
                <div class="warn-box">
                    <label for="signoff-override">
                        <strong>"Criteria failed: why sign GO anyway? (required)"</strong>
                    </label>
                    <textarea id="signoff-override" name="override_reason" rows="2"
                        prop:value=move || override_reason.get()
                        on:input=move |ev| override_reason.set(event_target_value(&ev))></textarea>
                </div>
            })}
            {field_error("override_reason")}
            {general_error}
            <button type="submit" id="signoff-submit" disabled=move || sign.pending().get()>
                "Sign"
            </button>
        </form>
    }
}
