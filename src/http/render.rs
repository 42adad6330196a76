//! Page rendering: the compiled-in templates and the headers every HTML response carries. A leaf
//! of the HTTP layer: errors and pages both render through it.

use std::sync::{Arc, OnceLock};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use minijinja::Environment;
use serde::Serialize;

use crate::config::brand::Brand;

/// `script-src 'self'` for logi's own scripts (`/assets/passkeys.js`, `/assets/console.js`) and
/// `connect-src 'self'` for the passkey script's posts to logi's own endpoints; no inline script.
/// No `form-action`: browsers apply it to the redirect that follows a form post, and the consent
/// and login forms end in a redirect to the client's own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("datetime", datetime);
        for (name, source) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("signup.html", include_str!("../../templates/signup.html")),
            ("home.html", include_str!("../../templates/home.html")),
            ("error.html", include_str!("../../templates/error.html")),
            ("consent.html", include_str!("../../templates/consent.html")),
            (
                "authorize_error.html",
                include_str!("../../templates/authorize_error.html"),
            ),
            ("logout.html", include_str!("../../templates/logout.html")),
            ("device.html", include_str!("../../templates/device.html")),
            ("message.html", include_str!("../../templates/message.html")),
            (
                "login_mfa.html",
                include_str!("../../templates/login_mfa.html"),
            ),
            (
                "account_second_factors.html",
                include_str!("../../templates/account_second_factors.html"),
            ),
            (
                "account_totp.html",
                include_str!("../../templates/account_totp.html"),
            ),
            (
                "account_recovery_codes.html",
                include_str!("../../templates/account_recovery_codes.html"),
            ),
            (
                "forgot_password.html",
                include_str!("../../templates/forgot_password.html"),
            ),
            (
                "reset_password.html",
                include_str!("../../templates/reset_password.html"),
            ),
            (
                "developer.html",
                include_str!("../../templates/developer.html"),
            ),
            (
                "developer_app.html",
                include_str!("../../templates/developer_app.html"),
            ),
            (
                "developer_app_fields.html",
                include_str!("../../templates/developer_app_fields.html"),
            ),
            (
                "developer_confirm.html",
                include_str!("../../templates/developer_confirm.html"),
            ),
            (
                "account_page.html",
                include_str!("../../templates/account_page.html"),
            ),
            (
                "account_profile.html",
                include_str!("../../templates/account_profile.html"),
            ),
            (
                "account_password.html",
                include_str!("../../templates/account_password.html"),
            ),
            (
                "account_sessions.html",
                include_str!("../../templates/account_sessions.html"),
            ),
            (
                "account_applications.html",
                include_str!("../../templates/account_applications.html"),
            ),
            (
                "account_delete.html",
                include_str!("../../templates/account_delete.html"),
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

/// `{{ t|datetime }}`: Unix seconds as `YYYY-MM-DD HH:MM UTC` (pages show stored times).
pub fn datetime(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian): eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Renders a template (auto-escaped: every template name ends in `.html`), with `brand` (the
/// product name, logo and stylesheet every page's frame shows) added to `ctx`.
pub fn template<S: Serialize>(name: &str, ctx: S) -> Result<String, minijinja::Error> {
    let brand = BRAND
        .try_with(|b| minijinja::Value::from_serialize(&**b))
        .unwrap_or_else(|_| minijinja::Value::from_serialize(PageBrand::default()));
    let ctx = minijinja::context! { brand => brand, ..minijinja::Value::from_serialize(&ctx) };
    env().get_template(name).and_then(|t| t.render(ctx))
}

/// What `base.html` needs of the branding hook (`config::brand`): the name, and the versions
/// (content hashes) of the logo and the accent stylesheet when they are configured; the page
/// links `/assets/brand-logo?v=…` and `/assets/brand.css?v=…`.
#[derive(Clone, Debug, Serialize)]
pub struct PageBrand {
    pub name: String,
    pub logo_version: Option<String>,
    pub stylesheet_version: Option<String>,
}

impl PageBrand {
    pub fn of(brand: &Brand) -> PageBrand {
        PageBrand {
            name: brand.name.clone(),
            logo_version: brand.logo.as_ref().map(|l| l.version.clone()),
            stylesheet_version: brand.stylesheet.as_ref().map(|s| s.version.clone()),
        }
    }
}

impl Default for PageBrand {
    fn default() -> Self {
        PageBrand::of(&Brand::default())
    }
}

/// Where the configured logo is served (same origin: the CSP is `img-src 'self'`); `base.html`
/// spells the two paths out too.
pub const BRAND_LOGO_PATH: &str = "/assets/brand-logo";
/// Where the accent stylesheet is served (the CSP is `style-src 'self'`: no inline styles).
pub const BRAND_STYLESHEET_PATH: &str = "/assets/brand.css";

tokio::task_local! {
    /// The request's `x-request-id`, for the error page's details block.
    static REQUEST_ID: String;
    /// The server's brand, for every page rendered while a request is handled (one process
    /// may serve several configurations: the tests start many servers).
    static BRAND: Arc<PageBrand>;
}

/// Runs `f` (a request's handling) with `brand` and the request's `x-request-id` for the pages
/// it renders (the brand in the header, the id in an error page's details block).
pub async fn scoped<F: std::future::Future>(
    brand: Arc<PageBrand>,
    request_id: String,
    f: F,
) -> F::Output {
    REQUEST_ID.scope(request_id, BRAND.scope(brand, f)).await
}

/// An error page: the message and a next step for the person, the status for the developer.
pub fn render_error(status: StatusCode, title: &str, message: &str) -> String {
    let next_step = match status.as_u16() {
        403 => "Reload the page you came from and try again; if it keeps happening, sign in again.",
        404 => "Check the address, or start again from the application you came from.",
        429 => "Wait a few minutes, then try again.",
        500..=599 => "Try again in a moment. If it keeps happening, tell the site's operator.",
        _ => "Go back to the application you came from and start again.",
    };
    let request_id = REQUEST_ID.try_with(String::clone).ok();
    let ctx =
        minijinja::context! { title, message, next_step, request_id, status => status.as_u16() };
    template("error.html", ctx).unwrap_or_else(|_| {
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

#[cfg(test)]
mod tests {
    #[test]
    fn datetime_formats_unix_seconds_in_utc() {
        assert_eq!(super::datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::datetime(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::datetime(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(super::datetime(-86_400), "1969-12-31 00:00 UTC");
    }
}
