//! The outbox: deliveries to the outside world (back-channel logout tokens; end-user mail
//! later), durable in the database so that a restart or a crash loses none.
//!
//! - A row is written in the transaction that decides it (the end of a session writes its
//!   logout notices with the deletion of the session), by [`insert`] inside another store
//!   function, or alone by [`enqueue`].
//! - Any number of processes share the table. [`claim`] takes due rows with a lease in one
//!   conditional `UPDATE … RETURNING` (on PostgreSQL a concurrent claimer re-checks the lease of
//!   each row it waited for, so a row leased by another process is skipped; SQLite has one
//!   writer): while its lease runs, no other process touches a row.
//! - The claimer settles each row with [`delivered`] or [`failed`] (retry later, or give up),
//!   only while the row is still its own (`lease_owner`). A claimer that dies leaves the lease
//!   to run out, after which the row is claimed again: delivery is at least once, never twice
//!   at the same time.
//! - `kind` says what a row is and `payload` (JSON) what it carries; nothing in it may let
//!   anyone mint a token or read a secret.

use std::sync::Arc;

use sqlx::{Any, Executor};

use super::{Result, Store};

/// A delivery to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewItem {
    pub kind: String,
    pub payload: String,
}

/// A queued delivery, as claimed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Item {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub created_at: i64,
    /// Attempts so far, the current one included (a claim counts one).
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: i64,
    pub lease_owner: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub gave_up_at: Option<i64>,
}

/// Writes `item`, due at once, within the caller's transaction.
pub(super) async fn insert<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    item: &NewItem,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, payload, created_at, attempts, next_attempt_at, locked_until) \
         VALUES ($1, $2, $3, $4, 0, $4, 0)",
    )
    .bind(crate::crypto::random_token(16))
    .bind(&item.kind)
    .bind(&item.payload)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(())
}

/// Queues one delivery on its own, and wakes this process's worker.
pub async fn enqueue(store: &Store, item: &NewItem, now: i64) -> Result<()> {
    insert(&store.pool, item, now).await?;
    wake(store);
    Ok(())
}

/// Tells this process's worker that something was queued (other processes find it when they
/// next look).
pub(super) fn wake(store: &Store) {
    store.outbox_signal.notify_one();
}

/// Resolves when something was queued in this process since the last wait.
pub async fn queued(store: &Store) {
    let signal: Arc<tokio::sync::Notify> = store.outbox_signal.clone();
    signal.notified().await;
}

/// Claims up to `limit` due rows for `owner` until `now + lease_seconds`, counting an attempt
/// on each.
pub async fn claim(
    store: &Store,
    owner: &str,
    now: i64,
    lease_seconds: i64,
    limit: i64,
) -> Result<Vec<Item>> {
    let items: Vec<Item> = sqlx::query_as(
        "UPDATE outbox SET locked_until = $2, lease_owner = $3, attempts = attempts + 1, \
         last_attempt_at = $1 \
         WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL \
           AND next_attempt_at <= $1 AND locked_until <= $1 ORDER BY next_attempt_at LIMIT $4) \
         AND delivered_at IS NULL AND gave_up_at IS NULL AND locked_until <= $1 \
         RETURNING *",
    )
    .bind(now)
    .bind(now.saturating_add(lease_seconds))
    .bind(owner)
    .bind(limit)
    .fetch_all(&store.pool)
    .await?;
    Ok(items)
}

/// Marks a claimed row delivered; `false` when it is no longer `owner`'s.
pub async fn delivered(store: &Store, id: &str, owner: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET delivered_at = $3, locked_until = 0, last_error = NULL \
         WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt of a claimed row: tried again at `retry_at`, or given up (`None`).
/// `false` when the row is no longer `owner`'s.
pub async fn failed(
    store: &Store,
    id: &str,
    owner: &str,
    now: i64,
    error: &str,
    retry_at: Option<i64>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET last_error = $3, next_attempt_at = $4, gave_up_at = $5, locked_until = 0 \
         WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(id)
    .bind(owner)
    .bind(error)
    .bind(retry_at.unwrap_or(now))
    .bind(retry_at.is_none().then_some(now))
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Housekeeping: rows delivered or given up before `before` go.
pub async fn delete_finished(store: &Store, before: i64) -> Result<()> {
    sqlx::query(
        "DELETE FROM outbox WHERE (delivered_at IS NOT NULL OR gave_up_at IS NOT NULL) \
         AND created_at < $1",
    )
    .bind(before)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Every row of a kind, oldest first (for operators and tests).
pub async fn all_of_kind(store: &Store, kind: &str) -> Result<Vec<Item>> {
    Ok(
        sqlx::query_as("SELECT * FROM outbox WHERE kind = $1 ORDER BY created_at, id")
            .bind(kind)
            .fetch_all(&store.pool)
            .await?,
    )
}
