//! Access-token verification for logi's own resources, and `/oauth/userinfo` (OIDC Core §5.3).

use jsonwebtoken::{decode, decode_header, Validation};
use serde_json::{Map, Value};

use crate::{
    config::Config,
    keys::KeyRing,
    oauth::{scope, tokens::AccessClaims},
    store::{self, Store, StoreError},
};

/// RFC 6750 §3.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerErrorCode {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

#[derive(Debug)]
pub enum BearerError {
    /// No credentials at all: answer with a bare challenge (RFC 6750 §3.1).
    Missing,
    Error(BearerErrorCode, String),
    Store(StoreError),
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> Self {
        BearerError::Store(e)
    }
}

fn invalid_token(d: &str) -> BearerError {
    BearerError::Error(BearerErrorCode::InvalidToken, d.to_string())
}

/// Verifies an access token: signature by a published logi key, `typ: at+jwt`, `iss`, `aud`,
/// expiry, and that its grant (and so its refresh-token family) is not revoked.
pub async fn verify_access_token(
    store: &Store,
    keyring: &KeyRing,
    config: &Config,
    token: &str,
) -> Result<AccessClaims, BearerError> {
    let header = decode_header(token).map_err(|_| invalid_token("malformed token"))?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(invalid_token("not an access token"));
    }
    let kid = header
        .kid
        .ok_or_else(|| invalid_token("token has no kid"))?;
    let key = keyring
        .verifier(&kid)
        .ok_or_else(|| invalid_token("unknown signing key"))?;
    if key.alg.jsonwebtoken() != header.alg {
        return Err(invalid_token("algorithm does not match the key"));
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.issuer]);
    validation.leeway = 0;
    let claims = decode::<AccessClaims>(token, &key.decoding, &validation)
        .map_err(|_| invalid_token("invalid or expired token"))?
        .claims;
    match &claims.gid {
        Some(gid) => {
            if store::oauth::active_grant(store, gid).await?.is_none() {
                return Err(invalid_token("token revoked"));
            }
        }
        // client_credentials tokens: valid while their application exists.
        None => {
            if store::applications::by_client_id(store, &claims.client_id)
                .await?
                .is_none()
            {
                return Err(invalid_token("token revoked"));
            }
        }
    }
    Ok(claims)
}

/// The userinfo response for a verified token: `sub` plus the claims its scopes allow.
pub async fn claims_for(
    store: &Store,
    claims: &AccessClaims,
) -> Result<Map<String, Value>, BearerError> {
    let scopes = scope::parse(&claims.scope).unwrap_or_default();
    if !scopes.iter().any(|s| s == "openid") || claims.gid.is_none() {
        return Err(BearerError::Error(
            BearerErrorCode::InsufficientScope,
            "the token lacks the openid scope".into(),
        ));
    }
    let user = store::users::by_id(store, &claims.sub)
        .await?
        .ok_or_else(|| invalid_token("no such user"))?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.id.clone()));
    out.extend(crate::oidc::user_claims(&user, &scopes));
    Ok(out)
}
