//! `/oauth/userinfo` (OIDC Core §5.3): the claims a verified access token may see.

use serde_json::{Map, Value};

use crate::oauth::{
    bearer::{BearerError, BearerErrorCode, Verified},
    scope,
};

/// The userinfo response for a verified token: `sub` plus the claims its scopes allow.
pub fn claims_for(token: &Verified) -> Result<Map<String, Value>, BearerError> {
    let scopes = scope::parse(&token.claims.scope).unwrap_or_default();
    let user = match &token.user {
        Some(user) if scopes.iter().any(|s| s == "openid") => user,
        _ => {
            return Err(BearerError::Error(
                BearerErrorCode::InsufficientScope,
                "the token lacks the openid scope or a user".into(),
            ))
        }
    };
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.id.clone()));
    out.extend(crate::oidc::user_claims(user, &scopes));
    Ok(out)
}
