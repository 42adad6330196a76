//! `grant_type=client_credentials` (RFC 6749 §4.4): confidential clients registered for it.

use super::GrantError;
use crate::{
    oauth::{
        audience,
        error::OAuthError,
        scope,
        tokens::{TokenContext, TokenResponse},
    },
    store::applications::Application,
};

pub fn issue(
    ctx: &TokenContext<'_>,
    app: &Application,
    requested: Option<&str>,
) -> Result<TokenResponse, GrantError> {
    let registered = scope::parse(&app.scope).unwrap_or_default();
    let machine_scopes: Vec<String> = registered
        .iter()
        .filter(|s| !scope::USER_ONLY.contains(&s.as_str()))
        .cloned()
        .collect();
    let apis = ctx.target.apis.as_slice();
    let resource = ctx.target.requested.as_deref();
    let scopes = match requested {
        // Without a scope parameter: the application's scope minus user-only scopes (SPEC).
        None => machine_scopes,
        Some(s) => {
            let requested =
                scope::parse(s).ok_or_else(|| OAuthError::invalid_scope("malformed scope"))?;
            if let Some(user_only) = requested
                .iter()
                .find(|s| scope::USER_ONLY.contains(&s.as_str()))
            {
                return Err(OAuthError::invalid_scope(format!(
                    "`{user_only}` needs a user; not available to client_credentials"
                ))
                .into());
            }
            if !scope::is_subset(&requested, &registered) {
                return Err(
                    OAuthError::invalid_scope("scope is not registered for this client").into(),
                );
            }
            requested
        }
    };
    // RFC 8707: the API the token is for. Without `scope`, a named resource takes its own scopes
    // out of the application's; otherwise the scopes must fit the resource (or name one API).
    let resources = match (requested, resource) {
        (None, Some(r)) => vec![audience::find(apis, r)?.identifier.clone()],
        _ => {
            let named: Vec<String> = resource.map(String::from).into_iter().collect();
            audience::for_request(apis, &named, &scopes)?
        }
    };
    let audience = ctx.audience(&resources, &scopes)?;
    let (access_token, _) = ctx.access_token(app, &app.client_id, &audience, None, None)?;
    Ok(ctx.response(access_token, &audience, None))
}
