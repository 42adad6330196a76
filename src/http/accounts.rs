//! `/`, `/signup`, `/login`, `/logout`: end-user account pages.

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use minijinja::context;
use serde::Deserialize;

use super::{
    error::PageError,
    extract::{self, ClientIp, Params},
    forms::{CsrfForm, CurrentUser},
    pages::{self, html, render, Csrf},
    AppState,
};
use crate::{
    accounts::{
        self,
        amr::{Amr, Method},
        login::LoginOutcome,
        sessions,
    },
    crypto::random_token,
    store::{self, users::User},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct HomeQuery {
    signed_out: Option<String>,
    resent: Option<String>,
}

async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(&state, &headers);
    let user = current.map(|c| context! { email => c.user.email, name => c.user.name, email_verified => c.user.email_verified != 0 });
    let body = render(
        "home.html",
        context! { user, csrf_token => &csrf.token, signed_out => q.signed_out.is_some(), resent => q.resent.is_some() },
    )?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

#[derive(Deserialize, Default)]
struct PageQuery {
    next: Option<String>,
    login_hint: Option<String>,
}

fn parse_query(raw: Option<&str>) -> PageQuery {
    let params = Params::parse(raw.unwrap_or_default().as_bytes()).unwrap_or_default();
    PageQuery {
        next: params.get("next").map(String::from),
        login_hint: params.get("login_hint").map(String::from),
    }
}

async fn signup_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let q = parse_query(uri.query());
    let next = pages::local_path(q.next.as_deref());
    let app_name = super::oauth::continuing_to(&state, next.as_deref()).await;
    let csrf = Csrf::for_request(&state, &headers);
    let body = render(
        "signup.html",
        context! { csrf_token => &csrf.token, next, email => "", name => "", app_name },
    )?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let q = parse_query(uri.query());
    let csrf = Csrf::for_request(&state, &headers);
    let email = q
        .login_hint
        .as_deref()
        .and_then(accounts::parse_email)
        .unwrap_or_default();
    let next = pages::local_path(q.next.as_deref());
    let app_name = super::oauth::continuing_to(&state, next.as_deref()).await;
    let body = render(
        "login.html",
        context! {
            csrf_token => &csrf.token,
            next,
            email,
            app_name,
            passkeys => state.passkeys.enabled(),
        },
    )?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

/// Starts a session authenticated by `amr` (remembering the browser and IP it came from) and
/// sends the browser on to `next` (a local path) or the home page.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    user_id: &str,
    amr: &Amr,
    next: Option<String>,
) -> Result<Response, PageError> {
    let cookie = pages::start_session(state, user_id, amr, pages::browser(headers, ip)).await?;
    let mut response = Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let next = pages::local_path(params.get("next"));
    let raw_email = params.get("email").unwrap_or_default();
    let name = params.get("name").unwrap_or_default().trim().to_string();
    let password = params.get("password").unwrap_or_default().to_string();
    let app_name = super::oauth::continuing_to(&state, next.as_deref()).await;
    let again = |status: StatusCode, error: &str| -> Result<Response, PageError> {
        let csrf = Csrf::for_request(&state, &headers);
        let body = render(
            "signup.html",
            context! { csrf_token => &csrf.token, next => &next, email => raw_email, name => &name, error, app_name => &app_name },
        )?;
        Ok(csrf.apply(html(status, body)))
    };
    let Some(email) = accounts::parse_email(raw_email) else {
        return again(StatusCode::BAD_REQUEST, "Enter a valid email address.");
    };
    if let Err(message) = accounts::check_new_password(&password) {
        return again(StatusCode::BAD_REQUEST, message);
    }
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return again(
            StatusCode::BAD_REQUEST,
            "Use at most 200 ordinary characters for your name.",
        );
    }
    let t = state.clock.now();
    if let Err(retry_after) = signup_allowed(&state, &ip, t).await? {
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many accounts were created from your network. Try again later.",
        )?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return Ok(response);
    }
    let password_hash = state
        .hasher
        .hash(password)
        .await
        .map_err(PageError::internal)?;
    let user = User {
        id: format!("usr_{}", random_token(16)),
        email,
        password_hash,
        name: name.clone(),
        created_at: t,
        updated_at: t,
        email_verified: 0,
        disabled: 0,
    };
    let links = accounts::recovery::Links {
        store: &state.store,
        keys: &state.keys,
        issuer: &state.config.issuer,
    };
    match links.create_user(&user, t).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return again(
                StatusCode::CONFLICT,
                "An account with this email already exists. Sign in instead.",
            );
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(target: "logi::security", user_id = %user.id, "account created");
    signed_in(
        &state,
        &headers,
        &ip,
        &user.id,
        &Amr::of(Method::Password),
        next,
    )
    .await
}

/// Counts a signup against `signup_max_per_ip_per_hour` (atomically, before the password is
/// hashed); `Err(retry_after)` when the client IP has used up its hour.
async fn signup_allowed(state: &AppState, ip: &str, t: i64) -> Result<Result<(), i64>, PageError> {
    let max = state.config.signup_max_per_ip_per_hour as i64;
    if max == 0 {
        return Ok(Ok(()));
    }
    let key = format!("signup:{ip}");
    Ok(store::throttle::reserve(&state.store, &key, t, max, 3600)
        .await?
        .map(|_| ()))
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let next = pages::local_path(params.get("next"));
    let raw_email = params.get("email").unwrap_or_default();
    let passkeys = state.passkeys.enabled();
    let app_name = super::oauth::continuing_to(&state, next.as_deref()).await;
    let again = |status: StatusCode, error: &str| -> Result<Response, PageError> {
        let csrf = Csrf::for_request(&state, &headers);
        let body = render(
            "login.html",
            context! { csrf_token => &csrf.token, next => &next, email => raw_email, error, passkeys, app_name => &app_name },
        )?;
        Ok(csrf.apply(html(status, body)))
    };
    const INVALID: &str = "Incorrect email or password.";
    let (Some(email), Some(password)) = (accounts::parse_email(raw_email), params.get("password"))
    else {
        return again(StatusCode::UNAUTHORIZED, INVALID);
    };
    let outcome = accounts::login::attempt(
        &state.store,
        &state.keys,
        &state.hasher,
        &state.config,
        &email,
        password.to_string(),
        &ip,
        state.clock.now(),
    )
    .await?;
    match outcome {
        LoginOutcome::Success(user) => {
            let first = Amr::of(Method::Password);
            // With a second factor, the password only opens the second step (SPEC "End users").
            if store::second_factors::enrolled(&state.store, &user.id)
                .await?
                .any()
            {
                tracing::info!(target: "logi::security", user_id = %user.id, "password accepted: second step next");
                return Ok(super::mfa::second_step(&state, &user.id, &first, next));
            }
            tracing::info!(target: "logi::security", user_id = %user.id, "signed in");
            signed_in(&state, &headers, &ip, &user.id, &first, next).await
        }
        // Warn before the lock, not only after it.
        LoginOutcome::Invalid { attempts_left } if attempts_left <= 3 => {
            let warning = match attempts_left {
                0 => "Incorrect email or password. Sign-in to this account is now locked for a \
                      few minutes."
                    .to_string(),
                1 => "Incorrect email or password. 1 attempt left before sign-in to this \
                      account is locked for a few minutes."
                    .to_string(),
                n => format!(
                    "Incorrect email or password. {n} attempts left before sign-in to this \
                     account is locked for a few minutes."
                ),
            };
            again(StatusCode::UNAUTHORIZED, &warning)
        }
        LoginOutcome::Invalid { .. } => again(StatusCode::UNAUTHORIZED, INVALID),
        // Only the right password learns this; the wrong one gets INVALID as for any account.
        LoginOutcome::Disabled => again(
            StatusCode::FORBIDDEN,
            "This account cannot sign in. Contact the operator of this service.",
        ),
        LoginOutcome::Locked { retry_after } => {
            let minutes = (retry_after + 59) / 60;
            let unit = if minutes == 1 { "minute" } else { "minutes" };
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many failed attempts: sign-in is locked for this account. \
                     Try again in {minutes} {unit}."
                ),
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(response)
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    // "Not you?" on the consent page signs out and goes on to sign in again (a local path).
    let next = pages::local_path(params.get("next"));
    if let Some(cookie) = extract::cookie(&headers, sessions::cookie_name(&state.config)) {
        sessions::end_sessions(
            &state.store,
            sessions::Ending::Cookie(&cookie),
            state.clock.now(),
        )
        .await?;
    }
    let mut response = Redirect::to(next.as_deref().unwrap_or("/?signed_out=1")).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        pages::cookie_header(&state, sessions::cookie_name(&state.config), "", Some(0)),
    );
    Ok(response)
}
