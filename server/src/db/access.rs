//! The database behind the engine's `AccessStore`: users, sessions, API
//! tokens, sign-offs, share links and the audit log, on SQLite and
//! PostgreSQL alike (migration 0030). Listing and revoking API tokens
//! (`shakedown token list|revoke`) are the server's own, beside the trait.

use crate::db::{db_error, found, Db};
use async_trait::async_trait;
use engine::access::{AuditEntry, Decision, Role, ShareLink, SignOff, User};
use engine::access_store::{AccessStore, Credentials, NewSignOff};
use engine::store::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

const USER_COLUMNS: &str = "name, role, disabled, created_at_ms";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role").map_err(db_error)?;
    let disabled: i64 = row.try_get("disabled").map_err(db_error)?;
    Ok(User {
        name: row.try_get("name").map_err(db_error)?,
        role: role.parse().map_err(corrupt)?,
        disabled: disabled != 0,
        created_at_ms: row.try_get("created_at_ms").map_err(db_error)?,
    })
}

const SIGNOFF_COLUMNS: &str = "id, run_id, approver, decision, comment, override_reason, \
                               evidence_version, manifest_sha256, at_ms";

fn signoff_from_row(row: &AnyRow) -> Result<SignOff, StoreError> {
    let decision: String = row.try_get("decision").map_err(db_error)?;
    let version: i64 = row.try_get("evidence_version").map_err(db_error)?;
    Ok(SignOff {
        id: row.try_get("id").map_err(db_error)?,
        run_id: row.try_get("run_id").map_err(db_error)?,
        approver: row.try_get("approver").map_err(db_error)?,
        decision: decision.parse::<Decision>().map_err(corrupt)?,
        comment: row.try_get("comment").map_err(db_error)?,
        override_reason: row.try_get("override_reason").map_err(db_error)?,
        evidence_version: u32::try_from(version).map_err(corrupt)?,
        manifest_sha256: row.try_get("manifest_sha256").map_err(db_error)?,
        at_ms: row.try_get("at_ms").map_err(db_error)?,
    })
}

const SHARE_COLUMNS: &str = "id, run_id, created_by, created_at_ms, expires_at_ms, revoked_at_ms";

fn share_from_row(row: &AnyRow) -> Result<ShareLink, StoreError> {
    Ok(ShareLink {
        id: row.try_get("id").map_err(db_error)?,
        run_id: row.try_get("run_id").map_err(db_error)?,
        created_by: row.try_get("created_by").map_err(db_error)?,
        created_at_ms: row.try_get("created_at_ms").map_err(db_error)?,
        expires_at_ms: row.try_get("expires_at_ms").map_err(db_error)?,
        revoked_at_ms: row.try_get("revoked_at_ms").map_err(db_error)?,
    })
}

/// How many hex digits of a token's stored sha256 name it in listings.
pub const TOKEN_ID_LEN: usize = 12;

/// An API token as listed: never the token, an id made of the first
/// [`TOKEN_ID_LEN`] hex digits of its stored sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: String,
    pub user: String,
    pub label: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

fn token_from_row(row: &AnyRow) -> Result<ApiTokenInfo, StoreError> {
    let digest: String = row.try_get("token_sha256").map_err(db_error)?;
    Ok(ApiTokenInfo {
        id: digest.chars().take(TOKEN_ID_LEN).collect(),
        user: row.try_get("user_name").map_err(db_error)?,
        label: row.try_get("label").map_err(db_error)?,
        created_at_ms: row.try_get("created_at_ms").map_err(db_error)?,
        expires_at_ms: row.try_get("expires_at_ms").map_err(db_error)?,
    })
}

const TOKEN_COLUMNS: &str = "token_sha256, user_name, label, created_at_ms, expires_at_ms";

impl Db {
    /// API tokens (expired ones too, until revoked), of one user or all,
    /// by user and age.
    pub async fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens \
             WHERE CAST($1 AS TEXT) IS NULL OR user_name = $1 \
             ORDER BY user_name, created_at_ms, token_sha256"
        ))
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(token_from_row).collect()
    }

    /// Deletes the API token whose id (the start of its sha256, at least 8
    /// hex digits) is `id`, and returns it; refused when no token or more
    /// than one has that id.
    pub async fn revoke_api_token(&self, id: &str) -> Result<ApiTokenInfo, StoreError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::Conflict(format!(
                "{id:?} is not a token id (8 to 64 hex digits, as `shakedown token list` shows)"
            )));
        }
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 LIKE $1"
        ))
        .bind(format!("{id}%"))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let row = match rows.as_slice() {
            [row] => row,
            [] => return Err(StoreError::Conflict(format!("no API token with id {id}"))),
            _ => {
                return Err(StoreError::Conflict(format!(
                    "more than one API token has an id starting {id}: give more digits"
                )))
            }
        };
        let digest: String = row.try_get("token_sha256").map_err(db_error)?;
        let token = token_from_row(row)?;
        sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = $1")
            .bind(&digest)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(token)
    }

    async fn user(&self, name: &str) -> Result<User, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StoreError::Conflict(format!("no user named {name:?}")))?;
        user_from_row(&row)
    }

    /// The enabled owner of an unexpired token in `table`.
    async fn token_owner(
        &self,
        table: &str,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT u.name, u.role, u.disabled, u.created_at_ms FROM {table} t \
             JOIN users u ON u.name = t.user_name \
             WHERE t.token_sha256 = $1 AND t.expires_at_ms > $2 AND u.disabled = 0"
        ))
        .bind(token_sha256)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(user_from_row).transpose()
    }
}

#[async_trait]
impl AccessStore for Db {
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        at_ms: i64,
    ) -> Result<User, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, disabled, created_at_ms) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a user named {name:?} already exists"
            )));
        }
        self.user(name).await
    }

    async fn update_user(
        &self,
        name: &str,
        role: Option<Role>,
        password_hash: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE users SET role = COALESCE(CAST($1 AS TEXT), role), \
             password_hash = COALESCE(CAST($2 AS TEXT), password_hash), \
             disabled = COALESCE(CAST($3 AS BIGINT), disabled) WHERE name = $4",
        )
        .bind(role.map(|r| r.as_str()))
        .bind(password_hash)
        .bind(disabled.map(i64::from))
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("no user named {name:?}")));
        }
        // A new password, a new role or disabling ends every session: the
        // user logs in again under the new terms.
        sqlx::query("DELETE FROM sessions WHERE user_name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        // A new password or disabling also ends their API tokens (a leaked
        // password is changed, a departed user disabled: neither should
        // leave a working token behind; enabling again does not bring
        // them back).
        if password_hash.is_some() || disabled == Some(true) {
            sqlx::query("DELETE FROM api_tokens WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.user(name).await
    }

    async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| {
            Ok(Credentials {
                user: user_from_row(&row)?,
                password_hash: row.try_get("password_hash").map_err(db_error)?,
            })
        })
        .transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn add_session(
        &self,
        token_sha256: &str,
        user: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        // Expired sessions are swept whenever a new one starts.
        sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1")
            .bind(created_at_ms)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO sessions (token_sha256, user_name, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_sha256)
        .bind(user)
        .bind(created_at_ms)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn session_user(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        self.token_owner("sessions", token_sha256, now_ms).await
    }

    async fn remove_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .bind(token_sha256)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn add_api_token(
        &self,
        token_sha256: &str,
        user: &str,
        label: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.user(user).await?;
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, user_name, label, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(user)
        .bind(label)
        .bind(created_at_ms)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn api_token_user(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        self.token_owner("api_tokens", token_sha256, now_ms).await
    }

    async fn add_signoff(&self, s: NewSignOff) -> Result<SignOff, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO signoffs (run_id, approver, decision, comment, override_reason, \
             evidence_version, manifest_sha256, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {SIGNOFF_COLUMNS}"
        ))
        .bind(&s.run_id)
        .bind(&s.approver)
        .bind(s.decision.as_str())
        .bind(&s.comment)
        .bind(s.override_reason.as_deref())
        .bind(i64::from(s.evidence_version))
        .bind(&s.manifest_sha256)
        .bind(s.at_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        signoff_from_row(&row)
    }

    async fn signoffs(&self, run_id: &str) -> Result<Vec<SignOff>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SIGNOFF_COLUMNS} FROM signoffs WHERE run_id = $1 ORDER BY id"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(signoff_from_row).collect()
    }

    async fn add_share(
        &self,
        run_id: &str,
        token_sha256: &str,
        created_by: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<ShareLink, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO share_links (run_id, token_sha256, created_by, created_at_ms, \
             expires_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING {SHARE_COLUMNS}"
        ))
        .bind(run_id)
        .bind(token_sha256)
        .bind(created_by)
        .bind(created_at_ms)
        .bind(expires_at_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        share_from_row(&row)
    }

    async fn share_by_token(&self, token_sha256: &str) -> Result<Option<ShareLink>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SHARE_COLUMNS} FROM share_links WHERE token_sha256 = $1"
        ))
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(share_from_row).transpose()
    }

    async fn shares(&self, run_id: &str) -> Result<Vec<ShareLink>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SHARE_COLUMNS} FROM share_links WHERE run_id = $1 ORDER BY id DESC"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(share_from_row).collect()
    }

    async fn revoke_share(
        &self,
        run_id: &str,
        id: i64,
        at_ms: i64,
    ) -> Result<ShareLink, StoreError> {
        let done = sqlx::query(
            "UPDATE share_links SET revoked_at_ms = COALESCE(revoked_at_ms, $1) \
             WHERE id = $2 AND run_id = $3",
        )
        .bind(at_ms)
        .bind(id)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        found(done.rows_affected(), &format!("{run_id} share link {id}"))?;
        let row = sqlx::query(&format!(
            "SELECT {SHARE_COLUMNS} FROM share_links WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        share_from_row(&row)
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(at_ms)
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id").map_err(db_error)?,
                    at_ms: row.try_get("at_ms").map_err(db_error)?,
                    actor: row.try_get("actor").map_err(db_error)?,
                    action: row.try_get("action").map_err(db_error)?,
                    target: row.try_get("target").map_err(db_error)?,
                    detail: row.try_get("detail").map_err(db_error)?,
                })
            })
            .collect()
    }
}

impl Db {
    /// Who launched a run from the web app or the API (the audit log's
    /// `run_launched` entry); `None` for runs started headless.
    pub async fn launched_by(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT actor FROM audit_log WHERE action = 'run_launched' AND target = $1 ORDER BY id LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| row.try_get("actor").map_err(db_error))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use engine::store::{NewRun, RunStore};

    async fn exercise(db: Db) {
        let user = db
            .add_user("ann", Role::Approver, "$argon2id$x", 5)
            .await
            .unwrap();
        assert_eq!(user.role, Role::Approver);
        let again = db.add_user("ann", Role::Viewer, "h", 6).await.unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        let creds = db.credentials("ann").await.unwrap().unwrap();
        assert_eq!(creds.password_hash, "$argon2id$x");
        assert!(db.credentials("nobody").await.unwrap().is_none());

        db.add_session("s1", "ann", 10, 100).await.unwrap();
        assert_eq!(
            db.session_user("s1", 50).await.unwrap().unwrap().name,
            "ann"
        );
        assert!(
            db.session_user("s1", 100).await.unwrap().is_none(),
            "expired"
        );
        assert!(db.session_user("s2", 50).await.unwrap().is_none());
        db.update_user("ann", None, None, Some(true)).await.unwrap();
        assert!(
            db.session_user("s1", 50).await.unwrap().is_none(),
            "ended by the change"
        );
        db.add_session("s3", "ann", 10, 100).await.unwrap();
        assert!(
            db.session_user("s3", 50).await.unwrap().is_none(),
            "disabled user"
        );
        let ann = db
            .update_user("ann", Some(Role::Admin), None, Some(false))
            .await
            .unwrap();
        assert_eq!(ann.role, Role::Admin);
        assert!(!ann.disabled);

        db.add_api_token("t1", "ann", "ci", 10, 1000).await.unwrap();
        assert_eq!(
            db.api_token_user("t1", 20).await.unwrap().unwrap().name,
            "ann"
        );
        assert!(db
            .add_api_token("t2", "ghost", "ci", 10, 1000)
            .await
            .is_err());
        api_tokens(&db).await;

        let run = db
            .create_run(NewRun {
                plan: "p".into(),
                environment: "e".into(),
            })
            .await
            .unwrap();
        for (decision, comment) in [(Decision::NoGo, "first"), (Decision::Go, "second")] {
            db.add_signoff(NewSignOff {
                run_id: run.id.clone(),
                approver: "ann".into(),
                decision,
                comment: comment.into(),
                override_reason: None,
                evidence_version: 1,
                manifest_sha256: "abc".into(),
                at_ms: 30,
            })
            .await
            .unwrap();
        }
        let all = db.signoffs(&run.id).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].id < all[1].id);
        assert_eq!(all[1].decision, Decision::Go);

        let link = db.add_share(&run.id, "h1", "ann", 1, 500).await.unwrap();
        assert_eq!(db.share_by_token("h1").await.unwrap().unwrap().id, link.id);
        let revoked = db.revoke_share(&run.id, link.id, 7).await.unwrap();
        assert_eq!(revoked.revoked_at_ms, Some(7));
        assert!(db.revoke_share("other", link.id, 8).await.is_err());
        assert_eq!(db.shares(&run.id).await.unwrap().len(), 1);

        db.audit("ann", "login", "ann", "", 1).await.unwrap();
        db.audit("ann", "signoff", &run.id, "go", 2).await.unwrap();
        let log = db.audit_log(10).await.unwrap();
        assert_eq!(log[0].action, "signoff");
        assert_eq!(log[1].action, "login");
    }

    /// Tokens are listed by id (never the token), revoked by id, and end
    /// with a new password or disabling, not with a role change.
    async fn api_tokens(db: &Db) {
        db.add_user("tia", Role::Operator, "$argon2id$x", 5)
            .await
            .unwrap();
        let digests = [
            "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111",
            "aaaaaaaaaaaa2222222222222222222222222222222222222222222222222222",
            "bbbbbbbbbbbb3333333333333333333333333333333333333333333333333333",
        ];
        for (i, d) in digests.iter().enumerate() {
            db.add_api_token(d, "tia", &format!("label{i}"), 10 + i as i64, 1000)
                .await
                .unwrap();
        }
        let mine = db.api_tokens(Some("tia")).await.unwrap();
        assert_eq!(mine.len(), 3);
        assert_eq!(mine[0].id, "aaaaaaaaaaaa");
        assert_eq!(mine[0].label, "label0");
        assert_eq!(db.api_tokens(None).await.unwrap().len(), 4, "ann's too");
        assert!(db.api_tokens(Some("nobody")).await.unwrap().is_empty());
        let ambiguous = db.revoke_api_token("aaaaaaaaaaaa").await.unwrap_err();
        assert!(
            ambiguous.to_string().contains("more than one"),
            "{ambiguous}"
        );
        assert!(db.revoke_api_token("aaaa").await.is_err(), "too short");
        assert!(db.revoke_api_token("aaaaaaaa%").await.is_err(), "not hex");
        assert!(db.revoke_api_token("cccccccccccc").await.is_err());
        let gone = db.revoke_api_token("BBBBBBBBBBBB").await.unwrap();
        assert_eq!(gone.label, "label2");
        assert!(db.api_token_user(digests[2], 20).await.unwrap().is_none());
        db.revoke_api_token("aaaaaaaaaaaa2").await.unwrap();
        assert!(db.api_token_user(digests[0], 20).await.unwrap().is_some());
        // A role change keeps tokens; a new password ends them.
        db.update_user("tia", Some(Role::Approver), None, None)
            .await
            .unwrap();
        assert!(db.api_token_user(digests[0], 20).await.unwrap().is_some());
        db.update_user("tia", None, Some("$argon2id$y"), None)
            .await
            .unwrap();
        assert!(db.api_token_user(digests[0], 20).await.unwrap().is_none());
        assert!(db.api_tokens(Some("tia")).await.unwrap().is_empty());
        // Disabling ends them too, for good.
        db.add_api_token(digests[1], "tia", "again", 30, 1000)
            .await
            .unwrap();
        db.update_user("tia", None, None, Some(true)).await.unwrap();
        db.update_user("tia", None, None, Some(false))
            .await
            .unwrap();
        assert!(db.api_token_user(digests[1], 40).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn access_on_sqlite() {
        let (db, _dir) = testing::sqlite().await;
        exercise(db).await;
    }

    #[tokio::test]
    async fn access_on_postgres() {
        if let Some(db) = testing::postgres().await {
            exercise(db).await;
        }
    }
}
