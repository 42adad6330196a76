//! Access tokens presented to logi's own resources (`/oauth/userinfo`): RFC 6750 Bearer and
//! RFC 9449 DPoP, verification and revocation checks, and their error codes.

use jsonwebtoken::{decode, decode_header, Validation};

use super::{dpop, tokens::AccessClaims};
use crate::{
    config::Config,
    keys::KeyRing,
    store::{self, users::User, Store, StoreError},
};

/// RFC 6750 §3.1 and RFC 9449 §7.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerErrorCode {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
    UseDpopNonce,
}

impl BearerErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            BearerErrorCode::InvalidRequest => "invalid_request",
            BearerErrorCode::InvalidToken => "invalid_token",
            BearerErrorCode::InsufficientScope => "insufficient_scope",
            BearerErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            BearerErrorCode::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

#[derive(Debug)]
pub enum BearerError {
    /// No credentials at all: answer with a bare challenge (RFC 6750 §3.1).
    Missing,
    Error(BearerErrorCode, String),
    Store(StoreError),
}

impl From<StoreError> for BearerError {
    fn from(e: StoreError) -> Self {
        BearerError::Store(e)
    }
}

fn invalid_token(d: &str) -> BearerError {
    BearerError::Error(BearerErrorCode::InvalidToken, d.to_string())
}

/// The request to a protected resource a DPoP proof must match.
pub struct ResourceRequest<'a> {
    pub method: &'a str,
    /// Without query and fragment.
    pub url: &'a str,
    pub nonces: dpop::NoncePolicy<'a>,
    pub now: i64,
}

/// How the access token came.
pub enum Presented<'a> {
    Bearer(&'a str),
    Dpop {
        token: &'a str,
        proof: Option<&'a str>,
    },
}

/// A verified access token, with its user when it belongs to one.
pub struct Verified {
    pub claims: AccessClaims,
    pub user: Option<std::sync::Arc<User>>,
}

/// Verifies an access token: signature by a published logi key, `typ: at+jwt`, `iss`, an `aud`,
/// expiry, and that it is not revoked (its grant, or the token itself when it has no grant).
/// One database round trip.
pub async fn verify_access_token(
    store: &Store,
    keyring: &KeyRing,
    config: &Config,
    token: &str,
    now: i64,
) -> Result<Verified, BearerError> {
    let claims = decode_access_token(keyring, config, token, Some(now))
        .ok_or_else(|| invalid_token("invalid or expired token"))?;
    let mut user = None;
    let revoked = match &claims.gid {
        Some(gid) => {
            user = store::oauth::active_grant_user(store, gid).await?;
            user.is_none()
        }
        // client_credentials tokens: valid while their application exists and not revoked.
        None => {
            store::applications::by_client_id(store, &claims.client_id)
                .await?
                .is_none()
                || store::oauth::access_token_revoked(store, &claims.jti).await?
        }
    };
    if revoked {
        return Err(invalid_token("token revoked"));
    }
    Ok(Verified { claims, user })
}

/// Signature and claim checks only (no database). `unexpired_at: Some(now)` also requires
/// `exp > now`; `None` skips the expiry check (revocation requests). A token verified before is
/// not verified again (its expiry is).
pub fn decode_access_token(
    keyring: &KeyRing,
    config: &Config,
    token: &str,
    unexpired_at: Option<i64>,
) -> Option<AccessClaims> {
    let fresh = |claims: &AccessClaims| unexpired_at.is_none_or(|now| claims.exp > now);
    if let Some(claims) = keyring.verified::<AccessClaims>(token) {
        return fresh(&claims).then(|| (*claims).clone());
    }
    let header = decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let key = keyring.verifier(header.kid.as_deref()?)?;
    if key.alg.jsonwebtoken() != header.alg {
        return None;
    }
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&config.issuer]);
    // Every access token logi signs is for logi's own endpoints or for one of its registered
    // APIs (RFC 8707): userinfo answers one whose scope has `openid` (SPEC: a token for an API
    // keeps the granted `openid profile email`), and introspection reports its `aud`. The
    // audience of an API's token is checked by that API's resource server.
    validation.validate_aud = false;
    validation.leeway = 0;
    // Expiry is checked against logi's clock below, not the library's reading of the system's.
    validation.validate_exp = false;
    validation.required_spec_claims = ["exp", "iss", "aud"]
        .iter()
        .map(|c| c.to_string())
        .collect();
    let claims = decode::<AccessClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    if !fresh(&claims) {
        return None;
    }
    if unexpired_at.is_some() {
        keyring.remember_verified(token, std::sync::Arc::new(claims.clone()));
    }
    Some(claims)
}

/// Authorizes a request to a logi resource at `url` with `method`: a Bearer token must not be
/// DPoP-bound; a DPoP token needs a fresh proof from its key, with `ath`.
pub async fn authorize_request(
    store: &Store,
    keyring: &KeyRing,
    config: &Config,
    presented: Presented<'_>,
    request: &ResourceRequest<'_>,
) -> Result<Verified, BearerError> {
    let ResourceRequest {
        method,
        url,
        nonces,
        now,
    } = request;
    let (method, url, now) = (*method, *url, *now);
    match presented {
        Presented::Bearer(token) => {
            let verified = verify_access_token(store, keyring, config, token, now).await?;
            if verified.claims.cnf.is_some() {
                return Err(invalid_token(
                    "this token is DPoP-bound: present it with Authorization: DPoP and a proof",
                ));
            }
            Ok(verified)
        }
        Presented::Dpop { token, proof } => {
            let proof = proof.ok_or_else(|| {
                BearerError::Error(
                    BearerErrorCode::InvalidDpopProof,
                    "a DPoP proof is required".into(),
                )
            })?;
            let verified = verify_access_token(store, keyring, config, token, now).await?;
            let proof =
                match dpop::verify(store, proof, method, url, Some(token), nonces, now).await {
                    Ok(p) => p,
                    Err(dpop::DpopError::Invalid(d)) => {
                        return Err(BearerError::Error(BearerErrorCode::InvalidDpopProof, d))
                    }
                    Err(dpop::DpopError::UseNonce) => {
                        return Err(BearerError::Error(
                            BearerErrorCode::UseDpopNonce,
                            "use the DPoP-Nonce this server provides".into(),
                        ))
                    }
                    Err(dpop::DpopError::Store(e)) => return Err(e.into()),
                };
            match &verified.claims.cnf {
                Some(cnf) if cnf.jkt == proof.jkt => Ok(verified),
                Some(_) => Err(invalid_token(
                    "the proof is signed by another key than the token is bound to",
                )),
                None => Err(invalid_token(
                    "this token is not DPoP-bound: present it as Bearer",
                )),
            }
        }
    }
}
