//! What a launch goes through before a run exists: the New run page's
//! overrides applied to the plan (tests kept, concurrency, rounds,
//! duration, load agents), the plan's own limits and the server's caps, the outline the
//! page shows of a plan, and launch errors as the page reads them.

use super::orchestrator::{Orchestrator, StartError};
use async_trait::async_trait;
use engine::launch::{
    EvidenceFile, EvidenceSummary, LaunchError, LaunchRequest, PlanChoice, PlanOutline,
    PlanProblem, TestOutline,
};
use engine::plan::{LoadedPlan, PlanError, Positive, TestKind};
use engine::run::RunSummary;
use engine::store::Launcher;
use std::sync::Arc;

/// Refuses a plan (overrides applied) beyond its own limits or the
/// server's caps; the field is the New run page's override when there is
/// one.
pub(super) fn within_caps(
    plan: &engine::plan::Plan,
    caps: &engine::plan::Limits,
) -> Result<(), StartError> {
    let field = |e: &engine::plan::Excess| match e.field {
        "concurrency" | "sessions" => "concurrency",
        "duration_s" => "duration_s",
        "rounds" => "rounds",
        "tests" => "tests",
        "agents" => "agents",
        _ => "plan",
    };
    if let Some(e) = engine::plan::excesses(plan, &plan.limits).first() {
        return Err(StartError::Invalid {
            field: field(e),
            message: format!("{} (the plan's own limits)", e.describe()),
        });
    }
    if let Some(e) = engine::plan::excesses(plan, caps).first() {
        let flag = e.cap_name.replace('_', "-");
        return Err(StartError::Invalid {
            field: field(e),
            message: format!("{} (this server's cap, --{flag})", e.describe()),
        });
    }
    Ok(())
}

/// Applies the New run page's overrides to a loaded plan.
pub(super) fn apply(loaded: &mut LoadedPlan, overrides: &LaunchRequest) -> Result<(), StartError> {
    let plan = &mut loaded.plan;
    if let Some(keep) = &overrides.tests {
        if let Some(unknown) = keep
            .iter()
            .find(|id| !plan.tests.iter().any(|t| &t.id == *id))
        {
            return Err(StartError::Invalid {
                field: "tests",
                message: format!("no test {unknown:?} in plan {}", plan.plan.name),
            });
        }
        if keep.is_empty() {
            return Err(StartError::Invalid {
                field: "tests",
                message: "choose at least one test".into(),
            });
        }
        loaded.deselected = plan
            .tests
            .iter()
            .filter(|t| !keep.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        // Tests kept of a group still run together.
        engine::plan::parallel::keep_only(&mut plan.tests, |t| keep.contains(&t.id));
        plan.criteria.retain(|c| {
            keep.iter()
                .any(|id| criterion_test(&c.expr) == Some(id.as_str()))
        });
    }
    let positive =
        |field: &'static str, value: Option<u32>| -> Result<Option<Positive>, StartError> {
            value
                .map(|v| {
                    Positive::new(v).ok_or_else(|| StartError::Invalid {
                        field,
                        message: format!("expected a positive integer, got {v}"),
                    })
                })
                .transpose()
        };
    let concurrency = positive("concurrency", overrides.concurrency)?;
    let rounds = positive("rounds", overrides.rounds)?;
    let duration = positive("duration_s", overrides.duration_s)?;
    set_agents(plan, overrides.agents)?;
    for test in &mut plan.tests {
        match &mut test.kind {
            TestKind::HttpLoad(spec) => {
                if concurrency.is_some() {
                    spec.concurrency = concurrency;
                }
                if rounds.is_some() && spec.rounds.is_some() {
                    spec.rounds = rounds;
                }
                if duration.is_some() && spec.duration_s.is_some() {
                    spec.duration_s = duration;
                }
            }
            TestKind::JobWorkload(spec) if concurrency.is_some() => {
                spec.concurrency = concurrency;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits every `http_load` test of the run across `agents` load agents
/// (0 or none: each keeps the plan's own `agents`). Refused as the plan's
/// own key would be (the plan's check, `validate::agent_problems`), with
/// the test named; the caps are [`within_caps`]'.
fn set_agents(plan: &mut engine::plan::Plan, agents: Option<u32>) -> Result<(), StartError> {
    use engine::plan::read::{FieldPath, Segment};
    let Some(agents) = agents.and_then(Positive::new) else {
        return Ok(());
    };
    let mut loads = 0;
    for test in &mut plan.tests {
        if let TestKind::HttpLoad(spec) = &mut test.kind {
            spec.agents = Some(agents);
            loads += 1;
        }
    }
    if loads == 0 {
        return Err(StartError::Invalid {
            field: "agents",
            message: "no http_load test in this run to split across agents".into(),
        });
    }
    let problems = engine::plan::validate::agent_problems(plan);
    let Some(problem) = problems.into_iter().next() else {
        return Ok(());
    };
    // `tests[2].http_load.agents` → test L3, `http_load.agents`.
    let (test, field) = match problem.path.0.as_slice() {
        [Segment::Key(tests), Segment::Index(i), rest @ ..] if tests == "tests" => (
            plan.tests.get(*i).map(|t| t.id.as_str()),
            FieldPath(rest.to_vec()),
        ),
        _ => (None, problem.path),
    };
    let whose = test.map_or_else(|| "the plan".to_owned(), |id| format!("test {id}"));
    Err(StartError::Invalid {
        field: "agents",
        message: format!("{whose}: {field}: {}", problem.message),
    })
}

impl From<StartError> for LaunchError {
    fn from(e: StartError) -> Self {
        let (field, problems) = match &e {
            StartError::Plan(PlanError::Invalid(located)) => (
                "plan",
                located
                    .iter()
                    .map(|l| PlanProblem {
                        file: l.file.clone(),
                        line: l.line,
                        column: l.column,
                        field: l.field.clone(),
                        message: l.message.clone(),
                    })
                    .collect(),
            ),
            StartError::Plan(_) | StartError::UnknownPlan(_) => ("plan", Vec::new()),
            StartError::Invalid { field, .. } => (*field, Vec::new()),
            StartError::Store(_) | StartError::ShuttingDown => ("", Vec::new()),
        };
        let message = match &e {
            StartError::Plan(PlanError::Invalid(p)) => {
                format!("the plan has {} problem(s)", p.len())
            }
            StartError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        LaunchError {
            field: field.to_owned(),
            message,
            problems,
        }
    }
}

/// What the New run page shows of a loaded plan.
fn outline(loaded: &LoadedPlan) -> PlanOutline {
    let plan = &loaded.plan;
    let default = plan.environment(None).ok().map(|(name, _)| name.to_owned());
    let mut environments: Vec<String> = plan.environments.keys().cloned().collect();
    if let Some(default) = default {
        environments.retain(|e| *e != default);
        environments.insert(0, default);
    }
    PlanOutline {
        name: plan.plan.name.clone(),
        title: plan.plan.title.clone(),
        environments,
        tests: plan
            .tests
            .iter()
            .map(|t| TestOutline {
                id: t.id.clone(),
                title: t.display_title().to_owned(),
                kind: t.kind.name().to_owned(),
            })
            .collect(),
        criteria: plan.criteria.len(),
    }
}

/// The orchestrator as the web app's server functions see it.
pub struct Launch(pub Arc<Orchestrator>);

#[async_trait]
impl Launcher for Launch {
    fn outline(&self, plan: &PlanChoice) -> Result<PlanOutline, LaunchError> {
        Ok(outline(&self.0.load(plan)?))
    }

    async fn launch(&self, request: LaunchRequest) -> Result<RunSummary, LaunchError> {
        Ok(self.0.start(&request).await?)
    }

    fn abort(&self, id: &str) -> bool {
        self.0.abort(id)
    }

    async fn evidence(&self, id: &str) -> Result<Option<EvidenceSummary>, String> {
        use crate::evidence::{pack, EvidenceError};
        let pack = match pack::read_pack(self.0.evidence().as_ref(), id, None).await {
            Ok(pack) => pack,
            Err(EvidenceError::NoPack { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let broken: Vec<String> = pack.problems.iter().map(ToString::to_string).collect();
        Ok(Some(EvidenceSummary {
            version: pack.manifest.version,
            manifest_sha256: pack.manifest_digest.clone(),
            intact: pack.intact(),
            files: pack
                .manifest
                .files
                .iter()
                .map(|f| EvidenceFile {
                    name: f.name.clone(),
                    bytes: f.bytes,
                    intact: pack.file(&f.name).is_some(),
                })
                .collect(),
            problems: broken,
        }))
    }
}

/// The test a criterion expression is about (`L1.p95_ms < 2000` → `L1`).
fn criterion_test(expr: &str) -> Option<&str> {
    expr.trim().split('.').next().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_name_their_test() {
        assert_eq!(criterion_test("L1.p95_ms < 2000"), Some("L1"));
        assert_eq!(criterion_test(" C2.stuck == 0"), Some("C2"));
    }

    const CAPPED: &str = r#"
[plan]
name = "capped"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
[limits]
max_concurrency = 20
[[tests]]
id = "L1"
[tests.http_load]
path = "/"
concurrency = 10
duration_s = 30
"#;

    #[test]
    fn runs_beyond_the_servers_caps_or_the_plans_limits_are_refused() {
        let mut loaded = engine::plan::load_str(CAPPED, "capped.toml").unwrap();
        assert!(within_caps(&loaded.plan, &engine::plan::Limits::default()).is_ok());
        let server = engine::plan::Limits {
            max_duration_s: Positive::new(10),
            ..Default::default()
        };
        let err = within_caps(&loaded.plan, &server).unwrap_err();
        assert!(
            matches!(&err, StartError::Invalid { field: "duration_s", message }
                if message == "test L1: duration_s 30 is over max_duration_s 10 (this server's cap, --max-duration-s)"),
            "{err}"
        );
        // The server's default caps: rounds past --max-rounds are refused
        // with the test and field named, and 0 lifts the cap.
        let defaults = crate::runs::caps::CapsArgs::default();
        let many_rounds = CAPPED.replace("duration_s = 30", "rounds = 200000");
        let huge = engine::plan::load_str(&many_rounds, "capped.toml").unwrap();
        let err = within_caps(&huge.plan, &defaults.limits()).unwrap_err();
        assert!(
            matches!(&err, StartError::Invalid { field: "rounds", message }
                if message == "test L1: rounds 200000 is over max_rounds 100000 (this server's cap, --max-rounds)"),
            "{err}"
        );
        let lifted = crate::runs::caps::CapsArgs {
            max_rounds: 0,
            ..defaults
        };
        assert!(within_caps(&huge.plan, &lifted.limits()).is_ok());
        // An override past the plan's own limit is refused too.
        apply(
            &mut loaded,
            &LaunchRequest {
                concurrency: Some(50),
                ..Default::default()
            },
        )
        .unwrap();
        let err = within_caps(&loaded.plan, &engine::plan::Limits::default()).unwrap_err();
        assert!(
            matches!(&err, StartError::Invalid { field: "concurrency", message }
                if message.contains("concurrency 50 is over max_concurrency 20 (the plan's own limits)")),
            "{err}"
        );
    }

    /// Two loads; L2 reads its requests' rows from a data file.
    const LOADS: &str = r#"
[plan]
name = "loads"
default_environment = "local"
[environments.local]
base_url = "http://127.0.0.1:9"
[limits]
max_agents = 8
[[tests]]
id = "L1"
http_load = { path = "/items", rate = 100, duration_s = 5 }
[[tests]]
id = "L2"
http_load = { path = "/", rate = 100, duration_s = 5, data_file = "rows.csv" }
"#;

    /// Applies `request` to `plan`: each load's agents, or the refusal.
    fn with_agents(plan: &str, request: LaunchRequest) -> Result<Vec<(String, u32)>, String> {
        let mut loaded = engine::plan::load_str(plan, "loads.toml").unwrap();
        apply(&mut loaded, &request).map_err(|e| e.to_string())?;
        within_caps(
            &loaded.plan,
            &crate::runs::caps::CapsArgs::default().limits(),
        )
        .map_err(|e| e.to_string())?;
        Ok(loaded
            .plan
            .tests
            .iter()
            .filter_map(|t| match &t.kind {
                TestKind::HttpLoad(spec) => {
                    Some((t.id.clone(), spec.agents.map_or(0, Positive::get)))
                }
                _ => None,
            })
            .collect())
    }

    fn agents(tests: &[&str], agents: u32) -> LaunchRequest {
        LaunchRequest {
            tests: Some(tests.iter().map(|t| (*t).to_owned()).collect()),
            agents: Some(agents),
            ..Default::default()
        }
    }

    #[test]
    fn the_agents_override_splits_every_load_of_the_run() {
        assert_eq!(
            with_agents(LOADS, agents(&["L1"], 3)),
            Ok(vec![("L1".to_owned(), 3)])
        );
        // 0 (or none): each load as the plan says.
        assert_eq!(
            with_agents(LOADS, agents(&["L1", "L2"], 0)),
            Ok(vec![("L1".to_owned(), 0), ("L2".to_owned(), 0)])
        );
        let planned = LOADS.replace("duration_s = 5 }", "duration_s = 5, agents = 2 }");
        assert_eq!(
            with_agents(&planned, agents(&["L1"], 0)),
            Ok(vec![("L1".to_owned(), 2)])
        );
    }

    #[test]
    fn the_agents_override_is_refused_where_the_plans_key_would_be() {
        // A load with a data file: each agent would send its rows again.
        assert_eq!(
            with_agents(LOADS, agents(&["L1", "L2"], 2)),
            Err("agents: test L2: http_load.agents: a load with data_file cannot be split across agents: each would send the rows from the first again".to_owned())
        );
        // {{seq}}: each agent would number its requests from 0 again.
        let seq = LOADS.replace("/items", "/items/{{seq}}");
        let refused = with_agents(&seq, agents(&["L1"], 2)).unwrap_err();
        assert!(
            refused.starts_with("agents: test L1: http_load.path: {{seq}} cannot be used in a load split across agents"),
            "{refused}"
        );
        // No load to split.
        let no_load = LOADS
            .replace(
                r#"http_load = { path = "/", rate = 100, duration_s = 5, data_file = "rows.csv" }"#,
                "health = {}",
            )
            .replace("[limits]", "readiness_path = \"/ready\"\n[limits]");
        assert_eq!(
            with_agents(&no_load, agents(&["L2"], 2)),
            Err("agents: no http_load test in this run to split across agents".to_owned())
        );
    }

    #[test]
    fn the_agents_override_is_capped_by_the_plan_and_the_server() {
        assert_eq!(
            with_agents(LOADS, agents(&["L1"], 9)),
            Err(
                "agents: test L1: agents 9 is over max_agents 8 (the plan's own limits)".to_owned()
            )
        );
        let unlimited = LOADS.replace("max_agents = 8", "max_agents = 1000");
        assert_eq!(
            with_agents(&unlimited, agents(&["L1"], 101)),
            Err("agents: test L1: agents 101 is over max_agents 100 (this server's cap, --max-agents)".to_owned())
        );
        // Past what any load may use: the plan's own check.
        let refused = with_agents(&unlimited, agents(&["L1"], 1001)).unwrap_err();
        assert_eq!(
            refused,
            "agents: test L1: http_load.agents: agents 1001 is over the most one load may use, 1000"
        );
    }
}
