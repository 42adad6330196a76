//! Second factors: an account's TOTP authenticator, its recovery codes and its passkeys.
//!
//! The two single-use rules are each one conditional update, atomic on both engines: a TOTP
//! step is accepted only if it is later than the last accepted one ([`accept_totp_step`]), a
//! recovery code only if it is unused ([`use_recovery_code`]). Of two requests racing with the
//! same code, exactly one wins.

use super::{Result, Store};

/// What an account has enrolled, in one round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enrolled {
    pub totp: bool,
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes: i64,
}

impl Enrolled {
    /// A second factor that can finish a sign-in (recovery codes only stand in for one).
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn enrolled(store: &Store, user_id: &str) -> Result<Enrolled> {
    let (totp, passkeys, recovery_codes): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1), \
           (SELECT COUNT(*) FROM passkeys WHERE user_id = $1), \
           (SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)",
    )
    .bind(user_id)
    .fetch_one(&store.pool)
    .await?;
    Ok(Enrolled {
        totp: totp > 0,
        passkeys,
        recovery_codes,
    })
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TotpFactor {
    pub user_id: String,
    /// Sealed under the master key (`crypto::Sealing::TotpSecret`).
    pub secret_enc: String,
    pub last_step: i64,
    pub created_at: i64,
}

pub async fn totp(store: &Store, user_id: &str) -> Result<Option<TotpFactor>> {
    Ok(
        sqlx::query_as("SELECT * FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&store.pool)
            .await?,
    )
}

/// Enables TOTP with its first accepted step and replaces the recovery codes, in one
/// transaction; `false` (and nothing written) when the account already has TOTP.
pub async fn enable_totp(
    store: &Store,
    factor: &TotpFactor,
    recovery_code_hashes: &[String],
) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO totp_factors (user_id, secret_enc, last_step, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(&factor.user_id)
    .bind(&factor.secret_enc)
    .bind(factor.last_step)
    .bind(factor.created_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&factor.user_id)
        .execute(&mut *tx)
        .await?;
    for hash in recovery_code_hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, used_at, created_at) \
             VALUES ($1, $2, NULL, $3)",
        )
        .bind(&factor.user_id)
        .bind(hash)
        .bind(factor.created_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Accepts the code of `step`: only when it is later than every step accepted before (RFC 6238
/// §5.2: a code is never accepted twice). One conditional update.
pub async fn accept_totp_step(store: &Store, user_id: &str, step: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND last_step < $2")
            .bind(user_id)
            .bind(step)
            .execute(&store.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a recovery code: `true` only for an unused code of this account, which is then spent.
pub async fn use_recovery_code(
    store: &Store,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns TOTP off, with the recovery codes that came with it.
pub async fn disable_totp(store: &Store, user_id: &str) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every second factor of an account (the operator's `logi user reset-mfa`).
pub async fn delete_all(store: &Store, user_id: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    for table in ["totp_factors", "recovery_codes", "passkeys"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredPasskey {
    pub id: String,
    pub user_id: String,
    /// base64url of the WebAuthn credential id.
    pub credential_id: String,
    pub name: String,
    /// The WebAuthn library's JSON of the credential (public key, counter, flags).
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Stores a new passkey; a credential id registered before (to any account) is a unique
/// violation ([`super::StoreError::is_unique_violation`]).
pub async fn insert_passkey(store: &Store, p: &StoredPasskey) -> Result<()> {
    sqlx::query(
        "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL)",
    )
    .bind(&p.id)
    .bind(&p.user_id)
    .bind(&p.credential_id)
    .bind(&p.name)
    .bind(&p.passkey)
    .bind(p.created_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

pub async fn passkeys(store: &Store, user_id: &str) -> Result<Vec<StoredPasskey>> {
    Ok(
        sqlx::query_as("SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user_id)
            .fetch_all(&store.pool)
            .await?,
    )
}

pub async fn passkey_by_credential(
    store: &Store,
    credential_id: &str,
) -> Result<Option<StoredPasskey>> {
    Ok(
        sqlx::query_as("SELECT * FROM passkeys WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(&store.pool)
            .await?,
    )
}

/// Records a use; `passkey` is the credential's new JSON when its counter or flags moved.
pub async fn passkey_used(store: &Store, id: &str, passkey: Option<&str>, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE passkeys SET last_used_at = $2, passkey = COALESCE($3, passkey) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(passkey)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Deletes one of the account's passkeys; `false` when it has none by that id.
pub async fn delete_passkey(store: &Store, user_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&store.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
