//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).

use super::GrantError;
use crate::{
    oauth::{
        error::OAuthError,
        pkce, scope,
        tokens::{TokenContext, TokenResponse},
    },
    store::{self, applications::Application, oauth::Redemption},
};

pub async fn exchange(
    ctx: &TokenContext<'_>,
    app: &Application,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let invalid = |d: &str| GrantError::OAuth(OAuthError::invalid_grant(d));
    let hash = ctx.keys.hash_secret(code);
    // One answer for an unknown code and for another client's code, whatever its state: a
    // client learns nothing about codes that are not its own.
    const NOT_YOURS: &str = "invalid authorization code";
    let Some((row, grant)) = store::oauth::code_and_grant(ctx.store, &hash).await? else {
        return Err(invalid(NOT_YOURS));
    };
    // The client check comes first (RFC 6749 §4.1.3): another client's code is simply invalid
    // for this one. Were the replay check first, any client holding a leaked, used code could
    // revoke the grant of the client it belongs to.
    if row.application_id != app.id {
        return Err(invalid(NOT_YOURS));
    }
    // "If an authorization code is used more than once, the authorization server MUST deny the
    // request and SHOULD revoke (when possible) all tokens previously issued based on that
    // authorization code." (RFC 6749 §4.1.2)
    if row.used_at.is_some() {
        store::oauth::revoke_grant(ctx.store, &row.grant_id, ctx.now).await?;
        tracing::warn!(target: "logi::security", client_id = %app.client_id, grant = %row.grant_id, "authorization code replayed: grant revoked");
        return Err(invalid(
            "authorization code already used; tokens issued with it are revoked",
        ));
    }
    if row.expires_at <= ctx.now {
        return Err(invalid("authorization code expired"));
    }
    // "ensure that the redirect_uri parameter is present if [it] was included in the initial
    // authorization request … and if included ensure that their values are identical."
    if redirect_uri != Some(row.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&row.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify_s256(challenge, verifier) {
                return Err(invalid("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => {
            return Err(GrantError::OAuth(OAuthError::invalid_request(
                "code_verifier is required",
            )))
        }
        (None, Some(_)) => return Err(invalid("code_verifier sent but no code_challenge was")),
        (None, None) => {}
    }
    // RFC 9449 §10: a code bound to a DPoP key is redeemed only with a proof of that key.
    if let Some(jkt) = &row.dpop_jkt {
        if ctx.dpop_jkt.as_deref() != Some(jkt.as_str()) {
            return Err(invalid(
                "the authorization code is bound to a DPoP key: send a DPoP proof of that key",
            ));
        }
    }
    if grant.revoked_at.is_some() {
        return Err(invalid("the authorization was revoked"));
    }
    let scopes = scope::parse(&row.scope).unwrap_or_default();
    let redeemed = super::first_tokens(
        ctx,
        app,
        &grant,
        &scopes,
        Redemption::Code { code_hash: &hash },
        row.nonce.as_deref(),
    )
    .await?;
    match redeemed {
        Some(response) => Ok(response),
        None => {
            // Lost a race with a concurrent exchange of the same code: that is a replay too.
            store::oauth::revoke_grant(ctx.store, &row.grant_id, ctx.now).await?;
            Err(invalid(
                "authorization code already used; tokens issued with it are revoked",
            ))
        }
    }
}
