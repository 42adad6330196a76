//! OpenID Connect endpoints: discovery, `/oauth/userinfo`, `/oauth/logout`.

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Json, Router,
};
use minijinja::context;

use super::{
    cors::{self, CorsClient},
    error::{no_store, PageError},
    extract::{self, Params},
    forms::CurrentUser,
    pages::{self, html, render, Csrf},
    AppState,
};
use crate::{
    accounts::sessions,
    oauth::authorize::redirect_with,
    oauth::{
        bearer::{self, BearerError, BearerErrorCode, Presented},
        dpop,
    },
    oidc::{discovery, userinfo},
    store,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery_document).layer(middleware::from_fn(cors::any_origin)),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery_document).layer(middleware::from_fn(cors::any_origin)),
        )
        .route(
            "/oauth/userinfo",
            get(userinfo)
                .post(userinfo)
                .options(cors::preflight_get_post)
                .layer(middleware::from_fn(cors::for_client)),
        )
        .route("/oauth/logout", get(logout).post(logout))
}

async fn discovery_document(State(state): State<AppState>) -> Response {
    let mut r = Json(discovery::document(&state.config)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// RFC 6750 §3 / RFC 9449 §7.1 error responses with `WWW-Authenticate: Bearer …` or `DPoP …`.
fn bearer_error(e: BearerError, scheme: &str) -> Response {
    let (status, challenge) = match e {
        BearerError::Missing => (StatusCode::UNAUTHORIZED, format!("{scheme} realm=\"logi\"")),
        BearerError::Store(e) => return super::error::ApiError::from(e).into_response(),
        BearerError::Error(code, description) => {
            let status = match code {
                BearerErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                BearerErrorCode::InvalidToken
                | BearerErrorCode::InvalidDpopProof
                | BearerErrorCode::UseDpopNonce => StatusCode::UNAUTHORIZED,
                BearerErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            };
            let description = description.replace(['"', '\\'], "");
            let mut c = format!(
                "{scheme} realm=\"logi\", error=\"{}\", error_description=\"{description}\"",
                code.as_str()
            );
            if scheme == "DPoP" {
                c.push_str(&format!(
                    ", algs=\"{}\"",
                    crate::oauth::dpop::ALGS.join(" ")
                ));
            }
            (status, c)
        }
    };
    let mut r = no_store(status.into_response());
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    cors: CorsClient,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let dpop_headers: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let (presented, scheme) = match authorization.and_then(|v| v.split_once(' ')) {
        None if authorization.is_none() => return bearer_error(BearerError::Missing, "Bearer"),
        Some((s, token)) if s.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            (Presented::Bearer(token.trim()), "Bearer")
        }
        Some((s, token)) if s.eq_ignore_ascii_case("dpop") && !token.trim().is_empty() => {
            if dpop_headers.len() > 1 {
                let e = BearerError::Error(
                    BearerErrorCode::InvalidDpopProof,
                    "exactly one DPoP header is allowed".into(),
                );
                return bearer_error(e, "DPoP");
            }
            (
                Presented::Dpop {
                    token: token.trim(),
                    proof: dpop_headers.first().copied(),
                },
                "DPoP",
            )
        }
        _ => {
            let e = BearerError::Error(
                BearerErrorCode::InvalidRequest,
                "expected Authorization: Bearer or DPoP".into(),
            );
            return bearer_error(e, "Bearer");
        }
    };
    let url = format!("{}/oauth/userinfo", state.config.issuer);
    let t = state.clock.now();
    let request = bearer::ResourceRequest {
        method: method.as_str(),
        url: &url,
        nonces: dpop::NoncePolicy {
            keys: &state.keys,
            required: state.config.dpop_nonce_required,
        },
        now: t,
    };
    let token = match presented {
        Presented::Bearer(token) | Presented::Dpop { token, .. } => token,
    };
    let result = async {
        let verified = bearer::authorize_request(
            &state.store,
            &state.keyring,
            &state.config,
            presented,
            &request,
        )
        .await;
        if cors.wanted() {
            // The access token's client decides which origins may read the answer, a refusal
            // included: a browser app must see `use_dpop_nonce` and `invalid_token` (expired,
            // revoked) to react. A token logi signed names its client even then.
            let client_id = match &verified {
                Ok(v) => Some(v.claims.client_id.clone()),
                Err(_) => bearer::decode_access_token(&state.keyring, &state.config, token, None)
                    .map(|claims| claims.client_id),
            };
            if let Some(id) = client_id {
                if let Some(app) = store::applications::by_client_id(&state.store, &id).await? {
                    cors.set(&app.cors_origins);
                }
            }
        }
        userinfo::claims_for(&verified?)
    }
    .await;
    let mut response = match result {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) => bearer_error(e, scheme),
    };
    // RFC 9449 §9: a DPoP client learns the nonce to use next from any response.
    if scheme == "DPoP" {
        if let Ok(v) = HeaderValue::from_str(&dpop::current_nonce(&state.keys, t)) {
            response.headers_mut().insert("dpop-nonce", v);
        }
    }
    response
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, PageError> {
    let params = if method == Method::POST {
        super::extract::form_params(&headers, &body)
    } else {
        Params::parse(uri.query().unwrap_or_default().as_bytes()).map_err(Into::into)
    }
    .map_err(|e: super::extract::BadInput| {
        PageError::new(e.status, "Bad request", e.description)
    })?;

    // The hint names the client and the user; an expired hint is still a fine hint.
    let hint = match params.get("id_token_hint") {
        Some(token) => Some(verify_id_token_hint(&state, token).ok_or_else(|| {
            PageError::bad_request("The id_token_hint is not an ID token issued by logi.")
        })?),
        None => None,
    };
    let client_id = match (hint.as_ref().map(|h| h.0.as_str()), params.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return Err(PageError::bad_request(
                "client_id does not match the id_token_hint.",
            ))
        }
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b.map(String::from),
    };
    let app = match &client_id {
        Some(id) => Some(
            store::applications::by_client_id(&state.store, id)
                .await?
                .ok_or_else(|| PageError::bad_request("Unknown client_id."))?,
        ),
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &app {
            Some(app) if app.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                Some(uri.to_string())
            }
            Some(_) => {
                return Err(PageError::bad_request(
                    "This post_logout_redirect_uri is not registered for the application.",
                ))
            }
            None => {
                return Err(PageError::bad_request(
                    "post_logout_redirect_uri needs an id_token_hint or a client_id.",
                ))
            }
        },
    };
    let current = CurrentUser::of(&state, &headers)
        .await?
        .map(|c| (c.session, c.user));
    let confirmed = method == Method::POST && params.get("confirm") == Some("yes");
    if confirmed {
        pages::verify_csrf(&state, &headers, params.get("csrf_token"))?;
    }
    let hint_matches_session = match (&hint, &current) {
        (Some((_, sub)), Some((_, user))) => *sub == user.id,
        (Some(_), None) => true,
        _ => false,
    };
    if !confirmed && !hint_matches_session && current.is_some() {
        let csrf = Csrf::for_request(&state, &headers);
        let body = render(
            "logout.html",
            context! {
                csrf_token => &csrf.token,
                client_name => app.as_ref().map(|a| a.client_name.clone()),
                client_id => client_id,
                email => current.as_ref().map(|(_, u)| u.email.clone()),
                post_logout_redirect_uri => &redirect,
                state => params.get("state"),
            },
        )?;
        return Ok(csrf.apply(html(StatusCode::OK, body)));
    }
    if let Some(cookie) = extract::cookie(&headers, sessions::cookie_name(&state.config)) {
        sessions::end_sessions(
            &state.store,
            sessions::Ending::Cookie(&cookie),
            state.clock.now(),
        )
        .await?;
    }
    let mut response = match redirect {
        Some(uri) => {
            let state_param: Vec<(&str, &str)> = params
                .get("state")
                .map(|s| vec![("state", s)])
                .unwrap_or_default();
            Redirect::to(&redirect_with(&uri, &state_param)).into_response()
        }
        None => Redirect::to("/?signed_out=1").into_response(),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        pages::cookie_header(&state, sessions::cookie_name(&state.config), "", Some(0)),
    );
    Ok(response)
}

/// (client_id, sub) of an ID token logi signed; expiry is not checked (a hint may be old).
fn verify_id_token_hint(state: &AppState, token: &str) -> Option<(String, String)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let key = state.keyring.verifier(header.kid.as_deref()?)?;
    let mut validation = jsonwebtoken::Validation::new(key.alg.jsonwebtoken());
    validation.set_issuer(&[&state.config.issuer]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    let aud = match &claims["aud"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.first()?.as_str()?.to_string(),
        _ => return None,
    };
    Some((aud, claims["sub"].as_str()?.to_string()))
}
