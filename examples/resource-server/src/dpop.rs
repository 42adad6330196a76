//! DPoP proofs at a resource server (RFC 9449 §4.3, §7): the proof is a JWT signed by the key
//! in its own header; it must name this request (`htm`, `htu`), be fresh (`iat`), be used once
//! (`jti`), name the access token (`ath`), and its key's thumbprint must be the token's
//! `cnf.jkt`.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::digest;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::problem::Problem;

/// How far a proof's `iat` may be from our clock, either way (seconds).
const IAT_WINDOW: i64 = 60;

/// Asymmetric algorithms only (§4.3 check 5).
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
}

/// Proof `jti`s seen within the `iat` window (one process; several replicas would share a
/// store such as Redis).
#[derive(Default)]
pub struct ReplayCache(Mutex<HashMap<String, i64>>);

impl ReplayCache {
    /// `false` when `jti` was seen before.
    fn first_use(&self, jti: &str, now: i64) -> bool {
        let mut seen = self.0.lock().expect("lock");
        seen.retain(|_, at| *at > now - 2 * IAT_WINDOW);
        seen.insert(jti.to_string(), now).is_none()
    }
}

/// Checks `proof` for a request `method url` carrying `access_token`; returns the thumbprint of
/// its key (RFC 7638), to compare with the token's `cnf.jkt`.
pub fn verify(
    proof: &str,
    method: &str,
    url: &str,
    access_token: &str,
    replays: &ReplayCache,
) -> Result<String, Problem> {
    let invalid = |d: &str| Problem::invalid_dpop_proof(d);
    let header = jsonwebtoken::decode_header(proof).map_err(|_| invalid("not a JWT"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ must be dpop+jwt"));
    }
    if !ALGORITHMS.contains(&header.alg) {
        return Err(invalid("algorithm not accepted"));
    }
    let jwk = header.jwk.as_ref().ok_or_else(|| invalid("no jwk"))?;
    // The raw header, for what the typed one cannot tell: no private key material, and the
    // members the thumbprint is computed from.
    let raw_jwk = raw_header(proof)
        .and_then(|h| h.get("jwk").cloned())
        .ok_or_else(|| invalid("no jwk"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| raw_jwk.get(m).is_some())
    {
        return Err(invalid("the jwk holds a private key"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable jwk"))?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|e| invalid(&format!("proof rejected: {e}")))?
        .claims;
    if claims.htm != method {
        return Err(invalid("htm is not this request's method"));
    }
    if claims.htu != url {
        return Err(invalid("htu is not this request's URL"));
    }
    let now = unix_now();
    if (claims.iat - now).abs() > IAT_WINDOW {
        return Err(invalid("iat is too far from now"));
    }
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, access_token.as_bytes()));
    if claims.ath.as_deref() != Some(ath.as_str()) {
        return Err(invalid("ath does not match the access token"));
    }
    if !replays.first_use(&claims.jti, now) {
        return Err(invalid("this proof was used before"));
    }
    thumbprint(&raw_jwk).ok_or_else(|| invalid("unsupported jwk"))
}

fn raw_header(jwt: &str) -> Option<Value> {
    let first = jwt.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).ok()?).ok()
}

/// RFC 7638: SHA-256 of the required members, in lexicographic order, without whitespace.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk.get(name)?.as_str().map(str::to_string);
    let canonical = match jwk.get("kty")?.as_str()? {
        "EC" => {
            serde_json::json!({"crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")?})
        }
        "RSA" => serde_json::json!({"e": member("e")?, "kty": "RSA", "n": member("n")?}),
        "OKP" => serde_json::json!({"crv": member("crv")?, "kty": "OKP", "x": member("x")?}),
        _ => return None,
    };
    // Members written in lexicographic order (as listed above), without whitespace.
    let bytes = serde_json::to_vec(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, &bytes)))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
