//! API tokens as the server lists and revokes them (`shakedown token
//! list|revoke`), and the owner of a session or API token.

use super::rows::user_from_row;
use crate::db::{column, db_error, Db};
use engine::access::User;
use engine::store::StoreError;
use sqlx::any::AnyRow;

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
    let digest: String = column(row, "token_sha256")?;
    Ok(ApiTokenInfo {
        id: digest.chars().take(TOKEN_ID_LEN).collect(),
        user: column(row, "user_name")?,
        label: column(row, "label")?,
        created_at_ms: column(row, "created_at_ms")?,
        expires_at_ms: column(row, "expires_at_ms")?,
    })
}

const TOKEN_COLUMNS: &str = "token_sha256, user_name, label, created_at_ms, expires_at_ms";

impl Db {
    /// API tokens (expired ones too, until revoked), of one user or all,
    /// by user and age.
    pub async fn api_tokens(&self, user: Option<&str>) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let query = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens \
             WHERE CAST($1 AS TEXT) IS NULL OR user_name = $1 \
             ORDER BY user_name, created_at_ms, token_sha256"
        );
        self.all(sqlx::query(&query).bind(user), token_from_row)
            .await
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
        let digest: String = column(row, "token_sha256")?;
        let token = token_from_row(row)?;
        self.execute(sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = $1").bind(&digest))
            .await?;
        Ok(token)
    }

    /// The enabled owner of an unexpired token in `table`.
    pub(super) async fn token_owner(
        &self,
        table: &str,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        let query = format!(
            "SELECT u.name, u.role, u.disabled, u.created_at_ms FROM {table} t \
             JOIN users u ON u.name = t.user_name \
             WHERE t.token_sha256 = $1 AND t.expires_at_ms > $2 AND u.disabled = 0"
        );
        self.optional(
            sqlx::query(&query).bind(token_sha256).bind(now_ms),
            user_from_row,
        )
        .await
    }
}
