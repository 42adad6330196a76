//! Resource indicators (RFC 8707) and API audiences: which protected API an access token is
//! for, and which of the granted scopes it carries (SPEC "Protected APIs (resource servers) and
//! resource indicators"). Pure rules over the application owner's APIs; nothing here reads the
//! database or the clock.
//!
//! - An authorization covers a set of APIs: the `resource` parameters, or, without them, the
//!   one API that the requested API scopes belong to (scopes of two APIs: `invalid_scope`).
//! - Each access token is for one audience: the token request's `resource` (one of the
//!   authorization's APIs, else `invalid_target`), or the authorization's only API, or logi
//!   itself (the issuer) when it covers none.
//! - A token for an API carries that API's granted scopes and the built-in ones; a token for
//!   the issuer carries the granted scopes that belong to no API.

use super::{error::OAuthError, scope};
use crate::store::apis::Api;

/// At most this many `resource` parameters in one authorization request.
pub const MAX_RESOURCES: usize = 10;

/// RFC 8707 §2: "The value of the resource parameter MUST be an absolute URI … MUST NOT include
/// a fragment component."
fn check_indicator(resource: &str) -> Result<(), OAuthError> {
    match url::Url::parse(resource) {
        Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() => Ok(()),
        _ => Err(OAuthError::invalid_target(format!(
            "resource `{resource}` is not an absolute URI without a fragment"
        ))),
    }
}

/// The owner's API with this identifier; anything else is not a resource this client may name.
/// A registered identifier was checked when its API was registered, so a match needs no URI
/// parsing (the token endpoint's hot path); only a miss is parsed, to say what is wrong with it.
pub fn find<'a>(apis: &'a [Api], resource: &str) -> Result<&'a Api, OAuthError> {
    if let Some(api) = apis.iter().find(|a| a.identifier == resource) {
        return Ok(api);
    }
    check_indicator(resource)?;
    Err(OAuthError::invalid_target(format!(
        "resource `{resource}` is not an API registered for this application"
    )))
}

/// The API a requested scope belongs to: `None` for a built-in or free-form scope. A scope that
/// two of the owner's APIs define (registration refuses it; a concurrent race could leave it)
/// cannot pick an audience: refused rather than guessed.
fn api_of_scope<'a>(apis: &'a [Api], name: &str) -> Result<Option<&'a Api>, OAuthError> {
    if scope::SUPPORTED.contains(&name) {
        return Ok(None);
    }
    let mut owners = apis.iter().filter(|a| a.has_scope(name));
    match (owners.next(), owners.next()) {
        (first, None) => Ok(first),
        (Some(_), Some(_)) => Err(OAuthError::invalid_scope(format!(
            "scope `{name}` belongs to several APIs"
        ))),
        (None, Some(_)) => Ok(None),
    }
}

/// The APIs (identifiers) an authorization request covers, from its `resource` parameters and
/// its scopes.
pub fn for_request(
    apis: &[Api],
    requested: &[String],
    scopes: &[String],
) -> Result<Vec<String>, OAuthError> {
    if requested.len() > MAX_RESOURCES {
        return Err(OAuthError::invalid_target(format!(
            "at most {MAX_RESOURCES} resource parameters"
        )));
    }
    let mut named: Vec<&Api> = Vec::new();
    for r in requested {
        let api = find(apis, r)?;
        if !named.iter().any(|a| a.id == api.id) {
            named.push(api);
        }
    }
    let mut implied: Vec<&Api> = Vec::new();
    for s in scopes {
        let Some(api) = api_of_scope(apis, s)? else {
            continue;
        };
        if !named.is_empty() && !named.iter().any(|a| a.id == api.id) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{s}` belongs to the API `{}`, not to the requested resource",
                api.identifier
            )));
        }
        if !implied.iter().any(|a| a.id == api.id) {
            implied.push(api);
        }
    }
    if named.is_empty() && implied.len() > 1 {
        return Err(OAuthError::invalid_scope(
            "the scopes belong to several APIs: request one API at a time, or name them with resource",
        ));
    }
    let chosen = if named.is_empty() { implied } else { named };
    Ok(chosen.into_iter().map(|a| a.identifier.clone()).collect())
}

/// The API an access token is for: the token request's `resource`, which must be one of the
/// authorization's; without it, the authorization's only API; `None` (the issuer) when it
/// covers none. APIs deleted since the authorization no longer count.
pub fn audience<'a>(
    apis: &'a [Api],
    granted: &[String],
    requested: Option<&str>,
) -> Result<Option<&'a Api>, OAuthError> {
    if let Some(r) = requested {
        let api = find(apis, r)?;
        if !granted.contains(&api.identifier) {
            return Err(OAuthError::invalid_target(format!(
                "resource `{r}` was not part of this authorization"
            )));
        }
        return Ok(Some(api));
    }
    let mut live = granted
        .iter()
        .filter_map(|g| apis.iter().find(|a| a.identifier == *g));
    match (live.next(), live.next()) {
        (only, None) => Ok(only),
        (Some(_), Some(_)) => Err(OAuthError::invalid_target(
            "this authorization covers several APIs: name one with resource",
        )),
        (None, Some(_)) => Ok(None),
    }
}

/// The scopes a token for `audience` carries, out of `granted`.
pub fn token_scopes(apis: &[Api], audience: Option<&Api>, granted: &[String]) -> Vec<String> {
    granted
        .iter()
        .filter(|s| {
            let builtin = scope::SUPPORTED.contains(&s.as_str());
            match audience {
                Some(api) => builtin || api.has_scope(s),
                None => builtin || !apis.iter().any(|a| a.has_scope(s)),
            }
        })
        .cloned()
        .collect()
}

/// The key remembered consent is stored under: the scopes and the APIs they were given for
/// (consent to `read` of one API is not consent for another).
pub fn consent_key(scopes: &[String], resources: &[String]) -> String {
    let mut parts: Vec<String> = scopes.to_vec();
    parts.extend(resources.iter().map(|r| format!("resource={r}")));
    scope::canonical(&parts)
}

#[cfg(test)]
mod tests;

/// What the consent page lists: the plain scopes' words, then each API's scopes by their
/// descriptions, grouped under the API's name.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsentWords {
    pub scopes: Vec<String>,
    pub apis: Vec<ApiWords>,
}

#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiWords {
    pub name: String,
    pub identifier: String,
    pub permissions: Vec<String>,
}

pub fn consent_words(apis: &[Api], resources: &[String], scopes: &[String]) -> ConsentWords {
    let covered: Vec<&Api> = resources
        .iter()
        .filter_map(|r| apis.iter().find(|a| a.identifier == *r))
        .collect();
    let mut words = ConsentWords::default();
    for api in &covered {
        let mut permissions: Vec<String> = api
            .scopes
            .iter()
            .filter(|s| scopes.contains(&s.name))
            .map(|s| s.description.clone())
            .collect();
        if permissions.is_empty() {
            permissions.push(format!("Call {} for you", api.name));
        }
        words.apis.push(ApiWords {
            name: api.name.clone(),
            identifier: api.identifier.clone(),
            permissions,
        });
    }
    words.scopes = scopes
        .iter()
        .filter(|s| !covered.iter().any(|a| a.has_scope(s)))
        .map(|s| scope::describe(s))
        .collect();
    words
}
