//! Server-rendered HTML: templates, security headers and the CSRF guard shared by every form.
//!
//! CSRF tokens are HMACs under a key derived from the master key. In a browser with a session,
//! the token is bound to the session (an HMAC over the hash of the session cookie's value), so a
//! token from before sign-in or from another session is refused. Signed out (the login and
//! signup forms), it is signed double-submit: a random `logi_csrf` cookie (HttpOnly,
//! SameSite=Lax) and a hidden `csrf_token` field holding its HMAC. A form post whose token does
//! not match is refused with 403. On an https issuer both cookies carry the `__Host-` prefix.

use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{error::PageError, extract, AppState};
use crate::{
    accounts::{amr::Amr, sessions},
    crypto::random_token,
    store::sessions::Session,
};

pub const CSRF_COOKIE: &str = "logi_csrf";
pub const HOST_CSRF_COOKIE: &str = "__Host-logi_csrf";

/// The CSRF cookie's name for this issuer.
pub fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.config.issuer_is_https() {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// The session cookie's value, when the browser sends one (valid or not: CSRF binds to what
/// the browser holds; whether the session is live is the handler's question).
fn session_cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    extract::cookie(headers, sessions::cookie_name(&state.config)).filter(|v| !v.is_empty())
}

pub use super::render::html;

/// Renders a template; a failure is a logged 500 page.
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, PageError> {
    super::render::template(name, ctx)
        .map_err(|e| PageError::internal(format!("template {name}: {e}")))
}

/// A `Set-Cookie` value with logi's cookie attributes.
pub fn cookie_header(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> HeaderValue {
    let secure = if state.config.issuer_is_https() {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let v = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{max_age}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The `Set-Cookie` value of a session cookie.
fn session_cookie_header(state: &AppState, value: &str) -> HeaderValue {
    let ttl = state.config.session_ttl_seconds as i64;
    cookie_header(
        state,
        sessions::cookie_name(&state.config),
        value,
        Some(ttl),
    )
}

/// Starts a session authenticated by `amr`; returns its `Set-Cookie` value.
pub async fn start_session(
    state: &AppState,
    user_id: &str,
    amr: &Amr,
    browser: sessions::Browser<'_>,
) -> Result<HeaderValue, PageError> {
    let ttl = state.config.session_ttl_seconds as i64;
    let now = state.clock.now();
    let value = sessions::start(&state.store, user_id, amr, browser, now, ttl).await?;
    Ok(session_cookie_header(state, &value))
}

/// The browser a request comes from (its `User-Agent`, and the client IP), as a new session
/// records it.
pub fn browser<'a>(headers: &'a HeaderMap, ip: &'a str) -> sessions::Browser<'a> {
    sessions::Browser {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        ip,
    }
}

/// Records a second step on a live session (see [`sessions::elevate`]); returns the new
/// cookie's `Set-Cookie` value, or `None` when the session has ended meanwhile.
pub async fn elevate_session(
    state: &AppState,
    session: &Session,
    amr: &Amr,
) -> Result<Option<HeaderValue>, PageError> {
    let value = sessions::elevate(&state.store, session, amr, state.clock.now()).await?;
    Ok(value.map(|v| session_cookie_header(state, &v)))
}

/// The CSRF form token for this browser, and a cookie to set when the browser has none yet.
pub struct Csrf {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

impl Csrf {
    pub fn for_request(state: &AppState, headers: &HeaderMap) -> Csrf {
        if let Some(session) = session_cookie(state, headers) {
            return Csrf {
                token: state.keys.csrf_session_token(&session),
                set_cookie: None,
            };
        }
        let name = csrf_cookie_name(state);
        match extract::cookie(headers, name).filter(|v| v.len() >= 32 && v.len() <= 64) {
            Some(value) => Csrf {
                token: state.keys.csrf_token(&value),
                set_cookie: None,
            },
            None => {
                let value = random_token(32);
                Csrf {
                    token: state.keys.csrf_token(&value),
                    set_cookie: Some(cookie_header(state, name, &value, None)),
                }
            }
        }
    }

    /// Adds the cookie (if new) to a page response.
    pub fn apply(&self, mut response: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            response.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        response
    }
}

/// Checks a posted form's `csrf_token`: against the session when the browser has one, else
/// against the browser's CSRF cookie.
pub fn verify_csrf(
    state: &AppState,
    headers: &HeaderMap,
    posted: Option<&str>,
) -> Result<(), PageError> {
    let token = posted.ok_or_else(PageError::csrf)?;
    let ok = match session_cookie(state, headers) {
        Some(session) => state.keys.verify_csrf_session(&session, token),
        None => {
            let cookie =
                extract::cookie(headers, csrf_cookie_name(state)).ok_or_else(PageError::csrf)?;
            state.keys.verify_csrf(&cookie, token)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(PageError::csrf())
    }
}

/// The longest `next` accepted: room for an authorization request sealed into it.
pub const MAX_LOCAL_PATH: usize = 16 * 1024;

/// Accepts only a local path as a post-login destination: never an absolute or
/// scheme-relative URL, so `next` cannot become an open redirect.
pub fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= MAX_LOCAL_PATH
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_string())
}

/// A compiled-in asset, cacheable for an hour.
fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub async fn stylesheet() -> Response {
    asset(
        include_bytes!("../../assets/logi.css"),
        "text/css; charset=utf-8",
    )
}

/// The console's copy buttons (pages work without it).
pub async fn console_script() -> Response {
    asset(
        include_bytes!("../../assets/console.js"),
        "text/javascript; charset=utf-8",
    )
}

pub async fn favicon() -> Response {
    asset(include_bytes!("../../assets/favicon.ico"), "image/x-icon")
}

/// The passkey buttons (`navigator.credentials`). Every page works without it; it only adds
/// what WebAuthn cannot do without JavaScript.
pub async fn passkey_script() -> Response {
    asset(
        include_bytes!("../../assets/passkeys.js"),
        "text/javascript; charset=utf-8",
    )
}
