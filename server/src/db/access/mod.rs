//! The database behind the engine's `AccessStore`: users, sessions, API
//! tokens, sign-offs, share links and the audit log, on SQLite and
//! PostgreSQL alike (migration 0030). Listing and revoking API tokens
//! (`shakedown token list|revoke`) are the server's own, beside the trait
//! (in `tokens`); reading rows is in `rows`.

mod rows;
mod tokens;

pub use tokens::{ApiTokenInfo, TOKEN_ID_LEN};

use crate::db::{column, db_error, found, Db};
use async_trait::async_trait;
use engine::access::{AuditEntry, Role, ShareLink, SignOff, User};
use engine::access_store::{AccessStore, Credentials, NewSignOff};
use engine::store::StoreError;
use rows::{
    audit_from_row, share_from_row, signoff_from_row, user_from_row, AUDIT_COLUMNS, SHARE_COLUMNS,
    SIGNOFF_COLUMNS, USER_COLUMNS,
};

impl Db {
    async fn user(&self, name: &str) -> Result<User, StoreError> {
        let query = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        self.optional(sqlx::query(&query).bind(name), user_from_row)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("no user named {name:?}")))
    }

    /// Who launched a run from the web app or the API (the audit log's
    /// `run_launched` entry); `None` for runs started headless.
    pub async fn launched_by(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        self.optional(
            sqlx::query(
                "SELECT actor FROM audit_log WHERE action = 'run_launched' AND target = $1 ORDER BY id LIMIT 1",
            )
            .bind(run_id),
            |row| column(row, "actor"),
        )
        .await
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
        let rows = self
            .execute(
                sqlx::query(
                    "INSERT INTO users (name, role, password_hash, disabled, created_at_ms) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(role.as_str())
                .bind(password_hash)
                .bind(at_ms),
            )
            .await?;
        if rows == 0 {
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
        // user logs in again under the new terms. A new password or
        // disabling also ends their API tokens (a leaked password is
        // changed, a departed user disabled: neither should leave a working
        // token behind; enabling again does not bring them back).
        let mut ended = vec!["sessions"];
        if password_hash.is_some() || disabled == Some(true) {
            ended.push("api_tokens");
        }
        for table in ended {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_name = $1"))
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.user(name).await
    }

    async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        let query = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1");
        self.optional(sqlx::query(&query).bind(name), |row| {
            Ok(Credentials {
                user: user_from_row(row)?,
                password_hash: column(row, "password_hash")?,
            })
        })
        .await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let query = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        self.all(sqlx::query(&query), user_from_row).await
    }

    async fn add_session(
        &self,
        token_sha256: &str,
        user: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        // Expired sessions are swept whenever a new one starts.
        self.execute(
            sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= $1").bind(created_at_ms),
        )
        .await?;
        self.execute(
            sqlx::query(
                "INSERT INTO sessions (token_sha256, user_name, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_sha256)
            .bind(user)
            .bind(created_at_ms)
            .bind(expires_at_ms),
        )
        .await?;
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
        self.execute(
            sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(token_sha256),
        )
        .await?;
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
        self.execute(
            sqlx::query(
                "INSERT INTO api_tokens (token_sha256, user_name, label, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_sha256)
            .bind(user)
            .bind(label)
            .bind(created_at_ms)
            .bind(expires_at_ms),
        )
        .await?;
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
        let query = format!(
            "INSERT INTO signoffs (run_id, approver, decision, comment, override_reason, \
             evidence_version, manifest_sha256, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING {SIGNOFF_COLUMNS}"
        );
        self.one(
            sqlx::query(&query)
                .bind(&s.run_id)
                .bind(&s.approver)
                .bind(s.decision.as_str())
                .bind(&s.comment)
                .bind(s.override_reason.as_deref())
                .bind(i64::from(s.evidence_version))
                .bind(&s.manifest_sha256)
                .bind(s.at_ms),
            signoff_from_row,
        )
        .await
    }

    async fn signoffs(&self, run_id: &str) -> Result<Vec<SignOff>, StoreError> {
        let query = format!("SELECT {SIGNOFF_COLUMNS} FROM signoffs WHERE run_id = $1 ORDER BY id");
        self.all(sqlx::query(&query).bind(run_id), signoff_from_row)
            .await
    }

    async fn add_share(
        &self,
        run_id: &str,
        token_sha256: &str,
        created_by: &str,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<ShareLink, StoreError> {
        let query = format!(
            "INSERT INTO share_links (run_id, token_sha256, created_by, created_at_ms, \
             expires_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING {SHARE_COLUMNS}"
        );
        self.one(
            sqlx::query(&query)
                .bind(run_id)
                .bind(token_sha256)
                .bind(created_by)
                .bind(created_at_ms)
                .bind(expires_at_ms),
            share_from_row,
        )
        .await
    }

    async fn share_by_token(&self, token_sha256: &str) -> Result<Option<ShareLink>, StoreError> {
        let query = format!("SELECT {SHARE_COLUMNS} FROM share_links WHERE token_sha256 = $1");
        self.optional(sqlx::query(&query).bind(token_sha256), share_from_row)
            .await
    }

    async fn shares(&self, run_id: &str) -> Result<Vec<ShareLink>, StoreError> {
        let query =
            format!("SELECT {SHARE_COLUMNS} FROM share_links WHERE run_id = $1 ORDER BY id DESC");
        self.all(sqlx::query(&query).bind(run_id), share_from_row)
            .await
    }

    async fn revoke_share(
        &self,
        run_id: &str,
        id: i64,
        at_ms: i64,
    ) -> Result<ShareLink, StoreError> {
        let rows = self
            .execute(
                sqlx::query(
                    "UPDATE share_links SET revoked_at_ms = COALESCE(revoked_at_ms, $1) \
                     WHERE id = $2 AND run_id = $3",
                )
                .bind(at_ms)
                .bind(id)
                .bind(run_id),
            )
            .await?;
        found(rows, &format!("{run_id} share link {id}"))?;
        let query = format!("SELECT {SHARE_COLUMNS} FROM share_links WHERE id = $1");
        self.one(sqlx::query(&query).bind(id), share_from_row).await
    }

    async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "INSERT INTO audit_log (at_ms, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(at_ms)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(detail),
        )
        .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let query = format!("SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT $1");
        self.all(sqlx::query(&query).bind(limit), audit_from_row)
            .await
    }
}

#[cfg(test)]
mod tests;
