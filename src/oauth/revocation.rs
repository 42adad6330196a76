//! Token revocation (RFC 7009) and introspection (RFC 7662) for an authenticated client.
//!
//! Both only ever act on the caller's own tokens: another client's token is treated as unknown
//! (revocation does nothing and answers 200; introspection answers `{"active": false}`). One
//! exception for introspection: a resource server, registered as a confidential client by the
//! developer of a protected API, may introspect the access tokens issued for that API (their
//! `aud` is one of its developer's APIs, passed in as `ctx.target.apis`).

use serde_json::{json, Value};

use super::{bearer, scope, tokens::TokenContext};
use crate::{
    accounts::amr::Amr,
    store::{self, applications::Application, StoreError},
};

/// RFC 7009 §2.1: revokes `token` if it is one of `app`'s. A refresh token takes its whole
/// family (the grant) with it; so does an access token that belongs to a grant. Unknown,
/// foreign and already revoked tokens are silently accepted (§2.2).
pub async fn revoke(
    ctx: &TokenContext<'_>,
    app: &Application,
    token: &str,
) -> Result<(), StoreError> {
    let (store, keys, keyring, config, now) =
        (ctx.store, ctx.keys, ctx.keyring, ctx.config, ctx.now);
    if let Some(row) = store::oauth::refresh(store, &keys.hash_secret(token)).await? {
        if row.application_id == app.id {
            store::oauth::revoke_grant(store, &row.grant_id, now).await?;
            tracing::info!(target: "logi::security", client_id = %app.client_id, grant = %row.grant_id, "refresh token revoked with its family");
        }
        return Ok(());
    }
    if let Some(claims) = bearer::decode_access_token(keyring, config, token, Some(ctx.now)) {
        if claims.client_id != app.client_id {
            return Ok(());
        }
        match &claims.gid {
            Some(gid) => store::oauth::revoke_grant(store, gid, now).await?,
            None => store::oauth::revoke_access_token(store, &claims.jti, claims.exp).await?,
        }
        tracing::info!(target: "logi::security", client_id = %app.client_id, jti = %claims.jti, "access token revoked");
    }
    Ok(())
}

/// RFC 7662 §2.2: metadata of an active token of `app` (or, for an access token, one issued for
/// one of `ctx.target.apis`), or exactly `{"active": false}`.
pub async fn introspect(
    ctx: &TokenContext<'_>,
    app: &Application,
    token: &str,
) -> Result<Value, StoreError> {
    let (store, keys, keyring, config, now) =
        (ctx.store, ctx.keys, ctx.keyring, ctx.config, ctx.now);
    let inactive = json!({ "active": false });
    if let Some((row, grant)) =
        store::oauth::refresh_and_grant(store, &keys.hash_secret(token)).await?
    {
        if row.application_id != app.id
            || row.used_at.is_some()
            || row.expires_at <= now
            || grant.revoked_at.is_some()
        {
            return Ok(inactive);
        }
        let scopes = scope::parse(&row.scope).unwrap_or_default();
        let mut out = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": scopes.join(" "),
            "client_id": app.client_id,
            "sub": grant.user_id.clone().unwrap_or_else(|| app.client_id.clone()),
            "iss": config.issuer,
            "iat": row.created_at,
            "exp": row.expires_at,
        });
        // How the grant's user authenticated, as its ID tokens say.
        let amr = Amr::parse(&grant.amr);
        if !amr.is_empty() {
            out["auth_time"] = grant.auth_time.into();
            out["acr"] = amr.acr().into();
            out["amr"] = amr.claim().into();
        }
        return Ok(out);
    }
    match bearer::verify_access_token(store, keyring, config, token, ctx.now)
        .await
        .map(|v| v.claims)
    {
        Ok(claims)
            if claims.client_id == app.client_id
                || ctx.target.apis.iter().any(|a| a.identifier == claims.aud) =>
        {
            let mut out = json!({
                "active": true,
                "token_type": if claims.cnf.is_some() { "DPoP" } else { "Bearer" },
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "iss": claims.iss,
                "aud": claims.aud,
                "iat": claims.iat,
                "exp": claims.exp,
                "jti": claims.jti,
            });
            if let (Some(acr), Some(amr)) = (claims.acr, claims.amr) {
                out["auth_time"] = claims.auth_time.into();
                out["acr"] = acr.into();
                out["amr"] = amr.into();
            }
            if let Some(cnf) = claims.cnf {
                out["cnf"] = json!({ "jkt": cnf.jkt });
            }
            Ok(out)
        }
        Ok(_) => Ok(inactive),
        Err(bearer::BearerError::Store(e)) => Err(e),
        Err(_) => Ok(inactive),
    }
}
