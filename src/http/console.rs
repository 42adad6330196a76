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
    developer_apis::api_json,
    error::PageError,
    forms::{CsrfForm, CurrentUser},
    pages::{html, render, Csrf},
    AppState,
};
use crate::{
    developer::{
        self,
        apis::{ApiInput, ScopeInput},
        applications::{self as apps, MetadataInput},
    },
    oauth::policy::MetadataError,
    store::{self, users::User},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer", get(console))
        .route("/developer/console/applications", post(create))
        .route("/developer/console/{id}/delete", post(delete))
        .route("/developer/console/{id}/rotate_secret", post(rotate))
        .route("/developer/console/apis", post(create_api))
        .route("/developer/console/apis/{id}/delete", post(delete_api))
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
    let apis: Vec<_> = store::apis::list_owned(&state.store, &user.id)
        .await?
        .iter()
        .map(api_json)
        .collect();
    let body = render(
        "developer.html",
        context! {
            wide => true,
            email => &user.email,
            csrf_token => &csrf.token,
            applications,
            apis,
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
    let refused = |e: String| Shown {
        created: None,
        secret: None,
        error: Some(e),
    };
    let registered = match input
        .and_then(|input| apps::register(input, &user.id, &state.keys, state.clock.now()))
    {
        Ok(r) => r,
        Err(MetadataError::InvalidRedirectUri(e) | MetadataError::InvalidClientMetadata(e)) => {
            return page(&state, &headers, &user, StatusCode::BAD_REQUEST, refused(e)).await;
        }
    };
    if let Some(e) =
        developer::apis::foreign_scope_refusal(&state.store, &registered.application).await?
    {
        return page(&state, &headers, &user, StatusCode::BAD_REQUEST, refused(e)).await;
    }
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
    let found = store::applications::delete_owned(&state.store, &user.id, &id).await?;
    deleted(found, "No such application.")
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

/// The console's scope field: one scope per line, its name, then its description.
fn scope_lines(text: &str) -> Vec<ScopeInput> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, description) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            ScopeInput {
                name: name.to_string(),
                description: description.trim().to_string(),
            }
        })
        .collect()
}

async fn create_api(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    let ttl = match params.get("access_token_ttl_seconds").map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => Some(Some(n)),
            Err(_) => Some(Some(-1)),
        },
    };
    let input = ApiInput {
        name: params.get("name").map(String::from),
        identifier: params.get("identifier").map(String::from),
        scopes: Some(scope_lines(params.get("scopes").unwrap_or_default())),
        access_token_ttl_seconds: ttl,
    };
    let refused = |e: String| Shown {
        created: None,
        secret: None,
        error: Some(e),
    };
    let mine = store::apis::list_owned(&state.store, &user.id).await?;
    let api =
        match developer::apis::create(input, &user.id, &state.config.issuer, state.clock.now())
            .and_then(|api| developer::apis::check_scopes_unique(&api, &mine).map(|()| api))
        {
            Ok(api) => api,
            Err(e) => {
                return page(
                    &state,
                    &headers,
                    &user,
                    StatusCode::BAD_REQUEST,
                    refused(e.0),
                )
                .await
            }
        };
    match store::apis::insert(&state.store, &api).await {
        Ok(()) => Ok(Redirect::to("/developer").into_response()),
        Err(e) if e.is_unique_violation() => {
            let e = format!("identifier `{}` is already registered", api.identifier);
            page(&state, &headers, &user, StatusCode::CONFLICT, refused(e)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_api(
    State(state): State<AppState>,
    Path(id): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    super::extract::path_text(&id)?;
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    let found = store::apis::delete_owned(&state.store, &user.id, &id).await?;
    deleted(found, "No such API.")
}

/// After a delete: back to the console (a redirect, so a reload repeats nothing), or a 404.
fn deleted(found: bool, not_found: &'static str) -> Result<Response, PageError> {
    if !found {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            not_found,
        ));
    }
    Ok(Redirect::to("/developer").into_response())
}
