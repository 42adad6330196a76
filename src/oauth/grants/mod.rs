//! The token endpoint's grants: one module per grant type. A token request is parsed into
//! [`TokenRequest`] once; an unknown `grant_type` fails here and nowhere else.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;

use super::{error::OAuthError, policy};
use crate::{http::extract::Params, keys::KeyError, store::StoreError};

/// The grant types `/oauth/token` implements: [`TokenRequest::parse`] accepts exactly these.
pub const SUPPORTED: &[&str] = &[
    policy::GRANT_AUTHORIZATION_CODE,
    policy::GRANT_REFRESH_TOKEN,
    policy::GRANT_CLIENT_CREDENTIALS,
    policy::GRANT_DEVICE_CODE,
];

pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
    ClientCredentials {
        scope: Option<String>,
    },
    DeviceCode {
        device_code: String,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => policy::GRANT_AUTHORIZATION_CODE,
            TokenRequest::RefreshToken { .. } => policy::GRANT_REFRESH_TOKEN,
            TokenRequest::ClientCredentials { .. } => policy::GRANT_CLIENT_CREDENTIALS,
            TokenRequest::DeviceCode { .. } => policy::GRANT_DEVICE_CODE,
        }
    }

    pub fn parse(params: &Params) -> Result<TokenRequest, OAuthError> {
        let required = |name: &str| {
            params
                .get(name)
                .map(String::from)
                .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
        };
        let optional = |name: &str| params.get(name).map(String::from);
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some(policy::GRANT_AUTHORIZATION_CODE) => Ok(TokenRequest::AuthorizationCode {
                code: required("code")?,
                redirect_uri: optional("redirect_uri"),
                code_verifier: optional("code_verifier"),
            }),
            Some(policy::GRANT_REFRESH_TOKEN) => Ok(TokenRequest::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: optional("scope"),
            }),
            Some(policy::GRANT_CLIENT_CREDENTIALS) => Ok(TokenRequest::ClientCredentials {
                scope: optional("scope"),
            }),
            Some(policy::GRANT_DEVICE_CODE) => Ok(TokenRequest::DeviceCode {
                device_code: required("device_code")?,
            }),
            Some(other) => Err(OAuthError::new(
                super::error::ErrorCode::UnsupportedGrantType,
                format!("grant_type `{other}` is not supported"),
            )),
        }
    }
}

/// Why a grant failed: a protocol error for the client, or an internal failure.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("{0:?}")]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<OAuthError> for GrantError {
    fn from(e: OAuthError) -> Self {
        GrantError::OAuth(e)
    }
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> Self {
        GrantError::Store(StoreError::Database(e))
    }
}
