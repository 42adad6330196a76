//! The token endpoint's grants: one module per grant type. A token request is parsed into
//! [`TokenRequest`] once; an unknown `grant_type` fails here and nowhere else.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;

use super::tokens;
use super::{error::OAuthError, policy};
use super::{
    params::Params,
    tokens::{TokenContext, TokenResponse},
};
use crate::store::{
    self,
    applications::Application,
    oauth::{Grant, Redemption},
    sessions::SessionClient,
};

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

pub use super::error::GrantError;

/// The shared tail of the code and device grants: a grant's first tokens. Signs the access
/// token, consumes the one-time credential and stores the first refresh token (if the policy
/// gives one) in one store call, then adds the ID token. `None` when a concurrent request
/// consumed the credential first; the caller decides what that means.
pub(super) async fn first_tokens(
    ctx: &TokenContext<'_>,
    app: &Application,
    grant: &Grant,
    scopes: &[String],
    redemption: Redemption<'_>,
    nonce: Option<&str>,
) -> Result<Option<TokenResponse>, GrantError> {
    let Some(user_id) = grant.user_id.as_deref() else {
        return Err(OAuthError::invalid_grant("the grant has no user").into());
    };
    // The audience is settled before the credential is consumed: a wrong `resource` costs the
    // client nothing.
    let audience = ctx.audience(&grant.resources, scopes)?;
    let (access_token, _) = ctx.access_token(app, user_id, &audience, Some(grant))?;
    // The refresh token keeps every granted scope: a later refresh may address another of the
    // grant's APIs.
    let refresh = ctx.initial_refresh_token(app, grant, scopes);
    let row = refresh.as_ref().map(|(_, row)| row);
    // OIDC Back-Channel Logout: an ID token issued from a browser session (its `sid`) makes the
    // session remember this client, to tell it when the session ends.
    let seen = grant
        .sid
        .as_ref()
        .filter(|_| tokens::issues_id_token(scopes))
        .map(|sid| SessionClient {
            sid: sid.clone(),
            application_id: app.id.clone(),
            user_id: user_id.to_string(),
        });
    if !store::oauth::redeem(ctx.store, redemption, row, seen.as_ref(), ctx.now).await? {
        return Ok(None);
    }
    respond_first(
        ctx,
        app,
        grant,
        scopes,
        &audience,
        access_token,
        refresh.map(|(token, _)| token),
        nonce,
    )
    .await
    .map(Some)
}

/// The response carrying a grant's first tokens: `access_token`, the stored `refresh_token` if
/// any, and an ID token when `openid` was granted.
#[allow(clippy::too_many_arguments)]
async fn respond_first(
    ctx: &TokenContext<'_>,
    app: &Application,
    grant: &Grant,
    scopes: &[String],
    audience: &tokens::Audience<'_>,
    access_token: String,
    refresh_token: Option<String>,
    nonce: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let mut response = ctx.response(access_token, audience, refresh_token);
    response.id_token = ctx
        .id_token(app, grant, scopes, nonce, &response.access_token)
        .await?;
    Ok(response)
}
