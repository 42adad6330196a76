//! PKCE (RFC 7636) with `S256` only.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};

use crate::crypto::constant_time_eq;

/// The only `code_challenge_method` logi accepts (`plain` is refused for everyone).
pub const METHODS: &[&str] = &["S256"];

/// RFC 7636 §4.1/§4.2: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier_or_challenge(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time (RFC 7636 §4.6).
pub fn verify_s256(challenge: &str, verifier: &str) -> bool {
    if !is_valid_verifier_or_challenge(verifier) {
        return false;
    }
    constant_time_eq(s256(verifier).as_bytes(), challenge.as_bytes())
}

/// The `S256` challenge of `verifier`: `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests;
