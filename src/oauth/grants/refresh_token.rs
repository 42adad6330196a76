//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection
//! (OAuth 2.0 Security BCP §4.14.2).

use super::GrantError;
use crate::{
    crypto,
    oauth::{
        error::OAuthError,
        policy, scope,
        tokens::{family_ends_at, Audience, TokenContext, TokenResponse},
    },
    store::{
        self,
        applications::Application,
        oauth::{Grant, RefreshToken},
    },
};

pub async fn refresh(
    ctx: &TokenContext<'_>,
    app: &Application,
    presented: &str,
    requested_scope: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let invalid = |d: &str| GrantError::OAuth(OAuthError::invalid_grant(d));
    let hash = ctx.keys.hash_secret(presented);
    let registered = scope::parse(&app.scope).unwrap_or_default();
    // The common refresh (no `scope`, no `resource`) rotates in one round trip when every check
    // below holds; otherwise nothing was written and the row read on the way gets the precise
    // answer from the same checks as a refresh that reads first.
    let found = if requested_scope.is_none()
        && ctx.target.requested.is_none()
        && registered.len() <= store::oauth::ROTATION_MAX_REGISTERED_SCOPES
    {
        let (next_token, next_hash) = ctx.refresh_secret();
        let successor_enc = (app.refresh_token_reuse_interval_seconds > 0)
            .then(|| crypto::seal_successor(presented, &next_token));
        let rotation = store::oauth::Rotation {
            token_hash: &hash,
            application_id: &app.id,
            dpop_jkt: ctx.dpop_jkt.as_deref(),
            registered_scopes: &registered,
            now: ctx.now,
            ttl: ctx.config.refresh_token_ttl_seconds,
            absolute_ttl: ctx.config.refresh_token_absolute_ttl_seconds,
            next_hash: &next_hash,
            successor_enc: successor_enc.as_deref(),
        };
        match store::oauth::refresh_and_rotate(ctx.store, &rotation).await? {
            Some(done) if done.rotated => {
                return rotated(
                    ctx,
                    app,
                    &registered,
                    &done.grant,
                    &done.token.scope,
                    next_token,
                )
                .await;
            }
            Some(not_rotated) => Some((not_rotated.token, not_rotated.grant)),
            None => None,
        }
    } else {
        store::oauth::refresh_and_grant(ctx.store, &hash).await?
    };
    let Some((row, grant)) = found else {
        return Err(invalid("unknown refresh token"));
    };
    if row.application_id != app.id {
        return Err(invalid("refresh token was issued to another client"));
    }
    if let Some(rotated_at) = row.used_at {
        // A retry within the application's reuse interval gets the same successor back;
        // anything else is reuse.
        return match replay(ctx, app, presented, &row, rotated_at, requested_scope).await? {
            Some(response) => Ok(response),
            None => Err(reuse(ctx, app, &row.grant_id).await),
        };
    }
    if row.expires_at <= ctx.now {
        return Err(invalid("refresh token expired"));
    }
    // RFC 9449 §5.0: a bound refresh token is only usable with a proof from the same key.
    if !dpop_binding_holds(ctx, &row) {
        return Err(invalid(
            "this refresh token is bound to a DPoP key: send a proof signed with it",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid("refresh token revoked"));
    }
    let Refreshed { kept, scopes } =
        checked_scopes(ctx, &registered, &grant, &row.scope, requested_scope)?;
    // RFC 8707 §2.2: a refresh may address one of the grant's APIs.
    let audience = ctx.audience(&grant.resources, &scopes)?;
    let access_token = grant_access_token(ctx, app, &grant, &audience)?;
    // The successor keeps the granted scope (RFC 6749 §6), less what the application no longer
    // has: narrowing by `scope` applies to this access token only.
    let (next_token, next_row) = ctx.refresh_token(app, &grant, &kept, row.dpop_jkt.clone());
    // Only applications with a reuse interval keep the successor, sealed under the presented
    // token (which the database does not hold), for a retry whose response was lost.
    let successor_enc = (app.refresh_token_reuse_interval_seconds > 0)
        .then(|| crypto::seal_successor(presented, &next_token));

    // One conditional update, committed together with the successor, decides which of several
    // concurrent requests rotates the token; the others are reuse.
    if !store::oauth::rotate_into(
        ctx.store,
        &hash,
        &next_row,
        ctx.now,
        successor_enc.as_deref(),
    )
    .await?
    {
        return Err(reuse(ctx, app, &row.grant_id).await);
    }
    respond(
        ctx,
        app,
        &grant,
        &scopes,
        &audience,
        access_token,
        next_token,
    )
    .await
}

/// The response of a refresh that [`store::oauth::refresh_and_rotate`] rotated into
/// `next_token`: it checked what the read-first path checks, so the scopes and audience below
/// are those of that path (every granted scope kept, no API); were they refused anyway, the
/// refusal stands and the rotated token is spent (fail closed).
async fn rotated(
    ctx: &TokenContext<'_>,
    app: &Application,
    registered: &[String],
    grant: &Grant,
    granted_scope: &str,
    next_token: String,
) -> Result<TokenResponse, GrantError> {
    let Refreshed { scopes, .. } = checked_scopes(ctx, registered, grant, granted_scope, None)?;
    let audience = ctx.audience(&grant.resources, &scopes)?;
    let access_token = grant_access_token(ctx, app, grant, &audience)?;
    respond(
        ctx,
        app,
        grant,
        &scopes,
        &audience,
        access_token,
        next_token,
    )
    .await
}

/// RFC 9449 §5.0: a refresh token bound to a DPoP key needs a proof from that key.
fn dpop_binding_holds(ctx: &TokenContext<'_>, row: &RefreshToken) -> bool {
    match &row.dpop_jkt {
        Some(bound) => ctx.dpop_jkt.as_deref() == Some(bound.as_str()),
        None => true,
    }
}

/// The family's absolute lifetime and the scopes that survive of those `registered` now (see
/// [`refreshed_scopes`]).
fn checked_scopes(
    ctx: &TokenContext<'_>,
    registered: &[String],
    grant: &Grant,
    granted_scope: &str,
    requested_scope: Option<&str>,
) -> Result<Refreshed, GrantError> {
    // The family's absolute lifetime (SPEC "Tokens"): the successors' expiry is capped by it
    // already; this also holds when the configured lifetime was shortened since.
    let family_end = family_ends_at(
        grant.created_at,
        ctx.config.refresh_token_absolute_ttl_seconds,
    );
    if family_end <= ctx.now {
        return Err(GrantError::OAuth(OAuthError::invalid_grant(
            "the authorization reached its maximum lifetime: sign in again",
        )));
    }
    let granted = scope::parse(granted_scope).unwrap_or_default();
    Ok(refreshed_scopes(&granted, registered, requested_scope)?)
}

/// The token response of a refresh: the new access token, `refresh_token`, and an ID token
/// when `openid` was granted.
async fn respond(
    ctx: &TokenContext<'_>,
    app: &Application,
    grant: &Grant,
    scopes: &[String],
    audience: &Audience<'_>,
    access_token: String,
    refresh_token: String,
) -> Result<TokenResponse, GrantError> {
    let mut response = ctx.response(access_token, audience, Some(refresh_token));
    // OIDC Core §12.2: a refreshed ID token carries no nonce.
    response.id_token = ctx
        .id_token(app, grant, scopes, None, &response.access_token)
        .await?;
    Ok(response)
}

/// Whether an already rotated refresh token, presented again, gets its successor back instead
/// of revoking the family (SPEC "Tokens", `refresh_token_reuse_interval_seconds`): only for an
/// application with an interval (at most 60 s), within that many seconds of the rotation, while
/// the successor itself is still unused and the grant not revoked.
/// Processes sharing a database read slightly different clocks: a retry served by a process whose
/// clock is up to this many seconds behind the one that rotated is still "within" the interval.
pub const CLOCK_SKEW_SECONDS: i64 = 5;

pub fn replay_allowed(
    rotated_at: i64,
    interval: i64,
    now: i64,
    successor_unused: bool,
    grant_revoked: bool,
) -> bool {
    (1..=60).contains(&interval)
        && rotated_at - now <= CLOCK_SKEW_SECONDS
        && now - rotated_at <= interval
        && successor_unused
        && !grant_revoked
}

/// A retry of the rotated token `row` whose response was lost: the same successor (opened with
/// the presented token) with a fresh access token, or `None` when the retry is reuse.
async fn replay(
    ctx: &TokenContext<'_>,
    app: &Application,
    presented: &str,
    row: &RefreshToken,
    rotated_at: i64,
    requested_scope: Option<&str>,
) -> Result<Option<TokenResponse>, GrantError> {
    let interval = app.refresh_token_reuse_interval_seconds;
    // Cheap checks first: most reuse never gets past them.
    if !replay_allowed(rotated_at, interval, ctx.now, true, false) || !dpop_binding_holds(ctx, row)
    {
        return Ok(None);
    }
    let Some(successor) = row
        .successor_enc
        .as_deref()
        .and_then(|sealed| crypto::open_successor(presented, sealed))
    else {
        return Ok(None);
    };
    let successor_hash = ctx.keys.hash_secret(&successor);
    let Some((next, grant)) = store::oauth::refresh_and_grant(ctx.store, &successor_hash).await?
    else {
        return Ok(None);
    };
    if next.grant_id != row.grant_id
        || next.application_id != app.id
        || next.expires_at <= ctx.now
        || !replay_allowed(
            rotated_at,
            interval,
            ctx.now,
            next.used_at.is_none(),
            grant.revoked_at.is_some(),
        )
    {
        return Ok(None);
    }
    // The access token gets what a normal refresh of the successor would give it.
    let registered = scope::parse(&app.scope).unwrap_or_default();
    let Refreshed { scopes, .. } =
        checked_scopes(ctx, &registered, &grant, &next.scope, requested_scope)?;
    let audience = ctx.audience(&grant.resources, &scopes)?;
    let access_token = grant_access_token(ctx, app, &grant, &audience)?;
    tracing::info!(target: "logi::security", client_id = %app.client_id, grant = %grant.id, "rotated refresh token retried within the reuse interval: same successor returned");
    Ok(Some(
        respond(
            ctx,
            app,
            &grant,
            &scopes,
            &audience,
            access_token,
            successor,
        )
        .await?,
    ))
}

/// The scopes of a refresh: `kept` for the successor refresh token, `scopes` for the new access
/// token.
#[derive(Debug, PartialEq, Eq)]
pub struct Refreshed {
    pub kept: Vec<String>,
    pub scopes: Vec<String>,
}

/// A refreshed grant keeps only the scopes the application still has (SPEC "Tokens"): the
/// granted scopes intersected with the current registration. A requested `scope` may narrow the
/// access token further but never widen it (RFC 6749 §6); asking for a scope that was granted
/// but is no longer registered is `invalid_scope`. When `offline_access` itself is gone, the
/// application may no longer hold refresh tokens: `invalid_grant`.
pub fn refreshed_scopes(
    granted: &[String],
    registered: &[String],
    requested: Option<&str>,
) -> Result<Refreshed, OAuthError> {
    let kept: Vec<String> = granted
        .iter()
        .filter(|s| registered.contains(s))
        .cloned()
        .collect();
    if !policy::has_refresh_scope(&kept) {
        return Err(OAuthError::invalid_grant(
            "the application is no longer registered for offline_access",
        ));
    }
    let scopes = match requested {
        None => kept.clone(),
        Some(s) => {
            let requested =
                scope::parse(s).ok_or_else(|| OAuthError::invalid_scope("malformed scope"))?;
            // "The requested scope MUST NOT include any scope not originally granted" (§6).
            if !scope::is_subset(&requested, &kept) {
                return Err(OAuthError::invalid_scope(
                    "scope may only shrink on refresh, within the scopes the application still has",
                ));
            }
            requested
        }
    };
    Ok(Refreshed { kept, scopes })
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

/// A fresh access token of `grant` for `audience`: its user, or the client when it has none.
fn grant_access_token(
    ctx: &TokenContext<'_>,
    app: &Application,
    grant: &Grant,
    audience: &Audience<'_>,
) -> Result<String, crate::keys::KeyError> {
    let subject = grant.user_id.as_deref().unwrap_or(&app.client_id);
    ctx.access_token(app, subject, audience, Some(grant))
        .map(|(token, _)| token)
}

#[cfg(test)]
mod tests;
