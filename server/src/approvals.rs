//! Sign-offs and share links with their rules: only finished runs whose
//! recorded evidence still verifies can be signed; a sign-off is bound to
//! that pack's manifest digest and void when the pack no longer matches;
//! GO over failed criteria needs an override reason; every sign-off writes a
//! new pack version carrying the sign-off block. A run needs the larger of
//! the server's required approvals for its environment
//! ([`ApprovalPolicy`]) and what its plan asks. Share links are random
//! tokens stored hashed, with an expiry, revocable. Everything is audited.

use crate::approval_policy::ApprovalPolicy;
use crate::auth::token;
use crate::db::Db;
use crate::evidence::pack::{self, VerifiedPack};
use crate::evidence::store::ObjectStore;
use async_trait::async_trait;
use engine::access::{
    tally, ApprovalError, BaselinePin, Decision, NewShare, Principal, Role, ShareLink, SignOff,
    SignOffState, SignRequest,
};
use engine::access_store::{AccessStore, Approvals, NewSignOff};
use engine::results::RunResults;
use engine::run::RunSummary;
use engine::run::{now_ms, RunStatus};
use engine::store::{RunStore, StoreError};
use std::sync::Arc;

/// Longest comment or override reason accepted.
const MAX_TEXT: usize = 4000;
/// Longest share link lifetime, in days.
pub const MAX_SHARE_DAYS: u32 = 365;

/// The server's sign-off and share-link service.
pub struct ApprovalService {
    db: Db,
    evidence: Arc<dyn ObjectStore>,
    policy: ApprovalPolicy,
}

fn store_error(e: StoreError) -> ApprovalError {
    match e {
        StoreError::NotFound(id) => ApprovalError::status(404, format!("no run with id {id}")),
        other => ApprovalError::status(503, other.to_string()),
    }
}

/// Refused with 403 and `message` unless `by` has `role`.
fn require_role(
    by: &Principal,
    role: Role,
    message: impl FnOnce() -> String,
) -> Result<(), ApprovalError> {
    if by.can(role) {
        Ok(())
    } else {
        Err(ApprovalError::status(403, message()))
    }
}

/// The request's comment and override reason, trimmed (an empty reason is
/// none), or which of them is missing or too long.
fn checked_texts(request: &SignRequest) -> Result<(String, Option<String>), ApprovalError> {
    let too_long = |field| ApprovalError::field(field, format!("at most {MAX_TEXT} characters"));
    let comment = request.comment.trim().to_owned();
    if comment.is_empty() {
        return Err(ApprovalError::field("comment", "write a comment: say why"));
    }
    if comment.chars().count() > MAX_TEXT {
        return Err(too_long("comment"));
    }
    let override_reason = request
        .override_reason
        .as_ref()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if override_reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_TEXT)
    {
        return Err(too_long("override_reason"));
    }
    Ok((comment, override_reason))
}

/// Why signing GO on this state needs an override reason, if it does: tests
/// were left out, or criteria failed.
fn go_needs_override(state: &SignOffState) -> Option<String> {
    if !state.left_out_tests.is_empty() {
        Some(format!(
            "a partial run (tests {} left out): signing GO needs an override reason",
            state.left_out_tests.join(", ")
        ))
    } else if state.failed_criteria > 0 {
        Some(format!(
            "{} criteria failed: signing GO needs an override reason",
            state.failed_criteria
        ))
    } else {
        None
    }
}

/// The recorded pack of a run, read back and checked.
struct Evidence {
    version: u32,
    recorded_sha256: String,
    pack: Option<VerifiedPack>,
}

impl Evidence {
    /// The digest as it reads now, when the pack verifies and matches
    /// what was recorded.
    fn current_sha256(&self) -> Option<&str> {
        self.pack
            .as_ref()
            .filter(|p| p.intact() && p.manifest_digest == self.recorded_sha256)
            .map(|p| p.manifest_digest.as_str())
    }

    fn results(&self) -> Option<RunResults> {
        let bytes = self.pack.as_ref()?.file("results.json")?;
        crate::report::parse_results(bytes).ok()
    }
}

/// What a run's sign-off block is computed from, read once: the run, its
/// recorded evidence pack (verified) and that pack's results.
struct RunRead {
    run: RunSummary,
    evidence: Option<Evidence>,
    results: Option<RunResults>,
}

impl RunRead {
    /// The sign-off block given the run's sign-offs, under the server's
    /// approval policy: the plan may ask for more approvals, never fewer.
    fn state(&self, policy: &ApprovalPolicy, signoffs: &[SignOff]) -> SignOffState {
        let (run, evidence, results) = (&self.run, &self.evidence, &self.results);
        let current = evidence.as_ref().and_then(Evidence::current_sha256);
        let (environment, asked) = results.as_ref().map_or((run.environment.as_str(), 1), |r| {
            (
                r.environment.name.as_str(),
                r.environment.required_approvals,
            )
        });
        let requirement = policy.requirement(environment, asked);
        let required = requirement.required;
        let (views, decision) = tally(signoffs, current, required);
        let not_signable_because = if run.status != RunStatus::Finished {
            Some(format!(
                "only finished runs can be signed; this one is {}",
                run.status.as_str()
            ))
        } else if evidence.is_none() {
            Some("the run has no recorded evidence pack".to_owned())
        } else if current.is_none() {
            Some("the evidence no longer matches its recorded manifest digest".to_owned())
        } else if results.is_none() {
            Some("the evidence pack has no readable results.json".to_owned())
        } else {
            None
        };
        let failed = results
            .as_ref()
            .map_or(0, |r| r.criteria.iter().filter(|c| !c.passed).count());
        SignOffState {
            left_out_tests: results
                .as_ref()
                .map(|r| r.plan.deselected_tests.clone())
                .unwrap_or_default(),
            recommendation: run.verdict,
            failed_criteria: u32::try_from(failed).unwrap_or(u32::MAX),
            signable: not_signable_because.is_none(),
            not_signable_because,
            evidence_version: evidence.as_ref().map(|e| e.version),
            manifest_sha256: evidence.as_ref().map(|e| e.recorded_sha256.clone()),
            evidence_intact: current.is_some(),
            required_approvals: required.max(1),
            required_approvals_source: Some(requirement.source),
            signoffs: views,
            decision,
        }
    }
}

impl ApprovalService {
    pub fn new(db: Db, evidence: Arc<dyn ObjectStore>, policy: ApprovalPolicy) -> Self {
        ApprovalService {
            db,
            evidence,
            policy,
        }
    }

    async fn evidence(&self, run_id: &str) -> Result<Option<Evidence>, ApprovalError> {
        let Some((version, recorded_sha256)) =
            self.db.evidence_of(run_id).await.map_err(store_error)?
        else {
            return Ok(None);
        };
        let pack = pack::read_pack(self.evidence.as_ref(), run_id, Some(version))
            .await
            .ok();
        Ok(Some(Evidence {
            version,
            recorded_sha256,
            pack,
        }))
    }

    /// Reads the run and its recorded pack (verifying every file) once.
    async fn read(&self, run_id: &str) -> Result<RunRead, ApprovalError> {
        let run = self.db.get_run(run_id).await.map_err(store_error)?;
        let evidence = self.evidence(run_id).await?;
        let results = evidence.as_ref().and_then(Evidence::results);
        Ok(RunRead {
            run,
            evidence,
            results,
        })
    }

    /// The sign-off block of what was read, with the run's sign-offs as
    /// they are stored now.
    async fn state_of(&self, read: &RunRead, run_id: &str) -> Result<SignOffState, ApprovalError> {
        let signoffs = self.db.signoffs(run_id).await.map_err(store_error)?;
        Ok(read.state(&self.policy, &signoffs))
    }

    /// Separation of duties: whoever launched a run does not approve it
    /// (local mode has one identity for everyone, so it is exempt).
    /// `what` is what another approver must do instead (`sign it off`).
    async fn refuse_own_run(
        &self,
        by: &Principal,
        run_id: &str,
        what: &str,
    ) -> Result<(), ApprovalError> {
        if by.local {
            return Ok(());
        }
        let launcher = self.db.launched_by(run_id).await.map_err(store_error)?;
        if launcher.as_deref() == Some(by.name.as_str()) {
            return Err(ApprovalError::status(
                403,
                format!(
                    "{} launched this run: another approver must {what}",
                    by.name
                ),
            ));
        }
        Ok(())
    }

    async fn audit(&self, by: &str, action: &str, target: &str, detail: &str) {
        if let Err(e) = self.db.audit(by, action, target, detail, now_ms()).await {
            tracing::warn!("audit log: cannot record {action} on {target}: {e}");
        }
    }

    /// Writes a new pack version: the signed pack's files with the sign-off
    /// block in results.json, report.md and report.html.
    async fn reexport(&self, results: &RunResults, state: &SignOffState) -> Result<(), String> {
        let mut signed = results.clone();
        signed.signoff = Some(state.clone());
        let previous = crate::evidence::record::previous_run(self.evidence.as_ref(), results).await;
        let files =
            crate::report::pack_files(&signed, previous.as_ref()).map_err(|e| e.to_string())?;
        pack::write_pack(self.evidence.as_ref(), &results.run_id, files, now_ms())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Approvals for ApprovalService {
    async fn state(&self, run_id: &str) -> Result<SignOffState, ApprovalError> {
        let read = self.read(run_id).await?;
        self.state_of(&read, run_id).await
    }

    async fn sign(
        &self,
        by: &Principal,
        run_id: &str,
        request: SignRequest,
    ) -> Result<SignOffState, ApprovalError> {
        require_role(by, Role::Approver, || {
            format!("{} may not sign off: it needs the approver role", by.role)
        })?;
        let (comment, override_reason) = checked_texts(&request)?;
        self.refuse_own_run(by, run_id, "sign it off").await?;
        let read = self.read(run_id).await?;
        let before = self.state_of(&read, run_id).await?;
        if let Some(why) = &before.not_signable_because {
            return Err(ApprovalError::status(409, format!("cannot sign: {why}")));
        }
        if request.decision == Decision::Go && override_reason.is_none() {
            if let Some(why) = go_needs_override(&before) {
                return Err(ApprovalError::field("override_reason", why));
            }
        }
        let (Some(version), Some(digest)) =
            (before.evidence_version, before.manifest_sha256.clone())
        else {
            return Err(ApprovalError::status(409, "cannot sign: no evidence"));
        };
        // Signable means the pack verified and its results were readable.
        let Some(results) = read.results.as_ref() else {
            return Err(ApprovalError::status(409, "cannot sign: no results"));
        };
        let signoff = self
            .db
            .add_signoff(NewSignOff {
                run_id: run_id.to_owned(),
                approver: by.name.clone(),
                decision: request.decision,
                comment,
                override_reason: override_reason.filter(|_| request.decision == Decision::Go),
                evidence_version: version,
                manifest_sha256: digest.clone(),
                at_ms: now_ms(),
            })
            .await
            .map_err(store_error)?;
        let overridden = if signoff.override_reason.is_some() {
            " (override)"
        } else {
            ""
        };
        let detail = format!(
            "{}{overridden} on manifest {digest}",
            signoff.decision.label()
        );
        self.audit(&by.name, "signoff", run_id, &detail).await;
        let after = self.state_of(&read, run_id).await?;
        if let Err(e) = self.reexport(results, &after).await {
            tracing::warn!(
                "run {run_id}: sign-off recorded, but the signed pack could not be written: {e}"
            );
        }
        Ok(after)
    }

    async fn create_share(
        &self,
        by: &Principal,
        run_id: &str,
        days: u32,
    ) -> Result<NewShare, ApprovalError> {
        require_role(by, Role::Operator, || {
            format!(
                "{} may not share reports: it needs the operator role",
                by.role
            )
        })?;
        if days == 0 || days > MAX_SHARE_DAYS {
            return Err(ApprovalError::field(
                "days",
                format!("between 1 and {MAX_SHARE_DAYS} days"),
            ));
        }
        self.db.get_run(run_id).await.map_err(store_error)?;
        let secret = token::generate();
        let now = now_ms();
        let link = self
            .db
            .add_share(
                run_id,
                &token::digest(&secret),
                &by.name,
                now,
                now + i64::from(days) * 86_400_000,
            )
            .await
            .map_err(store_error)?;
        self.audit(
            &by.name,
            "share_created",
            run_id,
            &format!("link {} for {days} days", link.id),
        )
        .await;
        Ok(NewShare {
            link,
            path: format!("/share/{secret}"),
        })
    }

    async fn shares(&self, run_id: &str) -> Result<Vec<ShareLink>, ApprovalError> {
        self.db.shares(run_id).await.map_err(store_error)
    }

    async fn revoke_share(
        &self,
        by: &Principal,
        run_id: &str,
        id: i64,
    ) -> Result<ShareLink, ApprovalError> {
        require_role(by, Role::Operator, || {
            format!("{} may not revoke share links", by.role)
        })?;
        let link = self
            .db
            .shares(run_id)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or_else(|| {
                ApprovalError::status(404, format!("run {run_id} has no share link {id}"))
            })?;
        if link.created_by != by.name && !by.can(Role::Admin) {
            return Err(ApprovalError::status(
                403,
                "only its creator or an admin may revoke this link",
            ));
        }
        let revoked = self
            .db
            .revoke_share(run_id, id, now_ms())
            .await
            .map_err(store_error)?;
        self.audit(&by.name, "share_revoked", run_id, &format!("link {id}"))
            .await;
        Ok(revoked)
    }

    async fn baseline_pin(&self, run_id: &str) -> Result<Option<BaselinePin>, ApprovalError> {
        let run = self.db.get_run(run_id).await.map_err(store_error)?;
        self.db
            .baseline_pin(&run.plan, &run.environment)
            .await
            .map_err(store_error)
    }

    async fn pin_baseline(
        &self,
        by: &Principal,
        run_id: &str,
    ) -> Result<BaselinePin, ApprovalError> {
        require_role(by, Role::Approver, || {
            format!(
                "{} may not pin a baseline: it needs the approver role",
                by.role
            )
        })?;
        // Whoever launched a run does not choose it as the yardstick of
        // the runs after it, as they do not approve it.
        self.refuse_own_run(by, run_id, "pin it as a baseline")
            .await?;
        let pin = self
            .db
            .pin_baseline(run_id, &by.name)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(message) => ApprovalError::status(409, message),
                other => store_error(other),
            })?;
        let detail = format!("baseline of plan {} in {}", pin.plan, pin.environment);
        self.audit(&by.name, "baseline_pinned", run_id, &detail)
            .await;
        Ok(pin)
    }

    async fn open_share(&self, secret: &str) -> Result<String, ApprovalError> {
        let link = self
            .db
            .share_by_token(&token::digest(secret))
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                ApprovalError::status(
                    404,
                    "this share link does not exist (check it was copied whole)",
                )
            })?;
        if link.revoked_at_ms.is_some() {
            return Err(ApprovalError::status(410, "this share link was revoked"));
        }
        if !link.usable(now_ms()) {
            return Err(ApprovalError::status(
                410,
                format!(
                    "this share link expired on {}",
                    engine::run::format_utc(link.expires_at_ms)
                ),
            ));
        }
        Ok(link.run_id)
    }
}
