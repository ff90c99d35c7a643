//! The plans an orchestrator runs: a file of its plans folder, or a plan
//! pasted in the browser (when the server allows it) that borrows a folder
//! plan's environments and services.

use super::{Orchestrator, StartError};
use engine::launch::PlanChoice;
use engine::plan::{load_file, LoadedPlan};
use std::sync::atomic::Ordering;

impl Orchestrator {
    /// Reads and validates a plan, without running it.
    pub fn load(&self, source: &PlanChoice) -> Result<LoadedPlan, StartError> {
        match source {
            PlanChoice::File(name) => Ok(self.folder_plan(name)?),
            PlanChoice::Text { name, text } => {
                if !self.pasted_plans.load(Ordering::Relaxed) {
                    return Err(StartError::Invalid {
                        field: "plan",
                        message: "this server runs only the plans in its plans folder \
                                  (pasted plans are allowed with serve --allow-pasted-plans)"
                            .to_owned(),
                    });
                }
                // Environments and services (commands, programs, files,
                // secrets, buckets, hosts) come from the folder plan it names.
                Ok(engine::plan::pasted::load_pasted(text, name, |from| {
                    self.folder_plan(from).map_err(|e| e.to_string())
                })?)
            }
        }
    }

    /// A plan of the plans folder, by file name.
    fn folder_plan(&self, name: &str) -> Result<LoadedPlan, StartError> {
        let valid = !name.is_empty()
            && !name.contains(['/', '\\'])
            && !name.starts_with('.')
            && name.ends_with(".toml");
        let path = self.plans_dir.join(name);
        if !valid || !path.is_file() {
            return Err(StartError::UnknownPlan(name.to_owned()));
        }
        let mut loaded = load_file(&path)?;
        loaded.origin = engine::plan::PlanOrigin::Folder;
        Ok(loaded)
    }
}
