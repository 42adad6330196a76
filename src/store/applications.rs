//! Registered applications (OAuth clients).

use std::sync::Arc;

use super::{
    cache::{announce, Change},
    from_json_list, to_json_list, Result, Store, StoreError,
};
use crate::clients::ClientAuth;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub client_id: String,
    pub owner_id: String,
    pub client_name: String,
    /// Type, registered method and (for confidential clients) the secret's HMAC.
    pub auth: ClientAuth,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: String,
    pub id_token_signed_response_alg: String,
    pub dpop_bound_access_tokens: bool,
    /// `allowed_cors_origins` as registered; `None` means the default (see `cors_origins`).
    pub allowed_cors_origins: Option<Vec<String>>,
    /// The origins the browser may call logi from for this client, as the policy derived them
    /// when the application was last written.
    pub cors_origins: Vec<String>,
    /// RFC 9126 §5: `/oauth/authorize` accepts only pushed requests for this client.
    pub require_pushed_authorization_requests: bool,
    /// Seconds after a rotation during which the rotated refresh token, presented again, gets
    /// the same successor instead of revoking the family (0–60, 0: never; SPEC "Tokens").
    pub refresh_token_reuse_interval_seconds: i64,
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed when a session in which
    /// this client received an ID token ends.
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (logi always sends it).
    pub backchannel_logout_session_required: bool,
    /// Set only by an operator (`logi apps verify`), never through the developer API: before
    /// sign-in, authorization errors of an unverified application are not redirected
    /// automatically (RFC 9700 §4.11.2).
    pub verified: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    client_id: String,
    owner_id: String,
    client_name: String,
    client_type: String,
    token_endpoint_auth_method: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scope: String,
    id_token_signed_response_alg: String,
    dpop_bound_access_tokens: i64,
    allowed_cors_origins: Option<String>,
    cors_origins: String,
    require_pushed_authorization_requests: i64,
    refresh_token_reuse_interval_seconds: i64,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: i64,
    verified: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Application {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("application {}: {what}", r.id));
        Ok(Application {
            auth: ClientAuth::from_columns(
                &r.client_type,
                &r.token_endpoint_auth_method,
                r.secret_hash,
                r.jwks,
                r.jwks_uri,
            )
            .ok_or_else(|| {
                corrupt("client_type, token_endpoint_auth_method, secret_hash, jwks and jwks_uri")
            })?,
            redirect_uris: from_json_list(&r.redirect_uris)?,
            post_logout_redirect_uris: from_json_list(&r.post_logout_redirect_uris)?,
            grant_types: from_json_list(&r.grant_types)?,
            dpop_bound_access_tokens: r.dpop_bound_access_tokens != 0,
            allowed_cors_origins: r
                .allowed_cors_origins
                .as_deref()
                .map(from_json_list)
                .transpose()?,
            cors_origins: from_json_list(&r.cors_origins)?,
            require_pushed_authorization_requests: r.require_pushed_authorization_requests != 0,
            refresh_token_reuse_interval_seconds: r.refresh_token_reuse_interval_seconds,
            backchannel_logout_uri: r.backchannel_logout_uri,
            backchannel_logout_session_required: r.backchannel_logout_session_required != 0,
            verified: r.verified != 0,
            id: r.id,
            client_id: r.client_id,
            owner_id: r.owner_id,
            client_name: r.client_name,
            scope: r.scope,
            id_token_signed_response_alg: r.id_token_signed_response_alg,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub async fn insert(store: &Store, a: &Application) -> Result<()> {
    sqlx::query(
        "INSERT INTO applications (id, client_id, owner_id, client_name, client_type, \
         token_endpoint_auth_method, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, scope, id_token_signed_response_alg, dpop_bound_access_tokens, created_at, \
         updated_at, allowed_cors_origins, cors_origins, verified, \
         require_pushed_authorization_requests, refresh_token_reuse_interval_seconds, jwks, \
         jwks_uri, backchannel_logout_uri, backchannel_logout_session_required) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22, $23, $24)",
    )
    .bind(&a.id)
    .bind(&a.client_id)
    .bind(&a.owner_id)
    .bind(&a.client_name)
    .bind(a.auth.client_type().as_str())
    .bind(a.auth.method().as_str())
    .bind(a.auth.secret_hash_column())
    .bind(to_json_list(&a.redirect_uris))
    .bind(to_json_list(&a.post_logout_redirect_uris))
    .bind(to_json_list(&a.grant_types))
    .bind(&a.scope)
    .bind(&a.id_token_signed_response_alg)
    .bind(a.dpop_bound_access_tokens as i64)
    .bind(a.created_at)
    .bind(a.updated_at)
    .bind(a.allowed_cors_origins.as_deref().map(to_json_list))
    .bind(to_json_list(&a.cors_origins))
    .bind(a.verified as i64)
    .bind(a.require_pushed_authorization_requests as i64)
    .bind(a.refresh_token_reuse_interval_seconds)
    .bind(a.auth.jwks())
    .bind(a.auth.jwks_uri())
    .bind(&a.backchannel_logout_uri)
    .bind(a.backchannel_logout_session_required as i64)
    .execute(&store.pool)
    .await?;
    announce(store, Change::Applications).await?;
    Ok(())
}

/// Writes the mutable metadata. `client_type`, `secret_hash` and `verified` are deliberately
/// not columns of this statement: the type never changes, the secret only through
/// [`set_secret_hash`], and the verification only by an operator ([`set_verified`]).
pub async fn update_metadata(store: &Store, a: &Application) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE applications SET client_name = $2, token_endpoint_auth_method = $3, \
         redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6, scope = $7, \
         id_token_signed_response_alg = $8, dpop_bound_access_tokens = $9, updated_at = $10, \
         allowed_cors_origins = $12, cors_origins = $13, \
         require_pushed_authorization_requests = $14, refresh_token_reuse_interval_seconds = $15, \
         jwks = $16, jwks_uri = $17, backchannel_logout_uri = $18, \
         backchannel_logout_session_required = $19 \
         WHERE id = $1 AND owner_id = $11",
    )
    .bind(&a.id)
    .bind(&a.client_name)
    .bind(a.auth.method().as_str())
    .bind(to_json_list(&a.redirect_uris))
    .bind(to_json_list(&a.post_logout_redirect_uris))
    .bind(to_json_list(&a.grant_types))
    .bind(&a.scope)
    .bind(&a.id_token_signed_response_alg)
    .bind(a.dpop_bound_access_tokens as i64)
    .bind(a.updated_at)
    .bind(&a.owner_id)
    .bind(a.allowed_cors_origins.as_deref().map(to_json_list))
    .bind(to_json_list(&a.cors_origins))
    .bind(a.require_pushed_authorization_requests as i64)
    .bind(a.refresh_token_reuse_interval_seconds)
    .bind(a.auth.jwks())
    .bind(a.auth.jwks_uri())
    .bind(&a.backchannel_logout_uri)
    .bind(a.backchannel_logout_session_required as i64)
    .execute(&store.pool)
    .await?;
    announce(store, Change::Applications).await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a confidential client's secret hash; the old secret stops working at once.
pub async fn set_secret_hash(
    store: &Store,
    owner_id: &str,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE applications SET secret_hash = $3, updated_at = $4 \
         WHERE id = $1 AND owner_id = $2 AND client_type = 'confidential'",
    )
    .bind(id)
    .bind(owner_id)
    .bind(hash)
    .bind(now)
    .execute(&store.pool)
    .await?;
    announce(store, Change::Applications).await?;
    Ok(done.rows_affected() == 1)
}

/// An application owned by `owner_id`; another owner's application is simply not found.
pub async fn owned(store: &Store, owner_id: &str, id: &str) -> Result<Option<Application>> {
    let row: Option<Row> =
        sqlx::query_as("SELECT * FROM applications WHERE id = $1 AND owner_id = $2")
            .bind(id)
            .bind(owner_id)
            .fetch_optional(&store.pool)
            .await?;
    row.map(Application::try_from).transpose()
}

pub async fn list_owned(store: &Store, owner_id: &str) -> Result<Vec<Application>> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT * FROM applications WHERE owner_id = $1 ORDER BY created_at, id")
            .bind(owner_id)
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter().map(Application::try_from).collect()
}

/// The application with this `client_id`, from the in-memory cache when possible (see
/// [`super::cache`]: every change is seen by every process).
pub async fn by_client_id(store: &Store, client_id: &str) -> Result<Option<Arc<Application>>> {
    if let Some(app) = store.caches.application(client_id) {
        return Ok(Some(app));
    }
    let generation = store.caches.generation();
    let row: Option<Row> = sqlx::query_as("SELECT * FROM applications WHERE client_id = $1")
        .bind(client_id)
        .fetch_optional(&store.pool)
        .await?;
    let Some(app) = row.map(Application::try_from).transpose()? else {
        return Ok(None);
    };
    let app = Arc::new(app);
    store
        .caches
        .remember_application(&app.client_id, app.clone(), generation);
    Ok(Some(app))
}

/// Deletes the application; rows that reference it (codes, grants, tokens) go with it through
/// `ON DELETE CASCADE`, which revokes its tokens.
pub async fn delete_owned(store: &Store, owner_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM applications WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner_id)
        .execute(&store.pool)
        .await?;
    announce(store, Change::Applications).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn by_id(store: &Store, id: &str) -> Result<Option<Application>> {
    let row: Option<Row> = sqlx::query_as("SELECT * FROM applications WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await?;
    row.map(Application::try_from).transpose()
}

/// Every origin some application allows (for CORS preflights, which name no client), from the
/// cache when possible: any change to an application forgets it in every process.
pub async fn allowed_origins(store: &Store) -> Result<Arc<std::collections::HashSet<String>>> {
    if let Some(set) = store.caches.origins() {
        return Ok(set);
    }
    let generation = store.caches.generation();
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT cors_origins FROM applications WHERE cors_origins <> '[]'")
            .fetch_all(&store.pool)
            .await?;
    let mut set = std::collections::HashSet::new();
    for (list,) in rows {
        set.extend(from_json_list(&list)?);
    }
    let set = Arc::new(set);
    store.caches.remember_origins(set.clone(), generation);
    Ok(set)
}

/// An operator's verification (`logi apps verify` / `unverify`) of the application with this
/// `client_id`; `false` when there is none. Every process's cache hears of it.
pub async fn set_verified(
    store: &Store,
    client_id: &str,
    verified: bool,
    now: i64,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE applications SET verified = $2, updated_at = $3 WHERE client_id = $1")
            .bind(client_id)
            .bind(verified as i64)
            .bind(now)
            .execute(&store.pool)
            .await?;
    announce(store, Change::Applications).await?;
    Ok(done.rows_affected() == 1)
}

/// One line of `logi apps list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub client_id: String,
    pub client_name: String,
    pub owner_email: String,
    pub verified: bool,
}

/// Every application with its owner's email, for operators.
pub async fn list_all(store: &Store) -> Result<Vec<Listed>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT a.client_id, a.client_name, u.email, a.verified \
         FROM applications a JOIN users u ON u.id = a.owner_id ORDER BY a.created_at, a.id",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(client_id, client_name, owner_email, verified)| Listed {
            client_id,
            client_name,
            owner_email,
            verified: verified != 0,
        })
        .collect())
}

/// The last back-channel logout delivery attempt to an application, for its developer.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LogoutStatus {
    pub last_attempt_at: i64,
    /// `delivered`, `failed` (to be retried) or `gave_up`.
    pub last_result: String,
    pub last_error: Option<String>,
}

/// Records the outcome of a back-channel logout delivery attempt to `application_id` (nothing
/// when the application is gone).
pub async fn set_logout_status(
    store: &Store,
    application_id: &str,
    status: &LogoutStatus,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO backchannel_logout_status (application_id, last_attempt_at, last_result, last_error) \
         SELECT $1, $2, $3, $4 FROM applications WHERE id = $1 \
         ON CONFLICT (application_id) DO UPDATE SET last_attempt_at = $2, last_result = $3, \
         last_error = $4",
    )
    .bind(application_id)
    .bind(status.last_attempt_at)
    .bind(&status.last_result)
    .bind(&status.last_error)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// The last back-channel logout delivery attempt to an application, if any.
pub async fn logout_status(store: &Store, application_id: &str) -> Result<Option<LogoutStatus>> {
    Ok(sqlx::query_as(
        "SELECT last_attempt_at, last_result, last_error FROM backchannel_logout_status \
         WHERE application_id = $1",
    )
    .bind(application_id)
    .fetch_optional(&store.pool)
    .await?)
}
