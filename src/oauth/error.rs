//! OAuth error codes: the only source of `error` strings on the OAuth endpoints.

/// RFC 6749 §4.1.2.1 / §5.2, RFC 7636 and OpenID Connect Core §3.1.2.6 error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter.
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong or forbidden credentials).
    InvalidClient,
    /// Code or refresh token invalid, expired, revoked, reused, or issued to another client.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    /// Requested scope unknown, not registered, or wider than granted.
    InvalidScope,
    /// RFC 8707 §2: the `resource` is unknown, not usable by this client, or not granted.
    InvalidTarget,
    /// The user (or logi) denied the request.
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 9449 §5: missing or invalid DPoP proof at the token endpoint.
    InvalidDpopProof,
    /// RFC 9449 §8: retry with the nonce from the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 8628 §3.5 device flow polling answers.
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// The client tried HTTP Basic: a 401 must carry `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn with_basic_challenge(mut self, tried_basic: bool) -> Self {
        self.basic_challenge = tried_basic;
        self
    }
}

/// Why a grant failed: a protocol error for the client, or an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("{0:?}")]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
}

impl From<OAuthError> for GrantError {
    fn from(e: OAuthError) -> Self {
        GrantError::OAuth(e)
    }
}
