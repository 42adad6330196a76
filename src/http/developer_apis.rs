//! `/developer/apis`: the protected APIs a developer's applications call (JSON; SPEC "Protected
//! APIs (resource servers) and resource indicators"). Another developer's API answers `404`.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

use super::{
    developer_api::{json_object, Developer},
    error::{no_store, ApiError},
    extract, AppState,
};
use crate::{
    developer::apis::{self, ApiInput},
    store::{self, apis::Api, StoreError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer/apis", post(create).get(list))
        .route(
            "/developer/apis/{id}",
            get(show).patch(patch).delete(remove),
        )
}

impl From<apis::ApiError> for ApiError {
    fn from(e: apis::ApiError) -> Self {
        ApiError::bad_request("invalid_request", e.0)
    }
}

pub fn api_json(api: &Api) -> Value {
    json!({
        "id": api.id,
        "name": api.name,
        "identifier": api.identifier,
        "scopes": api.scopes,
        "access_token_ttl_seconds": api.access_token_ttl_seconds,
        "created_at": api.created_at,
        "updated_at": api.updated_at,
    })
}

fn input(headers: &HeaderMap, body: &[u8]) -> Result<ApiInput, ApiError> {
    json_object(headers, body, "invalid_request")
}

/// `409` for an identifier another API (anyone's) already has.
fn taken(e: StoreError, identifier: &str) -> ApiError {
    if e.is_unique_violation() {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request",
            format!("identifier `{identifier}` is already registered"),
        )
    } else {
        e.into()
    }
}

async fn create(
    State(state): State<AppState>,
    Developer(dev): Developer,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let api = apis::create(
        input(&headers, &body)?,
        &dev.user_id,
        &state.config.issuer,
        state.clock.now(),
    )?;
    let mine = store::apis::list_owned(&state.store, &dev.user_id).await?;
    apis::check_scopes_unique(&api, &mine)?;
    store::apis::insert(&state.store, &api)
        .await
        .map_err(|e| taken(e, &api.identifier))?;
    tracing::info!(target: "logi::security", user_id = %dev.user_id, api = %api.id, identifier = %api.identifier, "API registered");
    Ok((StatusCode::CREATED, Json(api_json(&api))).into_response())
}

async fn list(
    State(state): State<AppState>,
    Developer(dev): Developer,
) -> Result<Json<Value>, ApiError> {
    let mine = store::apis::list_owned(&state.store, &dev.user_id).await?;
    Ok(Json(
        json!({ "apis": mine.iter().map(api_json).collect::<Vec<_>>() }),
    ))
}

async fn owned(state: &AppState, owner_id: &str, id: &str) -> Result<Api, ApiError> {
    extract::path_text(id)?;
    store::apis::owned(&state.store, owner_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such API"))
}

async fn show(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(api_json(&owned(&state, &dev.user_id, &id).await?)))
}

async fn patch(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let current = owned(&state, &dev.user_id, &id).await?;
    let next = apis::apply_patch(&current, input(&headers, &body)?, state.clock.now())?;
    let mine = store::apis::list_owned(&state.store, &dev.user_id).await?;
    apis::check_scopes_unique(&next, &mine)?;
    if !store::apis::update(&state.store, &next).await? {
        return Err(ApiError::not_found("no such API"));
    }
    Ok(Json(api_json(&next)))
}

async fn remove(
    State(state): State<AppState>,
    Developer(dev): Developer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    extract::path_text(&id)?;
    if store::apis::delete_owned(&state.store, &dev.user_id, &id).await? {
        tracing::info!(target: "logi::security", user_id = %dev.user_id, api = %id, "API deleted");
        Ok(no_store(StatusCode::NO_CONTENT.into_response()))
    } else {
        Err(ApiError::not_found("no such API"))
    }
}
