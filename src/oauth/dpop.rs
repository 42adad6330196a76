//! DPoP proofs (RFC 9449): validation, key thumbprints and the shared replay cache.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{decode, decode_header, jwk::Jwk, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    crypto::{constant_time_eq, ServerKeys},
    store::{self, Store, StoreError},
};

/// Asymmetric algorithms accepted for proofs (never `none` or HMAC: RFC 9449 §4.2).
pub const ALGS: &[&str] = &[
    "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
];

/// How far `iat` may be from the server's clock, in seconds.
pub const IAT_WINDOW: i64 = 60;

/// A valid proof: the thumbprint of its key (`cnf.jkt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
}

#[derive(Debug)]
pub enum DpopError {
    Invalid(String),
    /// The proof lacks a nonce this server requires, or carries a stale one: answer
    /// `use_dpop_nonce` with a fresh `DPoP-Nonce` (RFC 9449 §8).
    UseNonce,
    Store(StoreError),
}

/// Server-provided nonces (RFC 9449 §8) are stateless: an HMAC of the current five-minute
/// window under a key derived from the master key, so every process issues and accepts the same
/// nonces without sharing state. The current and the previous window are accepted.
pub const NONCE_WINDOW: i64 = 300;

pub struct NoncePolicy<'a> {
    pub keys: &'a ServerKeys,
    pub required: bool,
}

/// The nonce to send in `DPoP-Nonce` now.
pub fn current_nonce(keys: &ServerKeys, now: i64) -> String {
    keys.dpop_nonce(now.div_euclid(NONCE_WINDOW))
}

fn nonce_is_fresh(keys: &ServerKeys, nonce: &str, now: i64) -> bool {
    let window = now.div_euclid(NONCE_WINDOW);
    [window, window - 1]
        .iter()
        .any(|w| constant_time_eq(keys.dpop_nonce(*w).as_bytes(), nonce.as_bytes()))
}

impl From<StoreError> for DpopError {
    fn from(e: StoreError) -> Self {
        DpopError::Store(e)
    }
}

fn invalid(d: &str) -> DpopError {
    DpopError::Invalid(d.to_string())
}

/// RFC 9449 §4.3: checks a proof for a request of `method` to `url` (without query), with `ath`
/// when it accompanies an access token, and records its `jti` so it cannot be replayed.
pub async fn verify(
    store: &Store,
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    nonces: &NoncePolicy<'_>,
    now: i64,
) -> Result<Proof, DpopError> {
    let (proof, replay_key) = check_proof(proof, method, url, access_token, nonces, now)?;
    // Unique per key for the whole window, across every process.
    if !store::oauth::remember_jti(store, &replay_key, now + 2 * IAT_WINDOW).await? {
        return Err(invalid("proof replayed (jti already used)"));
    }
    Ok(proof)
}

/// Every check of [`verify`] but the replay cache: the proof and the key under which its `jti`
/// must be remembered (unique per key and `jti`).
pub fn check_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    nonces: &NoncePolicy<'_>,
    now: i64,
) -> Result<(Proof, String), DpopError> {
    if proof.len() > 8192 {
        return Err(invalid("proof too large"));
    }
    let header = decode_header(proof).map_err(|_| invalid("not a JWT"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ must be dpop+jwt"));
    }
    let alg = format!("{:?}", header.alg);
    if !ALGS.contains(&alg.as_str()) {
        return Err(invalid("alg must be an asymmetric algorithm"));
    }
    // The raw header, to see members the typed JWK would silently drop (private parts).
    let raw_header: Value = proof
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("malformed header"))?;
    let raw_jwk = raw_header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or_else(|| invalid("jwk header missing"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| raw_jwk.get(m).is_some())
    {
        return Err(invalid("jwk must be a public key"));
    }
    let jkt = thumbprint(raw_jwk).ok_or_else(|| invalid("unsupported jwk"))?;
    let jwk: Jwk =
        serde_json::from_value(raw_jwk.clone()).map_err(|_| invalid("unsupported jwk"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("unsupported jwk"))?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = decode::<Value>(proof, &key, &validation)
        .map_err(|_| invalid("bad signature"))?
        .claims;

    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| invalid("jti missing"))?;
    if claims["htm"].as_str() != Some(method) {
        return Err(invalid("htm does not match the request method"));
    }
    let htu = claims["htu"]
        .as_str()
        .ok_or_else(|| invalid("htu missing"))?;
    if strip_query(htu).as_deref() != Some(url) {
        return Err(invalid("htu does not match the request URL"));
    }
    let iat = claims["iat"]
        .as_i64()
        .ok_or_else(|| invalid("iat missing"))?;
    // abs_diff: an attacker-chosen `iat` near i64::MIN must not overflow the subtraction.
    if now.abs_diff(iat) > IAT_WINDOW.unsigned_abs() {
        return Err(invalid("iat is outside the accepted window"));
    }
    match claims["nonce"].as_str() {
        Some(nonce) if !nonce_is_fresh(nonces.keys, nonce, now) => return Err(DpopError::UseNonce),
        None if nonces.required => return Err(DpopError::UseNonce),
        _ => {}
    }
    if let Some(token) = access_token {
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        let ath = claims["ath"]
            .as_str()
            .ok_or_else(|| invalid("ath missing"))?;
        if !constant_time_eq(ath.as_bytes(), expected.as_bytes()) {
            return Err(invalid("ath does not match the access token"));
        }
    }
    let replay_key = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{jkt}:{jti}").as_bytes()));
    Ok((Proof { jkt }, replay_key))
}

/// `htu` compared without query and fragment (RFC 9449 §4.3 item 9).
fn strip_query(htu: &str) -> Option<String> {
    let mut url = url::Url::parse(htu).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// RFC 7638 JWK SHA-256 thumbprint over the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let s = |k: &str| {
        jwk.get(k)
            .and_then(Value::as_str)
            .and_then(|v| serde_json::to_string(v).ok())
    };
    let canonical = match jwk.get("kty")?.as_str()? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s("crv")?,
            s("x")?,
            s("y")?
        ),
        "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s("e")?, s("n")?),
        "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, s("crv")?, s("x")?),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests;
