//! `/oauth/authorize` (RFC 6749 §4.1.1, RFC 7636, OpenID Connect Core §3.1.2): validation of the
//! request and issuance of the code. Rendering and sessions are the HTTP layer's.

use serde::{Deserialize, Serialize};

use super::{
    audience,
    error::{ErrorCode, OAuthError},
    params::Params,
    policy, scope,
};
use crate::{
    accounts::amr,
    crypto::random_token,
    store::{
        self, apis::Api, applications::Application, oauth::Code, oauth::Grant, Store, StoreError,
    },
};

/// `response_type` values logi implements (the authorization code flow only).
pub const RESPONSE_TYPES: &[&str] = &["code"];
/// `prompt` values logi honours (OIDC Core §3.1.2.1).
pub const PROMPT_VALUES: &[&str] = &["none", "login", "consent", "select_account"];

/// The request as received (from the query or the form body).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    /// Requested authentication context classes (OIDC Core §3.1.2.1), space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (from the parameter,
    /// or from the proof sent to `/oauth/par`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// RFC 8707 resource indicators (the parameter may repeat).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    /// The request came through `/oauth/par` (RFC 9126), authenticated and validated there.
    /// Never read from the query: set only by the pushed-request path.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushed: bool,
}

/// A request that passed every check.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    pub app: std::sync::Arc<Application>,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// The protected APIs (identifiers) the authorization covers ([`audience::for_request`]).
    pub resources: Vec<String>,
    /// The application owner's APIs, for the consent page's descriptions.
    pub apis: std::sync::Arc<Vec<Api>>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// RFC 9449 §10: the DPoP key (thumbprint) the code will be bound to.
    pub dpop_jkt: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values` can only be met with two factors ([`amr::requires_mfa`]).
    pub requires_mfa: bool,
    pub params: AuthorizeParams,
}

/// How a request fails.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Unknown client or unregistered redirect URI: shown as an HTML 400 page, never redirected
    /// to (RFC 6749 §4.1.2.1).
    Fatal(String),
    /// Anything after the redirect URI is known: sent back to the client.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
    Store(StoreError),
}

impl From<StoreError> for AuthorizeError {
    fn from(e: StoreError) -> Self {
        AuthorizeError::Store(e)
    }
}

/// The application and redirect URI of a request, both known and matching. Until they are,
/// an error is a page and never a redirect (RFC 6749 §4.1.2.1).
pub async fn client_and_redirect(
    store: &Store,
    client_id: Option<&str>,
    redirect_uri: Option<&str>,
) -> Result<(std::sync::Arc<Application>, String), AuthorizeError> {
    let Some(client_id) = client_id else {
        return Err(AuthorizeError::Fatal(
            "The request has no client_id.".into(),
        ));
    };
    let Some(app) = store::applications::by_client_id(store, client_id).await? else {
        return Err(AuthorizeError::Fatal(
            "The application that sent you here is not registered with logi.".into(),
        ));
    };
    let Some(redirect_uri) = redirect_uri else {
        return Err(AuthorizeError::Fatal(
            "The request has no redirect_uri.".into(),
        ));
    };
    if !policy::redirect_uri_matches(&app.redirect_uris, redirect_uri) {
        return Err(AuthorizeError::Fatal(
            "The redirect_uri of this request is not registered for the application.".into(),
        ));
    }
    Ok((app, redirect_uri.to_string()))
}

/// A request with repeated parameters (RFC 6749 §3.1), given the parameters that appear once
/// and the repeated names: `invalid_request` sent back to the client when `client_id` and
/// `redirect_uri` are each given once and valid (RFC 6749 §4.1.2.1), with `state` if that was
/// given once; otherwise the error page.
pub async fn repeated_parameters(
    store: &Store,
    singles: &Params,
    repeated: &[String],
) -> AuthorizeError {
    let names = repeated
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if repeated
        .iter()
        .any(|n| n == "client_id" || n == "redirect_uri")
    {
        return AuthorizeError::Fatal(format!(
            "The authorization request is malformed: parameter {names} is repeated."
        ));
    }
    match client_and_redirect(store, singles.get("client_id"), singles.get("redirect_uri")).await {
        Ok((_, redirect_uri)) => AuthorizeError::Redirect {
            redirect_uri,
            state: singles.get("state").map(String::from),
            error: OAuthError::invalid_request(format!(
                "each parameter may be given once: {names} is repeated"
            )),
        },
        Err(e) => e,
    }
}

pub async fn validate(
    store: &Store,
    params: AuthorizeParams,
) -> Result<ValidRequest, AuthorizeError> {
    let (app, redirect_uri) = client_and_redirect(
        store,
        params.client_id.as_deref(),
        params.redirect_uri.as_deref(),
    )
    .await?;
    let state = params.state.clone();
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };

    if params.request.is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        )));
    }
    if params.request_uri.is_some() {
        return Err(fail(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is only accepted as the result of a pushed authorization request",
        )));
    }
    // RFC 9126 §5: a client that must push its requests cannot send them through the browser.
    if app.require_pushed_authorization_requests && !params.pushed {
        return Err(fail(OAuthError::invalid_request(
            "this client must use pushed authorization requests (POST /oauth/par)",
        )));
    }
    match params.response_type.as_deref() {
        Some(t) if RESPONSE_TYPES.contains(&t) => {}
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is required",
            )))
        }
        Some(_) => {
            return Err(fail(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            )))
        }
    }
    if let Err(e) = policy::check_grant_allowed(&app, policy::GRANT_AUTHORIZATION_CODE) {
        return Err(fail(e));
    }
    let requested = match params.scope.as_deref() {
        None => return Err(fail(OAuthError::invalid_scope("scope is required"))),
        Some(s) => {
            scope::parse(s).ok_or_else(|| fail(OAuthError::invalid_scope("malformed scope")))?
        }
    };
    let registered = scope::parse(&app.scope).unwrap_or_default();
    if requested.is_empty() || !scope::is_subset(&requested, &registered) {
        return Err(fail(OAuthError::invalid_scope(
            "scope is not registered for this application",
        )));
    }
    let apis = store::apis::for_owner(store, &app.owner_id).await?;
    let resources = audience::for_request(&apis, &params.resource, &requested).map_err(fail)?;
    let code_challenge = policy::check_pkce_for(
        &app,
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(fail)?;
    let prompt: Vec<String> = params
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return Err(fail(OAuthError::invalid_request("unknown prompt value")));
    }
    if prompt.contains(&"none".to_string()) && prompt.len() > 1 {
        return Err(fail(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        )));
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "max_age must be a non-negative integer",
            ))
        })?),
    };
    // RFC 9449 §10: a JWK SHA-256 thumbprint, base64url without padding.
    if let Some(jkt) = &params.dpop_jkt {
        let is_thumbprint = jkt.len() == 43
            && jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !is_thumbprint {
            return Err(fail(OAuthError::invalid_request(
                "dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 §10)",
            )));
        }
    }
    for (name, value) in [
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("login_hint", &params.login_hint),
        ("acr_values", &params.acr_values),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 2048) {
            return Err(fail(OAuthError::invalid_request(format!(
                "{name} is too long"
            ))));
        }
    }
    Ok(ValidRequest {
        redirect_uri: redirect_uri.clone(),
        scopes: requested,
        resources,
        apis,
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        code_challenge,
        dpop_jkt: params.dpop_jkt.clone(),
        prompt,
        max_age,
        login_hint: params.login_hint.clone(),
        requires_mfa: params.acr_values.as_deref().is_some_and(amr::requires_mfa),
        app,
        params,
    })
}

/// The browser's session and its user as the authorization request read them, with the caches'
/// generation taken before that read.
pub struct SignedIn<'a> {
    pub session: &'a crate::store::sessions::Session,
    pub user: &'a crate::store::users::User,
    pub generation: i64,
}

/// Creates the grant and its code in one transaction; returns the code for the redirect.
///
/// The new grant's user is remembered in the grant cache (with the generation taken before the
/// session and its user were read), so the token request that redeems the code in this process
/// signs its ID token without reading the user again.
pub async fn issue_code(
    store: &Store,
    keys: &crate::crypto::ServerKeys,
    req: &ValidRequest,
    signed_in: &SignedIn<'_>,
    now: i64,
    ttl: i64,
) -> Result<String, StoreError> {
    let session = signed_in.session;
    let code = random_token(32);
    let grant = Grant {
        id: format!("grt_{}", random_token(16)),
        application_id: req.app.id.clone(),
        user_id: Some(session.user_id.clone()),
        scope: req.scopes.join(" "),
        auth_time: session.auth_time,
        created_at: now,
        revoked_at: None,
        sid: session.sid.clone(),
        resources: req.resources.clone(),
        amr: session.amr.clone(),
    };
    let row = Code {
        code_hash: keys.hash_secret(&code),
        grant_id: grant.id.clone(),
        application_id: req.app.id.clone(),
        user_id: session.user_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
        nonce: req.nonce.clone(),
        scope: req.scopes.join(" "),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    store::oauth::insert_grant_with_code(store, &grant, &row).await?;
    store::oauth::remember_grant_user(store, &grant.id, signed_in.user, signed_in.generation);
    Ok(code)
}

/// The client redirect carrying `params` (RFC 6749 §4.1.2): the redirect URI exactly as given,
/// byte for byte, with the parameters appended as text (`?` or `&`, form-encoded values). It is
/// never parsed and re-serialised: a URL parser's rewrite could send the browser somewhere else
/// than the registered URI says (SPEC "Redirect URIs").
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return redirect_uri.to_string();
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let query = query.finish();
    // Registered URIs have no fragment; should one ever appear, the query goes before it.
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (redirect_uri, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    match fragment {
        Some(f) => format!("{base}{separator}{query}#{f}"),
        None => format!("{base}{separator}{query}"),
    }
}

#[cfg(test)]
mod tests;
