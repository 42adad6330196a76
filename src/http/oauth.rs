//! `/oauth/authorize`, `/oauth/consent`, `/oauth/token`, `/oauth/jwks`.

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    cors::{self, CorsClient},
    error::{no_store, ApiError, PageError},
    extract::Params,
    forms::{CsrfForm, CurrentUser},
    pages::{html, render, Csrf},
    AppState,
};
use crate::{
    accounts::amr::Amr,
    crypto::random_token,
    oauth::{
        audience,
        authorize::{self, AuthorizeError, AuthorizeParams, ValidRequest},
        dpop,
        error::{ErrorCode, OAuthError},
        grants::{self, GrantError, TokenRequest},
        policy::{self, PresentedCredentials},
        revocation,
        tokens::{Target, TokenContext},
    },
    store::{self, oauth::PendingRequest, users::User},
};

/// How long a pending authorization request (waiting for login or consent) lives.
const PENDING_TTL: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth/consent", post(consent))
        .route(
            "/oauth/token",
            post(token)
                .options(cors::preflight_post)
                .layer(middleware::from_fn(cors::for_client)),
        )
        .route(
            "/oauth/par",
            post(par)
                .options(cors::preflight_post)
                .layer(middleware::from_fn(cors::for_client)),
        )
        .route(
            "/oauth/revoke",
            post(revoke)
                .options(cors::preflight_post)
                .layer(middleware::from_fn(cors::for_client)),
        )
        .route("/oauth/introspect", post(introspect))
        .route("/oauth/device_authorization", post(device_authorization))
        .route(
            "/oauth/jwks",
            get(jwks).layer(middleware::from_fn(cors::any_origin)),
        )
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let status = match e.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let api = ApiError::new(status, e.code.as_str(), e.description);
        // RFC 6749 §5.2: a 401 after a Basic attempt carries the Basic challenge.
        if e.basic_challenge && status == StatusCode::UNAUTHORIZED {
            api.with_www_authenticate("Basic realm=\"logi\", charset=\"UTF-8\"")
        } else {
            api
        }
    }
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::OAuth(e) => e.into(),
            GrantError::Store(e) => e.into(),
            GrantError::Key(e) => ApiError::internal(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization endpoint
// ---------------------------------------------------------------------------------------------

fn authorize_params(p: &Params) -> AuthorizeParams {
    let get = |k: &str| p.get(k).map(String::from);
    AuthorizeParams {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        login_hint: get("login_hint"),
        acr_values: get("acr_values"),
        request: get("request"),
        request_uri: get("request_uri"),
        dpop_jkt: get("dpop_jkt"),
        resource: p.get_all("resource"),
        pushed: false,
    }
}

async fn authorize_get(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or_default().as_bytes().to_vec();
    let params = Params::parse(&raw).map_err(Into::into);
    if let Some(r) = repeated_parameters(&state, &headers, &params, &raw).await {
        return r;
    }
    authorize_entry(&state, &headers, params).await
}

async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = super::extract::form_params(&headers, &body);
    if let Some(r) = repeated_parameters(&state, &headers, &params, &body).await {
        return r;
    }
    authorize_entry(&state, &headers, params).await
}

/// A request refused as malformed because a parameter is repeated still goes back to the client
/// when its `client_id` and `redirect_uri` are each given once and valid (RFC 6749 §4.1.2.1);
/// `None` when `params` parsed, or failed for another reason.
async fn repeated_parameters(
    state: &AppState,
    headers: &HeaderMap,
    params: &Result<Params, super::extract::BadInput>,
    raw: &[u8],
) -> Option<Response> {
    match params {
        Err(e) if e.status == StatusCode::BAD_REQUEST => {}
        _ => return None,
    }
    let (singles, repeated) = Params::parse_with_repeats(raw).ok()?;
    if repeated.is_empty() {
        return None;
    }
    let error = authorize::repeated_parameters(&state.store, &singles, &repeated).await;
    Some(authorize_failure(state, headers, singles.get("client_id"), error).await)
}

async fn authorize_entry(
    state: &AppState,
    headers: &HeaderMap,
    params: Result<Params, super::extract::BadInput>,
) -> Response {
    let params = match params {
        Ok(p) => p,
        // Before the client and redirect URI are known, errors are pages (never redirects).
        Err(e) => {
            return PageError::bad_request(format!(
                "The authorization request is malformed: {}.",
                e.description
            ))
            .into_response()
        }
    };
    let t = state.clock.now();
    // Coming back from the login page: the request travelled sealed in the redirect.
    let (request, resumed) =
        match params.get("request_id") {
            Some(sealed) => match open_pending(state, sealed, t) {
                Some((stored, resumed)) => (stored, Some(resumed)),
                None => return PageError::bad_request(
                    "This sign-in request has expired. Go back to the application and start again.",
                )
                .into_response(),
            },
            None => match params.get("request_uri") {
                Some(uri) => match pushed_request(state, params.get("client_id"), uri, t).await {
                    Ok(pushed) => (pushed, None),
                    Err(page) => return page,
                },
                None => (authorize_params(&params), None),
            },
        };
    let client_id = request.client_id.clone();
    match authorize(state, headers, request, resumed, t).await {
        Ok(r) => r,
        Err(e) => authorize_failure(state, headers, client_id.as_deref(), e).await,
    }
}

/// How long a pushed authorization request waits for the browser (RFC 9126 §2.2: short).
const PUSHED_REQUEST_TTL: i64 = 60;

/// `/oauth/authorize?client_id=…&request_uri=…` (RFC 9126 §4): the pushed request, taken once,
/// for the client that pushed it. Every other parameter of the browser's request is ignored.
/// Before the request is known, errors are pages (never redirects).
async fn pushed_request(
    state: &AppState,
    client_id: Option<&str>,
    request_uri: &str,
    t: i64,
) -> Result<AuthorizeParams, Response> {
    let page = |message: &str| PageError::bad_request(message.to_string()).into_response();
    let Some(client_id) = client_id else {
        return Err(page("The request has no client_id."));
    };
    let app = match store::applications::by_client_id(&state.store, client_id).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return Err(page(
                "The application that sent you here is not registered with logi.",
            ))
        }
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    let hash = state.keys.hash_secret(request_uri);
    let stored = match store::oauth::take_pushed(&state.store, &hash, &app.id, t).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            return Err(page(
                "This sign-in request has expired or was already used. Go back to the application and start again.",
            ))
        }
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    let mut params: AuthorizeParams =
        serde_json::from_str(&stored).map_err(|e| PageError::internal(e).into_response())?;
    params.pushed = true;
    Ok(params)
}

/// `POST /oauth/par` (RFC 9126): the client authenticates as at the token endpoint; the request
/// is validated completely now (client, redirect URI, response type, scope, PKCE), so mistakes
/// reach the client as JSON instead of the person's browser; `201` with a single-use
/// `request_uri` that lives 60 seconds and works only for this client.
async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    cors: CorsClient,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (app, params) = client_request(&state, &headers, &body, &cors, "/oauth/par").await?;
    if params.contains("request_uri") {
        return Err(
            OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 §2.1)").into(),
        );
    }
    let mut request = authorize_params(&params);
    request.client_id = Some(app.client_id.clone());
    request.pushed = true;
    // RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key, as
    // `dpop_jkt` does; both given, they must name the same key.
    let t = state.clock.now();
    if let Some(proof) = dpop_proof(&state, &headers, "POST", "/oauth/par", t).await? {
        match &request.dpop_jkt {
            Some(jkt) if *jkt != proof.jkt => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    "dpop_jkt does not match the key of the DPoP proof",
                )
                .into())
            }
            _ => request.dpop_jkt = Some(proof.jkt),
        }
    }
    match authorize::validate(&state.store, request.clone()).await {
        Ok(_) => {}
        Err(AuthorizeError::Fatal(message)) => {
            return Err(OAuthError::invalid_request(message).into())
        }
        Err(AuthorizeError::Redirect { error, .. }) => return Err(error.into()),
        Err(AuthorizeError::Store(e)) => return Err(e.into()),
    }
    let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token(32));
    let stored = serde_json::to_string(&request).map_err(ApiError::internal)?;
    store::oauth::insert_pushed(
        &state.store,
        &state.keys.hash_secret(&request_uri),
        &app.id,
        &stored,
        t + PUSHED_REQUEST_TTL,
    )
    .await?;
    let body = serde_json::json!({ "request_uri": request_uri, "expires_in": PUSHED_REQUEST_TTL });
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// An error of `/oauth/authorize`, with the exception RFC 9700 §4.11.2 demands because anyone
/// may register an application (SPEC "Redirect URIs"): for an unverified application, an error
/// found while nobody is signed in is not redirected automatically but shown on a page with a
/// link to the error redirect, so the person decides. Verified applications, and requests of a
/// signed-in user, get the plain redirect. Fails closed: when the application cannot be read,
/// nothing is redirected.
async fn authorize_failure(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    e: AuthorizeError,
) -> Response {
    let AuthorizeError::Redirect {
        redirect_uri,
        state: client_state,
        error,
    } = e
    else {
        return authorize_error(state, e);
    };
    let app = match client_id {
        Some(id) => store::applications::by_client_id(&state.store, id).await,
        None => Ok(None),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => return PageError::from(e).into_response(),
    };
    if app.as_ref().is_some_and(|a| a.verified) {
        return redirect_error(state, &redirect_uri, client_state.as_deref(), &error);
    }
    match CurrentUser::of(state, headers).await {
        Ok(Some(_)) => redirect_error(state, &redirect_uri, client_state.as_deref(), &error),
        Ok(None) => unverified_error_page(
            state,
            app.as_ref()
                .map_or("The application", |a| a.client_name.as_str()),
            &redirect_uri,
            client_state.as_deref(),
            &error,
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The page an unverified application's error gets before sign-in: the error, the application,
/// and the full error redirect as a link (`error`, `error_description`, `state`, `iss`).
fn unverified_error_page(
    state: &AppState,
    client_name: &str,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let link = authorize::redirect_with(redirect_uri, &error_params(state, client_state, error));
    let redirect_host = shown_host(redirect_uri);
    match render(
        "authorize_error.html",
        context! {
            client_name,
            error => error.code.as_str(),
            description => &error.description,
            link,
            redirect_host,
        },
    ) {
        Ok(body) => html(StatusCode::BAD_REQUEST, body),
        Err(e) => e.into_response(),
    }
}

fn authorize_error(state: &AppState, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Fatal(message) => {
            PageError::new(StatusCode::BAD_REQUEST, "Invalid request", message).into_response()
        }
        AuthorizeError::Store(e) => PageError::from(e).into_response(),
        AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            error,
        } => redirect_error(state, &redirect_uri, client_state.as_deref(), &error),
    }
}

/// RFC 6749 §4.1.2.1 with RFC 9207 `iss`.
fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &OAuthError,
) -> Response {
    let params = error_params(state, client_state, error);
    Redirect::to(&authorize::redirect_with(redirect_uri, &params)).into_response()
}

/// The parameters of an error redirect: `error`, `error_description`, `state`, `iss`.
fn error_params<'a>(
    state: &'a AppState,
    client_state: Option<&'a str>,
    error: &'a OAuthError,
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", state.config.issuer.as_str()));
    params
}

async fn store_pending(
    state: &AppState,
    req: &ValidRequest,
    user_id: Option<&str>,
    t: i64,
) -> Result<String, AuthorizeError> {
    let id = random_token(24);
    let params = serde_json::to_string(&req.params)
        .map_err(|e| AuthorizeError::Store(store::StoreError::Corrupt(e.to_string())))?;
    store::oauth::insert_pending(
        &state.store,
        &PendingRequest {
            id: id.clone(),
            application_id: req.app.id.clone(),
            params,
            user_id: user_id.map(String::from),
            created_at: t,
            expires_at: t + PENDING_TTL,
        },
    )
    .await?;
    Ok(id)
}

/// An authorization request sent on to the login page. Nothing is stored before sign-in: the
/// request travels in the redirect, sealed (AES-256-GCM under a key derived from the master
/// key) with the time it was made and the session the browser had then.
#[derive(Serialize, Deserialize)]
struct SealedRequest {
    /// The request's parameters.
    p: serde_json::Value,
    /// When it was made.
    t: i64,
    /// The session the browser had when the login was demanded (its id hash), if any: a fresh
    /// login must be another session.
    s: Option<String>,
}

/// What a request resumed after the login page remembers.
struct Resumed {
    created_at: i64,
    prior_session: Option<String>,
}

/// The longest sealed request logi sends through the login page (the `next` URL must hold it).
const MAX_SEALED_REQUEST: usize = 12 * 1024;

/// Seals `req` for a detour through a login page: `created_at` is when the request was made,
/// `prior_session` the session (id hash) the browser had then.
fn seal_pending(
    state: &AppState,
    req: &ValidRequest,
    created_at: i64,
    prior_session: Option<String>,
) -> Result<String, AuthorizeError> {
    let mut p = serde_json::to_value(&req.params)
        .map_err(|e| AuthorizeError::Store(store::StoreError::Corrupt(e.to_string())))?;
    if let Some(fields) = p.as_object_mut() {
        fields.retain(|_, v| !v.is_null());
    }
    let sealed = SealedRequest {
        p,
        t: created_at,
        s: prior_session,
    };
    let plain = serde_json::to_vec(&sealed)
        .map_err(|e| AuthorizeError::Store(store::StoreError::Corrupt(e.to_string())))?;
    let blob = state.keys.seal_pending_request(&plain);
    if blob.len() > MAX_SEALED_REQUEST {
        return Err(AuthorizeError::Redirect {
            redirect_uri: req.redirect_uri.clone(),
            state: req.state.clone(),
            error: OAuthError::invalid_request("the authorization request is too large"),
        });
    }
    Ok(blob)
}

/// Opens a sealed request; `None` when it was altered, or is older than `PENDING_TTL` (or
/// from the future, beyond a minute of clock skew between processes).
fn open_pending(state: &AppState, blob: &str, t: i64) -> Option<(AuthorizeParams, Resumed)> {
    if blob.len() > MAX_SEALED_REQUEST {
        return None;
    }
    let plain = state.keys.open_pending_request(blob)?;
    let sealed: SealedRequest = serde_json::from_slice(&plain).ok()?;
    if t - sealed.t >= PENDING_TTL || sealed.t - t > 60 {
        return None;
    }
    let params = serde_json::from_value(sealed.p).ok()?;
    Some((
        params,
        Resumed {
            created_at: sealed.t,
            prior_session: sealed.s,
        },
    ))
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    params: AuthorizeParams,
    resumed: Option<Resumed>,
    t: i64,
) -> Result<Response, AuthorizeError> {
    let req = authorize::validate(&state.store, params).await?;
    let redirect_error_of = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: req.redirect_uri.clone(),
        state: req.state.clone(),
        error,
    };
    // The remembered consent is read with the session (one round trip), when it may count.
    let scope_key = audience::consent_key(&req.scopes, &req.resources);
    let may_reuse_consent = policy::may_reuse_consent(&req.app, &req.redirect_uri);
    let consent = may_reuse_consent.then(|| store::sessions::ConsentQuery {
        application_id: &req.app.id,
        scope: &scope_key,
    });
    let (current, consented) = match CurrentUser::with_consent(state, headers, consent).await? {
        Some((current, consented)) => (Some(current), consented),
        None => (None, false),
    };
    let prompt = |p: &str| req.prompt.iter().any(|x| x == p);
    // A session counts unless the request demands a fresher login. `prompt=login` and
    // `max_age=0` always re-authenticate: only a session started by a login after the request
    // was made counts (a new session, not the one the browser had then, so a login earlier in
    // the same second does not); and such a login is fresh enough for any `max_age`.
    let prior = current.as_ref().map(|c| c.session.id_hash.clone());
    let must_reauthenticate = prompt("login") || req.max_age == Some(0);
    let signed_in = current.filter(|CurrentUser { session: s, .. }| {
        let fresh_since_request = resumed.as_ref().is_some_and(|r| {
            s.auth_time >= r.created_at && r.prior_session.as_deref() != Some(s.id_hash.as_str())
        });
        let too_old = req.max_age.is_some_and(|m| t - s.auth_time > m);
        if must_reauthenticate {
            fresh_since_request
        } else {
            fresh_since_request || !too_old
        }
    });
    let Some(current) = signed_in else {
        if prompt("none") {
            return Err(redirect_error_of(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user is not signed in",
            )));
        }
        // Before sign-in nothing is stored: the request travels sealed with the redirect.
        let sealed = seal_pending(state, &req, t, prior)?;
        let next = format!("/oauth/authorize?request_id={sealed}");
        let mut login = url::form_urlencoded::Serializer::new(String::new());
        login.append_pair("next", &next);
        if let Some(hint) = &req.login_hint {
            login.append_pair("login_hint", hint);
        }
        return Ok(Redirect::to(&format!("/login?{}", login.finish())).into_response());
    };
    // `acr_values=urn:logi:acr:mfa` (SPEC "End users"): a session with one factor takes the
    // second step first (or enrols one), and comes back with the same request.
    if req.requires_mfa && !Amr::parse(&current.session.amr).is_mfa() {
        if prompt("none") {
            return Err(redirect_error_of(OAuthError::new(
                ErrorCode::InteractionRequired,
                "the requested acr needs a second factor",
            )));
        }
        let (created_at, prior_session) = match resumed {
            Some(r) => (r.created_at, r.prior_session),
            None => (t, None),
        };
        let sealed = seal_pending(state, &req, created_at, prior_session)?;
        let next = format!("/oauth/authorize?request_id={sealed}");
        return Ok(Redirect::to(&super::mfa::step_up_path(&next)).into_response());
    }
    let remembered = may_reuse_consent && consented;
    if !remembered || prompt("consent") {
        if prompt("none") {
            return Err(redirect_error_of(OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user has not consented",
            )));
        }
        return consent_page(state, headers, &req, &current.user, t).await;
    }
    finish(state, &req, &current, t).await
}

async fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    req: &ValidRequest,
    user: &User,
    t: i64,
) -> Result<Response, AuthorizeError> {
    let id = store_pending(state, req, Some(&user.id), t).await?;
    let csrf = Csrf::for_request(state, headers);
    let redirect_host = shown_host(&req.redirect_uri);
    let words = audience::consent_words(&req.apis, &req.resources, &req.scopes);
    let owner = store::users::by_id(&state.store, &req.app.owner_id)
        .await?
        .map(|u| u.email);
    // "Not you?": sign out, then sign in again and come back to this same request.
    let again = format!(
        "/oauth/authorize?request_id={}",
        seal_pending(state, req, t, None)?
    );
    let switch_next = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &again)
            .finish()
    );
    let body = render(
        "consent.html",
        context! {
            client_name => &req.app.client_name,
            owner,
            verified => req.app.verified,
            switch_next,
            scopes => words.scopes,
            apis => words.apis,
            email => &user.email,
            redirect_host,
            csrf_token => &csrf.token,
            action => "/oauth/consent",
            hidden => vec![("request_id", id)],
        },
    )
    .map_err(|e| AuthorizeError::Fatal(e.message))?;
    Ok(csrf.apply(html(StatusCode::OK, body)))
}

/// Issues the code and sends the browser back to the client.
async fn finish(
    state: &AppState,
    req: &ValidRequest,
    current: &CurrentUser,
    t: i64,
) -> Result<Response, AuthorizeError> {
    let ttl = state.config.authorization_code_ttl_seconds as i64;
    let signed_in = authorize::SignedIn {
        session: &current.session,
        user: &current.user,
        generation: current.generation,
    };
    let code = authorize::issue_code(&state.store, &state.keys, req, &signed_in, t, ttl).await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", state.config.issuer.as_str()));
    Ok(Redirect::to(&authorize::redirect_with(&req.redirect_uri, &params)).into_response())
}

async fn consent(
    State(state): State<AppState>,
    current: Option<CurrentUser>,
    CsrfForm(params): CsrfForm,
) -> Result<Response, PageError> {
    let Some(current) = current else {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Signed out",
            "Sign in again and restart from the application.",
        ));
    };
    let t = state.clock.now();
    let expired = || {
        PageError::bad_request("This consent request has expired or was already answered. Go back to the application and start again.")
    };
    let id = params.get("request_id").ok_or_else(expired)?;
    let pending = store::oauth::take_pending(&state.store, id, &current.user.id, t)
        .await?
        .ok_or_else(expired)?;
    let stored: AuthorizeParams =
        serde_json::from_str(&pending.params).map_err(PageError::internal)?;
    // Validate again: the application may have changed while the page was open.
    let req = match authorize::validate(&state.store, stored).await {
        Ok(r) => r,
        Err(e) => return Ok(authorize_error(&state, e)),
    };
    match params.get("decision") {
        Some("allow") => {
            store::oauth::remember_consent(
                &state.store,
                &current.user.id,
                &req.app.id,
                &audience::consent_key(&req.scopes, &req.resources),
                t,
            )
            .await?;
            match finish(&state, &req, &current, t).await {
                Ok(r) => Ok(r),
                Err(e) => Ok(authorize_error(&state, e)),
            }
        }
        Some("deny") => Ok(redirect_error(
            &state,
            &req.redirect_uri,
            req.state.as_deref(),
            &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        )),
        _ => Err(PageError::bad_request("decision must be allow or deny")),
    }
}

// ---------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------

/// `Authorization: Basic` credentials, form-decoded (RFC 6749 §2.3.1). `Err` when the header is
/// present but malformed.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        OAuthError::invalid_client("malformed HTTP Basic credentials").with_basic_challenge(true)
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(
            OAuthError::invalid_client("unsupported authentication scheme")
                .with_basic_challenge(true),
        );
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(malformed)
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    // NUL and other control characters never reach a query (PostgreSQL cannot store NUL).
    if id.chars().chain(secret.chars()).any(char::is_control) {
        return Err(OAuthError::invalid_request(
            "client credentials contain a control character",
        ));
    }
    Ok(Some((id, secret)))
}

/// What the protocol code needs from the state, at time `t`.
fn context(state: &AppState, t: i64, dpop_jkt: Option<String>, target: Target) -> TokenContext<'_> {
    TokenContext {
        store: &state.store,
        keys: &state.keys,
        config: &state.config,
        keyring: &state.keyring,
        now: t,
        dpop_jkt,
        target,
    }
}

/// What a token request may address: the client owner's APIs and its one `resource` (RFC 8707
/// allows several, for a token with several audiences; logi issues one audience per token).
async fn target(
    state: &AppState,
    app: &store::applications::Application,
    params: &Params,
) -> Result<Target, ApiError> {
    let mut named = params.get_all("resource");
    if named.len() > 1 {
        return Err(OAuthError::invalid_target(
            "one resource per token request: each access token is for one API",
        )
        .into());
    }
    Ok(Target {
        apis: store::apis::for_owner(&state.store, &app.owner_id).await?,
        requested: named.pop(),
    })
}

/// A form request from a client to `/oauth/token`, `/oauth/revoke`, `/oauth/introspect` or
/// `/oauth/device_authorization`: parsed (no repeated parameters), then the client
/// authenticated per the policy module.
async fn client_request(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    cors: &CorsClient,
    endpoint: &str,
) -> Result<(std::sync::Arc<store::applications::Application>, Params), ApiError> {
    let params = super::extract::form_params(headers, body)?;
    let app = authenticate_client(state, headers, &params, cors, endpoint).await?;
    Ok((app, params))
}

/// Authenticates the calling client per the policy module.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    cors: &CorsClient,
    endpoint: &str,
) -> Result<std::sync::Arc<store::applications::Application>, ApiError> {
    let creds = PresentedCredentials {
        basic: basic_credentials(headers)?,
        client_id_param: params.get("client_id").map(String::from),
        client_secret_param: params.get("client_secret").map(String::from),
        assertion_type: params.get("client_assertion_type").map(String::from),
        assertion: params.get("client_assertion").map(String::from),
    };
    let client_id = creds.client_id()?;
    let tried_basic = creds.basic.is_some();
    let app = store::applications::by_client_id(&state.store, &client_id)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_client("unknown client").with_basic_challenge(tried_basic)
        })?;
    // The request is for this client from here on, even when its authentication fails.
    cors.set(&app.cors_origins);
    let t = state.clock.now();
    // A key-based client's keys for this assertion: inline, or from its jwks_uri (cached).
    let client_keys = state
        .key_sets
        .for_client(&app, creds.assertion.as_deref(), t)
        .await;
    // An assertion may name the issuer or the endpoint it was sent to (RFC 7523 §3, OIDC Core §9).
    let ctx = policy::AssertionContext {
        issuer: &state.config.issuer,
        endpoint,
        now: t,
        client_keys: client_keys
            .as_ref()
            .map(|r| r.as_deref().map_err(String::as_str)),
    };
    if let Some(assertion) = policy::authenticate_client(&app, &creds, &state.keys, &ctx)? {
        // Single use, in every process, until it expires.
        let key = state.keys.hash_secret(&format!(
            "client_assertion\0{}\0{}",
            app.client_id, assertion.jti
        ));
        if !store::oauth::remember_jti(&state.store, &key, assertion.exp).await? {
            return Err(
                OAuthError::invalid_client("client_assertion replayed (jti already used)").into(),
            );
        }
    }
    Ok(app)
}

async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    cors: CorsClient,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (app, params) = client_request(&state, &headers, &body, &cors, "/oauth/token").await?;
    let request = TokenRequest::parse(&params)?;
    policy::check_grant_allowed(&app, request.grant_type())?;
    let t = state.clock.now();
    let proof = dpop_proof(&state, &headers, "POST", "/oauth/token", t).await?;
    policy::check_dpop_required(&app, proof.is_some())?;
    let used_dpop = proof.is_some();
    let target = target(&state, &app, &params).await?;
    let ctx = context(&state, t, proof.map(|p| p.jkt), target);
    let response = match &request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            grants::authorization_code::exchange(
                &ctx,
                &app,
                code,
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
            )
            .await?
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => grants::refresh_token::refresh(&ctx, &app, refresh_token, scope.as_deref()).await?,
        TokenRequest::ClientCredentials { scope } => {
            grants::client_credentials::issue(&ctx, &app, scope.as_deref())?
        }
        TokenRequest::DeviceCode { device_code } => {
            grants::device_code::poll(&ctx, &app, device_code).await?
        }
    };
    let mut response = no_store(Json(response).into_response());
    if used_dpop {
        if let Ok(v) = HeaderValue::from_str(&dpop::current_nonce(&state.keys, t)) {
            response.headers_mut().insert("dpop-nonce", v);
        }
    }
    Ok(response)
}

/// The request's `DPoP` proof, validated for `method` on `path` (RFC 9449 §4.3); `None` when
/// the request has none. More than one `DPoP` header is invalid.
async fn dpop_proof(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    t: i64,
) -> Result<Option<dpop::Proof>, ApiError> {
    let mut values = headers.get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let bad = |d: String| ApiError::from(OAuthError::new(ErrorCode::InvalidDpopProof, d));
    if values.next().is_some() {
        return Err(bad("exactly one DPoP header is allowed".into()));
    }
    let proof = first
        .to_str()
        .map_err(|_| bad("malformed DPoP header".into()))?;
    let url = format!("{}{}", state.config.issuer, path);
    let nonces = dpop::NoncePolicy {
        keys: &state.keys,
        required: state.config.dpop_nonce_required,
    };
    match dpop::verify(&state.store, proof, method, &url, None, &nonces, t).await {
        Ok(p) => Ok(Some(p)),
        Err(dpop::DpopError::Invalid(d)) => Err(bad(d)),
        Err(dpop::DpopError::UseNonce) => {
            let mut e = ApiError::from(OAuthError::new(
                ErrorCode::UseDpopNonce,
                "use the nonce in the DPoP-Nonce header in the proof",
            ));
            e.dpop_nonce = Some(dpop::current_nonce(&state.keys, t));
            Err(e)
        }
        Err(dpop::DpopError::Store(e)) => Err(e.into()),
    }
}

/// `POST /oauth/revoke` (RFC 7009): client authentication per the policy module; always 200
/// for a well-formed request by an authenticated client.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    cors: CorsClient,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (app, params) = client_request(&state, &headers, &body, &cors, "/oauth/revoke").await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    revocation::revoke(
        &context(&state, state.clock.now(), None, Target::none()),
        &app,
        token,
    )
    .await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// `POST /oauth/introspect` (RFC 7662): confidential clients only, their own tokens only.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // No CORS here: a browser never introspects or starts a device flow.
    let (app, params) = client_request(
        &state,
        &headers,
        &body,
        &CorsClient::default(),
        "/oauth/introspect",
    )
    .await?;
    policy::may_introspect(&app)?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // A resource server may introspect the tokens of its developer's APIs.
    let target = Target {
        apis: store::apis::for_owner(&state.store, &app.owner_id).await?,
        requested: None,
    };
    let body = revocation::introspect(
        &context(&state, state.clock.now(), None, target),
        &app,
        token,
    )
    .await?;
    Ok(no_store(Json(body).into_response()))
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1).
async fn device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // No CORS here: a browser never introspects or starts a device flow.
    let (app, params) = client_request(
        &state,
        &headers,
        &body,
        &CorsClient::default(),
        "/oauth/device_authorization",
    )
    .await?;
    let target = Target {
        apis: store::apis::for_owner(&state.store, &app.owner_id).await?,
        requested: None,
    };
    let ctx = context(&state, state.clock.now(), None, target);
    let answer = grants::device_code::authorize_device(
        &ctx,
        &app,
        params.get("scope"),
        &params.get_all("resource"),
    )
    .await?;
    Ok(no_store(Json(answer).into_response()))
}

async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let set = crate::keys::jwks(&state.store, state.clock.now()).await?;
    let mut r = Json(set).into_response();
    // Relying parties may cache the JWKS this long: key rotation publishes a new key at least
    // `key_activation_delay_seconds` (by default the same) before it signs.
    let cache = format!("public, max-age={}", state.config.jwks_max_age_seconds);
    if let Ok(v) = HeaderValue::from_str(&cache) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    Ok(r)
}

/// Where a page says the browser goes back to: the redirect URI's origin, scheme, host and
/// port (`http://127.0.0.1:9000`, `https://app.example`), so a person can tell a loopback
/// port or plain http apart; for a private-use URI such as `com.example.app:/cb`, its scheme.
fn shown_host(redirect_uri: &str) -> String {
    let Ok(u) = url::Url::parse(redirect_uri) else {
        return String::new();
    };
    match u.host_str() {
        Some(host) => match u.port() {
            Some(port) => format!("{}://{host}:{port}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        },
        None => format!("{}:", u.scheme()),
    }
}

/// The name of the application a login or signup page's `next` continues to (a sealed
/// authorization request), so the page can say "Sign in to continue to …".
pub(super) async fn continuing_to(state: &AppState, next: Option<&str>) -> Option<String> {
    let query = next?.strip_prefix("/oauth/authorize?")?;
    let sealed = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "request_id")
        .map(|(_, v)| v.into_owned())?;
    let (params, _) = open_pending(state, &sealed, state.clock.now())?;
    let app = store::applications::by_client_id(&state.store, params.client_id.as_deref()?)
        .await
        .ok()??;
    Some(app.client_name.clone())
}

#[cfg(test)]
mod tests;
