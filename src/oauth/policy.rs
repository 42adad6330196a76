//! ★ The client-type policy: every public-vs-confidential decision logi makes, in one place.
//!
//! The table in SPEC.md ("Client types — the policy") maps onto this module row by row; nothing
//! outside it matches on [`ClientType`] to decide what a client may do. A client's type is chosen
//! at registration and never changes (see [`check_type_unchanged`]): the token rules differ per
//! type, so changing it midway would break the security model of tokens already issued.

pub use crate::clients::{AuthMethod, ClientAuth, ClientKeys, ClientType, SecretMethod};
use crate::{
    crypto::ServerKeys,
    oauth::error::{ErrorCode, OAuthError},
    store::applications::Application,
};

/// Why a registration is refused: maps onto RFC 7591 §3.2.2 error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    InvalidRedirectUri(String),
    InvalidClientMetadata(String),
}

/// Policy row "client type": the registered type and auth method must agree. An omitted method
/// follows from the type (`none` for public, `client_secret_basic` for confidential); an omitted
/// type follows from the method.
pub fn resolve_type_and_auth_method(
    client_type: Option<&str>,
    auth_method: Option<&str>,
) -> Result<(ClientType, AuthMethod), MetadataError> {
    let bad = |m: &str| MetadataError::InvalidClientMetadata(m.to_string());
    let client_type = match client_type {
        Some(t) => Some(
            ClientType::parse(t)
                .ok_or_else(|| bad("client_type must be `public` or `confidential`"))?,
        ),
        None => None,
    };
    let auth_method = match auth_method {
        Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| {
            bad("token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt")
        })?),
        None => None,
    };
    match (client_type, auth_method) {
        (None, None) => Err(bad("client_type is required (`public` or `confidential`)")),
        (Some(ClientType::Public), None) | (None, Some(AuthMethod::None)) => {
            Ok((ClientType::Public, AuthMethod::None))
        }
        (Some(ClientType::Confidential), None) => {
            Ok((ClientType::Confidential, AuthMethod::ClientSecretBasic))
        }
        (None, Some(m)) => Ok((ClientType::Confidential, m)),
        (Some(ClientType::Public), Some(AuthMethod::None)) => Ok((ClientType::Public, AuthMethod::None)),
        (Some(ClientType::Public), Some(_)) => Err(bad(
            "a public client cannot authenticate with a secret: token_endpoint_auth_method must be none",
        )),
        (Some(ClientType::Confidential), Some(AuthMethod::None)) => Err(bad(
            "a confidential client authenticates with its secret: token_endpoint_auth_method \
             must be client_secret_basic or client_secret_post",
        )),
        (Some(ClientType::Confidential), Some(m)) => Ok((ClientType::Confidential, m)),
    }
}

/// Only confidential clients have a secret: generated at registration (and replaced by
/// `rotate_secret`). Returns the client's authentication and the secret to show once; a public
/// client gets none, by construction.
/// A `private_key_jwt` client registers its public keys instead, inline (`jwks`) or by URL
/// (`jwks_uri`), exactly one of them ([`client_keys`]), and gets no secret; keys on any other
/// client are refused.
pub fn new_client_auth(
    client_type: ClientType,
    method: AuthMethod,
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
    keys: &ServerKeys,
) -> Result<(ClientAuth, Option<String>), MetadataError> {
    let bad = |m: &str| MetadataError::InvalidClientMetadata(m.to_string());
    let has_keys = jwks.is_some() || jwks_uri.is_some();
    let secret_method = match (client_type, method) {
        (ClientType::Confidential, AuthMethod::PrivateKeyJwt) => {
            let keys = client_keys(jwks, jwks_uri)?.ok_or_else(|| {
                bad("private_key_jwt needs the client's public keys: jwks or jwks_uri")
            })?;
            return Ok((ClientAuth::PrivateKeyJwt { keys }, None));
        }
        _ if has_keys => {
            return Err(bad(
                "jwks and jwks_uri are only for private_key_jwt clients",
            ))
        }
        (ClientType::Public, _) | (_, AuthMethod::None) => return Ok((ClientAuth::Public, None)),
        (ClientType::Confidential, AuthMethod::ClientSecretBasic) => SecretMethod::Basic,
        (ClientType::Confidential, AuthMethod::ClientSecretPost) => SecretMethod::Post,
    };
    let secret = new_client_secret();
    let auth = ClientAuth::Secret {
        method: secret_method,
        hash: keys.hash_secret(&secret),
    };
    Ok((auth, Some(secret)))
}

/// The keys a `private_key_jwt` client names (RFC 7591 §2: `jwks` and `jwks_uri` "MUST NOT
/// both be present"): exactly one, each checked ([`super::client_assertion::check_jwks`],
/// [`check_outbound_uri`]); `None` when neither is given.
pub fn client_keys(
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
) -> Result<Option<ClientKeys>, MetadataError> {
    let bad = MetadataError::InvalidClientMetadata;
    match (jwks, jwks_uri) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(bad(
            "give the client's keys in jwks or at jwks_uri, not both".into(),
        )),
        (Some(jwks), None) => {
            super::client_assertion::check_jwks(jwks).map_err(bad)?;
            Ok(Some(ClientKeys::Inline(jwks.to_string())))
        }
        (None, Some(uri)) => {
            check_outbound_uri("jwks_uri", uri)?;
            Ok(Some(ClientKeys::Uri(uri.to_string())))
        }
    }
}

/// A URL logi calls (`jwks_uri`, `backchannel_logout_uri`): `https`, or `http` on a loopback
/// host, absolute and in canonical form (what is registered is what is called), without a
/// fragment (RFC 6749 §3.1.2 reasoning, and OIDC Back-Channel Logout §2.2), credentials,
/// whitespace or backslashes.
pub fn check_outbound_uri(name: &str, uri: &str) -> Result<(), MetadataError> {
    let bad = |m: &str| MetadataError::InvalidClientMetadata(format!("{name} {uri}: {m}"));
    if uri.is_empty() || uri.len() > 2000 {
        return Err(bad("must be between 1 and 2000 characters"));
    }
    if uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) || uri.contains('\\') {
        return Err(bad("must not contain whitespace or backslashes"));
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad("must be an absolute URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if !is_canonical(&parsed, uri) {
        return Err(bad(&format!(
            "is not in canonical form (a URL parser reads it as {}); register it exactly as it \
             is to be called",
            parsed.as_str()
        )));
    }
    match (parsed.scheme(), parsed.host_str()) {
        ("https", Some(h)) if !h.is_empty() => Ok(()),
        ("http", Some(h)) if is_loopback_host(h) => Ok(()),
        ("http", _) => Err(bad(
            "plain http is only allowed for loopback (127.0.0.1, [::1], localhost); use https",
        )),
        _ => Err(bad("must be an https URL")),
    }
}

/// A fresh client secret: 256 bits from the system CSPRNG.
pub fn new_client_secret() -> String {
    crate::crypto::random_token(32)
}

/// A confidential client's new registered method (PATCH): the secret stays. `None` for a
/// public client, whose method cannot change.
pub fn with_secret_method(auth: &ClientAuth, method: AuthMethod) -> Option<ClientAuth> {
    let method = match method {
        AuthMethod::ClientSecretBasic => SecretMethod::Basic,
        AuthMethod::ClientSecretPost => SecretMethod::Post,
        AuthMethod::None | AuthMethod::PrivateKeyJwt => return None,
    };
    match auth {
        ClientAuth::Public | ClientAuth::PrivateKeyJwt { .. } => None,
        ClientAuth::Secret { hash, .. } => Some(ClientAuth::Secret {
            method,
            hash: hash.clone(),
        }),
    }
}

/// A PATCH of `token_endpoint_auth_method`: a public client's only method is `none` (checked by
/// [`resolve_type_and_auth_method`]), a secret client may switch between Basic and the body
/// (its secret stays), a key-based client keeps its keys; moving between a secret, keys and
/// `none` is refused.
pub fn with_auth_method(
    auth: &ClientAuth,
    method: AuthMethod,
) -> Result<ClientAuth, MetadataError> {
    match with_secret_method(auth, method) {
        Some(next) => Ok(next),
        None if method == auth.method() => Ok(auth.clone()),
        None => Err(MetadataError::InvalidClientMetadata(
            "token_endpoint_auth_method cannot change between a secret, keys and none; register \
             a new application"
                .into(),
        )),
    }
}

/// A PATCH of `jwks` or `jwks_uri`: new keys for a key-based client, which replace the ones
/// it had (inline or by URL; the old ones stop working at once); exactly one of the two, as at
/// registration. Any other client has no keys to replace.
pub fn with_keys(
    auth: &ClientAuth,
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
) -> Result<ClientAuth, MetadataError> {
    let Some(keys) = client_keys(jwks, jwks_uri)? else {
        return Ok(auth.clone());
    };
    match auth {
        ClientAuth::PrivateKeyJwt { .. } => Ok(ClientAuth::PrivateKeyJwt { keys }),
        ClientAuth::Public | ClientAuth::Secret { .. } => {
            Err(MetadataError::InvalidClientMetadata(
                "jwks and jwks_uri are only for private_key_jwt clients".into(),
            ))
        }
    }
}

/// The type is immutable: a change request is refused and nothing is written.
pub fn check_type_unchanged(
    current: ClientType,
    requested: Option<&str>,
) -> Result<(), MetadataError> {
    match requested {
        None => Ok(()),
        Some(r) if r == current.as_str() => Ok(()),
        Some(_) => Err(MetadataError::InvalidClientMetadata(
            "client_type cannot be changed after registration; register a new application".into(),
        )),
    }
}

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Policy row "client_credentials grant": public clients cannot hold it (they have no credentials).
pub fn check_grant_types(client_type: ClientType, grants: &[String]) -> Result<(), MetadataError> {
    let bad = |m: String| MetadataError::InvalidClientMetadata(m);
    if grants.is_empty() {
        return Err(bad("grant_types must not be empty".into()));
    }
    for g in grants {
        match g.as_str() {
            GRANT_AUTHORIZATION_CODE | GRANT_REFRESH_TOKEN | GRANT_DEVICE_CODE => {}
            GRANT_CLIENT_CREDENTIALS if client_type == ClientType::Confidential => {}
            GRANT_CLIENT_CREDENTIALS => {
                return Err(bad(
                    "a public client cannot use client_credentials: it has no credentials".into(),
                ))
            }
            "implicit" | "password" => {
                return Err(bad(format!(
                    "grant type `{g}` is not supported (OAuth 2.0 Security BCP)"
                )))
            }
            other => return Err(bad(format!("unsupported grant type `{other}`"))),
        }
    }
    if grants.iter().any(|g| g == GRANT_REFRESH_TOKEN)
        && !grants
            .iter()
            .any(|g| g == GRANT_AUTHORIZATION_CODE || g == GRANT_DEVICE_CODE)
    {
        return Err(bad(
            "refresh_token needs authorization_code or the device_code grant".into(),
        ));
    }
    Ok(())
}

/// Policy rows "redirect_uri schemes at registration" and "other plain-http redirect URIs".
///
/// - `https` for everyone;
/// - loopback `http` (`127.0.0.1`, `[::1]`, `localhost`) for everyone (RFC 8252 §7.3, §8.3);
/// - a private-use scheme such as `com.example.app:/cb` for public (native) clients only
///   (RFC 8252 §7.1: reverse domain name with at least one dot);
/// - never a fragment (RFC 6749 §3.1.2), a wildcard, a relative URI, credentials in the URI, any
///   other plain `http`, or a dangerous scheme (`javascript:`, `data:`, `file:`, …);
/// - never a URI that a URL parser would rewrite ([`is_canonical`]): logi redirects to the
///   registered string byte for byte, and a browser must read it exactly as logi's checks did.
pub fn check_redirect_uri(client_type: ClientType, uri: &str) -> Result<(), MetadataError> {
    let bad = |m: &str| MetadataError::InvalidRedirectUri(format!("{uri}: {m}"));
    if uri.is_empty() || uri.len() > 2000 {
        return Err(bad("must be between 1 and 2000 characters"));
    }
    if uri.contains('*') {
        return Err(bad("wildcards are not allowed"));
    }
    if uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace"));
    }
    // WHATWG parsers read `\` as `/` in http(s) URLs while others keep it: a URI whose meaning
    // depends on the reader is refused, whatever the scheme.
    if uri.contains('\\') {
        return Err(bad("must not contain backslashes"));
    }
    let parsed = url::Url::parse(uri).map_err(|_| bad("must be an absolute URI"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if !is_canonical(&parsed, uri) {
        return Err(MetadataError::InvalidRedirectUri(format!(
            "{uri}: is not in canonical form (a URL parser reads it as {}); register the URI \
             exactly as it is to be followed",
            parsed.as_str()
        )));
    }
    match parsed.scheme() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(bad("https URI needs a host"));
            }
            Ok(())
        }
        "http" => match parsed.host_str() {
            Some(h) if is_loopback_host(h) => Ok(()),
            _ => Err(bad(
                "plain http is only allowed for loopback (127.0.0.1, [::1], localhost)",
            )),
        },
        scheme if is_private_use_scheme(scheme) => match client_type {
            ClientType::Public => Ok(()),
            ClientType::Confidential => Err(bad(
                "private-use URI schemes are for native (public) clients; use https",
            )),
        },
        _ => Err(bad(
            "scheme not allowed: use https, loopback http or a reverse-domain private-use scheme",
        )),
    }
}

/// Whether `uri` is exactly what a URL parser makes of it (`parsed` is `Url::parse(uri)`):
/// then every reader — logi's checks, the browser that follows the redirect, the client that
/// compares it — sees the same scheme, host, port and path. That refuses `https:evil.com` and
/// `https:///cb` (read as `https://evil.com/`, `https://cb/`), non-canonical hosts (`127.1`,
/// `2130706433`, `0x7f.1`, upper case, IDN not in punycode), default ports written out,
/// dot segments (`/x/../cb`), and characters the parser would percent-encode.
///
/// No rewrite is accepted, not even the harmless one of an empty path (`https://rp.example` is
/// written `https://rp.example/`): SPEC "Redirect URIs" refuses any URI a parser would rewrite,
/// and the error message names the canonical form to register instead.
pub fn is_canonical(parsed: &url::Url, uri: &str) -> bool {
    parsed.as_str() == uri
}

pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "::1" | "localhost")
}

/// RFC 8252 §7.1: a private-use scheme is a reverse domain name (it contains a dot), which rules
/// out `javascript`, `data`, `file`, `ftp`, `ws` and the like.
fn is_private_use_scheme(scheme: &str) -> bool {
    const NEVER: &[&str] = &[
        "javascript",
        "data",
        "file",
        "vbscript",
        "blob",
        "about",
        "ftp",
        "ws",
        "wss",
    ];
    scheme.contains('.')
        && !NEVER.contains(&scheme)
        && scheme.split('.').all(|label| !label.is_empty())
}

/// Post-logout redirect URIs follow the same scheme rules as redirect URIs.
pub fn check_post_logout_redirect_uri(
    client_type: ClientType,
    uri: &str,
) -> Result<(), MetadataError> {
    check_redirect_uri(client_type, uri)
}

/// Policy row "CORS" (SPEC "Browser applications (CORS)"): only a public client runs in a
/// browser without a backend, so only a public client may list `allowed_cors_origins`. Each
/// entry is an origin, `scheme://host[:port]` exactly as browsers send it: `https`, or `http`
/// on a loopback host.
pub fn check_cors_origins(
    client_type: ClientType,
    origins: Option<&[String]>,
) -> Result<(), MetadataError> {
    let bad = |m: String| MetadataError::InvalidClientMetadata(m);
    let Some(origins) = origins else {
        return Ok(());
    };
    if client_type == ClientType::Confidential && !origins.is_empty() {
        return Err(bad(
            "allowed_cors_origins is for public clients: a confidential client calls logi from its backend"
                .into(),
        ));
    }
    if origins.len() > 20 {
        return Err(bad("at most 20 allowed_cors_origins".into()));
    }
    for o in origins {
        if canonical_origin(o).as_deref() != Some(o.as_str()) {
            return Err(bad(format!(
                "allowed_cors_origins: `{o}` is not an origin (scheme://host[:port], https or loopback http, nothing after the host)"
            )));
        }
    }
    Ok(())
}

/// The origins a client's browser code may call logi from: none for a confidential client; the
/// registered list, or by default the origins of its `https` and loopback `http` redirect URIs.
pub fn cors_origins(
    client_type: ClientType,
    registered: Option<&[String]>,
    redirect_uris: &[String],
) -> Vec<String> {
    if client_type == ClientType::Confidential {
        return Vec::new();
    }
    let mut out: Vec<String> = match registered {
        Some(list) => list.to_vec(),
        None => redirect_uris
            .iter()
            .filter_map(|uri| {
                let url = url::Url::parse(uri).ok()?;
                canonical_origin(url.origin().ascii_serialization().as_str())
            })
            .collect(),
    };
    out.sort();
    out.dedup();
    out
}

/// `s` when it is an origin in the exact form a browser sends in `Origin`, with an allowed
/// scheme; `None` otherwise.
fn canonical_origin(s: &str) -> Option<String> {
    let url = url::Url::parse(s).ok()?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return None;
    }
    let allowed = match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(is_loopback_host),
        _ => false,
    };
    let serialized = origin.ascii_serialization();
    (allowed && serialized == s).then_some(serialized)
}

// ---------------------------------------------------------------------------------------------
// At the endpoints
// ---------------------------------------------------------------------------------------------

/// The credentials a request to `/oauth/token` or `/oauth/revoke` presented.
#[derive(Debug, Default)]
pub struct PresentedCredentials {
    /// From `Authorization: Basic` (already form-decoded per RFC 6749 §2.3.1).
    pub basic: Option<(String, String)>,
    pub client_id_param: Option<String>,
    pub client_secret_param: Option<String>,
    /// `client_assertion_type` and `client_assertion` (RFC 7521 §4.2).
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

impl PresentedCredentials {
    /// The client the request claims to be: all the places that name it must agree. An
    /// assertion names its client in `iss` (RFC 7523 §3: `client_id` may be omitted).
    pub fn client_id(&self) -> Result<String, OAuthError> {
        let tried_basic = self.basic.is_some();
        // An assertion whose `iss` cannot be read names nobody (its verification fails later).
        let from_assertion = self
            .assertion
            .as_deref()
            .and_then(super::client_assertion::claimed_client_id);
        let mut named = [
            self.basic.as_ref().map(|(id, _)| id.as_str()),
            self.client_id_param.as_deref(),
            from_assertion.as_deref(),
        ]
        .into_iter()
        .flatten();
        let Some(first) = named.next() else {
            return Err(OAuthError::invalid_client(
                "client authentication is required",
            ));
        };
        if first.is_empty() || !named.all(|id| id == first) {
            return Err(OAuthError::invalid_request(
                "the client_id, the Authorization header and the client_assertion name different clients",
            )
            .with_basic_challenge(tried_basic));
        }
        Ok(first.to_string())
    }
}

/// Where a client assertion is checked: this server and endpoint (either may be `aud`), the
/// time, and the keys to check it with.
pub struct AssertionContext<'a> {
    pub issuer: &'a str,
    /// The path of the endpoint the request went to, e.g. `/oauth/token`.
    pub endpoint: &'a str,
    pub now: i64,
    /// A `private_key_jwt` client's JWK Set for this assertion (inline, or fetched from its
    /// `jwks_uri`: [`super::client_keys::KeySets`]), or why it could not be had; `None` when the
    /// request carries no assertion for such a client.
    pub client_keys: Option<Result<&'a str, &'a str>>,
}

/// Policy rows "client authentication", "HTTP Basic header present" and "client_secret
/// parameter present".
///
/// - Public clients identify with `client_id` in the body and nothing else. A Basic header or a
///   `client_secret` parameter is refused with `invalid_client` (downgrade defence: a public
///   client presenting a secret means someone is confused about what the client is).
/// - Confidential clients with a secret present it either in the Basic header
///   (`client_secret_basic`) or in the body (`client_secret_post`), whichever they registered;
///   the secret is compared in constant time (HMAC verify).
/// - Using two methods at once is refused (RFC 6749 §2.3).
/// - `private_key_jwt` clients present a signed assertion and nothing else; the verified
///   assertion is returned so that the caller records its `jti` (single use).
pub fn authenticate_client(
    app: &Application,
    creds: &PresentedCredentials,
    keys: &ServerKeys,
    assertion_ctx: &AssertionContext<'_>,
) -> Result<Option<super::client_assertion::Verified>, OAuthError> {
    let tried_basic = creds.basic.is_some();
    let fail = |d: &str| OAuthError::invalid_client(d).with_basic_challenge(tried_basic);
    let methods = [
        tried_basic,
        creds.client_secret_param.is_some(),
        creds.assertion.is_some() || creds.assertion_type.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(
            OAuthError::invalid_request("use one client authentication method, not two")
                .with_basic_challenge(tried_basic),
        );
    }
    if let ClientAuth::PrivateKeyJwt { .. } = &app.auth {
        if creds.assertion_type.as_deref() != Some(super::client_assertion::ASSERTION_TYPE) {
            return Err(fail(
                "this client authenticates with private_key_jwt: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let Some(assertion) = creds.assertion.as_deref() else {
            return Err(fail("client_assertion is required"));
        };
        // Fail closed: keys that could not be fetched authenticate nobody.
        let jwks = match assertion_ctx.client_keys {
            Some(Ok(jwks)) => jwks,
            Some(Err(why)) => return Err(fail(why)),
            None => return Err(fail("the client's keys are unavailable")),
        };
        return super::client_assertion::verify(
            jwks,
            assertion,
            &app.client_id,
            (assertion_ctx.issuer, assertion_ctx.endpoint),
            assertion_ctx.now,
        )
        .map(Some)
        .map_err(|d| fail(&d));
    }
    if methods[2] {
        return Err(fail(
            "this client is not registered for private_key_jwt: client_assertion is refused",
        ));
    }
    match &app.auth {
        ClientAuth::PrivateKeyJwt { .. } => Err(fail("client authentication failed")),
        ClientAuth::Public => {
            if tried_basic {
                return Err(fail(
                    "public clients authenticate with client_id only: HTTP Basic is refused",
                ));
            }
            if creds.client_secret_param.is_some() {
                return Err(fail(
                    "public clients have no secret: client_secret is refused",
                ));
            }
            Ok(None)
        }
        // Either place, whichever method was registered (the registered one is what the client
        // shows; RP libraries differ in their default). Both at once was refused above.
        ClientAuth::Secret { method: _, hash } => {
            let secret = match (&creds.basic, &creds.client_secret_param) {
                (Some((_, secret)), None) | (None, Some(secret)) => secret,
                _ => return Err(fail(
                    "client authentication is required: client_secret_basic or client_secret_post",
                )),
            };
            if keys.verify_secret(secret, hash) {
                Ok(None)
            } else {
                Err(fail("client authentication failed"))
            }
        }
    }
}

/// Policy rows "PKCE" and "code_challenge_method=plain": public clients must send a challenge;
/// anyone who sends one must use `S256`. A missing method means `plain` (RFC 7636 §4.3) and is
/// refused like `plain` itself.
pub fn check_pkce(
    client_type: ClientType,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    match (challenge, method) {
        (None, None) => match client_type {
            ClientType::Public => Err(OAuthError::invalid_request(
                "public clients must use PKCE: code_challenge is required",
            )),
            ClientType::Confidential => Ok(None),
        },
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "code_challenge_method is missing, which means plain; only S256 is allowed",
        )),
        (Some(_), Some(m)) if m != "S256" => Err(OAuthError::invalid_request(
            "only code_challenge_method=S256 is allowed",
        )),
        (Some(c), Some(_)) if !super::pkce::is_valid_verifier_or_challenge(c) => Err(
            OAuthError::invalid_request("code_challenge must be 43 to 128 base64url characters"),
        ),
        (Some(c), Some(_)) => Ok(Some(c.to_string())),
    }
}

/// Policy row "PKCE" for one application: as [`check_pkce`], and an application that requires
/// pushed authorization requests (the FAPI 2.0 profile of SPEC "Pushed authorization
/// requests, …"; FAPI 2.0 Security Profile §5.3.2.2: "shall require PKCE with S256") must send
/// a challenge whatever its type.
pub fn check_pkce_for(
    app: &Application,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    if app.require_pushed_authorization_requests && challenge.is_none() && method.is_none() {
        return Err(OAuthError::invalid_request(
            "this application requires pushed authorization requests with PKCE: code_challenge is required",
        ));
    }
    check_pkce(app.auth.client_type(), challenge, method)
}

/// Policy row "client_credentials grant", and the general rule that a client uses only the
/// grant types it registered.
pub fn check_grant_allowed(app: &Application, grant_type: &str) -> Result<(), OAuthError> {
    if grant_type == GRANT_CLIENT_CREDENTIALS && app.auth.client_type() == ClientType::Public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    if !app.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for {grant_type}"
        )));
    }
    Ok(())
}

/// Policy row "refresh tokens": issued to clients registered for the refresh_token grant when
/// the granted scope includes `offline_access`; rotated on every use for both types.
pub fn issues_refresh_token(app: &Application, granted: &[String]) -> bool {
    may_refresh(app) && has_refresh_scope(granted)
}

/// Policy row "refresh tokens": the scope a grant needs for refresh tokens.
pub const REFRESH_TOKEN_SCOPE: &str = "offline_access";

/// `scopes` hold [`REFRESH_TOKEN_SCOPE`]: the half of [`issues_refresh_token`] that depends on
/// the scope (a refreshed grant that lost it may refresh no more).
pub fn has_refresh_scope(scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == REFRESH_TOKEN_SCOPE)
}

/// The application is registered for the `refresh_token` grant: the half of
/// [`issues_refresh_token`] that does not depend on the scope.
pub fn may_refresh(app: &Application) -> bool {
    app.grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN)
}

/// A client registered with `dpop_bound_access_tokens: true` must send a DPoP proof with
/// every token request (RFC 9449 §5.2).
pub fn check_dpop_required(app: &Application, proof_present: bool) -> Result<(), OAuthError> {
    if app.dpop_bound_access_tokens && !proof_present {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "this client must send a DPoP proof",
        ));
    }
    Ok(())
}

/// Policy row "refresh tokens" (DPoP): refresh tokens of public clients are bound to the DPoP
/// key of the request that obtained them (RFC 9449 §5); a confidential client's refresh tokens
/// are already bound to its credentials.
pub fn refresh_token_binding(app: &Application, dpop_jkt: Option<&str>) -> Option<String> {
    match app.auth.client_type() {
        ClientType::Public => dpop_jkt.map(String::from),
        ClientType::Confidential => None,
    }
}

/// Policy row "/oauth/introspect": confidential clients only.
pub fn may_introspect(app: &Application) -> Result<(), OAuthError> {
    match app.auth.client_type() {
        ClientType::Confidential => Ok(()),
        // Introspection needs real client authentication, which a public client cannot give.
        ClientType::Public => Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "public clients cannot introspect tokens",
        )),
    }
}

/// Remembered consent (SPEC "Remembered consent"): reused for confidential clients and for
/// redirects to `https` URIs. A loopback or private-use-scheme redirect can be claimed by any app
/// on the device (RFC 8252 §8.6), so a public client's authorization to one always asks the
/// person again, and `prompt=none` for it is `consent_required`.
pub fn may_reuse_consent(app: &Application, redirect_uri: &str) -> bool {
    match app.auth.client_type() {
        ClientType::Confidential => true,
        ClientType::Public => redirect_uri.starts_with("https://"),
    }
}

/// Redirect URI matching at `/oauth/authorize` and `/oauth/token`: exact string equality,
/// except that the port of a loopback IP redirect URI may differ (RFC 8252 §7.3). The
/// comparison is of the strings as written, never of what a parser makes of them: a presented
/// `http://127.1:8765/cb`, `http://2130706433:8765/cb` or `http://127.0.0.1:8765/x/../cb` is not
/// the registered `http://127.0.0.1:8765/cb`.
pub fn redirect_uri_matches(registered: &[String], presented: &str) -> bool {
    registered
        .iter()
        .any(|r| r == presented || loopback_equal_but_port(r, presented))
}

/// `http://127.0.0.1:PORT…` or `http://[::1]:PORT…` → (`http://127.0.0.1`, `…`), the port (if
/// any, digits only) cut out of the text. `None` for anything else.
fn split_loopback_port(uri: &str) -> Option<(&str, &str)> {
    let host_end = ["http://127.0.0.1", "http://[::1]"]
        .iter()
        .find(|prefix| uri.starts_with(*prefix))?
        .len();
    let (origin, rest) = uri.split_at(host_end);
    let rest = match rest.strip_prefix(':') {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &after[digits..]
        }
        None => rest,
    };
    // The authority ends here: a path, a query, or nothing.
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((origin, rest))
}

fn loopback_equal_but_port(registered: &str, presented: &str) -> bool {
    // The presented URI must itself be canonical (no `:08765`, no dot segments, nothing a
    // parser would rewrite), so that the text compared is what the browser will follow.
    let Ok(parsed) = url::Url::parse(presented) else {
        return false;
    };
    if !is_canonical(&parsed, presented) || parsed.fragment().is_some() {
        return false;
    }
    match (
        split_loopback_port(registered),
        split_loopback_port(presented),
    ) {
        (Some(r), Some(p)) => r == p,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
