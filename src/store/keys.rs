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

/// The key of `alg` in force: the newest activated one.
pub async fn current(store: &Store, alg: &str, now: i64) -> Result<Option<SigningKeyRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM signing_keys WHERE alg = $1 AND activates_at <= $2 \
         ORDER BY activates_at DESC, kid DESC LIMIT 1",
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

/// Inserts the next key of its algorithm and schedules every older key of that algorithm that
/// has no end yet to stop signing when it activates and to leave the JWKS at `expires_at`.
pub async fn insert_and_retire_older(
    store: &Store,
    next: &SigningKeyRow,
    expires_at: i64,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "UPDATE signing_keys SET retired_at = $2, expires_at = $3 \
         WHERE alg = $1 AND expires_at IS NULL",
    )
    .bind(&next.alg)
    .bind(next.activates_at)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key_enc, public_jwk, created_at, activates_at, \
         retired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)",
    )
    .bind(&next.kid)
    .bind(&next.alg)
    .bind(&next.private_key_enc)
    .bind(&next.public_jwk)
    .bind(next.created_at)
    .bind(next.activates_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn all(store: &Store) -> Result<Vec<SigningKeyRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM signing_keys ORDER BY alg, created_at, kid")
            .fetch_all(&store.pool)
            .await?,
    )
}

pub async fn newest_created_at(store: &Store) -> Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT created_at FROM signing_keys ORDER BY created_at DESC LIMIT 1")
            .fetch_optional(&store.pool)
            .await?;
    Ok(row.map(|(t,)| t))
}
