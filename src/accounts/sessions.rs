//! Server-side browser sessions: the cookie carries 256 random bits, the database their SHA-256.

use serde::{Deserialize, Serialize};

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

/// The browser a session starts in, as the account page lists it: its `User-Agent` and the
/// client IP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Browser<'a> {
    pub user_agent: &'a str,
    pub ip: &'a str,
}

/// Starts a session authenticated by `amr` in `browser` and returns the cookie value.
pub async fn start(
    store: &Store,
    user_id: &str,
    amr: &Amr,
    browser: Browser<'_>,
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
        user_agent: super::device::trim_user_agent(browser.user_agent),
        ip: browser.ip.to_string(),
        last_seen_at: now,
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

/// The live session behind a cookie value, with its user, and whether the user remembered
/// `consent` (false without one): see `store::sessions::active_with_user`.
pub async fn current_with_user(
    store: &Store,
    cookie_value: &str,
    now: i64,
    consent: Option<store::sessions::ConsentQuery<'_>>,
) -> store::Result<Option<(Session, store::users::User, bool)>> {
    if cookie_value.is_empty() || cookie_value.len() > 100 {
        return Ok(None);
    }
    store::sessions::active_with_user(store, &sha256_b64(cookie_value), now, consent).await
}

/// Which sessions end (see [`end_sessions`]).
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// The session behind this cookie value (`POST /logout`, RP-initiated logout).
    Cookie(&'a str),
    /// One session of a user by its `sid` (the account page's sign-out of a session).
    Session { user_id: &'a str, sid: &'a str },
    /// Every session of a user (password reset, operator disable, account deletion).
    AllOf { user_id: &'a str },
    /// Every session of a user but the one with this `sid` (a password change).
    AllOfExcept { user_id: &'a str, keep_sid: &'a str },
}

/// Records that the session was used now from `ip`, at most once a minute per session.
pub async fn seen(store: &Store, session: &Session, ip: &str, now: i64) -> store::Result<()> {
    if now - session.last_seen_at < 60 && session.ip == ip {
        return Ok(());
    }
    store::sessions::touch(store, &session.id_hash, ip, now).await
}

/// The outbox kind of a [`SessionEnded`] notice.
pub const SESSION_ENDED: &str = "backchannel_logout";

/// What the outbox keeps to tell one application that a session it received an ID token in
/// has ended (OIDC Back-Channel Logout 1.0). Identifiers only: the logout token is made and
/// signed when it is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnded {
    pub application_id: String,
    /// The user (`sub`).
    pub sub: String,
    pub sid: String,
}

impl SessionEnded {
    fn outbox_item(client: &store::sessions::SessionClient) -> store::outbox::NewItem {
        let notice = SessionEnded {
            application_id: client.application_id.clone(),
            sub: client.user_id.clone(),
            sid: client.sid.clone(),
        };
        store::outbox::NewItem {
            kind: SESSION_ENDED.into(),
            payload: serde_json::to_string(&notice).unwrap_or_default(),
        }
    }
}

/// Ends sessions. **Every path that ends a session goes through here** (sign-out, RP-initiated
/// logout, and later the account page, password reset, operator disable): the sessions are
/// deleted and, in the same transaction, each application that received an ID token in one of
/// them and registered a `backchannel_logout_uri` gets a notice queued in the outbox, which a
/// background worker delivers (the caller never waits for an application). Returns the number
/// of notices queued.
pub async fn end_sessions(store: &Store, ending: Ending<'_>, now: i64) -> store::Result<usize> {
    let hash;
    let which = match ending {
        Ending::Cookie(value) => {
            if value.is_empty() || value.len() > 100 {
                return Ok(0);
            }
            hash = sha256_b64(value);
            store::sessions::Which::IdHash(&hash)
        }
        Ending::Session { user_id, sid } => store::sessions::Which::Sid { user_id, sid },
        Ending::AllOf { user_id } => store::sessions::Which::AllOf { user_id },
        Ending::AllOfExcept { user_id, keep_sid } => {
            store::sessions::Which::AllOfExcept { user_id, keep_sid }
        }
    };
    let queued = store::sessions::end(store, which, now, &SessionEnded::outbox_item).await?;
    if queued > 0 {
        tracing::info!(target: "logi::security", queued, "session ended: back-channel logout queued");
    }
    Ok(queued)
}
