//! The sign-off table: each approver's decision, bound to a pack's
//! manifest digest, and whether it still counts.

use engine::access::SignOffState;
use serde::Serialize;

/// One approver's decision, bound to a pack's manifest digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignOff {
    pub approver: String,
    /// GO or NO-GO.
    pub decision: String,
    pub comment: String,
    /// Why they signed GO over failed criteria.
    pub override_reason: Option<String>,
    /// When, as `YYYY-MM-DD HH:MM:SS UTC`.
    pub at: String,
    /// The manifest digest they signed.
    pub manifest_digest: String,
    /// `counts`, `superseded` or `VOID` (evidence changed since).
    pub state: String,
}

impl SignOff {
    pub(super) fn rows(state: &SignOffState) -> Vec<SignOff> {
        state
            .signoffs
            .iter()
            .map(|v| SignOff {
                approver: v.signoff.approver.clone(),
                decision: v.signoff.decision.label().to_owned(),
                comment: v.signoff.comment.clone(),
                override_reason: v.signoff.override_reason.clone(),
                at: engine::run::format_utc(v.signoff.at_ms),
                manifest_digest: v.signoff.manifest_sha256.clone(),
                state: if v.void {
                    "VOID"
                } else if v.superseded {
                    "superseded"
                } else {
                    "counts"
                }
                .to_owned(),
            })
            .collect()
    }
}
