//! Server-side browser sessions: the cookie carries 256 random bits, the database their SHA-256.

use super::amr::Amr;
use crate::{
    config::Config,
    crypto::{random_token, sha256_b64},
    store::{self, sessions::Session, Store},
};

pub const COOKIE: &str = "logi_session";
/// The name on an https issuer: the `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, `Path=/` and has no `Domain`, so a sibling subdomain cannot plant or shadow it.
pub const HOST_COOKIE: &str = "__Host-logi_session";

/// The session cookie's name for this issuer (readers and writers alike use this).
pub fn cookie_name(config: &Config) -> &'static str {
    if config.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// Starts a session authenticated by `amr` and returns the cookie value.
pub async fn start(
    store: &Store,
    user_id: &str,
    amr: &Amr,
    now: i64,
    ttl: i64,
) -> store::Result<String> {
    let value = random_token(32);
    let session = Session {
        id_hash: sha256_b64(&value),
        user_id: user_id.to_string(),
        auth_time: now,
        created_at: now,
        expires_at: now + ttl,
        sid: Some(random_token(16)),
        amr: amr.stored(),
    };
    store::sessions::insert(store, &session).await?;
    Ok(value)
}

/// Adds a second step to a live session (its `amr` becomes `amr`, `auth_time` now) under a
/// new cookie value, which it returns; `None` when the session is no longer there.
pub async fn elevate(
    store: &Store,
    session: &Session,
    amr: &Amr,
    now: i64,
) -> store::Result<Option<String>> {
    let value = random_token(32);
    let moved = store::sessions::elevate(
        store,
        &session.id_hash,
        &session.user_id,
        &sha256_b64(&value),
        &amr.stored(),
        now,
    )
    .await?;
    Ok(moved.then_some(value))
}

/// The live session behind a cookie value, with its user.
pub async fn current_with_user(
    store: &Store,
    cookie_value: &str,
    now: i64,
) -> store::Result<Option<(Session, store::users::User)>> {
    if cookie_value.is_empty() || cookie_value.len() > 100 {
        return Ok(None);
    }
    store::sessions::active_with_user(store, &sha256_b64(cookie_value), now).await
}

pub async fn end(store: &Store, cookie_value: &str) -> store::Result<()> {
    store::sessions::delete(store, &sha256_b64(cookie_value)).await
}
