//! Who may do what, and what approvers decided: roles, the person behind a
//! request, sign-offs bound to an evidence digest (and how they add up to a
//! final decision), share links and audit entries. Plain data, so the
//! browser bundle shares it with the server.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user may do; each role includes the ones before it, except
/// `Agent`, which may only use the load agents' endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A load agent's account (`shakedown agent`): registers, takes shares
    /// of loads and reports what it measured; reads no run and launches
    /// nothing.
    Agent,
    /// Reads runs and reports.
    Viewer,
    /// Also launches and aborts runs, and creates share links.
    Operator,
    /// Also signs runs off.
    Approver,
    /// Also manages users and every share link, and reads the audit log.
    Admin,
}

impl Role {
    /// Every role a person has, weakest first (`Agent` is for load
    /// agents' accounts only).
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    /// Every role an account may hold, as a role picker lists them and a
    /// role name is read: the people's, then `Agent` (which stays out of
    /// [`Role::ALL`]'s ladder: it reads nothing).
    pub const CHOOSABLE: [Role; 5] = [
        Role::Viewer,
        Role::Operator,
        Role::Approver,
        Role::Admin,
        Role::Agent,
    ];

    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// Whether it may use the load agents' endpoints: an agent's account,
    /// or an operator or above.
    pub fn drives_agents(self) -> bool {
        self == Role::Agent || self.allows(Role::Operator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, operator, approver, admin or agent")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::CHOOSABLE
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The person behind a request, as the server established it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's name (`local` in single-user local mode).
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Single-user local mode: nobody logged in, everyone who reaches the
    /// server acts as this user.
    pub local: bool,
}

impl Principal {
    /// Whether they may do what `needed` allows.
    pub fn can(&self, needed: Role) -> bool {
        self.role.allows(needed)
    }
}

/// A stored user (without the password hash, which stays in the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique name used to log in.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Disabled users cannot log in; their sessions and tokens stop working.
    pub disabled: bool,
    /// When created, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

/// An approver's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Release may go ahead.
    Go,
    /// Release must not go ahead.
    NoGo,
}

impl Decision {
    /// `go` or `no-go`, as stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Go => "go",
            Decision::NoGo => "no-go",
        }
    }

    /// `GO` or `NO-GO`, as shown.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Go => "GO",
            Decision::NoGo => "NO-GO",
        }
    }
}

/// A decision word that is not `go` or `no-go`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown decision {0:?}: expected go or no-go")]
pub struct UnknownDecision(pub String);

impl FromStr for Decision {
    type Err = UnknownDecision;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "go" => Ok(Decision::Go),
            "no-go" | "nogo" | "no_go" => Ok(Decision::NoGo),
            _ => Err(UnknownDecision(s.to_owned())),
        }
    }
}

/// One sign-off as stored: append-only, a later one by the same approver
/// supersedes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignOff {
    /// Its number in the store (increasing).
    pub id: i64,
    /// The run it is about.
    pub run_id: String,
    /// Who signed.
    pub approver: String,
    /// GO or NO-GO.
    pub decision: Decision,
    /// Their comment.
    pub comment: String,
    /// Required to sign GO on a run whose criteria failed.
    pub override_reason: Option<String>,
    /// The evidence pack version they saw.
    pub evidence_version: u32,
    /// The sha256 of that pack's manifest: what they signed.
    pub manifest_sha256: String,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A sign-off as shown: whether it still counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignOffView {
    /// The sign-off.
    pub signoff: SignOff,
    /// The same approver signed again later.
    pub superseded: bool,
    /// The evidence no longer matches what was signed.
    pub void: bool,
}

/// What the sign-offs add up to.
/// Written with its `state` tag first; read with `model::tag_first`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FinalDecision {
    /// Not enough valid GO sign-offs yet, and no NO-GO.
    Pending { go: u32, required: u32 },
    /// Enough approvers signed GO and none signed NO-GO.
    Go { go: u32, required: u32 },
    /// At least one current, valid NO-GO.
    NoGo { by: Vec<String> },
}

/// [`FinalDecision`] read from its tag and the rest of its object.
#[derive(Deserialize)]
#[serde(remote = "FinalDecision", rename_all = "kebab-case")]
enum FinalDecisionMirror {
    Pending { go: u32, required: u32 },
    Go { go: u32, required: u32 },
    NoGo { by: Vec<String> },
}

crate::model::tag_first::tag_first_deserialize!(
    FinalDecision via FinalDecisionMirror,
    tag "state",
    expecting "a final decision with its `state`"
);

impl FinalDecision {
    /// A sentence for the page and the report.
    pub fn describe(&self) -> String {
        match self {
            FinalDecision::Pending { go, required } => {
                format!("Pending: {go} of {required} required GO sign-offs")
            }
            FinalDecision::Go { go, required } => {
                format!("GO: {go} of {required} required approvals, no NO-GO")
            }
            FinalDecision::NoGo { by } => format!("NO-GO: blocked by {}", by.join(", ")),
        }
    }
}

/// Marks superseded and void sign-offs and computes the final decision.
/// `evidence_sha256` is the manifest digest of the signed pack as it reads
/// now (`None` when the pack is missing or no longer verifies): a sign-off
/// whose digest differs is void and does not count. Any current NO-GO
/// blocks; otherwise `required` current GOs make it GO.
pub fn tally(
    signoffs: &[SignOff],
    evidence_sha256: Option<&str>,
    required: u32,
) -> (Vec<SignOffView>, FinalDecision) {
    let required = required.max(1);
    let mut views: Vec<SignOffView> = signoffs
        .iter()
        .map(|s| SignOffView {
            superseded: signoffs
                .iter()
                .any(|later| later.approver == s.approver && later.id > s.id),
            void: evidence_sha256 != Some(s.manifest_sha256.as_str()),
            signoff: s.clone(),
        })
        .collect();
    views.sort_by_key(|v| v.signoff.id);
    let counting = || views.iter().filter(|v| !v.superseded && !v.void);
    let mut blockers: Vec<String> = counting()
        .filter(|v| v.signoff.decision == Decision::NoGo)
        .map(|v| v.signoff.approver.clone())
        .collect();
    blockers.dedup();
    let go = u32::try_from(
        counting()
            .filter(|v| v.signoff.decision == Decision::Go)
            .count(),
    )
    .unwrap_or(u32::MAX);
    let decision = if !blockers.is_empty() {
        FinalDecision::NoGo { by: blockers }
    } else if go >= required {
        FinalDecision::Go { go, required }
    } else {
        FinalDecision::Pending { go, required }
    };
    (views, decision)
}

/// The sign-off block of a run: the system's recommendation beside the
/// approvers' decisions, what they signed, and what it adds up to. Shown on
/// the report page and written into re-exported packs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignOffState {
    /// The run's own verdict (GO/NO-GO from the criteria), if it finished.
    pub recommendation: Option<crate::run::Verdict>,
    /// Criteria that failed (signing GO over them needs an override reason).
    pub failed_criteria: u32,
    /// Tests of the plan this run left out: a partial run (signing GO on
    /// it needs an override reason too).
    #[serde(default)]
    pub left_out_tests: Vec<String>,
    /// Whether the run can be signed (finished, evidence recorded and intact).
    pub signable: bool,
    /// Why not, when it cannot.
    pub not_signable_because: Option<String>,
    /// The evidence version sign-offs are bound to.
    pub evidence_version: Option<u32>,
    /// Its manifest sha256 as recorded when the run ended.
    pub manifest_sha256: Option<String>,
    /// Whether that pack still verifies and matches the recorded digest.
    pub evidence_intact: bool,
    /// GO sign-offs needed: the larger of the server's required approvals
    /// for the run's environment and what its plan asks.
    pub required_approvals: u32,
    /// Where `required_approvals` comes from, in words ("the server's
    /// policy for staging (the plan asks 1)"); absent in older packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approvals_source: Option<String>,
    /// Every sign-off, oldest first.
    pub signoffs: Vec<SignOffView>,
    /// What they add up to.
    pub decision: FinalDecision,
}

/// What an approver submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    /// GO or NO-GO.
    pub decision: Decision,
    /// Why (required).
    pub comment: String,
    /// Required to sign GO when criteria failed.
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// Why a sign-off or a share link was refused; `field` names the form
/// field at fault, when one is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApprovalError {
    /// The form field at fault (`comment`, `override_reason`, `days`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The HTTP status the API answers with.
    pub status: u16,
}

impl ApprovalError {
    /// A refusal about a form field (422).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApprovalError {
            field: Some(field.to_owned()),
            message: message.into(),
            status: 422,
        }
    }
    /// A refusal with a status.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        ApprovalError {
            field: None,
            message: message.into(),
            status,
        }
    }
}

/// A share link just created: the only time its token is known.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewShare {
    /// The stored link.
    pub link: ShareLink,
    /// The path to hand out (`/share/<token>`).
    pub path: String,
}

impl std::fmt::Debug for NewShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path holds the link's token.
        debug_hiding(
            f,
            "NewShare",
            ("link", &self.link),
            ("path", "/share/<redacted>"),
        )
    }
}

/// A two-field struct's `Debug`: the `shown` field as it is, the secret
/// one as `hidden` says, so that the secret never reaches a log.
pub fn debug_hiding(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    shown: (&str, &dyn fmt::Debug),
    hidden: (&str, &str),
) -> fmt::Result {
    f.debug_struct(name)
        .field(shown.0, shown.1)
        .field(hidden.0, &hidden.1)
        .finish()
}

/// A share link as stored (never the token itself, only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLink {
    /// Its number in the store.
    pub id: i64,
    /// The run whose report it opens.
    pub run_id: String,
    /// Who created it.
    pub created_by: String,
    /// When, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When it stops working.
    pub expires_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

impl ShareLink {
    /// Whether it opens the report at `now_ms`.
    pub fn usable(&self, now_ms: i64) -> bool {
        self.revoked_at_ms.is_none() && now_ms < self.expires_at_ms
    }
}

/// A run an approver pinned as the baseline of its plan in its
/// environment: relative criteria (`baseline.L1.p95_ms`) compare with it
/// instead of the last GO run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselinePin {
    /// The plan's name.
    pub plan: String,
    /// The environment.
    pub environment: String,
    /// The pinned run.
    pub run_id: String,
    /// The approver who pinned it.
    pub pinned_by: String,
    /// When, milliseconds since the Unix epoch.
    pub pinned_at_ms: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number (increasing).
    pub id: i64,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Who did it (a user name, `local`, `cli`, or `anonymous`).
    pub actor: String,
    /// What: `login`, `login_failed`, `logout`, `run_launched`,
    /// `run_aborted`, `signoff`, `share_created`, `share_revoked`,
    /// `baseline_pinned`, `user_added`, `user_changed`, `token_created`.
    pub action: String,
    /// What it was done to (a run id, a user name).
    pub target: String,
    /// Anything else worth knowing (never a secret).
    pub detail: String,
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
