//! `/login/mfa`: the second step (SPEC "End users": a correct password with a second factor
//! enrolled leads here, and no session exists until this step succeeds), the same step for a
//! signed-in session that must show two factors (`acr_values=urn:logi:acr:mfa`), and passkey
//! sign-in from the login page.
//!
//! The sign-in in between lives in a cookie ([`mfa::PendingLogin`]: sealed, bound to the
//! account and the `next` URL, five minutes, single use); the form posts `code` (TOTP or a
//! recovery code) and the passkey button runs `/assets/passkeys.js` against the JSON calls
//! below. Wrong codes and refused passkeys are throttled like passwords.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use super::{
    error::{no_store, ApiError, PageError},
    extract::{self, ClientIp, Params},
    forms::{CsrfForm, CsrfJson, CurrentUser},
    pages::{self, html, render, Csrf},
    AppState,
};
use crate::{
    accounts::{
        amr::{Amr, Method},
        mfa::{self, CodeOutcome, PendingLogin},
        passkeys::Answer,
        sessions,
    },
    store::{self, second_factors::Enrolled},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/mfa", get(page).post(submit_code))
        .route("/login/mfa/passkey/start", post(passkey_start))
        .route("/login/mfa/passkey/finish", post(passkey_finish))
        .route("/login/passkey/start", post(passwordless_start))
        .route("/login/passkey/finish", post(passwordless_finish))
}

pub const COOKIE: &str = "logi_mfa";
/// On an https issuer (see `sessions::HOST_COOKIE`).
pub const HOST_COOKIE: &str = "__Host-logi_mfa";

fn cookie_name(state: &AppState) -> &'static str {
    if state.config.issuer_is_https() {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// `path` with `next` as its query.
fn with_next(path: &str, next: Option<&str>) -> String {
    match next {
        Some(next) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish();
            format!("{path}?{query}")
        }
        None => path.to_string(),
    }
}

/// Where a signed-in session that lacks a second factor is sent: this page, which sends it on
/// to TOTP enrolment when the account has no second factor.
pub fn step_up_path(next: &str) -> String {
    with_next("/login/mfa", Some(next))
}

/// After a correct password: the sign-in waits for its second step (no session yet).
pub fn second_step(state: &AppState, user_id: &str, first: &Amr, next: Option<String>) -> Response {
    let pending = PendingLogin::new(user_id, first, next.as_deref(), state.clock.now());
    let mut response = Redirect::to(&with_next("/login/mfa", next.as_deref())).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        pages::cookie_header(
            state,
            cookie_name(state),
            &pending.seal(&state.keys),
            Some(mfa::PENDING_LOGIN_TTL),
        ),
    );
    response
}

/// Whose second step this is.
enum Subject {
    /// A sign-in whose password was right.
    Pending(PendingLogin),
    /// A signed-in session that must add a second factor.
    StepUp(Box<CurrentUser>),
}

impl Subject {
    fn user_id(&self) -> &str {
        match self {
            Subject::Pending(p) => &p.user_id,
            Subject::StepUp(c) => &c.user.id,
        }
    }
}

/// The sign-in waiting in this browser for `next` (a pending cookie wins over a session: it is
/// the newer intent), or the signed-in session.
async fn subject(
    state: &AppState,
    headers: &HeaderMap,
    next: Option<&str>,
) -> Result<Option<Subject>, PageError> {
    let now = state.clock.now();
    let pending = extract::cookie(headers, cookie_name(state))
        .and_then(|c| PendingLogin::open(&state.keys, &c, now))
        .filter(|p| p.is_for(next));
    if let Some(p) = pending {
        return Ok(Some(Subject::Pending(p)));
    }
    Ok(CurrentUser::of(state, headers)
        .await?
        .map(|c| Subject::StepUp(Box::new(c))))
}

fn expired() -> PageError {
    PageError::bad_request(
        "This sign-in has expired. Sign in again (the second step must follow the password within five minutes).",
    )
}

fn query_next(uri: &Uri) -> Option<String> {
    let params = Params::parse(uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    pages::local_path(params.get("next"))
}

async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let next = query_next(&uri);
    let Some(subject) = subject(&state, &headers, next.as_deref()).await? else {
        return Ok(Redirect::to(&with_next("/login", next.as_deref())).into_response());
    };
    if let Subject::StepUp(c) = &subject {
        if Amr::parse(&c.session.amr).is_mfa() {
            return Ok(Redirect::to(next.as_deref().unwrap_or("/")).into_response());
        }
    }
    let enrolled = store::second_factors::enrolled(&state.store, subject.user_id()).await?;
    if !enrolled.any() {
        return Ok(match subject {
            // No factor to show: enrolling one is the second step (SPEC "End users").
            Subject::StepUp(_) => {
                Redirect::to(&with_next("/account/totp", next.as_deref())).into_response()
            }
            // The factor went away meanwhile: start again (fail closed).
            Subject::Pending(_) => {
                Redirect::to(&with_next("/login", next.as_deref())).into_response()
            }
        });
    }
    render_page(
        &state,
        &headers,
        &enrolled,
        next.as_deref(),
        StatusCode::OK,
        None,
    )
}

fn render_page(
    state: &AppState,
    headers: &HeaderMap,
    enrolled: &Enrolled,
    next: Option<&str>,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "login_mfa.html",
        context! {
            csrf_token => &csrf.token,
            next,
            error,
            totp => enrolled.totp,
            recovery_codes => enrolled.recovery_codes > 0,
            passkeys => enrolled.passkeys > 0 && state.passkeys.enabled(),
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

async fn submit_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let next = pages::local_path(params.get("next"));
    let subject = subject(&state, &headers, next.as_deref())
        .await?
        .ok_or_else(expired)?;
    let user_id = subject.user_id().to_string();
    let code = params.get("code").unwrap_or_default();
    let outcome = mfa::check_code(
        &state.store,
        &state.keys,
        &state.config,
        &user_id,
        code,
        &ip,
        state.clock.now(),
    )
    .await?;
    let (status, error, retry_after) = match outcome {
        CodeOutcome::Accepted(_) => {
            let browser = pages::browser(&headers, &ip);
            let done = complete(&state, subject, Method::Otp, browser, next).await?;
            return Ok(done.redirect());
        }
        CodeOutcome::Invalid => (
            StatusCode::UNAUTHORIZED,
            "That code is not valid. Try again.".to_string(),
            None,
        ),
        CodeOutcome::Locked { retry_after } => {
            let minutes = (retry_after + 59) / 60;
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {minutes} minute(s)."),
                Some(retry_after),
            )
        }
    };
    let enrolled = store::second_factors::enrolled(&state.store, &user_id).await?;
    let mut response = render_page(
        &state,
        &headers,
        &enrolled,
        next.as_deref(),
        status,
        Some(&error),
    )?;
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    Ok(response)
}

/// A finished sign-in: where the browser goes, and the cookies it gets.
struct Completed {
    location: String,
    cookies: Vec<HeaderValue>,
}

impl Completed {
    fn redirect(self) -> Response {
        let mut response = Redirect::to(&self.location).into_response();
        for c in self.cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
        response
    }

    /// For the passkey script, which follows `redirect` itself.
    fn json(self) -> Response {
        let mut response = no_store(Json(json!({ "redirect": self.location })).into_response());
        for c in self.cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
        response
    }
}

/// The second step succeeded with `method`: the session exists from here on (a new one for a
/// pending sign-in, the same one under a new id for a step-up), with `auth_time` now.
async fn complete(
    state: &AppState,
    subject: Subject,
    method: Method,
    browser: sessions::Browser<'_>,
    next: Option<String>,
) -> Result<Completed, PageError> {
    let location = next.unwrap_or_else(|| "/".into());
    match subject {
        Subject::Pending(pending) => {
            if !pending.consume(&state.store, &state.keys).await? {
                return Err(expired());
            }
            let amr = Amr::parse(&pending.amr).with(method);
            let session = pages::start_session(state, &pending.user_id, &amr, browser).await?;
            let clear = pages::cookie_header(state, cookie_name(state), "", Some(0));
            tracing::info!(target: "logi::security", user_id = %pending.user_id, amr = %amr.stored(), "signed in with a second step");
            Ok(Completed {
                location,
                cookies: vec![session, clear],
            })
        }
        Subject::StepUp(current) => {
            let amr = Amr::parse(&current.session.amr).with(method);
            let session = pages::elevate_session(state, &current.session, &amr)
                .await?
                .ok_or_else(expired)?;
            tracing::info!(target: "logi::security", user_id = %current.user.id, amr = %amr.stored(), "session stepped up");
            Ok(Completed {
                location,
                cookies: vec![session],
            })
        }
    }
}

/// The JSON calls of the passkey script (`/assets/passkeys.js`).
#[derive(Deserialize)]
pub struct PasskeyCall {
    /// The sealed ceremony state a `start` call returned (finish calls).
    pub state: Option<String>,
    /// The browser's `PublicKeyCredential`, JSON-encoded (finish calls).
    pub credential: Option<serde_json::Value>,
    /// Where to go after a sign-in (a local path).
    pub next: Option<String>,
    /// A name for a new passkey.
    pub name: Option<String>,
}

impl PasskeyCall {
    /// The state and credential of a finish call.
    pub fn answer(self) -> Result<Answer, ApiError> {
        match (self.state, self.credential) {
            (Some(state), Some(credential)) => Ok(Answer { state, credential }),
            _ => Err(ApiError::bad_request(
                "invalid_request",
                "state and credential are required",
            )),
        }
    }
}

/// A page-layer failure inside a JSON call, as JSON (a 503 stays a 503).
pub fn as_api(e: PageError) -> ApiError {
    let error = match e.status {
        StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
        s if s.is_client_error() => "invalid_request",
        _ => "server_error",
    };
    let mut api = ApiError::new(e.status, error, e.message);
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        api.retry_after = Some(super::error::UNAVAILABLE_RETRY_AFTER_SECONDS);
    }
    api
}

fn signed_out() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "login_required",
        "this sign-in has expired; sign in again",
    )
}

async fn passkey_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfJson(call): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let next = pages::local_path(call.next.as_deref());
    let subject = subject(&state, &headers, next.as_deref())
        .await
        .map_err(as_api)?
        .ok_or_else(signed_out)?;
    let challenge = state
        .passkeys
        .start_second_factor(
            &state.store,
            &state.keys,
            subject.user_id(),
            state.clock.now(),
        )
        .await?;
    Ok(no_store(Json(challenge).into_response()))
}

async fn passkey_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfJson(call): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let next = pages::local_path(call.next.as_deref());
    let subject = subject(&state, &headers, next.as_deref())
        .await
        .map_err(as_api)?
        .ok_or_else(signed_out)?;
    let answer = call.answer()?;
    let now = state.clock.now();
    let user_id = subject.user_id().to_string();
    let attempt = match mfa::reserve(&state.store, &state.config, &user_id, &ip, now).await? {
        Ok(a) => a,
        Err(retry_after) => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many failed attempts; try again later",
            );
            e.retry_after = Some(retry_after);
            return Err(e);
        }
    };
    let method = state
        .passkeys
        .finish_second_factor(&state.store, &state.keys, &user_id, answer, now)
        .await?;
    attempt.succeeded(&state.store).await?;
    let done = complete(&state, subject, method, pages::browser(&headers, &ip), next)
        .await
        .map_err(as_api)?;
    Ok(done.json())
}

async fn passwordless_start(
    State(state): State<AppState>,
    CsrfJson(_): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let challenge = state
        .passkeys
        .start_discoverable(&state.keys, state.clock.now())?;
    Ok(no_store(Json(challenge).into_response()))
}

/// A passkey alone signs in (user verification makes it two factors: `amr` `hwk`/`swk`, `mfa`).
async fn passwordless_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfJson(call): CsrfJson<PasskeyCall>,
) -> Result<Response, ApiError> {
    let next = pages::local_path(call.next.as_deref());
    let answer = call.answer()?;
    let (user_id, method) = state
        .passkeys
        .finish_discoverable(&state.store, &state.keys, answer, state.clock.now())
        .await?;
    let amr = Amr::of(method);
    let session = pages::start_session(&state, &user_id, &amr, pages::browser(&headers, &ip))
        .await
        .map_err(as_api)?;
    tracing::info!(target: "logi::security", user_id, amr = %amr.stored(), "signed in with a passkey");
    Ok(Completed {
        location: next.unwrap_or_else(|| "/".into()),
        cookies: vec![session],
    }
    .json())
}
