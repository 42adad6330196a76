//! Server-side state: sign-ins in progress and signed-in sessions, each found by a random id
//! that the browser holds in an HttpOnly cookie. Kept in memory here; a real deployment with
//! several instances keeps them in its database or Redis (the tokens encrypted at rest).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{header::COOKIE, HeaderMap, HeaderValue};

use crate::logi::{random_string, IdClaims, TokenResponse};

/// How long a browser may take between "Sign in" and coming back to `/callback`.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// A sign-in between the redirect to logi and the callback.
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    started: Instant,
}

impl PendingLogin {
    pub fn new() -> Self {
        PendingLogin {
            state: random_string(),
            nonce: random_string(),
            code_verifier: random_string(),
            started: Instant::now(),
        }
    }
}

/// A signed-in browser. The logi tokens never leave this struct.
pub struct Session {
    pub user: IdClaims,
    pub access_token: String,
    pub access_token_expires: Instant,
    pub refresh_token: Option<String>,
    pub id_token: String,
    pub refreshes: u32,
}

impl Session {
    pub fn new(user: IdClaims, tokens: TokenResponse, id_token: String) -> Self {
        Session {
            user,
            access_token_expires: Instant::now() + Duration::from_secs(tokens.expires_in),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            id_token,
            refreshes: 0,
        }
    }

    /// Takes the tokens of a refresh: the refresh token rotated, the old one is dead.
    pub fn refreshed(&mut self, tokens: TokenResponse) {
        self.access_token_expires = Instant::now() + Duration::from_secs(tokens.expires_in);
        self.access_token = tokens.access_token;
        if let Some(rt) = tokens.refresh_token {
            self.refresh_token = Some(rt);
        }
        if let Some(id_token) = tokens.id_token {
            self.id_token = id_token;
        }
        self.refreshes += 1;
    }

    pub fn expires_within(&self, margin: Duration) -> bool {
        Instant::now() + margin >= self.access_token_expires
    }
}

/// One lock per session: two requests that both refresh with one rotating refresh token would
/// look like token theft to logi (reuse), which revokes the whole family.
pub type SharedSession = Arc<tokio::sync::Mutex<Session>>;

#[derive(Default)]
pub struct Store {
    pending: Mutex<HashMap<String, PendingLogin>>,
    sessions: Mutex<HashMap<String, SharedSession>>,
}

impl Store {
    pub fn begin_login(&self, login: PendingLogin) -> String {
        let id = random_string();
        let mut pending = self.pending.lock().expect("lock");
        pending.retain(|_, p| p.started.elapsed() < LOGIN_TIMEOUT);
        pending.insert(id.clone(), login);
        id
    }

    /// The pending sign-in of this id, once.
    pub fn finish_login(&self, id: &str) -> Option<PendingLogin> {
        let login = self.pending.lock().expect("lock").remove(id)?;
        (login.started.elapsed() < LOGIN_TIMEOUT).then_some(login)
    }

    pub fn create(&self, session: Session) -> String {
        let id = random_string();
        let shared = Arc::new(tokio::sync::Mutex::new(session));
        self.sessions
            .lock()
            .expect("lock")
            .insert(id.clone(), shared);
        id
    }

    pub fn get(&self, id: &str) -> Option<SharedSession> {
        self.sessions.lock().expect("lock").get(id).cloned()
    }

    pub fn remove(&self, id: &str) -> Option<SharedSession> {
        self.sessions.lock().expect("lock").remove(id)
    }
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` the page's JavaScript can never read (`HttpOnly`), sent only with top-level
/// navigations and same-site requests (`SameSite=Lax`), and only over https when the BFF is
/// served over https (`Secure`). `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are base64url")
}
