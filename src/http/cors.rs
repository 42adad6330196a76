//! CORS, exactly as SPEC "Browser applications (CORS)" says.
//!
//! - Public documents (discovery, JWKS): `Access-Control-Allow-Origin: *` ([`any_origin`]).
//! - Client endpoints (`/oauth/token`, `/oauth/revoke`, `/oauth/userinfo`): a preflight is
//!   answered for an `Origin` that *some* application allows ([`preflight`]: preflights name no
//!   client); the real response carries `Access-Control-Allow-Origin: <origin>` only when the
//!   origin is allowed for the client the request is for. The handler names that client through
//!   [`CorsClient`] once it knows it, and [`for_client`] writes the headers afterwards, on
//!   success and error responses alike. Never `*`, never `Allow-Credentials`.
//! - Everything else (introspection, the developer API, pages): no CORS headers.
//!
//! Which origins a client allows is the policy's decision (`oauth::policy::cors_origins`), taken
//! when the application is written and stored with it.

use std::sync::{Arc, OnceLock};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{error::ApiError, AppState};

const ALLOW_HEADERS: &str = "authorization, content-type, dpop";
const EXPOSE_HEADERS: &str = "DPoP-Nonce, WWW-Authenticate";
/// How long a browser may cache a preflight answer (seconds).
const MAX_AGE: &str = "600";

/// Middleware for public documents: anyone may read them from any origin.
pub async fn any_origin(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The `Origin` of a request, when it sent one that can be a header value again.
fn origin(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers.get(header::ORIGIN).filter(|v| v.to_str().is_ok())
}

/// An `OPTIONS` preflight for a client endpoint that accepts `methods`: `204`, with the CORS
/// headers only for an origin some application allows.
pub async fn preflight(
    state: &AppState,
    headers: &HeaderMap,
    methods: &'static str,
) -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    let Some(origin) = origin(headers) else {
        return Ok(response);
    };
    let allowed = crate::store::applications::allowed_origins(&state.store).await?;
    if origin.to_str().is_ok_and(|o| allowed.contains(o)) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
    }
    Ok(response)
}

/// The preflight handler for an endpoint that accepts only `POST`.
pub async fn preflight_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    preflight(&state, &headers, "POST").await
}

/// The preflight handler for an endpoint that accepts `GET` and `POST`.
pub async fn preflight_get_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    preflight(&state, &headers, "GET, POST").await
}

/// Where a handler records which origins the request's client allows. Requests without an
/// `Origin` get a slot nobody reads.
#[derive(Clone, Default)]
pub struct CorsClient {
    origins: Arc<OnceLock<Vec<String>>>,
    /// The request sent an `Origin`: someone will read what the handler records.
    wanted: bool,
}

impl CorsClient {
    /// Whether the request came from a browser page (sent `Origin`): handlers skip looking up
    /// the client's origins when nobody will read them.
    pub fn wanted(&self) -> bool {
        self.wanted
    }

    /// The request is for a client that allows these origins.
    pub fn set(&self, origins: &[String]) {
        if self.wanted {
            let _ = self.origins.set(origins.to_vec());
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CorsClient {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CorsClient>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Middleware for client endpoints: the real response gets the CORS headers when the request's
/// `Origin` is allowed for the client the handler named.
pub async fn for_client(mut req: Request, next: Next) -> Response {
    let Some(origin) = origin(req.headers()).cloned() else {
        return next.run(req).await;
    };
    let slot = CorsClient {
        origins: Arc::default(),
        wanted: true,
    };
    req.extensions_mut().insert(slot.clone());
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    if !h.get_all(header::VARY).iter().any(|v| v == "origin") {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    let allowed = slot.origins.get().is_some_and(|origins| {
        origin
            .to_str()
            .is_ok_and(|o| origins.iter().any(|a| a == o))
    });
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}
