//! Failed-login counters, shared by every process through the database.

use super::{Result, Store};

/// Seconds until `key` is unlocked, or `None` when it is not locked.
pub async fn locked_for(store: &Store, key: &str, now: i64) -> Result<Option<i64>> {
    let until: Option<(i64,)> = sqlx::query_as(
        "SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2",
    )
    .bind(key)
    .bind(now)
    .fetch_optional(&store.pool)
    .await?;
    Ok(until.map(|(t,)| t - now))
}

/// Records one failure atomically. A run of failures older than `window` (or a lock that has
/// expired) starts again from one; reaching `max_failures` locks the key for `window` seconds.
pub async fn record_failure(
    store: &Store,
    key: &str,
    now: i64,
    max_failures: i64,
    window: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, locked_until, updated_at) \
         VALUES ($1, 1, CASE WHEN $3 <= 1 THEN $2 + $4 ELSE 0 END, $2) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE \
             WHEN login_throttle.updated_at <= $2 - $4 \
               OR (login_throttle.locked_until <> 0 AND login_throttle.locked_until <= $2) THEN 1 \
             ELSE login_throttle.failures + 1 END, \
           locked_until = CASE \
             WHEN login_throttle.updated_at <= $2 - $4 \
               OR (login_throttle.locked_until <> 0 AND login_throttle.locked_until <= $2) \
               THEN CASE WHEN $3 <= 1 THEN $2 + $4 ELSE 0 END \
             WHEN login_throttle.failures + 1 >= $3 THEN $2 + $4 \
             ELSE login_throttle.locked_until END, \
           updated_at = $2",
    )
    .bind(key)
    .bind(now)
    .bind(max_failures)
    .bind(window)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A successful login ends the run of failures for the account.
pub async fn clear(store: &Store, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}
