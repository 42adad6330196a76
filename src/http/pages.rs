//! Server-rendered HTML: templates, security headers and the CSRF guard shared by every form.
//!
//! CSRF uses signed double-submit: a random `logi_csrf` cookie (HttpOnly, SameSite=Lax) and a
//! hidden `csrf_token` field holding an HMAC of it under a key derived from the master key. A
//! form post without both, or with a token that does not match the cookie, is refused with 403.

use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{error::PageError, extract, AppState};
use crate::crypto::random_token;

pub const CSRF_COOKIE: &str = "logi_csrf";

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

/// The CSRF form token for this browser, and a cookie to set when the browser has none yet.
pub struct Csrf {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

impl Csrf {
    pub fn for_request(state: &AppState, headers: &HeaderMap) -> Csrf {
        match extract::cookie(headers, CSRF_COOKIE).filter(|v| v.len() >= 32 && v.len() <= 64) {
            Some(value) => Csrf {
                token: state.keys.csrf_token(&value),
                set_cookie: None,
            },
            None => {
                let value = random_token(32);
                Csrf {
                    token: state.keys.csrf_token(&value),
                    set_cookie: Some(cookie_header(state, CSRF_COOKIE, &value, None)),
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

/// Checks a posted form's `csrf_token` against the browser's CSRF cookie.
pub fn verify_csrf(
    state: &AppState,
    headers: &HeaderMap,
    posted: Option<&str>,
) -> Result<(), PageError> {
    let cookie = extract::cookie(headers, CSRF_COOKIE).ok_or_else(PageError::csrf)?;
    let token = posted.ok_or_else(PageError::csrf)?;
    if state.keys.verify_csrf(&cookie, token) {
        Ok(())
    } else {
        Err(PageError::csrf())
    }
}

/// Accepts only a local path as a post-login destination: never an absolute or
/// scheme-relative URL, so `next` cannot become an open redirect.
pub fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_string())
}

pub async fn stylesheet() -> Response {
    let mut r = include_str!("../../assets/logi.css").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}
