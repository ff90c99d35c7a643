//! What a user asks for when starting a run from the web app, and what the
//! New run page shows of a plan before that. Plain data: it crosses from the
//! browser to the server as server-function arguments.

use serde::{Deserialize, Serialize};

/// Where the plan of a new run comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanChoice {
    /// A file in the server's plans folder, by name.
    File(String),
    /// TOML typed or uploaded by the user; `name` is used in messages.
    Text { name: String, text: String },
}

/// A request to start a run, with the New run page's overrides. A field
/// it does not know is refused, not ignored: a misspelt override
/// (`"agent": 4`) sent to the API must not start a run without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// The plan to run (a folder plan or pasted text).
    pub plan: Option<PlanChoice>,
    /// The environment (the plan's default when empty).
    pub environment: Option<String>,
    /// Only these tests (by id), with the criteria that concern them.
    pub tests: Option<Vec<String>>,
    /// Workers / requests in flight of every `http_load` and job test.
    pub concurrency: Option<u32>,
    /// Requests per worker of closed-model `http_load` tests.
    pub rounds: Option<u32>,
    /// Length of duration-based `http_load` tests, in seconds.
    pub duration_s: Option<u32>,
    /// Load agents each `http_load` test's load is split across (the
    /// plan's `agents`); 0 or none: as the plan says.
    pub agents: Option<u32>,
    /// Who launches it (the signed-in user, or the API token's owner): set
    /// by the server from the session, never read from the request.
    #[serde(skip)]
    pub launched_by: Option<String>,
}

/// One problem with a plan, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProblem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The field (`tests[1].http_load.concurrency`); empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a run was not started: a message for a form field, and the plan's
/// problems when it is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchError {
    /// The form field it concerns (`plan`, `environment`, `tests`,
    /// `concurrency`, `rounds`, `duration_s`, `agents`), or empty.
    pub field: String,
    pub message: String,
    pub problems: Vec<PlanProblem>,
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        for problem in &self.problems {
            write!(f, "\n{problem}")?;
        }
        Ok(())
    }
}

/// A test as the New run page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutline {
    pub id: String,
    pub title: String,
    pub kind: String,
}

/// What the New run page shows of a valid plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOutline {
    pub name: String,
    pub title: Option<String>,
    /// Environment names; the default first.
    pub environments: Vec<String>,
    pub tests: Vec<TestOutline>,
    /// How many criteria decide GO or NO-GO.
    pub criteria: usize,
}

/// One file of a run's evidence pack, as the report page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub name: String,
    pub bytes: u64,
    /// Still matches the manifest's sha256.
    pub intact: bool,
}

/// A run's newest evidence pack and the outcome of verifying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    pub version: u32,
    /// sha256 of the manifest (what a sign-off is bound to).
    pub manifest_sha256: String,
    /// Every file matches the manifest.
    pub intact: bool,
    pub files: Vec<EvidenceFile>,
    /// Each file that does not match, in words.
    pub problems: Vec<String>,
}
