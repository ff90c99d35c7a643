//! Reading users, sign-offs, share links and audit entries from their rows,
//! with the columns each query selects.

use crate::db::{column, corrupt};
use engine::access::{AuditEntry, Decision, ShareLink, SignOff, User};
use engine::store::StoreError;
use sqlx::any::AnyRow;

pub(super) const USER_COLUMNS: &str = "name, role, disabled, created_at_ms";

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = column(row, "role")?;
    let disabled: i64 = column(row, "disabled")?;
    Ok(User {
        name: column(row, "name")?,
        role: role.parse().map_err(corrupt)?,
        disabled: disabled != 0,
        created_at_ms: column(row, "created_at_ms")?,
    })
}

pub(super) const SIGNOFF_COLUMNS: &str = "id, run_id, approver, decision, comment, \
                                          override_reason, evidence_version, manifest_sha256, at_ms";

pub(super) fn signoff_from_row(row: &AnyRow) -> Result<SignOff, StoreError> {
    let decision: String = column(row, "decision")?;
    let version: i64 = column(row, "evidence_version")?;
    Ok(SignOff {
        id: column(row, "id")?,
        run_id: column(row, "run_id")?,
        approver: column(row, "approver")?,
        decision: decision.parse::<Decision>().map_err(corrupt)?,
        comment: column(row, "comment")?,
        override_reason: column(row, "override_reason")?,
        evidence_version: u32::try_from(version).map_err(corrupt)?,
        manifest_sha256: column(row, "manifest_sha256")?,
        at_ms: column(row, "at_ms")?,
    })
}

pub(super) const SHARE_COLUMNS: &str =
    "id, run_id, created_by, created_at_ms, expires_at_ms, revoked_at_ms";

pub(super) fn share_from_row(row: &AnyRow) -> Result<ShareLink, StoreError> {
    Ok(ShareLink {
        id: column(row, "id")?,
        run_id: column(row, "run_id")?,
        created_by: column(row, "created_by")?,
        created_at_ms: column(row, "created_at_ms")?,
        expires_at_ms: column(row, "expires_at_ms")?,
        revoked_at_ms: column(row, "revoked_at_ms")?,
    })
}

pub(super) const AUDIT_COLUMNS: &str = "id, at_ms, actor, action, target, detail";

pub(super) fn audit_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: column(row, "id")?,
        at_ms: column(row, "at_ms")?,
        actor: column(row, "actor")?,
        action: column(row, "action")?,
        target: column(row, "target")?,
        detail: column(row, "detail")?,
    })
}
