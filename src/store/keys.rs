//! Signing keys (private parts encrypted by the caller).

use super::{Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key_enc: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub activates_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub async fn insert(store: &Store, k: &SigningKeyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activates_at, \
         retired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.private_key_enc)
    .bind(&k.public_jwk)
    .bind(k.created_at)
    .bind(k.activates_at)
    .bind(k.retired_at)
    .bind(k.expires_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The active key of `alg`: activated, not retired; the oldest such key wins.
pub async fn current(store: &Store, alg: &str, now: i64) -> Result<Option<SigningKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM signing_keys WHERE alg = $1 AND activates_at <= $2 \
         AND (retired_at IS NULL OR retired_at > $2) ORDER BY activates_at, kid LIMIT 1",
    )
    .bind(alg)
    .bind(now)
    .fetch_optional(&store.pool)
    .await?)
}

/// Keys in the JWKS: not yet expired (upcoming, current and retired-but-still-verifying).
pub async fn published(store: &Store, now: i64) -> Result<Vec<SigningKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1 ORDER BY created_at, kid",
    )
    .bind(now)
    .fetch_all(&store.pool)
    .await?)
}
