//! Plans pasted in the browser. Everything that can run a command, start a
//! program, read a file, name a secret, reach a bucket or widen the hosts a
//! run may talk to lives in `[environments]` and `[services]`, which are the
//! admins': they come only from plans in the server's plans folder. A
//! pasted plan describes tests and criteria (and may bring its own job
//! protocol) and names the folder plan whose environments, services and
//! job protocol it runs with: `[plan] environments_from = "step3.toml"`.
//! Trying to define either table is refused, naming the field.

use super::read::{load_with, FieldPath};
use super::{LoadedPlan, Plan, PlanError, PlanOrigin};

/// The tables only a folder plan may define.
const ADMINS_ONLY: [&str; 2] = ["environments", "services"];

/// Reads a pasted plan; `folder` loads a plan of the plans folder by file
/// name (its error is shown at `environments_from`).
pub fn load_pasted(
    source: &str,
    name: &str,
    folder: impl FnOnce(&str) -> Result<LoadedPlan, String>,
) -> Result<LoadedPlan, PlanError> {
    let mut origin = None;
    let mut loaded = load_with(source, name, |_, mut plan| {
        let from_path = FieldPath::default().key("plan").key("environments_from");
        let problems = pasted_problems(&plan);
        let from = plan.plan.environments_from.clone();
        let Some(from) = from.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        let base = folder(&from).map_err(|e| vec![(from_path.clone(), e)])?;
        if base.plan.plan.environments_from.is_some() {
            return Err(vec![(
                from_path,
                format!("{from} is itself a plan that borrows its environments"),
            )]);
        }
        borrow_admins_tables(&mut plan, &base.plan);
        origin = Some(PlanOrigin::Pasted {
            environments_from: from,
            environments_sha256: base.sha256,
        });
        Ok(plan)
    })?;
    if let Some(origin) = origin {
        loaded.origin = origin;
    }
    Ok(loaded)
}

/// What a pasted plan may not do: define the admins' tables, read data
/// files, or leave out `environments_from`.
fn pasted_problems(plan: &Plan) -> Vec<(FieldPath, String)> {
    let mut problems: Vec<(FieldPath, String)> = ADMINS_ONLY
        .iter()
        .filter(|table| match **table {
            "environments" => !plan.environments.is_empty(),
            _ => !plan.services.is_empty(),
        })
        .map(|table| {
            (
                FieldPath::default().key(table),
                format!(
                    "a pasted plan may not define {table}: they come from the server's plans folder, \
                     which admins control; name one of its plans in [plan] environments_from"
                ),
            )
        })
        .collect();
    problems.extend(data_file_problems(plan));
    if plan.plan.environments_from.is_none() {
        problems.push((
            FieldPath::default().key("plan"),
            "a pasted plan runs against the environments of a plan in the server's plans folder: \
             name it with environments_from = \"FILE.toml\""
                .to_owned(),
        ));
    }
    problems
}

/// Each load that names a data file, which would be read from the
/// server's disk.
fn data_file_problems(plan: &Plan) -> Vec<(FieldPath, String)> {
    let mut problems = Vec::new();
    for (i, test) in plan.tests.iter().enumerate() {
        for (at, spec) in test.http_loads(i) {
            if spec.data_file.is_some() {
                problems.push((
                    at.key("data_file"),
                    "a pasted plan may not read data files (they would be read from the server's disk); \
                     put the test in a plan of the server's plans folder"
                        .to_owned(),
                ));
            }
        }
    }
    problems
}

/// Takes the folder plan's environments and services, its job protocol
/// unless the pasted plan brings its own, and the more approvals of the two.
fn borrow_admins_tables(plan: &mut Plan, base: &Plan) {
    plan.environments = base.environments.clone();
    plan.services = base.services.clone();
    if plan.jobs.is_none() {
        plan.jobs = base.jobs.clone();
    }
    // A pasted plan may ask for more approvals, never fewer.
    plan.plan.required_approvals =
        match (plan.plan.required_approvals, base.plan.required_approvals) {
            (Some(mine), Some(theirs)) => Some(mine.max(theirs)),
            (mine, theirs) => theirs.or(mine),
        };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::load_str;

    const FOLDER: &str = r#"
[plan]
name = "base"
required_approvals = 2
[environments.staging]
base_url = "http://127.0.0.1:8080"
[services.api]
health = "/health"
restart.command = { run = "systemctl restart api" }
[jobs]
create_path = "/jobs"
id_pointer = "/id"
status_path = "/jobs/{id}"
status_pointer = "/status"
terminal_statuses = ["done"]
success_statuses = ["done"]
"#;

    fn folder(name: &str) -> Result<LoadedPlan, String> {
        match name {
            "base.toml" => load_str(FOLDER, name).map_err(|e| e.to_string()),
            other => Err(format!("no plan {other:?} in the plans folder")),
        }
    }

    fn problems(text: &str) -> String {
        load_pasted(text, "pasted.toml", folder)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_pasted_plan_runs_with_a_folder_plans_environments_and_services() {
        let text = r#"
[plan]
name = "mine"
environments_from = "base.toml"
[[tests]]
id = "C1"
[tests.chaos]
service = "api"
[[criteria]]
expr = "C1.restart_observed == 1"
"#;
        let loaded = load_pasted(text, "pasted.toml", folder).expect("valid");
        assert!(loaded.plan.environments.contains_key("staging"));
        assert!(loaded.plan.services.contains_key("api"));
        assert!(loaded.plan.jobs.is_some());
        assert_eq!(
            loaded.plan.plan.required_approvals.map(|p| p.get()),
            Some(2)
        );
        assert_eq!(loaded.text, text);
        assert!(matches!(
            loaded.origin,
            PlanOrigin::Pasted { ref environments_from, .. } if environments_from == "base.toml"
        ));
    }

    #[test]
    fn environments_services_and_their_commands_secrets_and_hosts_are_refused() {
        let text = r#"
[plan]
name = "evil"
environments_from = "base.toml"
[environments.staging]
base_url = "http://127.0.0.1:8080"
allowed_hosts = ["169.254.169.254"]
ca_file = "/dev/zero"
secrets = { key = "AWS_SECRET_ACCESS_KEY" }
bucket.local = { root = "/" }
[services.api]
health = "/health"
restart.command = { run = "cat /etc/shadow" }
"#;
        let e = problems(text);
        assert!(
            e.contains("pasted.toml:5:2: environments: a pasted plan may not define environments"),
            "{e}"
        );
        assert!(
            e.contains("services: a pasted plan may not define services"),
            "{e}"
        );
        let program = r#"
[plan]
name = "evil"
environments_from = "base.toml"
[services.shell]
restart.process = { program = "/bin/sh", args = ["-c", "id"] }
"#;
        assert!(problems(program).contains("may not define services"));
    }

    #[test]
    fn a_pasted_plan_must_name_an_existing_folder_plan() {
        let e = problems("[plan]\nname = \"x\"\n");
        assert!(
            e.contains("pasted.toml:1:1: plan: a pasted plan runs against"),
            "{e}"
        );
        let e = problems("[plan]\nname = \"x\"\nenvironments_from = \"nope.toml\"\n");
        assert!(
            e.contains("plan.environments_from: no plan \"nope.toml\" in the plans folder"),
            "{e}"
        );
    }
}
