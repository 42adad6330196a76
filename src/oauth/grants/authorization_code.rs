//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).

use super::GrantError;
use crate::{
    oauth::{
        error::OAuthError,
        pkce, policy, scope,
        tokens::{TokenContext, TokenResponse},
    },
    store::{
        self,
        applications::Application,
        oauth::{Code, Grant, Redemption},
    },
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
    // The common exchange (no `resource`, a `redirect_uri`, a well-formed verifier or none)
    // redeems in one round trip when every check below holds; otherwise nothing was written and
    // the row read on the way gets the precise answer from the same checks.
    let found = match redirect_uri.filter(|_| {
        ctx.target.requested.is_none()
            && code_verifier.is_none_or(pkce::is_valid_verifier_or_challenge)
    }) {
        Some(redirect_uri) => {
            let challenge = code_verifier.map(pkce::s256);
            let refresh = policy::may_refresh(app).then(|| ctx.refresh_secret());
            let binding = policy::refresh_token_binding(app, ctx.dpop_jkt.as_deref());
            let exchange = store::oauth::CodeExchange {
                code_hash: &hash,
                application_id: &app.id,
                redirect_uri,
                code_challenge: challenge.as_deref(),
                dpop_jkt: ctx.dpop_jkt.as_deref(),
                now: ctx.now,
                refresh: refresh
                    .as_ref()
                    .map(|(_, token_hash)| store::oauth::FirstRefresh {
                        token_hash,
                        ttl: ctx.config.refresh_token_ttl_seconds,
                        absolute_ttl: ctx.config.refresh_token_absolute_ttl_seconds,
                        dpop_jkt: binding.as_deref(),
                        scope: policy::REFRESH_TOKEN_SCOPE,
                    }),
            };
            match store::oauth::code_and_redeem(ctx.store, &exchange).await? {
                Some(done) if done.redeemed => {
                    let refresh_token = refresh.filter(|_| done.refreshed).map(|(token, _)| token);
                    return redeemed(ctx, app, &done.code, &done.grant, refresh_token).await;
                }
                Some(not_redeemed) => Some((not_redeemed.code, not_redeemed.grant)),
                None => None,
            }
        }
        None => store::oauth::code_and_grant(ctx.store, &hash).await?,
    };
    let Some((row, grant)) = found else {
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

/// The response to an exchange that [`store::oauth::code_and_redeem`] redeemed, storing
/// `refresh_token` if given: it checked what the read-first path checks (for no API), so the
/// scopes and audience below are those of that path; were they refused anyway, the refusal
/// stands and the code is spent (fail closed).
async fn redeemed(
    ctx: &TokenContext<'_>,
    app: &Application,
    code: &Code,
    grant: &Grant,
    refresh_token: Option<String>,
) -> Result<TokenResponse, GrantError> {
    let scopes = scope::parse(&code.scope).unwrap_or_default();
    debug_assert_eq!(
        refresh_token.is_some(),
        policy::issues_refresh_token(app, &scopes),
        "the statement stores the first refresh token exactly when the policy gives one"
    );
    let Some(user_id) = grant.user_id.as_deref() else {
        return Err(OAuthError::invalid_grant("the grant has no user").into());
    };
    let audience = ctx.audience(&grant.resources, &scopes)?;
    let (access_token, _) = ctx.access_token(app, user_id, &audience, Some(grant))?;
    super::respond_first(
        ctx,
        app,
        grant,
        &scopes,
        &audience,
        access_token,
        refresh_token,
        code.nonce.as_deref(),
    )
    .await
}
