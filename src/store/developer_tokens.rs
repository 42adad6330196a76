//! Developer API tokens. Only an HMAC of the token is stored.

use super::{Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeveloperToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn insert(store: &Store, t: &DeveloperToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO developer_tokens (id, user_id, name, token_hash, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&t.id)
    .bind(&t.user_id)
    .bind(&t.name)
    .bind(&t.token_hash)
    .bind(t.created_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The unrevoked token with this hash.
pub async fn active_by_hash(store: &Store, token_hash: &str) -> Result<Option<DeveloperToken>> {
    Ok(sqlx::query_as(
        "SELECT * FROM developer_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(&store.pool)
    .await?)
}

/// Revokes one of the user's tokens; false when the user has no such live token.
pub async fn revoke(store: &Store, user_id: &str, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE developer_tokens SET revoked_at = $3 \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
