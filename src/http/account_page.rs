//! `/account`: the signed-in user's own page: profile name, password, sessions, connected
//! applications, account deletion. Every form posts with a `csrf_token`; each change redirects
//! back to `/account?done=…` (POST/redirect/GET), and a refused change shows the page again
//! with its message. The work itself is `accounts::manage`'s.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    error::PageError,
    extract::ClientIp,
    forms::{CsrfForm, CurrentUser},
    pages::{self, html, render, Csrf},
    AppState,
};
use crate::{
    accounts::{
        self,
        amr::Amr,
        device,
        login::{self, Recheck},
        manage::{self, PasswordChange},
        sessions,
    },
    oauth::{audience, scope},
    store,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/name", post(change_name))
        .route("/account/password", post(change_password))
        .route("/account/sessions/{id}/end", post(end_session))
        .route(
            "/account/applications/{client_id}/revoke",
            post(revoke_application),
        )
        .route("/account/delete", post(delete_account))
}

fn to_login() -> Response {
    Redirect::to("/login?next=/account").into_response()
}

#[derive(Deserialize)]
struct AccountQuery {
    done: Option<String>,
}

async fn account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
    current: Option<CurrentUser>,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let done = match q.done.as_deref() {
        Some("name") => Some("Your name was saved."),
        Some("password") => Some("Your password was changed. Your other sessions were signed out."),
        Some("session") => Some("That session was signed out."),
        Some("application") => Some("The application's access was revoked."),
        _ => None,
    };
    page(&state, &headers, &current, StatusCode::OK, done, None).await
}

#[derive(Serialize)]
struct SessionRow {
    sid: String,
    device: String,
    ip: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Serialize)]
struct ApplicationRow {
    client_id: String,
    client_name: String,
    since: String,
    scopes: Vec<String>,
    apis: Vec<audience::ApiWords>,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    current: &CurrentUser,
    status: StatusCode,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let sessions: Vec<SessionRow> =
        store::sessions::list_of_user(&state.store, &current.user.id, now)
            .await?
            .into_iter()
            .filter_map(|s| {
                Some(SessionRow {
                    current: s.id_hash == current.session.id_hash,
                    device: device::describe(&s.user_agent),
                    ip: if s.ip.is_empty() {
                        "unknown".into()
                    } else {
                        s.ip
                    },
                    created: super::render::datetime(s.created_at),
                    last_seen: super::render::datetime(s.last_seen_at.max(s.created_at)),
                    sid: s.sid?,
                })
            })
            .collect();
    let applications = applications(state, &current.user.id).await?;
    let factors = super::account::factors_view(state, &current.user).await?;
    let acr = Amr::parse(&current.session.amr).acr();
    let csrf = Csrf::for_request(state, headers);
    let body = render(
        "account_page.html",
        context! {
            wide => true,
            csrf_token => &csrf.token,
            email => &current.user.email,
            name => &current.user.name,
            sessions,
            applications,
            factors,
            acr,
            done,
            error,
        },
    )?;
    Ok(csrf.apply(html(status, body)))
}

/// The user's live grants, one row per application: the scopes and APIs of all its grants.
async fn applications(state: &AppState, user_id: &str) -> Result<Vec<ApplicationRow>, PageError> {
    let mut by_app: BTreeMap<String, (store::oauth::UserGrant, Vec<String>, Vec<String>)> =
        BTreeMap::new();
    for g in store::oauth::user_grants(&state.store, user_id).await? {
        let scopes = scope::parse(&g.scope).unwrap_or_default();
        let resources: Vec<String> = g
            .resources
            .split(' ')
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect();
        let entry = by_app
            .entry(g.client_id.clone())
            .or_insert_with(|| (g.clone(), Vec::new(), Vec::new()));
        entry.0.created_at = entry.0.created_at.min(g.created_at);
        for s in scopes {
            if !entry.1.contains(&s) {
                entry.1.push(s);
            }
        }
        for r in resources {
            if !entry.2.contains(&r) {
                entry.2.push(r);
            }
        }
    }
    let mut rows = Vec::new();
    for (client_id, (grant, scopes, resources)) in by_app {
        let apis = if resources.is_empty() {
            Vec::new()
        } else {
            store::apis::for_owner(&state.store, &grant.owner_id)
                .await?
                .to_vec()
        };
        let words = audience::consent_words(&apis, &resources, &scopes);
        rows.push(ApplicationRow {
            client_id,
            client_name: grant.client_name,
            since: super::render::datetime(grant.created_at),
            scopes: words.scopes,
            apis: words.apis,
        });
    }
    rows.sort_by(|a, b| a.client_name.cmp(&b.client_name));
    Ok(rows)
}

async fn change_name(
    State(state): State<AppState>,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let name = params.get("name").unwrap_or_default().trim();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        let message = "Use at most 200 ordinary characters for your name.";
        return page(
            &state,
            &headers,
            &current,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        )
        .await;
    }
    store::users::update_name(&state.store, &current.user.id, name, state.clock.now()).await?;
    Ok(Redirect::to("/account?done=name").into_response())
}

async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let again = |status, message| page(&state, &headers, &current, status, None, Some(message));
    let old = params
        .get("current_password")
        .unwrap_or_default()
        .to_string();
    let new = params.get("new_password").unwrap_or_default().to_string();
    if let Err(message) = accounts::check_new_password(&new) {
        return again(StatusCode::BAD_REQUEST, message).await;
    }
    let outcome = manage::change_password(
        &state.store,
        &state.keys,
        &state.hasher,
        &state.config,
        &current.user,
        old,
        new,
        current.session.sid.as_deref(),
        &ip,
        state.clock.now(),
    )
    .await?;
    match outcome {
        PasswordChange::Changed => Ok(Redirect::to("/account?done=password").into_response()),
        PasswordChange::Invalid => {
            again(
                StatusCode::UNAUTHORIZED,
                "Your current password is not correct.",
            )
            .await
        }
        PasswordChange::Locked { retry_after } => locked(
            again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Try again later.",
            )
            .await,
            retry_after,
        ),
    }
}

fn locked(page: Result<Response, PageError>, retry_after: i64) -> Result<Response, PageError> {
    let mut response = page?;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    Ok(response)
}

fn not_found() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing like this on your account.",
    )
}

async fn end_session(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let now = state.clock.now();
    let mine = store::sessions::list_of_user(&state.store, &current.user.id, now)
        .await?
        .into_iter()
        .any(|s| s.sid.as_deref() == Some(sid.as_str()));
    if !mine {
        return Err(not_found());
    }
    let ending = sessions::Ending::Session {
        user_id: &current.user.id,
        sid: &sid,
    };
    sessions::end_sessions(&state.store, ending, now).await?;
    tracing::info!(target: "logi::security", user_id = %current.user.id, "session signed out from the account page");
    if current.session.sid.as_deref() == Some(sid.as_str()) {
        return Ok(signed_out(&state));
    }
    Ok(Redirect::to("/account?done=session").into_response())
}

async fn revoke_application(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    current: Option<CurrentUser>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let grants = store::oauth::user_grants(&state.store, &current.user.id).await?;
    let Some(grant) = grants.iter().find(|g| g.client_id == client_id) else {
        return Err(not_found());
    };
    manage::revoke_application(
        &state.store,
        state.mailing(),
        &current.user,
        &grant.application_id,
        state.clock.now(),
    )
    .await?;
    Ok(Redirect::to("/account?done=application").into_response())
}

async fn delete_account(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Ok(to_login());
    };
    let password = params.get("password").unwrap_or_default().to_string();
    let now = state.clock.now();
    let outcome = login::recheck(
        &state.store,
        &state.keys,
        &state.hasher,
        &state.config,
        &current.user,
        password,
        &ip,
        now,
    )
    .await?;
    let again = |status, message| page(&state, &headers, &current, status, None, Some(message));
    match outcome {
        Recheck::Confirmed => {}
        Recheck::Locked { retry_after } => {
            return locked(
                again(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts. Try again later.",
                )
                .await,
                retry_after,
            )
        }
        Recheck::Invalid => {
            return again(StatusCode::UNAUTHORIZED, "Your password is not correct.").await
        }
    }
    manage::delete(&state.store, state.mailing(), &current.user, now).await?;
    Ok(signed_out(&state))
}

/// Sends the browser home signed out, its session cookie cleared.
fn signed_out(state: &AppState) -> Response {
    let mut response = Redirect::to("/?signed_out=1").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        pages::cookie_header(state, sessions::cookie_name(&state.config), "", Some(0)),
    );
    response
}
