//! `/verify-email`, `/forgot-password`, `/reset-password`: the pages of the links logi mails
//! (`accounts::recovery`).

use axum::extract::State;
use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use minijinja::context;

use super::{
    error::PageError,
    extract::{ClientIp, Params},
    forms::{CsrfForm, CurrentUser},
    pages::{html, render, Csrf},
    AppState,
};
use crate::{
    accounts::{
        self,
        recovery::{Links, ResetError},
    },
    store::{self, email_tokens::Lookup},
};

/// Reset requests per client IP and hour.
const RESET_MAX_PER_IP: i64 = 30;
/// Reset requests per address and hour (whether or not an account has it).
const RESET_MAX_PER_ADDRESS: i64 = 5;
/// Verification mails a signed-in account may ask for again per hour.
const RESEND_MAX_PER_ACCOUNT: i64 = 5;
const HOUR: i64 = 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/verify-email", get(verify_email))
        .route("/verify-email/resend", post(resend_verification))
        .route("/forgot-password", get(forgot_page).post(forgot_password))
        .route("/reset-password", get(reset_page).post(reset_password))
}

fn links(state: &AppState) -> Links<'_> {
    Links {
        store: &state.store,
        keys: &state.keys,
        issuer: &state.config.issuer,
    }
}

fn query_token(uri: &axum::http::Uri) -> String {
    Params::parse(uri.query().unwrap_or_default().as_bytes())
        .ok()
        .and_then(|p| p.get("token").map(String::from))
        .unwrap_or_default()
}

fn message(status: StatusCode, title: &str, message: &str) -> Result<Response, PageError> {
    Ok(html(
        status,
        render("message.html", context! { title, message })?,
    ))
}

/// The page of a link that cannot be used.
fn bad_link(lookup: &Lookup, what: &str, again: &str) -> Result<Response, PageError> {
    let (title, text) = match lookup {
        Lookup::Used => (
            "Link already used",
            format!("This {what} link was already used. {again}"),
        ),
        Lookup::Expired => (
            "Link expired",
            format!("This {what} link has expired. {again}"),
        ),
        _ => (
            "Link not valid",
            format!("This {what} link is not valid. {again}"),
        ),
    };
    message(StatusCode::BAD_REQUEST, title, &text)
}

async fn verify_email(
    State(state): State<AppState>,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let token = query_token(&uri);
    let outcome = links(&state)
        .verify_email(&token, state.clock.now())
        .await?;
    match outcome {
        Lookup::Valid(t) => {
            tracing::info!(target: "logi::security", user_id = %t.user_id, "email address verified");
            message(
                StatusCode::OK,
                "Address verified",
                &format!("Thank you: {} is verified.", t.email),
            )
        }
        other => bad_link(
            &other,
            "verification",
            "Sign in and ask for a new verification mail on your account page.",
        ),
    }
}

async fn resend_verification(
    State(state): State<AppState>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(Redirect::to("/login").into_response());
    };
    if user.email_verified != 0 {
        return Ok(Redirect::to("/").into_response());
    }
    let now = state.clock.now();
    let key = format!("verify-resend:{}", user.id);
    if let Err(retry_after) =
        store::throttle::reserve(&state.store, &key, now, RESEND_MAX_PER_ACCOUNT, HOUR).await?
    {
        let mut response = message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many mails",
            "Several verification mails were sent already. Look for them, or try again later.",
        )?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Ok(response);
    }
    links(&state).send_verification(&user, now).await?;
    Ok(Redirect::to("/?resent=1").into_response())
}

async fn forgot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(&state, &headers);
    let body = render(
        "forgot_password.html",
        context! { csrf_token => &csrf.token, email => "" },
    )?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

/// The same page whether or not an account has the address; both paths do a write of about
/// the same cost. Limited per client IP and per address (counted whether or not an account
/// has it, so the limit tells nothing either).
async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let raw_email = params.get("email").unwrap_or_default();
    let page =
        |status: StatusCode, sent: bool, error: Option<&str>| -> Result<Response, PageError> {
            let csrf = Csrf::for_request(&state, &headers);
            let body = render(
                "forgot_password.html",
                context! { csrf_token => &csrf.token, email => raw_email, sent, error },
            )?;
            Ok(csrf.apply(html(status, body)))
        };
    let Some(email) = accounts::parse_email(raw_email) else {
        return page(
            StatusCode::BAD_REQUEST,
            false,
            Some("Enter a valid email address."),
        );
    };
    let now = state.clock.now();
    for (key, max) in [
        (format!("reset-ip:{ip}"), RESET_MAX_PER_IP),
        (format!("reset-address:{email}"), RESET_MAX_PER_ADDRESS),
    ] {
        if let Err(retry_after) =
            store::throttle::reserve(&state.store, &key, now, max, HOUR).await?
        {
            let mut response = page(
                StatusCode::TOO_MANY_REQUESTS,
                false,
                Some("Too many reset requests. Try again later."),
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
    }
    links(&state).request_reset(&email, now).await?;
    tracing::info!(target: "logi::security", email = %state.keys.log_pseudonym(&email), "password reset requested");
    page(StatusCode::OK, true, None)
}

const ASK_AGAIN: &str = "Ask for a new one on the “Forgot password?” page.";

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let token = query_token(&uri);
    match links(&state).check_reset(&token, state.clock.now()).await? {
        Lookup::Valid(_) => {
            let csrf = Csrf::for_request(&state, &headers);
            let body = render(
                "reset_password.html",
                context! { csrf_token => &csrf.token, token },
            )?;
            Ok(csrf.apply(html(StatusCode::OK, body)))
        }
        other => bad_link(&other, "password reset", ASK_AGAIN),
    }
}

async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let token = params.get("token").unwrap_or_default().to_string();
    let password = params.get("password").unwrap_or_default().to_string();
    if let Err(error) = accounts::check_new_password(&password) {
        let now = state.clock.now();
        return match links(&state).check_reset(&token, now).await? {
            Lookup::Valid(_) => {
                let csrf = Csrf::for_request(&state, &headers);
                let body = render(
                    "reset_password.html",
                    context! { csrf_token => &csrf.token, token, error },
                )?;
                Ok(csrf.apply(html(StatusCode::BAD_REQUEST, body)))
            }
            other => bad_link(&other, "password reset", ASK_AGAIN),
        };
    }
    let outcome = links(&state)
        .reset_password(&state.hasher, &token, password, state.clock.now())
        .await
        .map_err(|e| match e {
            ResetError::Store(e) => PageError::from(e),
            ResetError::Hash(e) => PageError::internal(e),
        })?;
    match outcome {
        Lookup::Valid(_) => message(
            StatusCode::OK,
            "Password changed",
            "Your new password is set, and you were signed out everywhere. Sign in with it now.",
        ),
        other => bad_link(&other, "password reset", ASK_AGAIN),
    }
}
