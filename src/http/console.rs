//! `/developer`: the browser console, the developer API over HTML forms behind the login session.
//!
//! Every POST answers with a redirect (post/redirect/get), so a reload repeats nothing; a
//! refused form is shown again with what was typed and the reason next to its field. Deleting an
//! application and rotating its secret each have a confirmation page. A new secret reaches its
//! page in a sealed cookie ([`secret`]), never in a URL.

mod form;
mod secret;

use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
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
        applications as apps,
    },
    oauth::policy::MetadataError,
    store::{self, applications::Application, users::User},
};
use form::AppForm;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer", get(console))
        .route("/developer/console/applications", post(create))
        .route("/developer/console/{id}", get(show))
        .route("/developer/console/{id}/edit", post(edit))
        .route(
            "/developer/console/{id}/delete",
            get(confirm_delete).post(delete),
        )
        .route(
            "/developer/console/{id}/rotate_secret",
            get(confirm_rotate).post(rotate),
        )
        .route("/developer/console/apis", post(create_api))
        .route("/developer/console/apis/{id}/delete", post(delete_api))
}

/// Where a console request without a session goes.
fn to_login() -> Response {
    Redirect::to("/login?next=/developer").into_response()
}

/// 303 to a console page.
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A refused form: what the developer typed, the reason, and the field it is about.
struct Refusal {
    form: AppForm,
    error: String,
    field: &'static str,
}

impl Refusal {
    fn of(form: AppForm, e: MetadataError) -> Refusal {
        let field = form::field_of(&e);
        let (MetadataError::InvalidRedirectUri(error)
        | MetadataError::InvalidClientMetadata(error)) = e;
        Refusal { form, error, field }
    }
}

/// `?done=…` after a redirect: which notice to show.
fn done(query: Option<&str>) -> Option<String> {
    let query = query?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())
        .filter(|v| ["created", "rotated", "saved", "deleted"].contains(&v.as_str()))
}

/// The console's main page: applications, the registration form, APIs.
#[allow(clippy::too_many_arguments)]
async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    status: StatusCode,
    refusal: Option<Refusal>,
    api_error: Option<String>,
    notice: Option<String>,
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
    let (form, error, field) = match refusal {
        Some(r) => (r.form, Some(r.error), r.field),
        None => (AppForm::defaults(), None, ""),
    };
    let body = render(
        "developer.html",
        context! {
            wide => true,
            email => &user.email,
            csrf_token => &csrf.token,
            applications,
            apis,
            form,
            error,
            error_field => field,
            api_error,
            notice,
            grants => &form::GRANTS,
            algorithms => form::algorithms(),
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

async fn console(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, .. }) = current else {
        return Ok(to_login());
    };
    let notice = done(query.as_deref())
        .filter(|d| d == "deleted")
        .map(|_| "The application was deleted; its tokens no longer work.".to_string());
    list_page(&state, &headers, &user, StatusCode::OK, None, None, notice).await
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, session, .. }) = current else {
        return Ok(to_login());
    };
    let form = AppForm::posted(&params);
    let registered = match form
        .to_input()
        .and_then(|input| apps::register(input, &user.id, &state.keys, state.clock.now()))
    {
        Ok(r) => r,
        Err(e) => {
            let refusal = Some(Refusal::of(form, e));
            return list_page(
                &state,
                &headers,
                &user,
                StatusCode::BAD_REQUEST,
                refusal,
                None,
                None,
            )
            .await;
        }
    };
    if let Some(e) =
        developer::apis::foreign_scope_refusal(&state.store, &registered.application).await?
    {
        let refusal = Some(Refusal::of(form, MetadataError::InvalidClientMetadata(e)));
        return list_page(
            &state,
            &headers,
            &user,
            StatusCode::BAD_REQUEST,
            refusal,
            None,
            None,
        )
        .await;
    }
    store::applications::insert(&state.store, &registered.application).await?;
    let id = &registered.application.id;
    let mut response = see_other(&format!("/developer/console/{id}?done=created"));
    if let Some(secret) = &registered.client_secret {
        response.headers_mut().append(
            header::SET_COOKIE,
            secret::seal(&state, &session, id, secret),
        );
    }
    Ok(response)
}

fn not_found() -> PageError {
    PageError::new(StatusCode::NOT_FOUND, "Not found", "No such application.")
}

/// The signed-in developer's application `id`, or a 404 page.
async fn owned(state: &AppState, user: &User, id: &str) -> Result<Application, PageError> {
    super::extract::path_text(id)?;
    store::applications::owned(&state.store, &user.id, id)
        .await?
        .ok_or_else(not_found)
}

/// Whether the application has a secret that can be rotated.
fn has_secret(app: &Application) -> bool {
    matches!(app.auth, crate::clients::ClientAuth::Secret { .. })
}

/// One application: its details, the secret once after a create or rotate, and its edit form.
#[allow(clippy::too_many_arguments)]
async fn app_page(
    state: &AppState,
    headers: &HeaderMap,
    current: &CurrentUser,
    app: &Application,
    status: StatusCode,
    refusal: Option<Refusal>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let (secret, had_cookie) = secret::open(state, headers, &current.session, &app.id);
    let (form, error, field) = match refusal {
        Some(r) => (r.form, Some(r.error), r.field),
        None => (AppForm::of(app), None, ""),
    };
    let body = render(
        "developer_app.html",
        context! {
            wide => true,
            email => &current.user.email,
            csrf_token => &csrf.token,
            app => application_json(app, None),
            has_secret => has_secret(app),
            secret,
            form,
            error,
            error_field => field,
            notice,
            editing => true,
            grants => &form::GRANTS,
            algorithms => form::algorithms(),
        },
    )?;
    let mut response = csrf.apply(html(status, body));
    if had_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, secret::clear(state));
    }
    Ok(response)
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let app = owned(&state, &current.user, &id).await?;
    let notice = done(query.as_deref()).and_then(|d| match d.as_str() {
        "created" => Some(format!("{} is registered.", app.client_name)),
        "rotated" => Some(format!(
            "{} has a new client secret. The old secret stopped working just now: \
             update your application's configuration.",
            app.client_name
        )),
        "saved" => Some("Your changes are saved.".to_string()),
        _ => None,
    });
    app_page(
        &state,
        &headers,
        &current,
        &app,
        StatusCode::OK,
        None,
        notice,
    )
    .await
}

async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let app = owned(&state, &current.user, &id).await?;
    let form = AppForm::posted(&params);
    let patched = form
        .to_input()
        .and_then(|input| apps::apply_patch(&app, input, state.clock.now()))
        .and_then(|mut next| {
            // An emptied CORS field goes back to the default: the redirect URIs' origins.
            if form.cors_empty() && next.allowed_cors_origins.is_some() {
                next.allowed_cors_origins = None;
                apps::validate(next)
            } else {
                Ok(next)
            }
        });
    let refused = match patched {
        Ok(next) => match developer::apis::foreign_scope_refusal(&state.store, &next).await? {
            None => {
                if !store::applications::update_metadata(&state.store, &next).await? {
                    return Err(not_found());
                }
                return Ok(see_other(&format!("/developer/console/{id}?done=saved")));
            }
            Some(e) => MetadataError::InvalidClientMetadata(e),
        },
        Err(e) => e,
    };
    let refusal = Some(Refusal::of(form, refused));
    app_page(
        &state,
        &headers,
        &current,
        &app,
        StatusCode::BAD_REQUEST,
        refusal,
        None,
    )
    .await
}

/// A confirmation page for a destructive action.
async fn confirm(
    state: &AppState,
    headers: &HeaderMap,
    app: &Application,
    action: &str,
) -> Result<Response, PageError> {
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "developer_confirm.html",
        context! {
            app => application_json(app, None),
            action,
            csrf_token => &csrf.token,
        },
    )?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

async fn confirm_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let app = owned(&state, &current.user, &id).await?;
    confirm(&state, &headers, &app, "delete").await
}

async fn confirm_rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let app = owned(&state, &current.user, &id).await?;
    if !has_secret(&app) {
        return Err(PageError::bad_request(
            "This client has no secret to rotate.",
        ));
    }
    confirm(&state, &headers, &app, "rotate_secret").await
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
    if found {
        tracing::info!(target: "logi::security", user_id = %user.id, application = %id, "application deleted");
    }
    deleted(found, "No such application.", "/developer?done=deleted")
}

async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let Some(CurrentUser { user, session, .. }) = current else {
        return Ok(to_login());
    };
    let mut app = owned(&state, &user, &id).await?;
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
    let mut response = see_other(&format!("/developer/console/{id}?done=rotated"));
    response.headers_mut().append(
        header::SET_COOKIE,
        secret::seal(&state, &session, &app.id, &secret),
    );
    Ok(response)
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
    let mine = store::apis::list_owned(&state.store, &user.id).await?;
    let api =
        match developer::apis::create(input, &user.id, &state.config.issuer, state.clock.now())
            .and_then(|api| developer::apis::check_scopes_unique(&api, &mine).map(|()| api))
        {
            Ok(api) => api,
            Err(e) => {
                return list_page(
                    &state,
                    &headers,
                    &user,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some(e.0),
                    None,
                )
                .await
            }
        };
    match store::apis::insert(&state.store, &api).await {
        Ok(()) => Ok(see_other("/developer")),
        Err(e) if e.is_unique_violation() => {
            let e = format!("identifier `{}` is already registered", api.identifier);
            list_page(
                &state,
                &headers,
                &user,
                StatusCode::CONFLICT,
                None,
                Some(e),
                None,
            )
            .await
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
    deleted(found, "No such API.", "/developer")
}

/// After a delete: back to the console (a redirect, so a reload repeats nothing), or a 404.
fn deleted(found: bool, not_found: &'static str, to: &str) -> Result<Response, PageError> {
    if !found {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            not_found,
        ));
    }
    Ok(see_other(to))
}
