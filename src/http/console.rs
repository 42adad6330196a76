//! `/developer`: the browser console, the developer API over HTML forms behind the login session.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use minijinja::context;

use super::{
    developer_api::application_json,
    error::PageError,
    forms::{CsrfForm, CurrentUser},
    pages::{html, render, Csrf},
    AppState,
};
use crate::{
    developer::applications::{self as apps, MetadataInput},
    oauth::policy::MetadataError,
    store::{self, users::User},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer", get(console))
        .route("/developer/console/applications", post(create))
        .route("/developer/console/{id}/delete", post(delete))
        .route("/developer/console/{id}/rotate_secret", post(rotate))
}

/// Where a console request without a session goes.
fn to_login() -> Response {
    Redirect::to("/login?next=/developer").into_response()
}

struct Shown<'a> {
    created: Option<&'a store::applications::Application>,
    secret: Option<&'a str>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    status: StatusCode,
    shown: Shown<'_>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let applications: Vec<_> = store::applications::list_owned(&state.store, &user.id)
        .await?
        .iter()
        .map(|a| application_json(a, None))
        .collect();
    let body = render(
        "developer.html",
        context! {
            wide => true,
            email => &user.email,
            csrf_token => &csrf.token,
            applications,
            created => shown.created.map(|a| application_json(a, None)),
            secret => shown.secret,
            error => shown.error,
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

async fn console(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    page(
        &state,
        &headers,
        &user,
        StatusCode::OK,
        Shown {
            created: None,
            secret: None,
            error: None,
        },
    )
    .await
}

fn words(v: Option<&str>) -> Option<Vec<String>> {
    v.map(|s| s.split_whitespace().map(String::from).collect())
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    // An empty field means "not given" (the default applies).
    let text = |name: &str| {
        params
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let jwks = match text("jwks").map(|t| serde_json::from_str::<serde_json::Value>(&t)) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(_)) => Err(MetadataError::InvalidClientMetadata(
            "jwks must be a JSON JWK Set: {\"keys\": [...]}".into(),
        )),
    };
    let input = jwks.map(|jwks| MetadataInput {
        client_name: params.get("client_name").map(String::from),
        client_type: params.get("client_type").map(String::from),
        token_endpoint_auth_method: text("token_endpoint_auth_method"),
        redirect_uris: Some(words(params.get("redirect_uris")).unwrap_or_default()),
        grant_types: words(params.get("grant_types")),
        scope: params.get("scope").map(String::from),
        // Left empty, the default applies (the origins of the redirect URIs).
        allowed_cors_origins: words(params.get("allowed_cors_origins")).filter(|v| !v.is_empty()),
        jwks,
        jwks_uri: text("jwks_uri"),
        backchannel_logout_uri: Some(text("backchannel_logout_uri")),
        backchannel_logout_session_required: Some(
            params.get("backchannel_logout_session_required") == Some("yes"),
        ),
        ..MetadataInput::default()
    });
    let registered = match input
        .and_then(|input| apps::register(input, &user.id, &state.keys, state.clock.now()))
    {
        Ok(r) => r,
        Err(MetadataError::InvalidRedirectUri(e) | MetadataError::InvalidClientMetadata(e)) => {
            let shown = Shown {
                created: None,
                secret: None,
                error: Some(e),
            };
            return page(&state, &headers, &user, StatusCode::BAD_REQUEST, shown).await;
        }
    };
    store::applications::insert(&state.store, &registered.application).await?;
    let shown = Shown {
        created: Some(&registered.application),
        secret: registered.client_secret.as_deref(),
        error: None,
    };
    page(&state, &headers, &user, StatusCode::CREATED, shown).await
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    super::extract::path_text(&id)?;
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    if !store::applications::delete_owned(&state.store, &user.id, &id).await? {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such application.",
        ));
    }
    Ok(Redirect::to("/developer").into_response())
}

async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    super::extract::path_text(&id)?;
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    let not_found = || PageError::new(StatusCode::NOT_FOUND, "Not found", "No such application.");
    let mut app = store::applications::owned(&state.store, &user.id, &id)
        .await?
        .ok_or_else(not_found)?;
    let secret =
        match apps::rotate_secret(&state.store, &state.keys, &mut app, state.clock.now()).await? {
            apps::Rotation::Rotated(secret) => secret,
            apps::Rotation::PublicClient => {
                return Err(PageError::bad_request(
                    "This client has no secret to rotate.",
                ))
            }
            apps::Rotation::NotFound => return Err(not_found()),
        };
    let shown = Shown {
        created: Some(&app),
        secret: Some(&secret),
        error: None,
    };
    page(&state, &headers, &user, StatusCode::OK, shown).await
}
