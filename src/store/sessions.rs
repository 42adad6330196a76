//! Browser sessions. Only the SHA-256 of the cookie value is stored.

use super::{users::User, Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// Public session identifier (OIDC `sid`), unrelated to the cookie value.
    pub sid: Option<String>,
    /// How it was authenticated: RFC 8176 method values, space-separated
    /// (`accounts::amr::Amr` reads them).
    pub amr: String,
}

pub async fn insert(store: &Store, s: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, sid, amr) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.id_hash)
    .bind(&s.user_id)
    .bind(s.auth_time)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(&s.sid)
    .bind(&s.amr)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A second step on a live session: records the methods and the time of the latest factor, and
/// moves the session to a new id (the old cookie stops working: a session id seen before the
/// step never carries its result). `false` when the session is gone or belongs to someone else.
pub async fn elevate(
    store: &Store,
    id_hash: &str,
    user_id: &str,
    new_id_hash: &str,
    amr: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET id_hash = $3, amr = $4, auth_time = $5 \
         WHERE id_hash = $1 AND user_id = $2 AND expires_at > $5",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(new_id_hash)
    .bind(amr)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(store: &Store, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Housekeeping: drops expired sessions.
pub async fn delete_expired(store: &Store, now: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&store.pool)
        .await?
        .rows_affected())
}

#[derive(sqlx::FromRow)]
struct SessionWithUser {
    #[sqlx(flatten)]
    session: Session,
    u_email: String,
    u_password_hash: String,
    u_name: String,
    u_created_at: i64,
    u_updated_at: i64,
}

/// The live session with this id hash and its user, in one round trip.
pub async fn active_with_user(
    store: &Store,
    id_hash: &str,
    now: i64,
) -> Result<Option<(Session, User)>> {
    let row: Option<SessionWithUser> = sqlx::query_as(
        "SELECT s.*, u.email AS u_email, u.password_hash AS u_password_hash, u.name AS u_name, \
         u.created_at AS u_created_at, u.updated_at AS u_updated_at \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|r| {
        let user = User {
            id: r.session.user_id.clone(),
            email: r.u_email,
            password_hash: r.u_password_hash,
            name: r.u_name,
            created_at: r.u_created_at,
            updated_at: r.u_updated_at,
        };
        (r.session, user)
    }))
}
