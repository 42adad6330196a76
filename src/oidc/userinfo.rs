//! `/oauth/userinfo` (OIDC Core §5.3): the claims a verified access token may see.

use serde_json::{Map, Value};

use crate::{
    oauth::{
        bearer::{BearerError, BearerErrorCode},
        scope,
        tokens::AccessClaims,
    },
    store::{self, Store},
};

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
        .ok_or_else(|| BearerError::Error(BearerErrorCode::InvalidToken, "no such user".into()))?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.id.clone()));
    out.extend(crate::oidc::user_claims(&user, &scopes));
    Ok(out)
}
