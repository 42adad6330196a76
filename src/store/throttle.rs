//! Attempt counters (failed logins, wrong device codes, signups per IP), shared by every process
//! through the database.
//!
//! Each key counts attempts in a fixed window: `updated_at` is the window's start,
//! `locked_until` its end, `failures` the attempts reserved in it. An attempt is *reserved*
//! before the work it guards (hashing a password, looking up a code) by one conditional upsert
//! whose `RETURNING` row decides: no row means the key already holds `max` attempts in its
//! window, and the caller refuses without doing the work. So parallel requests, in one process or
//! many, can never get more than `max` attempts through per window (check-then-act cannot).
//! An attempt that turns out fine (the right password, a valid code) is released again.

use super::{Result, Store};

/// A reserved attempt; pass it back to [`release`] when the attempt succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    window_start: i64,
    /// Attempts reserved in the window so far, this one included.
    pub attempts: i64,
}

/// Reserves one attempt for `key` at `now`: `Ok(Ok(_))` when fewer than `max` attempts were
/// reserved in the current window (of `window` seconds; a window that has ended starts a new
/// one), `Ok(Err(retry_after))` (seconds until the window ends, at least 1) when the key is
/// full.
pub async fn reserve(
    store: &Store,
    key: &str,
    now: i64,
    max: i64,
    window: i64,
) -> Result<std::result::Result<Reservation, i64>> {
    if max < 1 {
        return Ok(Err(window.max(1)));
    }
    let reserved: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO login_throttle (key, failures, locked_until, updated_at) \
         VALUES ($1, 1, $2 + $4, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN login_throttle.locked_until <= $2 THEN 1 \
             ELSE login_throttle.failures + 1 END, \
           updated_at = CASE WHEN login_throttle.locked_until <= $2 THEN $2 \
             ELSE login_throttle.updated_at END, \
           locked_until = CASE WHEN login_throttle.locked_until <= $2 THEN $2 + $4 \
             ELSE login_throttle.locked_until END \
         WHERE login_throttle.locked_until <= $2 OR login_throttle.failures < $3 \
         RETURNING updated_at, failures",
    )
    .bind(key)
    .bind(now)
    .bind(max)
    .bind(window)
    .fetch_optional(&store.pool)
    .await?;
    if let Some((window_start, attempts)) = reserved {
        return Ok(Ok(Reservation {
            window_start,
            attempts,
        }));
    }
    let until: Option<(i64,)> =
        sqlx::query_as("SELECT locked_until FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(&store.pool)
            .await?;
    let retry_after = until.map(|(t,)| t - now).unwrap_or(window);
    Ok(Err(retry_after.clamp(1, window.max(1))))
}

/// Gives back an attempt that succeeded, so that only failures use up the window. Nothing
/// happens when the window has changed since the reservation.
pub async fn release(store: &Store, key: &str, reservation: Reservation) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1 \
         WHERE key = $1 AND updated_at = $2 AND failures > 0",
    )
    .bind(key)
    .bind(reservation.window_start)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Forgets the counter of `key` (an operator's `logi user unlock`): its next attempt starts a
/// new window. Returns whether there was one.
pub async fn clear(store: &Store, key: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Housekeeping: drops counters whose window has ended.
pub async fn delete_expired(store: &Store, now: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM login_throttle WHERE locked_until <= $1")
            .bind(now)
            .execute(&store.pool)
            .await?
            .rows_affected(),
    )
}
