//! Load agents on a plan's loads: `agents` only on an `http_load` test's
//! own load (a chaos test's background load runs beside its fault, on the
//! server), at most [`MAX_AGENTS`], without `data_file` or, on more than
//! one agent, `{{seq}}` (each agent would start the rows, or the numbers,
//! over from the first; one agent numbers like a local run), and
//! `allow_agent_loss` only with `agents`.

use super::Validator;
use crate::plan::read::FieldPath;
use crate::plan::{HttpLoadSpec, Plan, TestKind};
use crate::template::RequestText;

/// Most agents one load may be split across.
pub const MAX_AGENTS: u32 = 1_000;

impl Validator {
    /// Every load's `agents` and `allow_agent_loss`.
    pub(super) fn agents(&mut self, plan: &Plan) {
        for (i, test) in plan.tests.iter().enumerate() {
            let own = matches!(test.kind, TestKind::HttpLoad(_));
            for (path, spec) in test.http_loads(i) {
                let Some(agents) = spec.agents else {
                    if spec.allow_agent_loss {
                        self.problem(
                            path.key("allow_agent_loss"),
                            "allow_agent_loss is for a load split across agents: set agents too",
                        );
                    }
                    continue;
                };
                if !own {
                    self.problem(
                        path.key("agents"),
                        "agents is for an http_load test; a chaos test's background load runs on the server, beside its fault",
                    );
                } else if agents.get() > MAX_AGENTS {
                    self.problem(
                        path.key("agents"),
                        format!(
                            "agents {} is over the most one load may use, {MAX_AGENTS}",
                            agents.get()
                        ),
                    );
                } else if spec.data_file.is_some() {
                    self.problem(
                        path.key("agents"),
                        "a load with data_file cannot be split across agents: each would send the rows from the first again",
                    );
                } else if agents.get() > 1 {
                    self.seq_on_agents(&path, spec);
                }
            }
        }
    }

    /// `{{seq}}` in a load split across agents: each agent would number
    /// its requests from 0, so the numbers would repeat.
    fn seq_on_agents(&mut self, path: &FieldPath, spec: &HttpLoadSpec) {
        for (field, text) in spec.templated_texts() {
            let uses_seq = RequestText::parse(&text).is_ok_and(|t| t.uses_seq());
            if !uses_seq {
                continue;
            }
            let field_path = match field.split_once('.') {
                Some((headers, name)) => path.key(headers).key(name),
                None => path.key(&field),
            };
            self.problem(
                field_path,
                "{{seq}} cannot be used in a load split across agents: each agent would number its requests from 0 again, so the numbers would repeat",
            );
        }
    }
}
