//! Device authorization grant state (RFC 8628).

use super::{Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code: String,
    pub application_id: String,
    pub scope: String,
    /// API identifiers (RFC 8707), space-separated; empty: none.
    pub resources: String,
    pub status: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub sid: Option<String>,
    pub poll_interval: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const REDEEMED: &str = "redeemed";

pub async fn insert(store: &Store, d: &DeviceCode) -> Result<()> {
    sqlx::query(
        "INSERT INTO device_codes (device_code_hash, user_code, application_id, scope, status, user_id, \
         auth_time, sid, poll_interval, last_polled_at, created_at, expires_at, resources) \
         VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6, NULL, $7, $8, $9)",
    )
    .bind(&d.device_code_hash)
    .bind(&d.user_code)
    .bind(&d.application_id)
    .bind(&d.scope)
    .bind(&d.status)
    .bind(d.poll_interval)
    .bind(d.created_at)
    .bind(d.expires_at)
    .bind(&d.resources)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A pending, unexpired request by its user code.
pub async fn pending_by_user_code(
    store: &Store,
    user_code: &str,
    now: i64,
) -> Result<Option<DeviceCode>> {
    Ok(sqlx::query_as("SELECT * FROM device_codes WHERE user_code = $1 AND status = 'pending' AND expires_at > $2")
        .bind(user_code)
        .bind(now)
        .fetch_optional(&store.pool)
        .await?)
}

pub async fn by_hash(store: &Store, hash: &str) -> Result<Option<DeviceCode>> {
    Ok(
        sqlx::query_as("SELECT * FROM device_codes WHERE device_code_hash = $1")
            .bind(hash)
            .fetch_optional(&store.pool)
            .await?,
    )
}

/// Records the user's decision on a pending request; false when it is no longer pending.
pub async fn decide(
    store: &Store,
    user_code: &str,
    status: &str,
    user_id: &str,
    auth_time: i64,
    sid: Option<&str>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE device_codes SET status = $2, user_id = $3, auth_time = $4, sid = $5 \
         WHERE user_code = $1 AND status = 'pending' AND expires_at > $6",
    )
    .bind(user_code)
    .bind(status)
    .bind(user_id)
    .bind(auth_time)
    .bind(sid)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a poll; `slow_down` also widens the interval by 5 seconds (RFC 8628 §3.5).
pub async fn record_poll(store: &Store, hash: &str, now: i64, slow_down: bool) -> Result<()> {
    sqlx::query(
        "UPDATE device_codes SET last_polled_at = $2, \
         poll_interval = CASE WHEN $3 = 1 THEN poll_interval + 5 ELSE poll_interval END \
         WHERE device_code_hash = $1",
    )
    .bind(hash)
    .bind(now)
    .bind(slow_down as i64)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Marks an approved code redeemed, inside the caller's transaction; false when it is not
/// (or no longer) approved: each device code is redeemable once.
pub(super) async fn redeem<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
    hash: &str,
) -> Result<bool> {
    let done = sqlx::query("UPDATE device_codes SET status = 'redeemed' WHERE device_code_hash = $1 AND status = 'approved'")
        .bind(hash)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
