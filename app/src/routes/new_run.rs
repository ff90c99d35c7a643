//! New run: choose a plan from the plans folder or paste one, pick the
//! environment, the tests and optional overrides (concurrency, rounds,
//! duration, load agents), and start it. Invalid
//! plans are shown with the same file:line:column:field errors as
//! `shakedown check`, next to the plan.

use crate::components::error_view::ErrorView;
use engine::launch::{LaunchError, LaunchRequest, PlanChoice, PlanOutline};
use engine::run::RunSummary;
use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
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
#[server(endpoint = "list_plans", output = crate::json_text::JsonText)]
pub async fn list_plans() -> Result<PlanFolder, ServerFnError> {
    crate::context::require(engine::access::Role::Operator)?;
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

/// Validates a plan and describes it, or says exactly what is wrong.
#[server(input = Json, endpoint = "check_plan", output = crate::json_text::JsonText)]
pub async fn check_plan(
    plan: PlanChoice,
) -> Result<Result<PlanOutline, LaunchError>, ServerFnError> {
    crate::context::require(engine::access::Role::Operator)?;
    let ctx = crate::context::server_context()?;
    Ok(ctx.launcher.outline(&plan))
}

/// Starts a run.
#[server(input = Json, endpoint = "start_run", output = crate::json_text::JsonText)]
pub async fn start_run(
    request: LaunchRequest,
) -> Result<Result<RunSummary, LaunchError>, ServerFnError> {
    let who = crate::context::require(engine::access::Role::Operator)?;
    let ctx = crate::context::server_context()?;
    let mut request = request;
    request.launched_by = Some(who.name.clone());
    let launched = ctx.launcher.launch(request).await;
    if let Ok(run) = &launched {
        let detail = format!("{} on {}", run.plan, run.environment);
        crate::context::audit(&ctx, &who, "run_launched", &run.id, &detail).await;
    }
    Ok(launched)
}

/// The New run form.
#[component]
pub fn NewRunPage() -> impl IntoView {
    let folder = Resource::new(|| (), |_| list_plans());
    view! {
        <Title text="New run"/>
        <h1>"New run"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading plans…"</p> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorView errors/> }>
                {move || Suspend::new(async move {
                    folder.await.map(|folder| view! { <RunForm folder/> })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

fn parse_override(text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(0) | Err(_) => Err(format!("expected a positive integer, got {text:?}")),
        Ok(n) => Ok(Some(n)),
    }
}

/// What the form holds, shared by its parts.
#[derive(Clone, Copy)]
struct FormInputs {
    /// The plan is pasted, not chosen from the folder.
    use_paste: RwSignal<bool>,
    file: RwSignal<String>,
    pasted: RwSignal<String>,
    environment: RwSignal<String>,
    /// Tests of the plan left out of the run.
    excluded: RwSignal<Vec<String>>,
    concurrency: RwSignal<String>,
    rounds: RwSignal<String>,
    duration: RwSignal<String>,
    /// Load agents each `http_load` test is split across.
    agents: RwSignal<String>,
}

/// The override fields, by the name the launcher gives their errors.
const OVERRIDE_FIELDS: [&str; 4] = ["concurrency", "rounds", "duration_s", "agents"];

impl FormInputs {
    fn new(folder: &PlanFolder) -> Self {
        let first = folder
            .plans
            .first()
            .map(|p| p.file.clone())
            .unwrap_or_default();
        FormInputs {
            use_paste: RwSignal::new(folder.plans.is_empty()),
            file: RwSignal::new(first),
            pasted: RwSignal::new(String::new()),
            environment: RwSignal::new(String::new()),
            excluded: RwSignal::new(Vec::new()),
            concurrency: RwSignal::new(String::new()),
            rounds: RwSignal::new(String::new()),
            duration: RwSignal::new(String::new()),
            agents: RwSignal::new(String::new()),
        }
    }

    fn choice(self) -> PlanChoice {
        if self.use_paste.get() {
            PlanChoice::Text {
                name: "pasted.toml".to_owned(),
                text: self.pasted.get(),
            }
        } else {
            PlanChoice::File(self.file.get())
        }
    }

    fn overrides(self) -> [(&'static str, RwSignal<String>); 4] {
        [
            ("concurrency", self.concurrency),
            ("rounds", self.rounds),
            ("duration_s", self.duration),
            ("agents", self.agents),
        ]
    }

    /// The overrides that are not positive integers, with why.
    fn local_errors(self) -> Vec<(&'static str, String)> {
        self.overrides()
            .into_iter()
            .filter_map(|(name, value)| parse_override(&value.get()).err().map(|e| (name, e)))
            .collect()
    }

    /// The request to start, running the tests of `outline` not left out.
    fn request(self, outline: Option<PlanOutline>) -> LaunchRequest {
        let tests = outline.map(|o| {
            let excluded = self.excluded.get();
            o.tests
                .into_iter()
                .map(|t| t.id)
                .filter(|id| !excluded.contains(id))
                .collect::<Vec<_>>()
        });
        LaunchRequest {
            plan: Some(self.choice()),
            environment: Some(self.environment.get()).filter(|e| !e.is_empty()),
            tests,
            concurrency: parse_override(&self.concurrency.get()).ok().flatten(),
            rounds: parse_override(&self.rounds.get()).ok().flatten(),
            duration_s: parse_override(&self.duration.get()).ok().flatten(),
            agents: parse_override(&self.agents.get()).ok().flatten(),
            launched_by: None,
        }
    }
}

/// Why the last start was refused, if it was.
fn launch_error(start: ServerAction<StartRun>) -> Option<LaunchError> {
    match start.value().get() {
        Some(Ok(Err(e))) => Some(e),
        Some(Err(e)) => Some(LaunchError {
            field: String::new(),
            message: e.to_string(),
            problems: vec![],
        }),
        _ => None,
    }
}

#[component]
fn RunForm(folder: PlanFolder) -> impl IntoView {
    let inputs = FormInputs::new(&folder);
    let outline = Resource::new(move || inputs.choice(), check_plan);
    let start = ServerAction::<StartRun>::new();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(Ok(run))) = start.value().get() {
            navigate(&format!("/runs/{}", run.id), Default::default());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !inputs.local_errors().is_empty() {
            return;
        }
        let outline = outline.get().and_then(|o| o.ok()).and_then(|o| o.ok());
        start.dispatch(StartRun {
            request: inputs.request(outline),
        });
    };
    view! {
        <form class="run-form" on:submit=submit novalidate>
            <PlanSource folder inputs/>
            <Transition fallback=|| view! { <p class="loading">"Checking the plan…"</p> }>
                {move || Suspend::new(async move {
                    match outline.await {
                        Err(e) => EitherOf3::A(view! { <p class="error-box" role="alert">{e.to_string()}</p> }),
                        Ok(Err(e)) => EitherOf3::B(view! { <PlanProblems error=e/> }),
                        Ok(Ok(o)) => EitherOf3::C(view! {
                            <OutlineFields outline=o environment=inputs.environment excluded=inputs.excluded/>
                        }),
                    }
                })}
            </Transition>
            <OverrideFields inputs start/>
            {move || launch_error(start).filter(|e| !OVERRIDE_FIELDS.contains(&e.field.as_str())).map(|e| view! { <PlanProblems error=e/> })}
            <button type="submit" class="primary" id="start-run" disabled=move || start.pending().get()>
                {move || if start.pending().get() { "Starting…" } else { "Run" }}
            </button>
        </form>
    }
}

/// Where the plan comes from: a file of the plans folder, or pasted TOML.
#[component]
fn PlanSource(folder: PlanFolder, inputs: FormInputs) -> impl IntoView {
    let FormInputs {
        use_paste,
        file,
        pasted,
        excluded,
        ..
    } = inputs;
    let plans = folder.plans;
    view! {
        <fieldset>
            <legend>"Plan"</legend>
            <label class="inline">
                <input type="radio" name="source" prop:checked=move || !use_paste.get()
                    disabled=plans.is_empty()
                    on:change=move |_| use_paste.set(false)/>
                " From " <code>{folder.folder}</code>
            </label>
            <select id="plan-file" name="plan" aria-label="Plan file"
                disabled=move || use_paste.get()
                on:change=move |ev| { file.set(event_target_value(&ev)); excluded.set(vec![]); }>
                {plans.iter().map(|p| {
                    let f = p.file.clone();
                    view! { <option value=f.clone() selected=move || file.get() == f>{p.file.clone()}</option> }
                }).collect_view()}
            </select>
            <label class="inline">
                <input type="radio" name="source" prop:checked=move || use_paste.get()
                    on:change=move |_| use_paste.set(true)/>
                " Paste a plan (TOML)"
            </label>
            <Show when=move || use_paste.get()>
                <textarea id="plan-text" rows="14" spellcheck="false" aria-label="Plan TOML"
                    prop:value=move || pasted.get()
                    on:change=move |ev| pasted.set(event_target_value(&ev))></textarea>
            </Show>
        </fieldset>
    }
}

/// The overrides of the plan's load, each with its error: the form's own
/// check first, then the launcher's.
#[component]
fn OverrideFields(inputs: FormInputs, start: ServerAction<StartRun>) -> impl IntoView {
    let error = move |field: &'static str| {
        Signal::derive(move || {
            let local = inputs
                .local_errors()
                .into_iter()
                .find(|(name, _)| *name == field);
            local.map(|(_, e)| e).or_else(|| {
                launch_error(start)
                    .filter(|e| e.field == field)
                    .map(|e| e.message)
            })
        })
    };
    view! {
        <fieldset>
            <legend>"Overrides (empty: as the plan says)"</legend>
            <div class="overrides">
                <OverrideInput id="concurrency" label="Concurrency" value=inputs.concurrency
                    error=error("concurrency")/>
                <OverrideInput id="rounds" label="Rounds" value=inputs.rounds
                    error=error("rounds")/>
                <OverrideInput id="duration_s" label="Duration (s)" value=inputs.duration
                    error=error("duration_s")/>
                <OverrideInput id="agents" label="Agents" value=inputs.agents
                    error=error("agents")/>
            </div>
        </fieldset>
    }
}

#[component]
fn OverrideInput(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let error_id = format!("{id}-error");
    view! {
        <label for=id>
            {label}
            <input id=id name=id type="text" inputmode="numeric" autocomplete="off"
                aria-invalid=move || error.get().is_some().to_string()
                aria-describedby=error_id.clone()
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))/>
            <span class="field-error" id=error_id>{move || error.get()}</span>
        </label>
    }
}

#[component]
fn PlanProblems(error: LaunchError) -> impl IntoView {
    view! {
        <div class="error-box" role="alert" id="plan-problems">
            <p><strong>{error.message.clone()}</strong></p>
            <ul>
                {error.problems.iter().map(|p| view! {
                    <li><code>{format!("{}:{}:{}", p.file, p.line, p.column)}</code>
                        " " {(!p.field.is_empty()).then(|| view! { <strong>{p.field.clone()}</strong> ": " })}
                        {p.message.clone()}</li>
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn OutlineFields(
    outline: PlanOutline,
    environment: RwSignal<String>,
    excluded: RwSignal<Vec<String>>,
) -> impl IntoView {
    if environment.get_untracked().is_empty()
        || !outline.environments.contains(&environment.get_untracked())
    {
        environment.set(outline.environments.first().cloned().unwrap_or_default());
    }
    let envs = outline.environments.clone();
    view! {
        <p class="plan-summary" id="plan-summary">
            <strong>{outline.title.clone().unwrap_or_else(|| outline.name.clone())}</strong>
            {format!(" · {} tests · {} criteria", outline.tests.len(), outline.criteria)}
        </p>
        <fieldset>
            <legend>"Environment"</legend>
            <select id="environment" name="environment" aria-label="Environment"
                on:change=move |ev| environment.set(event_target_value(&ev))>
                {envs.into_iter().map(|e| {
                    let value = e.clone();
                    view! { <option value=e.clone() selected=move || environment.get() == value>{e.clone()}</option> }
                }).collect_view()}
            </select>
        </fieldset>
        <fieldset>
            <legend>"Tests"</legend>
            <ul class="test-choices">
                {outline.tests.into_iter().map(|t| {
                    let id = t.id.clone();
                    let toggle = id.clone();
                    view! {
                        <li><label>
                            <input type="checkbox" name="tests" value=id.clone()
                                prop:checked=move || !excluded.get().contains(&id)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    excluded.update(|x| {
                                        x.retain(|i| i != &toggle);
                                        if !on { x.push(toggle.clone()); }
                                    });
                                }/>
                            " " <strong>{t.id.clone()}</strong> " " {t.title.clone()} " "
                            <span class="muted">{t.kind.clone()}</span>
                        </label></li>
                    }
                }).collect_view()}
            </ul>
        </fieldset>
    }
}
