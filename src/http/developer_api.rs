//! `/developer/tokens` and `/developer/applications`: the developer API (JSON).

use axum::{
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::{request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    error::{no_store, ApiError},
    extract::{self, BadInput, ClientIp},
    AppState,
};
use crate::{
    accounts::{
        self,
        login::LoginOutcome,
        mfa::{self, CodeOutcome},
    },
    developer::{
        applications::{self as apps, MetadataInput},
        tokens,
    },
    oauth::policy::MetadataError,
    store::{self, applications::Application, developer_tokens::DeveloperToken},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer/tokens", post(mint_token))
        .route("/developer/tokens/{id}", delete(revoke_token))
        .route(
            "/developer/applications",
            post(create_application).get(list_applications),
        )
        .route(
            "/developer/applications/{id}",
            get(get_application)
                .patch(patch_application)
                .delete(delete_application),
        )
        .route(
            "/developer/applications/{id}/rotate_secret",
            post(rotate_secret),
        )
}

impl From<BadInput> for ApiError {
    fn from(e: BadInput) -> Self {
        ApiError::new(e.status, "invalid_request", e.description)
    }
}

impl From<MetadataError> for ApiError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::InvalidRedirectUri(d) => {
                ApiError::bad_request("invalid_redirect_uri", d)
            }
            MetadataError::InvalidClientMetadata(d) => {
                ApiError::bad_request("invalid_client_metadata", d)
            }
        }
    }
}

/// The developer behind `Authorization: Bearer <developer token>` (RFC 6750 errors otherwise).
pub struct Developer(pub DeveloperToken);

impl FromRequestParts<AppState> for Developer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |code: &'static str, d: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, code, d).with_www_authenticate(
                if code == "invalid_token" {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                },
            )
        };
        let Some(presented) = extract::bearer(&parts.headers) else {
            return Err(unauthorized(
                "invalid_request",
                "a developer token is required: Authorization: Bearer <token>",
            ));
        };
        match tokens::authenticate(&state.store, &state.keys, presented).await? {
            Some(t) => Ok(Developer(t)),
            None => Err(unauthorized(
                "invalid_token",
                "the developer token is unknown or revoked",
            )),
        }
    }
}

#[derive(Deserialize)]
struct MintRequest {
    email: String,
    password: String,
    name: Option<String>,
    /// Second factor of an account that has one: a TOTP or recovery code.
    code: Option<String>,
}

async fn mint_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let value = extract::json_body(&headers, &body)?;
    let req: MintRequest = serde_json::from_value(value).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("expected {{email, password, name}}: {e}"),
        )
    })?;
    let name = req
        .name
        .unwrap_or_else(|| "developer token".into())
        .trim()
        .to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "name must be 1 to 100 ordinary characters",
        ));
    }
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "incorrect email or password",
        )
    };
    let email = accounts::parse_email(&req.email).ok_or_else(invalid)?;
    let t = state.clock.now();
    // Every mint writes a row: minting is limited per client IP, successful or not (failed
    // guesses are also limited per account and IP by the login throttle below).
    let max = state.config.developer_tokens_max_per_ip_per_hour as i64;
    if max > 0 {
        let key = format!("mint:{ip}");
        if let Err(retry_after) = store::throttle::reserve(&state.store, &key, t, max, 3600).await?
        {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("too many developer tokens from this address; retry after {retry_after} seconds"),
            );
            e.retry_after = Some(retry_after);
            return Err(e);
        }
    }
    let outcome = accounts::login::attempt(
        &state.store,
        &state.keys,
        &state.hasher,
        &state.config,
        &email,
        req.password,
        &ip,
        t,
    )
    .await?;
    let user = match outcome {
        LoginOutcome::Success(user) => user,
        LoginOutcome::Invalid { .. } | LoginOutcome::Disabled => return Err(invalid()),
        LoginOutcome::Locked { retry_after } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("too many failed attempts; retry after {retry_after} seconds"),
            );
            e.retry_after = Some(retry_after);
            return Err(e);
        }
    };
    second_factor(&state, &user.id, req.code.as_deref(), &ip, t).await?;
    let (row, token) = tokens::mint(&state.store, &state.keys, &user.id, &name, t).await?;
    tracing::info!(target: "logi::security", user_id = %user.id, token_id = %row.id, "developer token minted");
    let body =
        json!({ "id": row.id, "token": token, "name": row.name, "created_at": row.created_at });
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// An account with a second factor mints developer tokens only with a `code` as well (the
/// password alone would bypass the second step; SPEC "End users"); checked and throttled as at
/// `/login/mfa`. An account whose only factor is a passkey uses the console (behind its
/// two-factor session) instead.
async fn second_factor(
    state: &AppState,
    user_id: &str,
    code: Option<&str>,
    ip: &str,
    t: i64,
) -> Result<(), ApiError> {
    let enrolled = store::second_factors::enrolled(&state.store, user_id).await?;
    if !enrolled.any() {
        return Ok(());
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "this account has two-step verification: send `code` (from the authenticator app, \
             or a recovery code), or manage applications in the console at /developer",
        ));
    };
    let outcome = mfa::check_code(
        &state.store,
        &state.keys,
        &state.config,
        user_id,
        code,
        ip,
        t,
    )
    .await?;
    match outcome {
        CodeOutcome::Accepted(_) => Ok(()),
        CodeOutcome::Invalid => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_grant",
            "incorrect second-factor code",
        )),
        CodeOutcome::Locked { retry_after } => {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                format!("too many failed attempts; retry after {retry_after} seconds"),
            );
            e.retry_after = Some(retry_after);
            Err(e)
        }
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    extract::path_text(&id)?;
    if store::developer_tokens::revoke(&state.store, &dev.user_id, &id, state.clock.now()).await? {
        tracing::info!(target: "logi::security", user_id = %dev.user_id, token_id = %id, "developer token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such developer token"))
    }
}

/// A JSON object body read into `T`; anything else is a 4xx with `error` (the developer API's
/// bodies are objects whose unknown members are ignored).
pub fn json_object<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    error: &'static str,
) -> Result<T, ApiError> {
    let value = extract::json_body(headers, body)?;
    if !value.is_object() {
        return Err(ApiError::bad_request(error, "expected a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(error, e.to_string()))
}

fn metadata(headers: &HeaderMap, body: &[u8]) -> Result<MetadataInput, ApiError> {
    json_object(headers, body, "invalid_client_metadata")
}

/// RFC 7591 §3.2.1 response; `client_secret` only when it has just been created.
pub fn application_json(app: &Application, client_secret: Option<&str>) -> Value {
    let mut v = json!({
        "id": app.id,
        "client_id": app.client_id,
        "client_id_issued_at": app.created_at,
        "client_name": app.client_name,
        "client_type": app.auth.client_type().as_str(),
        "token_endpoint_auth_method": app.auth.method().as_str(),
        "redirect_uris": app.redirect_uris,
        "post_logout_redirect_uris": app.post_logout_redirect_uris,
        "grant_types": app.grant_types,
        "response_types": if app.redirect_uris.is_empty() { json!([]) } else { json!(["code"]) },
        "scope": app.scope,
        "id_token_signed_response_alg": app.id_token_signed_response_alg,
        "dpop_bound_access_tokens": app.dpop_bound_access_tokens,
        // The effective list: as registered, or derived from the redirect URIs.
        "allowed_cors_origins": app.cors_origins,
        "require_pushed_authorization_requests": app.require_pushed_authorization_requests,
        "refresh_token_reuse_interval_seconds": app.refresh_token_reuse_interval_seconds,
        "backchannel_logout_uri": app.backchannel_logout_uri,
        "backchannel_logout_session_required": app.backchannel_logout_session_required,
        // Read-only: set by an operator with `logi apps verify`.
        "verified": app.verified,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    });
    if let Some(jwks) = app.auth.jwks() {
        v["jwks"] = serde_json::from_str(jwks).unwrap_or(Value::Null);
    }
    if let Some(uri) = app.auth.jwks_uri() {
        v["jwks_uri"] = json!(uri);
    }
    if let Some(secret) = client_secret {
        v["client_secret"] = json!(secret);
        v["client_secret_expires_at"] = json!(0);
    }
    v
}

/// SPEC: another developer's API scope in an application's `scope` is
/// `invalid_client_metadata`.
async fn check_api_scopes(state: &AppState, app: &Application) -> Result<(), ApiError> {
    match crate::developer::apis::foreign_scope_refusal(&state.store, app).await? {
        Some(d) => Err(MetadataError::InvalidClientMetadata(d).into()),
        None => Ok(()),
    }
}

async fn create_application(
    State(state): State<AppState>,
    Developer(dev): Developer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input = metadata(&headers, &body)?;
    let registered = apps::register(input, &dev.user_id, &state.keys, state.clock.now())?;
    check_api_scopes(&state, &registered.application).await?;
    store::applications::insert(&state.store, &registered.application).await?;
    tracing::info!(target: "logi::security", user_id = %dev.user_id, client_id = %registered.application.client_id, "application registered");
    let body = application_json(&registered.application, registered.client_secret.as_deref());
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

async fn list_applications(
    State(state): State<AppState>,
    Developer(dev): Developer,
) -> Result<Json<Value>, ApiError> {
    let apps = store::applications::list_owned(&state.store, &dev.user_id).await?;
    Ok(Json(
        json!({ "applications": apps.iter().map(|a| application_json(a, None)).collect::<Vec<_>>() }),
    ))
}

async fn owned(state: &AppState, dev: &DeveloperToken, id: &str) -> Result<Application, ApiError> {
    store::applications::owned(&state.store, &dev.user_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such application"))
}

async fn get_application(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    extract::path_text(&id)?;
    let app = owned(&state, &dev, &id).await?;
    let mut body = application_json(&app, None);
    // The last back-channel logout delivery, so the developer sees failures (read-only).
    let status = store::applications::logout_status(&state.store, &app.id).await?;
    body["backchannel_logout_status"] = match status {
        Some(s) => json!({
            "last_attempt_at": s.last_attempt_at,
            "last_result": s.last_result,
            "last_error": s.last_error,
        }),
        None => Value::Null,
    };
    Ok(Json(body))
}

async fn patch_application(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    extract::path_text(&id)?;
    let current = owned(&state, &dev, &id).await?;
    let input = metadata(&headers, &body)?;
    let next = apps::apply_patch(&current, input, state.clock.now())?;
    check_api_scopes(&state, &next).await?;
    if !store::applications::update_metadata(&state.store, &next).await? {
        return Err(ApiError::not_found("no such application"));
    }
    Ok(Json(application_json(&next, None)))
}

async fn delete_application(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    extract::path_text(&id)?;
    if store::applications::delete_owned(&state.store, &dev.user_id, &id).await? {
        tracing::info!(target: "logi::security", user_id = %dev.user_id, application = %id, "application deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such application"))
    }
}

async fn rotate_secret(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    extract::path_text(&id)?;
    let mut app = owned(&state, &dev, &id).await?;
    match apps::rotate_secret(&state.store, &state.keys, &mut app, state.clock.now()).await? {
        apps::Rotation::Rotated(secret) => Ok(no_store(
            Json(application_json(&app, Some(&secret))).into_response(),
        )),
        apps::Rotation::PublicClient => Err(ApiError::bad_request(
            "invalid_request",
            "this client has no secret to rotate (public, or private_key_jwt)",
        )),
        apps::Rotation::NotFound => Err(ApiError::not_found("no such application")),
    }
}
