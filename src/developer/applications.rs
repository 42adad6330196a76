//! Application registration and updates: RFC 7591 metadata in, a consistent [`Application`] out.
//!
//! Registration and PATCH both end in [`validate`], which checks the whole resulting application,
//! so no sequence of updates can reach a state that registration would refuse.

use serde::Deserialize;

use crate::{
    clients::ClientAuth,
    crypto::{random_token, ServerKeys},
    keys::Alg,
    oauth::policy::{self, MetadataError},
    oauth::scope::is_scope_token,
    store::applications::Application,
};

/// Registration or PATCH body. Unknown members are ignored (RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
pub struct MetadataInput {
    pub client_name: Option<String>,
    pub client_type: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub allowed_cors_origins: Option<Vec<String>>,
    pub require_pushed_authorization_requests: Option<bool>,
    #[serde(default, deserialize_with = "reuse_interval")]
    pub refresh_token_reuse_interval_seconds: Option<i64>,
    /// The public keys of a `private_key_jwt` client (a JWK Set)…
    pub jwks: Option<serde_json::Value>,
    /// … or where logi fetches them (exactly one of the two).
    pub jwks_uri: Option<String>,
    /// OIDC Back-Channel Logout: where logout tokens go; `null` in a PATCH removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub backchannel_logout_uri: Option<Option<String>>,
    pub backchannel_logout_session_required: Option<bool>,
}

/// A member that may be given as `null` to clear it: absent → `None`, `null` → `Some(None)`.
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `refresh_token_reuse_interval_seconds` as a JSON integer; anything else is refused with an
/// error that names the member (the range is checked by [`validate`]).
fn reuse_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Value>::deserialize(d)?
        .map(|v| {
            v.as_i64().ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "refresh_token_reuse_interval_seconds must be an integer between 0 and \
                     {MAX_REFRESH_TOKEN_REUSE_INTERVAL}"
                ))
            })
        })
        .transpose()
}

const MAX_REDIRECT_URIS: usize = 20;

/// The longest reuse interval an application may ask for (SPEC "Tokens").
pub const MAX_REFRESH_TOKEN_REUSE_INTERVAL: i64 = 60;

/// A newly registered application and, for confidential clients, its secret (shown once).
pub struct Registered {
    pub application: Application,
    pub client_secret: Option<String>,
}

pub fn register(
    input: MetadataInput,
    owner_id: &str,
    keys: &ServerKeys,
    now: i64,
) -> Result<Registered, MetadataError> {
    let (client_type, auth_method) = policy::resolve_type_and_auth_method(
        input.client_type.as_deref(),
        input.token_endpoint_auth_method.as_deref(),
    )?;
    let grant_types = input
        .grant_types
        .unwrap_or_else(|| vec![policy::GRANT_AUTHORIZATION_CODE.to_string()]);
    let scope = input.scope.unwrap_or_else(|| default_scope(&grant_types));
    let jwks = input.jwks.as_ref().map(|v| v.to_string());
    let (auth, client_secret) = policy::new_client_auth(
        client_type,
        auth_method,
        jwks.as_deref(),
        input.jwks_uri.as_deref(),
        keys,
    )?;
    let application = Application {
        id: format!("app_{}", random_token(12)),
        client_id: random_token(18),
        owner_id: owner_id.to_string(),
        client_name: input.client_name.unwrap_or_default(),
        auth,
        redirect_uris: input.redirect_uris.unwrap_or_default(),
        post_logout_redirect_uris: input.post_logout_redirect_uris.unwrap_or_default(),
        grant_types,
        scope,
        id_token_signed_response_alg: input
            .id_token_signed_response_alg
            .unwrap_or_else(|| "RS256".into()),
        dpop_bound_access_tokens: input.dpop_bound_access_tokens.unwrap_or(false),
        allowed_cors_origins: input.allowed_cors_origins,
        cors_origins: Vec::new(),
        require_pushed_authorization_requests: input
            .require_pushed_authorization_requests
            .unwrap_or(false),
        refresh_token_reuse_interval_seconds: input
            .refresh_token_reuse_interval_seconds
            .unwrap_or(0),
        backchannel_logout_uri: input.backchannel_logout_uri.flatten(),
        backchannel_logout_session_required: input
            .backchannel_logout_session_required
            .unwrap_or(false),
        // Only an operator verifies an application (`logi apps verify`).
        verified: false,
        created_at: now,
        updated_at: now,
    };
    let application = validate(application)?;
    Ok(Registered {
        application,
        client_secret,
    })
}

/// Applies a PATCH. `client_type` may be repeated but never changed.
pub fn apply_patch(
    current: &Application,
    input: MetadataInput,
    now: i64,
) -> Result<Application, MetadataError> {
    let client_type = current.auth.client_type();
    policy::check_type_unchanged(client_type, input.client_type.as_deref())?;
    let mut next = current.clone();
    if let Some(method) = input.token_endpoint_auth_method.as_deref() {
        let (_, method) =
            policy::resolve_type_and_auth_method(Some(client_type.as_str()), Some(method))?;
        next.auth = policy::with_auth_method(&next.auth, method)?;
    }
    let jwks = input.jwks.as_ref().map(|v| v.to_string());
    next.auth = policy::with_keys(&next.auth, jwks.as_deref(), input.jwks_uri.as_deref())?;
    if let Some(v) = input.client_name {
        next.client_name = v;
    }
    if let Some(v) = input.redirect_uris {
        next.redirect_uris = v;
    }
    if let Some(v) = input.post_logout_redirect_uris {
        next.post_logout_redirect_uris = v;
    }
    if let Some(v) = input.grant_types {
        next.grant_types = v;
    }
    if let Some(v) = input.scope {
        next.scope = v;
    }
    if let Some(v) = input.id_token_signed_response_alg {
        next.id_token_signed_response_alg = v;
    }
    if let Some(v) = input.dpop_bound_access_tokens {
        next.dpop_bound_access_tokens = v;
    }
    if let Some(v) = input.allowed_cors_origins {
        next.allowed_cors_origins = Some(v);
    }
    if let Some(v) = input.require_pushed_authorization_requests {
        next.require_pushed_authorization_requests = v;
    }
    if let Some(v) = input.refresh_token_reuse_interval_seconds {
        next.refresh_token_reuse_interval_seconds = v;
    }
    if let Some(v) = input.backchannel_logout_uri {
        next.backchannel_logout_uri = v;
    }
    if let Some(v) = input.backchannel_logout_session_required {
        next.backchannel_logout_session_required = v;
    }
    next.updated_at = now;
    validate(next)
}

pub enum Rotation {
    /// The new secret, to show once; the old one no longer verifies.
    Rotated(String),
    PublicClient,
    NotFound,
}

/// `rotate_secret`: replaces a confidential client's secret at once.
pub async fn rotate_secret(
    store: &crate::store::Store,
    keys: &ServerKeys,
    app: &mut Application,
    now: i64,
) -> crate::store::Result<Rotation> {
    let ClientAuth::Secret { method, .. } = app.auth else {
        return Ok(Rotation::PublicClient);
    };
    let secret = policy::new_client_secret();
    let hash = keys.hash_secret(&secret);
    if !crate::store::applications::set_secret_hash(store, &app.owner_id, &app.id, &hash, now)
        .await?
    {
        return Ok(Rotation::NotFound);
    }
    app.auth = ClientAuth::Secret { method, hash };
    app.updated_at = now;
    tracing::info!(target: "logi::security", client_id = %app.client_id, "client secret rotated");
    Ok(Rotation::Rotated(secret))
}

fn default_scope(grant_types: &[String]) -> String {
    if grant_types.iter().any(|g| g == policy::GRANT_REFRESH_TOKEN) {
        "openid profile email offline_access".into()
    } else {
        "openid profile email".into()
    }
}

/// Checks a whole application and normalises its lists (trimmed, de-duplicated, in order).
pub fn validate(mut app: Application) -> Result<Application, MetadataError> {
    let bad = |m: String| MetadataError::InvalidClientMetadata(m);
    app.client_name = app.client_name.trim().to_string();
    if app.client_name.is_empty() || app.client_name.chars().count() > 200 {
        return Err(bad(
            "client_name is required (at most 200 characters)".into()
        ));
    }
    if app.client_name.chars().any(char::is_control) {
        return Err(bad("client_name must not contain control characters".into()));
    }
    dedup(&mut app.grant_types);
    policy::check_grant_types(app.auth.client_type(), &app.grant_types)?;

    dedup(&mut app.redirect_uris);
    if app.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(MetadataError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &app.redirect_uris {
        policy::check_redirect_uri(app.auth.client_type(), uri)?;
    }
    if app
        .grant_types
        .iter()
        .any(|g| g == policy::GRANT_AUTHORIZATION_CODE)
        && app.redirect_uris.is_empty()
    {
        return Err(MetadataError::InvalidRedirectUri(
            "redirect_uris is required for the authorization_code grant".into(),
        ));
    }
    dedup(&mut app.post_logout_redirect_uris);
    if app.post_logout_redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(MetadataError::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} post_logout_redirect_uris"
        )));
    }
    for uri in &app.post_logout_redirect_uris {
        policy::check_post_logout_redirect_uri(app.auth.client_type(), uri)?;
    }

    let mut scopes: Vec<String> = app
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    dedup(&mut scopes);
    if let Some(s) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(bad(format!(
            "scope `{s}` contains characters RFC 6749 §3.3 does not allow"
        )));
    }
    if scopes.len() > 50 {
        return Err(bad("at most 50 scopes".into()));
    }
    app.scope = scopes.join(" ");

    if let Some(list) = app.allowed_cors_origins.as_mut() {
        dedup(list);
    }
    let client_type = app.auth.client_type();
    policy::check_cors_origins(client_type, app.allowed_cors_origins.as_deref())?;
    app.cors_origins = policy::cors_origins(
        client_type,
        app.allowed_cors_origins.as_deref(),
        &app.redirect_uris,
    );

    if !(0..=MAX_REFRESH_TOKEN_REUSE_INTERVAL).contains(&app.refresh_token_reuse_interval_seconds) {
        return Err(bad(format!(
            "refresh_token_reuse_interval_seconds must be between 0 and \
             {MAX_REFRESH_TOKEN_REUSE_INTERVAL}"
        )));
    }

    // OIDC Back-Channel Logout §2.2: an absolute URL logi POSTs to (https, or loopback http).
    if let Some(uri) = &app.backchannel_logout_uri {
        policy::check_outbound_uri("backchannel_logout_uri", uri)?;
    }

    // The algorithms logi has signing keys for, as discovery advertises them.
    if Alg::parse(&app.id_token_signed_response_alg).is_none() {
        let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
        return Err(bad(format!(
            "id_token_signed_response_alg must be one of {}; `none` and HMAC algorithms are refused",
            algs.join(", ")
        )));
    }
    Ok(app)
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|item| seen.insert(item.clone()));
}
