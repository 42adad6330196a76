//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection
//! (OAuth 2.0 Security BCP §4.14.2).

use super::GrantError;
use crate::{
    oauth::{
        error::OAuthError,
        scope,
        tokens::{TokenContext, TokenResponse},
    },
    store::{self, applications::Application},
};

pub async fn refresh(
    ctx: &TokenContext<'_>,
    app: &Application,
    presented: &str,
    requested_scope: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let invalid = |d: &str| GrantError::OAuth(OAuthError::invalid_grant(d));
    let hash = ctx.keys.hash_secret(presented);
    let Some((row, grant)) = store::oauth::refresh_and_grant(ctx.store, &hash).await? else {
        return Err(invalid("unknown refresh token"));
    };
    if row.application_id != app.id {
        return Err(invalid("refresh token was issued to another client"));
    }
    if row.used_at.is_some() {
        return Err(reuse(ctx, app, &row.grant_id).await);
    }
    if row.expires_at <= ctx.now {
        return Err(invalid("refresh token expired"));
    }
    // RFC 9449 §5.0: a bound refresh token is only usable with a proof from the same key.
    if let Some(bound) = &row.dpop_jkt {
        if ctx.dpop_jkt.as_deref() != Some(bound.as_str()) {
            return Err(invalid(
                "this refresh token is bound to a DPoP key: send a proof signed with it",
            ));
        }
    }
    if grant.revoked_at.is_some() {
        return Err(invalid("refresh token revoked"));
    }
    let original = scope::parse(&row.scope).unwrap_or_default();
    // "The requested scope MUST NOT include any scope not originally granted" (RFC 6749 §6).
    let scopes = match requested_scope {
        None => original.clone(),
        Some(s) => {
            let requested =
                scope::parse(s).ok_or_else(|| OAuthError::invalid_scope("malformed scope"))?;
            if !scope::is_subset(&requested, &original) {
                return Err(OAuthError::invalid_scope("scope may only shrink on refresh").into());
            }
            requested
        }
    };
    let subject = grant.user_id.as_deref().unwrap_or(&app.client_id);
    let (access_token, _) = ctx.access_token(
        app,
        subject,
        &scopes,
        Some(grant.auth_time),
        Some(&grant.id),
    )?;
    // The successor keeps the original scope (RFC 6749 §6): narrowing applies to this access token.
    let (next_token, next_row) = ctx.refresh_token(app, &grant.id, &original, row.dpop_jkt.clone());

    // One conditional update, committed together with the successor, decides which of several
    // concurrent requests rotates the token; the others are reuse.
    if !store::oauth::rotate_into(ctx.store, &hash, &next_row, ctx.now).await? {
        return Err(reuse(ctx, app, &row.grant_id).await);
    }
    let mut response = ctx.response(access_token, &scopes, Some(next_token));
    // OIDC Core §12.2: a refreshed ID token carries no nonce.
    response.id_token = ctx
        .id_token(app, &grant, &scopes, None, &response.access_token)
        .await?;
    Ok(response)
}

/// A rotated refresh token presented again: someone holds a copy. Revoke the whole family
/// (the grant: every refresh and access token of it, the newest included).
async fn reuse(ctx: &TokenContext<'_>, app: &Application, grant_id: &str) -> GrantError {
    if let Err(e) = store::oauth::revoke_grant(ctx.store, grant_id, ctx.now).await {
        return e.into();
    }
    tracing::warn!(target: "logi::security", client_id = %app.client_id, grant = %grant_id, "refresh token reuse: family revoked");
    GrantError::OAuth(OAuthError::invalid_grant(
        "refresh token already used; its family is revoked",
    ))
}
