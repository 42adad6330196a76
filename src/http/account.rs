//! The second-factor sections of `/account`: TOTP enrolment (`/account/totp`), recovery codes,
//! passkeys. The page itself is `account_page`'s, which shows [`factors_view`] with
//! `templates/account_second_factors.html`.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use minijinja::context;
use serde::Serialize;

use super::{
    error::{no_store, ApiError, PageError},
    extract::{self, ClientIp, Params},
    forms::{CsrfForm, CsrfJson, CurrentUser},
    mfa::PasskeyCall,
    pages::{self, html, render, Csrf},
    AppState,
};
use crate::{
    accounts::{
        amr::{Amr, Method},
        login::{self, Recheck},
        manage::Notice,
        mfa::{self, CodeOutcome, ConfirmOutcome},
        totp,
    },
    store::{self, second_factors::Enrolled, users::User},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/totp", get(totp_page).post(totp_confirm))
        .route("/account/totp/disable", post(totp_disable))
        .route("/account/passkeys/start", post(passkey_start))
        .route("/account/passkeys/finish", post(passkey_finish))
        .route("/account/passkeys/{id}/delete", post(passkey_delete))
}

/// The login page, with `next` back to `path`.
fn login_first(path: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", path)
        .finish();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// What the second-factor section shows.
#[derive(Serialize)]
pub(super) struct FactorsView {
    totp: bool,
    recovery_codes: i64,
    passkeys_enabled: bool,
    passkeys: Vec<PasskeyView>,
}

#[derive(Serialize)]
struct PasskeyView {
    id: String,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

pub(super) async fn factors_view(state: &AppState, user: &User) -> Result<FactorsView, PageError> {
    let enrolled = store::second_factors::enrolled(&state.store, &user.id).await?;
    let passkeys = store::second_factors::passkeys(&state.store, &user.id)
        .await?
        .into_iter()
        .map(|p| PasskeyView {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        })
        .collect();
    Ok(FactorsView {
        totp: enrolled.totp,
        recovery_codes: enrolled.recovery_codes,
        passkeys_enabled: state.passkeys.enabled(),
        passkeys,
    })
}

// ---------------------------------------------------------------------------------------------
// TOTP
// ---------------------------------------------------------------------------------------------

fn query_next(uri: &Uri) -> Option<String> {
    let params = Params::parse(uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    pages::local_path(params.get("next"))
}

/// The enrolment QR code as inline SVG (no image request: the CSP allows none elsewhere).
fn qr_svg(uri: &str) -> Result<String, PageError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(PageError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration; labelled for screen readers.
    let svg = svg
        .split_once("?>")
        .map_or(svg.as_str(), |(_, rest)| rest)
        .replacen(
            "<svg ",
            "<svg role=\"img\" aria-label=\"QR code of the otpauth URI below\" ",
            1,
        );
    Ok(svg)
}

async fn totp_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let next = query_next(&uri);
    let here = match &next {
        Some(n) => format!(
            "/account/totp?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", n)
                .finish()
        ),
        None => "/account/totp".to_string(),
    };
    let Some(current) = current else {
        return Ok(login_first(&here));
    };
    let enrolled = store::second_factors::enrolled(&state.store, &current.user.id).await?;
    if enrolled.totp {
        return enabled_page(&state, &headers, &enrolled, StatusCode::OK, None);
    }
    let enrolment = mfa::new_enrolment(&state.keys, &current.user.id, state.clock.now());
    enrolment_page(
        &state,
        &headers,
        &current.user,
        &enrolment.secret,
        &enrolment.sealed,
        next.as_deref(),
        StatusCode::OK,
        None,
    )
}

#[allow(clippy::too_many_arguments)]
fn enrolment_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    secret: &[u8],
    sealed: &str,
    next: Option<&str>,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let otpauth = totp::otpauth_uri(&user.email, secret);
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "account_totp.html",
        context! {
            csrf_token => &csrf.token,
            otpauth => &otpauth,
            secret => totp::base32(secret),
            qr_svg => qr_svg(&otpauth)?,
            enrolment => sealed,
            next,
            error,
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

fn enabled_page(
    state: &AppState,
    headers: &HeaderMap,
    enrolled: &Enrolled,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "account_totp.html",
        context! {
            csrf_token => &csrf.token,
            enabled => true,
            recovery_codes_left => enrolled.recovery_codes,
            error,
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

/// `POST /account/totp` (`enrolment`, `code`): confirms the enrolment, shows the recovery codes
/// once, and counts as this session's second factor.
async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(login_first("/account/totp"));
    };
    let next = pages::local_path(params.get("next"));
    let now = state.clock.now();
    let user = &current.user;
    let sealed = params.get("enrolment").unwrap_or_default();
    let Some(secret) = mfa::open_enrolment(&state.keys, &user.id, sealed, now) else {
        let fresh = mfa::new_enrolment(&state.keys, &user.id, now);
        return enrolment_page(
            &state,
            &headers,
            user,
            &fresh.secret,
            &fresh.sealed,
            next.as_deref(),
            StatusCode::BAD_REQUEST,
            Some("This enrolment has expired. Scan the new code below and try again."),
        );
    };
    let code = params.get("code").unwrap_or_default();
    let codes =
        match mfa::confirm_totp(&state.store, &state.keys, &user.id, &secret, code, now).await? {
            ConfirmOutcome::Enabled { recovery_codes } => recovery_codes,
            ConfirmOutcome::WrongCode => return enrolment_page(
                &state,
                &headers,
                user,
                &secret,
                sealed,
                next.as_deref(),
                StatusCode::BAD_REQUEST,
                Some("That code is not valid. Check your authenticator app's clock and try again."),
            ),
            ConfirmOutcome::AlreadyEnabled => {
                return Ok(Redirect::to("/account/totp").into_response());
            }
        };
    // SPEC "End users": confirming an enrolment with a code counts as this session's second
    // factor.
    state.notify(user, Notice::SecondFactorAdded).await?;
    let amr = Amr::parse(&current.session.amr).with(Method::Otp);
    let cookie = pages::elevate_session(&state, &current.session, &amr).await?;
    let body = render(
        "account_recovery_codes.html",
        context! { codes, next => next.as_deref().unwrap_or("/account") },
    )?;
    let mut response = no_store(html(StatusCode::OK, body));
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /account/totp/disable` (`password` or `code`): turns TOTP off, with its recovery codes.
/// The password check is the login's (throttled), the code check the second step's.
async fn totp_disable(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(login_first("/account/totp"));
    };
    let user = &current.user;
    let now = state.clock.now();
    let proof = match (params.get("password"), params.get("code")) {
        (Some(password), _) if !password.is_empty() => {
            match login::recheck(
                &state.store,
                &state.keys,
                &state.hasher,
                &state.config,
                user,
                password.to_string(),
                &ip,
                now,
            )
            .await?
            {
                Recheck::Confirmed => Ok(()),
                Recheck::Locked { retry_after } => Err(Some(retry_after)),
                Recheck::Invalid => Err(None),
            }
        }
        (_, Some(code)) if !code.is_empty() => {
            let outcome = mfa::check_code(
                &state.store,
                &state.keys,
                &state.config,
                &user.id,
                code,
                &ip,
                now,
            )
            .await?;
            match outcome {
                CodeOutcome::Accepted(_) => Ok(()),
                CodeOutcome::Locked { retry_after } => Err(Some(retry_after)),
                CodeOutcome::Invalid => Err(None),
            }
        }
        _ => Err(None),
    };
    let enrolled = store::second_factors::enrolled(&state.store, &user.id).await?;
    match proof {
        Ok(()) => {
            store::second_factors::disable_totp(&state.store, &user.id).await?;
            tracing::info!(target: "logi::security", user_id = %user.id, "totp disabled");
            state.notify(user, Notice::SecondFactorRemoved).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(None) => enabled_page(
            &state,
            &headers,
            &enrolled,
            StatusCode::UNAUTHORIZED,
            Some("Enter your current password or a valid code to turn two-step verification off."),
        ),
        Err(Some(retry_after)) => {
            let mut response = enabled_page(
                &state,
                &headers,
                &enrolled,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many failed attempts. Try again later."),
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            Ok(response)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Passkeys
// ---------------------------------------------------------------------------------------------

fn signed_out() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "login_required",
        "sign in to manage passkeys",
    )
}

/// The longest passkey name kept.
const MAX_PASSKEY_NAME: usize = 100;

async fn passkey_start(
    State(state): State<AppState>,
    current: Option<CurrentUser>,
    CsrfJson(_): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let current = current.ok_or_else(signed_out)?;
    let existing = store::second_factors::passkeys(&state.store, &current.user.id).await?;
    let challenge = state.passkeys.start_registration(
        &state.keys,
        &current.user,
        &existing,
        state.clock.now(),
    )?;
    Ok(no_store(Json(challenge).into_response()))
}

async fn passkey_finish(
    State(state): State<AppState>,
    current: Option<CurrentUser>,
    CsrfJson(call): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let current = current.ok_or_else(signed_out)?;
    let name = call
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Passkey")
        .chars()
        .take(MAX_PASSKEY_NAME)
        .collect::<String>();
    let answer = call.answer()?;
    state
        .passkeys
        .finish_registration(
            &state.store,
            &state.keys,
            &current.user,
            answer,
            &name,
            state.clock.now(),
        )
        .await?;
    state
        .notify(&current.user, Notice::SecondFactorAdded)
        .await?;
    Ok(no_store(
        Json(serde_json::json!({ "redirect": "/account" })).into_response(),
    ))
}

async fn passkey_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(login_first("/account"));
    };
    let id = extract::path_text(&id)?;
    if !store::second_factors::delete_passkey(&state.store, &current.user.id, id).await? {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such passkey on your account.",
        ));
    }
    tracing::info!(target: "logi::security", user_id = %current.user.id, passkey = id, "passkey removed");
    state
        .notify(&current.user, Notice::SecondFactorRemoved)
        .await?;
    Ok(Redirect::to("/account").into_response())
}
