//! Where users, sessions, API tokens, sign-offs, share links and the audit
//! log are kept: the interface the server and the web app's server
//! functions use, whichever database sits behind it. Tokens arrive here
//! already hashed; passwords already hashed with argon2.

use crate::access::{
    ApprovalError, AuditEntry, BaselinePin, Decision, NewShare, Principal, Role, ShareLink,
    SignOff, SignOffState, SignRequest, User,
};
use crate::store::StoreError;
use async_trait::async_trait;

/// A user with what logging in needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The argon2 PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::access::debug_hiding(
            f,
            "Credentials",
            ("user", &self.user),
            ("password_hash", "<redacted>"),
        )
    }
}

/// A sign-off about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignOff {
    pub run_id: String,
    pub approver: String,
    pub decision: Decision,
    pub comment: String,
    pub override_reason: Option<String>,
    pub evidence_version: u32,
    pub manifest_sha256: String,
    pub at_ms: i64,
}

/// Reads and writes who may do what, and what they did.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds a user; `Conflict` when the name is taken.
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        at_ms: i64,
    ) -> Result<User, StoreError>;
    /// Changes a user's role, password hash or disabled flag (what is `Some`).
    async fn update_user(
        &self,
        name: &str,
        role: Option<Role>,
        password_hash: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<User, StoreError>;
    /// A user and their password hash, `None` when there is no such user.
    async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    /// Stores a session (by the hash of its token) until `expires_at_ms`.
    async fn add_session(
        &self,
        token_sha256: &str,
        user: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The enabled user whose unexpired session has this token hash.
    async fn session_user(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError>;
    /// Ends a session.
    async fn remove_session(&self, token_sha256: &str) -> Result<(), StoreError>;

    /// Stores an API token (by hash) for a user, with a label.
    async fn add_api_token(
        &self,
        token_sha256: &str,
        user: &str,
        label: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The enabled user owning this unexpired API token.
    async fn api_token_user(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError>;

    /// Appends a sign-off and returns it with its id.
    async fn add_signoff(&self, signoff: NewSignOff) -> Result<SignOff, StoreError>;
    /// A run's sign-offs, oldest first.
    async fn signoffs(&self, run_id: &str) -> Result<Vec<SignOff>, StoreError>;

    /// Stores a share link (by the hash of its token).
    async fn add_share(
        &self,
        run_id: &str,
        token_sha256: &str,
        created_by: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<ShareLink, StoreError>;
    /// The link with this token hash, usable or not.
    async fn share_by_token(&self, token_sha256: &str) -> Result<Option<ShareLink>, StoreError>;
    /// A run's share links, newest first.
    async fn shares(&self, run_id: &str) -> Result<Vec<ShareLink>, StoreError>;
    /// Revokes a link of the run; `NotFound` when the run has no such link.
    async fn revoke_share(
        &self,
        run_id: &str,
        id: i64,
        at_ms: i64,
    ) -> Result<ShareLink, StoreError>;

    /// Appends to the audit log.
    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The newest `limit` audit entries, newest first.
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Sign-offs and share links with their rules (who may, what must hold),
/// shared by the web app's server functions and the API.
#[async_trait]
pub trait Approvals: Send + Sync {
    /// The run's sign-off block.
    async fn state(&self, run_id: &str) -> Result<SignOffState, ApprovalError>;
    /// Records a sign-off by `by` (an approver) on the run's evidence.
    async fn sign(
        &self,
        by: &Principal,
        run_id: &str,
        request: SignRequest,
    ) -> Result<SignOffState, ApprovalError>;
    /// Creates a read-only link to the run's report, valid for `days`.
    async fn create_share(
        &self,
        by: &Principal,
        run_id: &str,
        days: u32,
    ) -> Result<NewShare, ApprovalError>;
    /// The run's share links.
    async fn shares(&self, run_id: &str) -> Result<Vec<ShareLink>, ApprovalError>;
    /// Revokes one.
    async fn revoke_share(
        &self,
        by: &Principal,
        run_id: &str,
        id: i64,
    ) -> Result<ShareLink, ApprovalError>;
    /// The run a share token opens; refused (410) when expired or revoked,
    /// 404 when unknown.
    async fn open_share(&self, token: &str) -> Result<String, ApprovalError>;
    /// The baseline pinned for the run's plan in its environment, if any.
    async fn baseline_pin(&self, run_id: &str) -> Result<Option<BaselinePin>, ApprovalError>;
    /// Pins the run (finished) as the baseline of its plan in its
    /// environment; approvers only, never the run's own launcher.
    async fn pin_baseline(
        &self,
        by: &Principal,
        run_id: &str,
    ) -> Result<BaselinePin, ApprovalError>;
}
