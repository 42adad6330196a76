//! Protected APIs: registration and updates, JSON in, a consistent [`Api`] out (SPEC "Protected
//! APIs (resource servers) and resource indicators").
//!
//! Creation and PATCH both end in [`validate`], so no sequence of updates reaches a state that
//! creation would refuse. The `identifier` never changes: grants and issued tokens name it.

use serde::Deserialize;

use crate::{
    crypto::random_token,
    oauth::{params::has_control_characters, policy, scope},
    store::{
        self,
        apis::{Api, ApiScope},
        applications::Application,
        Store, StoreError,
    },
};

/// Body of `POST /developer/apis` and `PATCH /developer/apis/{id}`. Unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ApiInput {
    pub name: Option<String>,
    pub identifier: Option<String>,
    pub scopes: Option<Vec<ScopeInput>>,
    /// Absent: unchanged (default on creation); `null`: the server's lifetime; a number: seconds.
    #[serde(default, deserialize_with = "nullable_seconds")]
    pub access_token_ttl_seconds: Option<Option<i64>>,
}

#[derive(Debug, Deserialize)]
pub struct ScopeInput {
    pub name: String,
    pub description: String,
}

fn nullable_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<i64>>, D::Error> {
    Option::<serde_json::Value>::deserialize(d).and_then(|v| match v {
        None => Ok(Some(None)),
        Some(v) => v.as_i64().map(|n| Some(Some(n))).ok_or_else(|| {
            serde::de::Error::custom("access_token_ttl_seconds must be an integer or null")
        }),
    })
}

/// Bounds of what a developer may register.
pub const MAX_SCOPES: usize = 100;
pub const MAX_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 300;
pub const MAX_IDENTIFIER: usize = 500;
pub const MIN_TTL: i64 = 60;
pub const MAX_TTL: i64 = 86_400;

/// Why an API was refused: the field and what is wrong with it (a 400 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub String);

fn bad(m: impl Into<String>) -> ApiError {
    ApiError(m.into())
}

pub fn create(input: ApiInput, owner_id: &str, issuer: &str, now: i64) -> Result<Api, ApiError> {
    let identifier = input
        .identifier
        .ok_or_else(|| bad("identifier is required"))?;
    check_identifier(&identifier, issuer)?;
    let api = Api {
        id: format!("api_{}", random_token(12)),
        owner_id: owner_id.to_string(),
        name: input.name.ok_or_else(|| bad("name is required"))?,
        identifier,
        scopes: scopes(input.scopes.unwrap_or_default()),
        access_token_ttl_seconds: input.access_token_ttl_seconds.flatten(),
        created_at: now,
        updated_at: now,
    };
    validate(api)
}

pub fn apply_patch(current: &Api, input: ApiInput, now: i64) -> Result<Api, ApiError> {
    if input
        .identifier
        .as_deref()
        .is_some_and(|i| i != current.identifier)
    {
        return Err(bad(
            "identifier cannot change: tokens and authorizations name it; register a new API",
        ));
    }
    let mut next = current.clone();
    if let Some(name) = input.name {
        next.name = name;
    }
    if let Some(list) = input.scopes {
        next.scopes = scopes(list);
    }
    if let Some(ttl) = input.access_token_ttl_seconds {
        next.access_token_ttl_seconds = ttl;
    }
    next.updated_at = now;
    validate(next)
}

fn scopes(list: Vec<ScopeInput>) -> Vec<ApiScope> {
    list.into_iter()
        .map(|s| ApiScope {
            name: s.name,
            description: s.description,
        })
        .collect()
}

/// RFC 8707 §2: an absolute URI without a fragment; here also https (or loopback http, for
/// development), no credentials, and not logi's own issuer (whose `aud` means logi itself).
fn check_identifier(identifier: &str, issuer: &str) -> Result<(), ApiError> {
    let invalid = |m: &str| bad(format!("identifier `{identifier}`: {m}"));
    if identifier.is_empty() || identifier.len() > MAX_IDENTIFIER {
        return Err(invalid("must be 1 to 500 characters"));
    }
    if identifier
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(invalid("must not contain whitespace or backslashes"));
    }
    let url = url::Url::parse(identifier).map_err(|_| invalid("must be an absolute URI"))?;
    if url.fragment().is_some() || identifier.contains('#') {
        return Err(invalid("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not contain credentials"));
    }
    match (url.scheme(), url.host_str()) {
        ("https", Some(h)) if !h.is_empty() => {}
        ("http", Some(h)) if policy::is_loopback_host(h) => {}
        _ => return Err(invalid("must be an https URI (or loopback http)")),
    }
    if identifier.trim_end_matches('/') == issuer.trim_end_matches('/') {
        return Err(invalid("is logi's own issuer"));
    }
    Ok(())
}

/// The whole API, as creation and PATCH leave it.
pub fn validate(api: Api) -> Result<Api, ApiError> {
    let name = api.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || has_control_characters(name) {
        return Err(bad("name must be 1 to 100 characters of text"));
    }
    if api.scopes.len() > MAX_SCOPES {
        return Err(bad(format!("at most {MAX_SCOPES} scopes")));
    }
    for (i, s) in api.scopes.iter().enumerate() {
        if !scope::is_scope_token(&s.name) {
            return Err(bad(format!(
                "scope `{}` is not a valid scope name (RFC 6749 §3.3: printable ASCII, no space, \
                 quote or backslash)",
                s.name
            )));
        }
        if scope::SUPPORTED.contains(&s.name.as_str()) {
            return Err(bad(format!(
                "scope `{}` is built in and cannot belong to an API",
                s.name
            )));
        }
        if api.scopes[..i].iter().any(|o| o.name == s.name) {
            return Err(bad(format!("scope `{}` is listed twice", s.name)));
        }
        let d = s.description.trim();
        if d.is_empty() || d.chars().count() > MAX_DESCRIPTION || has_control_characters(d) {
            return Err(bad(format!(
                "scope `{}`: description must be 1 to 300 characters of text (the consent page \
                 shows it)",
                s.name
            )));
        }
    }
    if let Some(ttl) = api.access_token_ttl_seconds {
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(bad(format!(
                "access_token_ttl_seconds must be between {MIN_TTL} and {MAX_TTL}, or null"
            )));
        }
    }
    Ok(Api {
        name: name.to_string(),
        scopes: api
            .scopes
            .into_iter()
            .map(|s| ApiScope {
                description: s.description.trim().to_string(),
                name: s.name,
            })
            .collect(),
        ..api
    })
}

/// A scope name may belong to one of a developer's APIs only: without `resource`, the scopes of
/// a request pick the audience. `others` are the developer's other APIs.
pub fn check_scopes_unique(api: &Api, others: &[Api]) -> Result<(), ApiError> {
    for s in &api.scopes {
        if let Some(other) = others
            .iter()
            .find(|o| o.id != api.id && o.has_scope(&s.name))
        {
            return Err(bad(format!(
                "scope `{}` already belongs to your API `{}` ({})",
                s.name, other.name, other.identifier
            )));
        }
    }
    Ok(())
}

/// Why `app`'s `scope` is refused, if it lists another developer's API scopes (SPEC: such a
/// scope is `invalid_client_metadata`).
pub async fn foreign_scope_refusal(
    store: &Store,
    app: &Application,
) -> Result<Option<String>, StoreError> {
    let scopes = scope::parse(&app.scope).unwrap_or_default();
    let foreign = store::apis::foreign_scopes(store, &app.owner_id, &scopes).await?;
    Ok(foreign_scopes_refusal(&foreign))
}

/// The refusal of an application `scope` that lists other developers' API scopes, if any.
pub fn foreign_scopes_refusal(foreign: &[String]) -> Option<String> {
    (!foreign.is_empty()).then(|| {
        format!(
            "scope {} belongs to another developer's API",
            foreign
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests;
