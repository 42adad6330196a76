//! A new client secret, carried from the POST that made it to the page that shows it once.
//!
//! Post/redirect/get: the POST (register, rotate) answers 303, so a reload never repeats it. The
//! secret must not travel in the URL (logs, history, Referer), so it rides in a short-lived
//! cookie sealed with AES-256-GCM under the server's key-encryption key, bound to the
//! application and to the session (its stored hash is part of the AAD): another session, or
//! another application's page, cannot open it. The page that shows it clears the cookie, so a
//! reload shows it no more.

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::super::{extract, pages::cookie_header, AppState};
use crate::store::sessions::Session;

/// How long the sealed secret may wait for its page (a redirect takes milliseconds).
const LIFETIME: i64 = 300;

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.issuer_is_https() {
        "__Host-logi_new_secret"
    } else {
        "logi_new_secret"
    }
}

fn label(session: &Session, application_id: &str) -> String {
    format!(
        "logi console new secret v1\0{}\0{application_id}",
        session.id_hash
    )
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    secret: String,
    expires_at: i64,
}

/// The `Set-Cookie` value carrying `secret` to the application's page.
pub fn seal(
    state: &AppState,
    session: &Session,
    application_id: &str,
    secret: &str,
) -> HeaderValue {
    let plain = serde_json::to_vec(&Sealed {
        secret: secret.to_string(),
        expires_at: state.clock.now() + LIFETIME,
    })
    .unwrap_or_default();
    let sealed = state.keys.encrypt(&label(session, application_id), &plain);
    cookie_header(state, cookie_name(state), &sealed, Some(LIFETIME))
}

/// The secret waiting for this application's page, if any, and whether the browser sent the
/// cookie at all (the page then clears it, whatever it held).
pub fn open(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    application_id: &str,
) -> (Option<String>, bool) {
    let Some(value) = extract::cookie(headers, cookie_name(state)).filter(|v| !v.is_empty()) else {
        return (None, false);
    };
    let secret = state
        .keys
        .decrypt(&label(session, application_id), &value)
        .and_then(|plain| serde_json::from_slice::<Sealed>(&plain).ok())
        .filter(|s| s.expires_at > state.clock.now())
        .map(|s| s.secret);
    (secret, true)
}

/// Clears the cookie.
pub fn clear(state: &AppState) -> HeaderValue {
    cookie_header(state, cookie_name(state), "", Some(0))
}
