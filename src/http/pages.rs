//! Server-rendered HTML: templates, security headers and the CSRF guard shared by every form.
//!
//! CSRF uses signed double-submit: a random `logi_csrf` cookie (HttpOnly, SameSite=Lax) and a
//! hidden `csrf_token` field holding an HMAC of it under a key derived from the master key. A
//! form post without both, or with a token that does not match the cookie, is refused with 403.

use std::sync::OnceLock;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use minijinja::Environment;
use serde::Serialize;

use super::{error::PageError, extract, AppState};
use crate::crypto::random_token;

pub const CSRF_COOKIE: &str = "logi_csrf";

const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("signup.html", include_str!("../../templates/signup.html")),
            ("home.html", include_str!("../../templates/home.html")),
            ("error.html", include_str!("../../templates/error.html")),
            ("consent.html", include_str!("../../templates/consent.html")),
            ("logout.html", include_str!("../../templates/logout.html")),
            ("device.html", include_str!("../../templates/device.html")),
            ("message.html", include_str!("../../templates/message.html")),
            (
                "developer.html",
                include_str!("../../templates/developer.html"),
            ),
        ] {
            // The templates are compiled into the binary; a syntax error fails the test suite.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Renders a template (auto-escaped: every template name ends in `.html`).
pub fn render<S: Serialize>(name: &str, ctx: S) -> Result<String, PageError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| PageError::internal(format!("template {name}: {e}")))
}

pub fn render_error(title: &str, message: &str) -> String {
    render("error.html", minijinja::context! { title, message }).unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    })
}

/// An HTML response with the headers every logi page carries.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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
