//! Single-use links mailed to an account's address (email verification, password reset), and
//! the account changes they make.
//!
//! Only the HMAC of a link's token is stored (`crypto::ServerKeys::hash_secret`). A link and
//! the mail that carries it are written in one transaction ([`issue`], [`insert_user_with`]),
//! so a link never exists without its mail nor a mail without its link. A link is used by one
//! conditional `UPDATE … RETURNING` inside the transaction that makes its change
//! ([`verify_email`], [`reset_password`]): of two concurrent uses exactly one wins, and the
//! change never happens without the link being spent.

use sqlx::{Any, Executor};

use super::{
    cache::{announce, Change},
    outbox::{self, NewItem},
    users::{self, User},
    Result, Store,
};

/// A link as stored (its token only as a hash).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EmailToken {
    pub token_hash: String,
    /// `verify_email` or `reset_password`.
    pub purpose: String,
    pub user_id: String,
    /// The address the link was sent to.
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What a presented link turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Valid (and, for the functions that use it, now spent).
    Valid(EmailToken),
    /// Used before.
    Used,
    Expired,
    /// Never issued (or for another purpose, or its account or address is gone).
    Unknown,
}

async fn insert_token<'e, E: Executor<'e, Database = Any>>(ex: E, t: &EmailToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, email, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.token_hash)
    .bind(&t.purpose)
    .bind(&t.user_id)
    .bind(&t.email)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.used_at)
    .execute(ex)
    .await?;
    Ok(())
}

/// Stores a link and queues the mail that carries it, in one transaction.
pub async fn issue(store: &Store, token: &EmailToken, mail: &NewItem, now: i64) -> Result<()> {
    let mut tx = store.begin_write().await?;
    insert_token(&mut *tx, token).await?;
    outbox::insert(&mut *tx, mail, now).await?;
    tx.commit().await?;
    outbox::wake(store);
    Ok(())
}

/// Creates an account with its verification link and mail, in one transaction (signup). A
/// taken address is a unique violation, and nothing is written.
pub async fn insert_user_with(
    store: &Store,
    user: &User,
    token: &EmailToken,
    mail: &NewItem,
    now: i64,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    users::insert_in(&mut *tx, user).await?;
    insert_token(&mut *tx, token).await?;
    outbox::insert(&mut *tx, mail, now).await?;
    tx.commit().await?;
    outbox::wake(store);
    Ok(())
}

/// Gives the account a new, unverified address and issues its verification link and mail, in
/// one transaction; every earlier verification link of the account dies. `false` when there
/// is no such account. A taken address is a unique violation, and nothing is written.
pub async fn change_email(
    store: &Store,
    user_id: &str,
    email: &str,
    token: &EmailToken,
    mail: &NewItem,
    now: i64,
) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE users SET email = $2, email_verified = 0, updated_at = $3 WHERE id = $1",
    )
    .bind(user_id)
    .bind(email)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    spend_all(&mut *tx, user_id, &token.purpose, now).await?;
    insert_token(&mut *tx, token).await?;
    outbox::insert(&mut *tx, mail, now).await?;
    tx.commit().await?;
    outbox::wake(store);
    announce(store, Change::User(user_id)).await?;
    Ok(true)
}

/// Marks every unused link of a purpose of the account used.
async fn spend_all<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user_id: &str,
    purpose: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(purpose)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// What a link is, without spending it (the reset form is shown only for a valid one).
pub async fn peek(store: &Store, token_hash: &str, purpose: &str, now: i64) -> Result<Lookup> {
    let row: Option<EmailToken> =
        sqlx::query_as("SELECT * FROM email_tokens WHERE token_hash = $1 AND purpose = $2")
            .bind(token_hash)
            .bind(purpose)
            .fetch_optional(&store.pool)
            .await?;
    Ok(match row {
        None => Lookup::Unknown,
        Some(t) if t.used_at.is_some() => Lookup::Used,
        Some(t) if t.expires_at <= now => Lookup::Expired,
        Some(t) => Lookup::Valid(t),
    })
}

/// Spends a valid link within the caller's transaction; `None` when it is not valid.
async fn spend<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<EmailToken>> {
    Ok(sqlx::query_as(
        "UPDATE email_tokens SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING *",
    )
    .bind(token_hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(ex)
    .await?)
}

/// Uses a verification link: the address it was sent to is verified, if the account still
/// has it (otherwise the link is spent and [`Lookup::Unknown`]).
pub async fn verify_email(
    store: &Store,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Lookup> {
    let mut tx = store.begin_write().await?;
    let Some(token) = spend(&mut *tx, token_hash, purpose, now).await? else {
        drop(tx);
        return peek(store, token_hash, purpose, now).await;
    };
    let done = sqlx::query(
        "UPDATE users SET email_verified = 1, updated_at = $3 WHERE id = $1 AND email = $2",
    )
    .bind(&token.user_id)
    .bind(&token.email)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if done.rows_affected() != 1 {
        return Ok(Lookup::Unknown);
    }
    announce(store, Change::User(&token.user_id)).await?;
    Ok(Lookup::Valid(token))
}

/// Uses a reset link: the account gets `password_hash`, and every other reset link of it dies,
/// in one transaction; its address counts as verified (the link proved it). The caller ends
/// the sessions and revokes the grants.
pub async fn reset_password(
    store: &Store,
    token_hash: &str,
    purpose: &str,
    password_hash: &str,
    now: i64,
) -> Result<Lookup> {
    let mut tx = store.begin_write().await?;
    let Some(token) = spend(&mut *tx, token_hash, purpose, now).await? else {
        drop(tx);
        return peek(store, token_hash, purpose, now).await;
    };
    let done = sqlx::query(
        "UPDATE users SET password_hash = $3, email_verified = 1, updated_at = $4 \
         WHERE id = $1 AND email = $2 AND disabled = 0",
    )
    .bind(&token.user_id)
    .bind(&token.email)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        // The address changed since the link was sent, or an operator disabled the account: it
        // is spent, nothing else changes.
        tx.commit().await?;
        return Ok(Lookup::Unknown);
    }
    spend_all(&mut *tx, &token.user_id, purpose, now).await?;
    tx.commit().await?;
    announce(store, Change::User(&token.user_id)).await?;
    Ok(Lookup::Valid(token))
}

/// Housekeeping: links expired a day ago go (used or not).
pub async fn delete_expired(store: &Store, now: i64) -> Result<()> {
    sqlx::query("DELETE FROM email_tokens WHERE expires_at < $1")
        .bind(now - 24 * 3600)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// A write transaction of about the cost of [`issue`] that changes nothing: the path of a
/// password reset asked for an address with no account, so both paths cost alike.
pub async fn issue_nothing(store: &Store, now: i64) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "UPDATE email_tokens SET used_at = used_at WHERE token_hash = $1 AND created_at = $2",
    )
    .bind(crate::crypto::random_token(32))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
