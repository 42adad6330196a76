//! Extractors for browser pages: the signed-in user, and a posted form whose CSRF token is good.
//!
//! A handler says what it needs in its signature instead of repeating the preamble:
//! `Option<CurrentUser>` (each page decides what "signed out" means for it: a login redirect, a
//! 403 page, a signed-out view) and `CsrfForm` (the body parsed as a form, refused with a 4xx
//! page when it is malformed and with 403 when the CSRF token does not match this browser).
//! `CsrfForm` reads the body, so it comes last in a handler's arguments. `CsrfJson` is the same
//! for the JSON calls of the passkey script (the token is the page's, sent as `csrf_token`),
//! failing with JSON errors.

use axum::{
    body::Bytes,
    extract::{FromRequest, OptionalFromRequestParts, Request},
    http::{request::Parts, HeaderMap},
};

use super::{
    error::{ApiError, PageError},
    extract::{self, Params},
    pages, AppState,
};
use crate::{
    accounts::sessions,
    store::{
        sessions::{ConsentQuery, Session},
        users::User,
        Result as StoreResult,
    },
};

/// The browser's live session and its user.
pub struct CurrentUser {
    pub session: Session,
    pub user: User,
    /// The caches' generation before the read: a grant created for this user may remember the
    /// user in the grant cache with it (`store::oauth::remember_grant_user`).
    pub generation: i64,
}

impl CurrentUser {
    /// The session behind the request's cookie, at the state's clock.
    pub async fn of(state: &AppState, headers: &HeaderMap) -> StoreResult<Option<CurrentUser>> {
        Ok(CurrentUser::with_consent(state, headers, None)
            .await?
            .map(|(current, _)| current))
    }

    /// [`CurrentUser::of`], and whether its user remembered `consent` (false without one), read
    /// with the session in one round trip.
    pub async fn with_consent(
        state: &AppState,
        headers: &HeaderMap,
        consent: Option<ConsentQuery<'_>>,
    ) -> StoreResult<Option<(CurrentUser, bool)>> {
        let Some(cookie) = extract::cookie(headers, sessions::cookie_name(&state.config)) else {
            return Ok(None);
        };
        let generation = state.store.caches.generation();
        let found =
            sessions::current_with_user(&state.store, &cookie, state.clock.now(), consent).await?;
        Ok(found.map(|(session, user, consented)| {
            (
                CurrentUser {
                    session,
                    user,
                    generation,
                },
                consented,
            )
        }))
    }
}

impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let Some(current) = CurrentUser::of(state, &parts.headers).await? else {
            return Ok(None);
        };
        let Ok(extract::ClientIp(ip)) = <extract::ClientIp as axum::extract::FromRequestParts<
            AppState,
        >>::from_request_parts(parts, state)
        .await;
        sessions::seen(&state.store, &current.session, &ip, state.clock.now()).await?;
        Ok(Some(current))
    }
}

/// A posted `application/x-www-form-urlencoded` form with a valid CSRF token.
pub struct CsrfForm(pub Params);

impl FromRequest<AppState> for CsrfForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| PageError::new(e.status(), "Bad request", e.body_text()))?;
        let params = form(&headers, &bytes)?;
        pages::verify_csrf(state, &headers, params.get("csrf_token"))?;
        Ok(CsrfForm(params))
    }
}

/// A form body as a page sees it: a malformed one is a 4xx page.
pub fn form(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Params, PageError> {
    Ok(extract::form_fields(headers, body)?)
}

impl From<extract::BadInput> for PageError {
    fn from(e: extract::BadInput) -> Self {
        PageError::new(e.status, "Bad request", e.description)
    }
}

/// A posted JSON body (`Content-Type: application/json`) whose `csrf_token` member is good for
/// this browser, as the type `T`.
pub struct CsrfJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for CsrfJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "invalid_request", e.body_text()))?;
        let bad = |e: extract::BadInput| ApiError::new(e.status, "invalid_request", e.description);
        let value = extract::json_body(&headers, &bytes).map_err(bad)?;
        let token = value.get("csrf_token").and_then(|t| t.as_str());
        pages::verify_csrf(state, &headers, token).map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "invalid_request",
                "the csrf_token is missing or does not match this browser; reload the page",
            )
        })?;
        let parsed = serde_json::from_value(value).map_err(|e| {
            ApiError::bad_request("invalid_request", format!("malformed body: {e}"))
        })?;
        Ok(CsrfJson(parsed))
    }
}
