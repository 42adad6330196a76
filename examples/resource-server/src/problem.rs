//! Refusals as RFC 6750 §3 / RFC 9449 §7.1 say: a status, a `WWW-Authenticate` challenge with
//! the error code, and a small JSON body.

use axum::{
    http::{header::WWW_AUTHENTICATE, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// The DPoP algorithms this API accepts, announced in its challenges.
const DPOP_ALGS: &str = "ES256 ES384 RS256 PS256 EdDSA";

#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// The scope the request lacked (`insufficient_scope`).
    scope: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, error: &'static str, description: &str) -> Self {
        Problem {
            status,
            error,
            description: description.to_string(),
            scope: None,
        }
    }

    pub fn missing() -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "", "no access token")
    }

    pub fn invalid_request(d: &str) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    pub fn invalid_token(d: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
    }

    pub fn invalid_dpop_proof(d: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", d)
    }

    pub fn insufficient_scope(scope: &str) -> Self {
        let mut p = Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            &format!("this API needs the scope {scope}"),
        );
        p.scope = Some(scope.to_string());
        p
    }

    pub fn unavailable(d: &str) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            d,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut params = vec![];
        if !self.error.is_empty() {
            params.push(format!("error=\"{}\"", self.error));
            let description = self.description.replace(['"', '\\'], "'");
            params.push(format!("error_description=\"{description}\""));
        }
        if let Some(scope) = &self.scope {
            params.push(format!("scope=\"{scope}\""));
        }
        // Both schemes are offered: DPoP-bound tokens come with `DPoP`, others with `Bearer`.
        let dpop = [vec![format!("algs=\"{DPOP_ALGS}\"")], params.clone()].concat();
        let bearer = if params.is_empty() {
            "Bearer".to_string()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        let challenge = format!("DPoP {}, {bearer}", dpop.join(", "));
        let mut response = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED || self.status == StatusCode::FORBIDDEN {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}
