//! Checks that need more than one field: ids that criteria refer to, test
//! models that must be complete, paths and URLs that must stay on the
//! environment's allowed hosts, secrets that must be declared.
//!
//! [`validate`] runs one step per part of the plan, each in its own file:
//! the plan and its environments, services, the job protocol, the tests
//! (and which run alongside which) and the plan's limits, then the
//! criteria.

mod agents;
mod alongside;
mod chaos;
mod criteria;
mod environments;
mod fields;
mod hosts;
mod jobs;
mod kinds;
mod network;
mod services;

pub use agents::MAX_AGENTS;
pub use hosts::{host_allowed, host_port, resolve, secret_refs};
pub use network::without_credentials;
pub use services::RAILWAY_ENDPOINT;

use super::read::FieldPath;
use super::{Environment, Plan};
use url::Url;

/// One problem found, at a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub path: FieldPath,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem in a plan that parsed.
pub fn validate(plan: &Plan) -> Vec<Problem> {
    let mut v = Validator::default();
    v.check(plan);
    v.problems
}

/// The problems of the plan's loads split across agents alone (the
/// `agents` step of [`validate`]): what a launch that sets `agents` on a
/// valid plan's loads is checked with.
pub fn agent_problems(plan: &Plan) -> Vec<Problem> {
    let mut v = Validator::default();
    v.agents(plan);
    v.problems
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

fn root() -> FieldPath {
    FieldPath::default()
}

impl Validator {
    fn problem(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            message: message.into(),
        });
    }

    fn check(&mut self, plan: &Plan) {
        self.environments(plan);
        // Environments whose base URL is broken were reported above; checking
        // paths against them would only repeat that.
        let envs: Vec<(&String, &Environment)> = plan
            .environments
            .iter()
            .filter(|(_, env)| Url::parse(&env.base_url).is_ok())
            .collect();
        self.services(plan, &envs);
        if let Some(jobs) = &plan.jobs {
            self.jobs(&root().key("jobs"), jobs, &envs);
        }
        self.tests(plan, &envs);
        self.alongside(plan);
        self.agents(plan);
        self.limits(plan);
        self.criteria(plan);
    }
}
