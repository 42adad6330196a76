//! Errors as HTTP responses: JSON `{"error", "error_description"}` for APIs (RFC 6749 §5.2 shape,
//! `Cache-Control: no-store`), HTML pages for browsers. Internal failures are logged with their
//! context and shown as a generic 500 (503 when the database is unreachable): no SQL or panic
//! text reaches a client.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{
    accounts::{login::LoginError, passkeys::PasskeyError},
    store::StoreError,
};

/// `Retry-After` of every `503` (the database is unreachable): requests fail within the pool's
/// acquire timeout, and clients come back a moment later.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: i64 = 2;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<i64>,
    /// RFC 9449 §8: the nonce a DPoP client must use next.
    pub dpop_nonce: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    pub fn with_www_authenticate(mut self, value: impl Into<String>) -> Self {
        self.www_authenticate = Some(value.into());
        self
    }

    /// Logs the cause and answers a generic 500 (or 503 when the database is down).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "database unavailable");
            let mut unavailable = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "database unavailable",
            );
            unavailable.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECONDS);
            return unavailable;
        }
        Self::internal(e)
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(e) => e.into(),
            e => Self::internal(e),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        let description = e.to_string();
        match e {
            PasskeyError::Store(e) => e.into(),
            PasskeyError::Unavailable => Self::not_found(description),
            PasskeyError::Rejected => {
                Self::new(StatusCode::UNAUTHORIZED, "access_denied", description)
            }
            PasskeyError::Expired | PasskeyError::Duplicate | PasskeyError::TooMany => {
                Self::bad_request("invalid_request", description)
            }
        }
    }
}

/// Marks a response as not to be stored by any cache (RFC 6749 §5.1, RFC 6750 §3): token
/// responses, secrets shown once, and every API error.
pub fn no_store(mut r: Response) -> Response {
    let headers = r.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = no_store(
            (
                self.status,
                Json(json!({ "error": self.error, "error_description": self.description })),
            )
                .into_response(),
        );
        let headers = response.headers_mut();
        if let Some(v) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(v) = self.dpop_nonce.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert("dpop-nonce", v);
        }
        let retry_after = match self.retry_after {
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                Some(UNAVAILABLE_RETRY_AFTER_SECONDS)
            }
            r => r,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// An HTML error page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        PageError {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is missing its security token or it has expired. Go back, reload the page and try again.",
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again in a moment.",
        )
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::error!(error = %e, "database unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Please try again in a moment.",
            );
        }
        Self::internal(e)
    }
}

impl From<LoginError> for PageError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Store(e) => e.into(),
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = super::render::render_error(self.status, self.title, &self.message);
        let mut response = super::render::html(self.status, body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}
