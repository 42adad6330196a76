//! `private_key_jwt` (RFC 7523 §2.2 and §3, OIDC Core §9): client authentication with a JWT
//! signed by one of the client's registered keys.
//!
//! Deliberately separate from access-token verification: no verified-token cache, no issuer
//! keys, and the claims checked here are the assertion's own. Only asymmetric algorithms
//! (RS256, PS256, ES256, EdDSA); `none` and HMAC never. The caller records the `jti` in the
//! replay cache every process shares (single use until `exp`).

use jsonwebtoken::{
    decode, decode_header,
    jwk::{Jwk, JwkSet},
    Algorithm, DecodingKey, Validation,
};
use serde_json::Value;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What assertions may be signed with, as discovery advertises them.
pub const ALGS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// An assertion may not live longer than this ahead of now (SPEC: at most 5 minutes).
pub const MAX_LIFETIME_SECONDS: i64 = 300;

/// How far in the future an assertion's `nbf` or `iat` may be (FAPI 2.0 asks for at least 10
/// seconds and at most 60).
pub const CLOCK_SKEW_SECONDS: i64 = 10;

/// The smallest RSA modulus accepted in a client's keys (FAPI 2.0 Security Profile §5.4.1).
const MIN_RSA_BITS: usize = 2048;

const MAX_KEYS: usize = 20;
const MAX_JWKS_BYTES: usize = 64 * 1024;
const MAX_ASSERTION_BYTES: usize = 8 * 1024;

/// The names of the discovery's `token_endpoint_auth_signing_alg_values_supported`.
pub fn alg_names() -> Vec<String> {
    ALGS.iter().map(|a| format!("{a:?}")).collect()
}

/// Checks a JWK Set registered for `private_key_jwt`: 1 to 20 public keys that logi can verify
/// with. Returns a description of the first problem.
pub fn check_jwks(text: &str) -> Result<(), String> {
    if text.len() > MAX_JWKS_BYTES {
        return Err("jwks is too large".into());
    }
    let raw: Value =
        serde_json::from_str(text).map_err(|_| "jwks must be a JSON object".to_string())?;
    let keys = raw
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("jwks must be a JWK Set: {\"keys\": [...]}")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    for key in keys {
        // Members only private keys have: a JWK Set here is published material.
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| key.get(m).is_some())
        {
            return Err("jwks must hold public keys only (no private members)".into());
        }
        if key.get("kty").and_then(Value::as_str) == Some("RSA") && rsa_bits(key) < MIN_RSA_BITS {
            return Err(format!(
                "jwks: RSA keys must have at least {MIN_RSA_BITS} bits"
            ));
        }
        let jwk: Jwk = serde_json::from_value(key.clone())
            .map_err(|_| "jwks holds a key logi cannot read".to_string())?;
        DecodingKey::from_jwk(&jwk).map_err(|_| "jwks holds a key logi cannot use".to_string())?;
    }
    Ok(())
}

/// The size in bits of an RSA JWK's modulus `n` (0 when unreadable).
fn rsa_bits(key: &Value) -> usize {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let Some(n) = key.get("n").and_then(Value::as_str) else {
        return 0;
    };
    match URL_SAFE_NO_PAD.decode(n) {
        Ok(bytes) => {
            let bytes: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
            match bytes.first() {
                Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
                None => 0,
            }
        }
        Err(_) => 0,
    }
}

/// The `kid`s of a JWK Set's keys (those that have one).
pub fn key_ids(jwks: &str) -> Vec<String> {
    serde_json::from_str::<JwkSet>(jwks)
        .map(|set| {
            set.keys
                .into_iter()
                .filter_map(|k| k.common.key_id)
                .collect()
        })
        .unwrap_or_default()
}

/// The `kid` an assertion's header names, read without verification: only to pick the keys
/// that then verify it.
pub fn header_kid(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    decode_header(assertion).ok()?.kid
}

/// A valid assertion's replay data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub exp: i64,
}

/// The client an assertion names (`iss`), read without verification: only to find the client
/// whose keys then verify it.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let payload = assertion.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(String::from)
}

/// Verifies `assertion` for `client_id` against its registered `jwks`: signature by one of its
/// keys with an allowed algorithm, `iss` = `sub` = `client_id`, `aud` naming the issuer or the
/// URL of the endpoint (`audience` = (issuer, endpoint path)),
/// `exp` in the future but at most [`MAX_LIFETIME_SECONDS`] ahead, `nbf` (if any) not in the
/// future, a `jti`. Time is `now`.
pub fn verify(
    jwks: &str,
    assertion: &str,
    client_id: &str,
    audience: (&str, &str),
    now: i64,
) -> Result<Verified, String> {
    let (issuer, endpoint) = audience;
    let names_us = |a: &str| a == issuer || a.strip_prefix(issuer) == Some(endpoint);
    if assertion.len() > MAX_ASSERTION_BYTES {
        return Err("client_assertion is too large".into());
    }
    let header =
        decode_header(assertion).map_err(|_| "client_assertion is not a JWT".to_string())?;
    if !ALGS.contains(&header.alg) {
        return Err("client_assertion must be signed with RS256, PS256, ES256 or EdDSA".into());
    }
    // RFC 7523bis: a dedicated type, or none; never a token of another kind.
    match header.typ.as_deref() {
        None | Some("JWT") | Some("client-authentication+jwt") => {}
        Some(_) => return Err("client_assertion has the wrong typ".into()),
    }
    let set: JwkSet =
        serde_json::from_str(jwks).map_err(|_| "the client's jwks is unreadable".to_string())?;
    let candidates = set
        .keys
        .iter()
        .filter(|k| match (&header.kid, &k.common.key_id) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        });
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let mut claims: Option<Value> = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        if let Ok(data) = decode::<Value>(assertion, &key, &validation) {
            claims = Some(data.claims);
            break;
        }
    }
    let claims = claims.ok_or("client_assertion is not signed by a key of this client")?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err("client_assertion: iss and sub must be the client_id".into());
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => names_us(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(names_us),
        _ => false,
    };
    if !aud_ok {
        return Err("client_assertion: aud must name this server".into());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("client_assertion: exp is required")?;
    if exp <= now {
        return Err("client_assertion has expired".into());
    }
    if exp > now.saturating_add(MAX_LIFETIME_SECONDS) {
        return Err("client_assertion: exp is more than 5 minutes ahead".into());
    }
    // FAPI 2.0 Security Profile §5.3.2.1: a client's clock may run a little ahead, so `nbf`
    // and `iat` up to CLOCK_SKEW_SECONDS in the future are accepted, later ones refused.
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now.saturating_add(CLOCK_SKEW_SECONDS))
    {
        return Err("client_assertion is not valid yet".into());
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > now.saturating_add(CLOCK_SKEW_SECONDS))
    {
        return Err("client_assertion: iat is in the future".into());
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("client_assertion: jti is required")?;
    Ok(Verified {
        jti: jti.to_string(),
        exp,
    })
}

#[cfg(test)]
mod tests;
