//! DPoP proofs signed here (ES256, aws-lc-rs), checked with the time passed in.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use serde_json::json;

use super::*;
use crate::test_support::keys;

const NOW: i64 = 1_700_000_000;
const URL: &str = "https://logi.example/oauth/token";
const TOKEN: &str = "the-access-token";

/// A client's DPoP key.
struct Key {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl Key {
    fn new() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Key { pair, jwk }
    }

    /// The header of a well-formed proof.
    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk})
    }

    /// A JWS over any header and claims (the header may hold what a JWT library would refuse
    /// to write). ES256 signatures in JWS are the fixed-size r || s form.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn proof(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    fn proof_with_header(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        change(&mut header);
        self.sign(&header, &claims())
    }
}

/// The claims of a valid proof for `POST URL` at `NOW`.
fn claims() -> Value {
    json!({"htm": "POST", "htu": URL, "iat": NOW, "jti": "jti-1"})
}

fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims();
    change(&mut c);
    c
}

fn without(member: &str) -> Value {
    with(|c| {
        c.as_object_mut().unwrap().remove(member);
    })
}

fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// What `check_proof` says, comparable: `Ok`, the reason of `Invalid`, or `use_dpop_nonce`.
fn outcome(r: Result<(Proof, String), DpopError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(DpopError::Invalid(d)) => Err(d),
        Err(DpopError::UseNonce) => Err("use_dpop_nonce".into()),
        Err(DpopError::Store(e)) => panic!("no store is involved: {e}"),
    }
}

/// `check_proof` for `POST URL`, with nonces optional unless `required`.
fn check(
    proof: &str,
    access_token: Option<&str>,
    required: bool,
    now: i64,
) -> Result<(Proof, String), DpopError> {
    let keys = keys();
    let nonces = NoncePolicy {
        keys: &keys,
        required,
    };
    check_proof(proof, "POST", URL, access_token, &nonces, now)
}

fn refused(reason: &str) -> Result<(), String> {
    Err(reason.to_string())
}

#[test]
fn a_valid_proof_gives_the_key_thumbprint() {
    let key = Key::new();
    let (proof, _) = check(&key.proof(&claims()), None, false, NOW).unwrap();
    assert_eq!(proof.jkt, thumbprint(&key.jwk).unwrap());
}

#[test]
fn header_checks() {
    let key = Key::new();
    let other = Key::new();
    let hmac_header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk});
    let none_header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk});
    let mut tampered = key.proof(&claims());
    tampered.replace_range(
        tampered.find('.').unwrap() + 1..tampered.rfind('.').unwrap(),
        &URL_SAFE_NO_PAD.encode(with(|c| c["htm"] = json!("GET")).to_string()),
    );
    let cases = [
        (key.proof(&claims()), Ok(())),
        ("not a jwt".to_string(), refused("not a JWT")),
        (
            key.proof(&with(|c| c["pad"] = json!("p".repeat(8192)))),
            refused("proof too large"),
        ),
        // typ (RFC 9449 §4.2).
        (
            key.proof_with_header(|h| h["typ"] = json!("JWT")),
            refused("typ must be dpop+jwt"),
        ),
        (
            key.proof_with_header(|h| h["typ"] = json!("at+jwt")),
            refused("typ must be dpop+jwt"),
        ),
        (
            key.proof_with_header(|h| {
                h.as_object_mut().unwrap().remove("typ");
            }),
            refused("typ must be dpop+jwt"),
        ),
        // Never a symmetric algorithm, never `none`.
        (
            key.sign(&hmac_header, &claims()),
            refused("alg must be an asymmetric algorithm"),
        ),
        (key.sign(&none_header, &claims()), refused("not a JWT")),
        // The key: present, public, and the one that signed.
        (
            key.proof_with_header(|h| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
            refused("jwk header missing"),
        ),
        (
            key.proof_with_header(|h| h["jwk"]["d"] = json!("c2VjcmV0")),
            refused("jwk must be a public key"),
        ),
        (
            key.proof_with_header(|h| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"})),
            refused("jwk must be a public key"),
        ),
        (
            key.proof_with_header(|h| h["jwk"] = other.jwk.clone()),
            refused("bad signature"),
        ),
        (tampered, refused("bad signature")),
    ];
    for (i, (proof, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            outcome(check(&proof, None, false, NOW)),
            expected,
            "case {i}"
        );
    }
}

#[test]
fn claim_checks() {
    let key = Key::new();
    let htu = |u: &str| with(|c| c["htu"] = json!(u));
    let wrong_htu = refused("htu does not match the request URL");
    let wrong_htm = refused("htm does not match the request method");
    let cases = [
        // jti: present, 1 to 256 characters.
        (with(|c| c["jti"] = json!("j".repeat(256))), Ok(())),
        (without("jti"), refused("jti missing")),
        (with(|c| c["jti"] = json!("")), refused("jti missing")),
        (with(|c| c["jti"] = json!(7)), refused("jti missing")),
        (
            with(|c| c["jti"] = json!("j".repeat(257))),
            refused("jti missing"),
        ),
        // htm: exactly the request's method.
        (with(|c| c["htm"] = json!("GET")), wrong_htm.clone()),
        (with(|c| c["htm"] = json!("post")), wrong_htm.clone()),
        (without("htm"), wrong_htm),
        // htu: the request's URL, without query and fragment (RFC 9449 §4.3).
        (htu(&format!("{URL}?x=1")), Ok(())),
        (htu(&format!("{URL}#f")), Ok(())),
        (htu("https://logi.example/oauth/revoke"), wrong_htu.clone()),
        (htu("https://other.example/oauth/token"), wrong_htu.clone()),
        (htu("http://logi.example/oauth/token"), wrong_htu.clone()),
        (htu("/oauth/token"), wrong_htu),
        (without("htu"), refused("htu missing")),
        // iat: a number.
        (without("iat"), refused("iat missing")),
        (
            with(|c| c["iat"] = json!(NOW.to_string())),
            refused("iat missing"),
        ),
    ];
    for (claims, expected) in cases {
        let got = outcome(check(&key.proof(&claims), None, false, NOW));
        assert_eq!(got, expected, "{claims}");
    }
}

#[test]
fn iat_must_be_within_the_window_on_both_sides() {
    let key = Key::new();
    let proof = key.proof(&claims());
    let outside = refused("iat is outside the accepted window");
    let cases = [
        (NOW, Ok(())),
        (NOW + IAT_WINDOW, Ok(())),
        (NOW - IAT_WINDOW, Ok(())),
        // The proof is too old ...
        (NOW + IAT_WINDOW + 1, outside.clone()),
        (NOW + 3600, outside.clone()),
        // ... or from the future.
        (NOW - IAT_WINDOW - 1, outside.clone()),
        (NOW - 3600, outside),
    ];
    for (now, expected) in cases {
        let got = outcome(check(&proof, None, false, now));
        assert_eq!(got, expected, "now = NOW + {}", now - NOW);
    }
}

#[test]
fn an_extreme_iat_is_refused_without_overflow() {
    let key = Key::new();
    let outside = refused("iat is outside the accepted window");
    for iat in [i64::MIN, i64::MIN + 1, i64::MAX, NOW + i64::MIN] {
        let proof = key.proof(&with(|c| c["iat"] = json!(iat)));
        assert_eq!(
            outcome(check(&proof, None, false, NOW)),
            outside,
            "iat {iat}"
        );
    }
}

#[test]
fn ath_is_required_with_an_access_token_and_compared() {
    let key = Key::new();
    let with_ath = |a: String| with(|c| c["ath"] = json!(a));
    let cases = [
        (with_ath(ath(TOKEN)), Some(TOKEN), Ok(())),
        (claims(), Some(TOKEN), refused("ath missing")),
        (
            with_ath(ath("another-token")),
            Some(TOKEN),
            refused("ath does not match the access token"),
        ),
        (
            with_ath(TOKEN.into()),
            Some(TOKEN),
            refused("ath does not match the access token"),
        ),
        // At the token endpoint there is no access token to compare with.
        (claims(), None, Ok(())),
        (with_ath(ath(TOKEN)), None, Ok(())),
    ];
    for (claims, token, expected) in cases {
        let got = outcome(check(&key.proof(&claims), token, false, NOW));
        assert_eq!(got, expected, "{claims} {token:?}");
    }
}

#[test]
fn server_nonces() {
    let key = Key::new();
    let keys = keys();
    let other_server = ServerKeys::from_master(&[8u8; 32]);
    let use_nonce = refused("use_dpop_nonce");
    let with_nonce = |n: String| with(|c| c["nonce"] = json!(n));
    // (claims, nonce required, expected)
    let cases = [
        (claims(), false, Ok(())),
        (claims(), true, use_nonce.clone()),
        (with_nonce(current_nonce(&keys, NOW)), true, Ok(())),
        (with_nonce(current_nonce(&keys, NOW)), false, Ok(())),
        // The previous window is still fresh.
        (
            with_nonce(current_nonce(&keys, NOW - NONCE_WINDOW)),
            true,
            Ok(()),
        ),
        // Older, newer, foreign or made-up nonces are stale, even when nonces are optional.
        (
            with_nonce(current_nonce(&keys, NOW - 2 * NONCE_WINDOW)),
            false,
            use_nonce.clone(),
        ),
        (
            with_nonce(current_nonce(&keys, NOW + NONCE_WINDOW)),
            true,
            use_nonce.clone(),
        ),
        (
            with_nonce(current_nonce(&other_server, NOW)),
            true,
            use_nonce.clone(),
        ),
        (with_nonce("made-up".into()), false, use_nonce),
    ];
    for (claims, required, expected) in cases {
        let got = outcome(check(&key.proof(&claims), None, required, NOW));
        assert_eq!(got, expected, "{claims} required={required}");
    }
}

#[test]
fn a_nonce_is_the_same_for_a_whole_window() {
    let keys = keys();
    let start = NOW.div_euclid(NONCE_WINDOW) * NONCE_WINDOW;
    let nonce = current_nonce(&keys, start);
    assert_eq!(current_nonce(&keys, start + NONCE_WINDOW - 1), nonce);
    assert_ne!(current_nonce(&keys, start + NONCE_WINDOW), nonce);
    assert_ne!(current_nonce(&keys, start - 1), nonce);
    // Fresh for its own window and the next, not after.
    assert!(nonce_is_fresh(&keys, &nonce, start));
    assert!(nonce_is_fresh(&keys, &nonce, start + 2 * NONCE_WINDOW - 1));
    assert!(!nonce_is_fresh(&keys, &nonce, start + 2 * NONCE_WINDOW));
    assert!(!nonce_is_fresh(&keys, &nonce, start - 1));
}

#[test]
fn the_replay_key_is_per_key_and_jti() {
    let replay_key = |key: &Key, jti: &str| {
        let proof = key.proof(&with(|c| c["jti"] = json!(jti)));
        check(&proof, None, false, NOW).unwrap().1
    };
    let (a, b) = (Key::new(), Key::new());
    // Two proofs (two signatures) with one key and one jti: the same replay key.
    assert_eq!(replay_key(&a, "j1"), replay_key(&a, "j1"));
    assert_ne!(replay_key(&a, "j1"), replay_key(&a, "j2"));
    assert_ne!(replay_key(&a, "j1"), replay_key(&b, "j1"));
}

#[test]
fn thumbprints() {
    // RFC 7638 §3.1.
    let rfc_7638 = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        thumbprint(&rfc_7638).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    // Only the required members count.
    let key = Key::new();
    let mut decorated = key.jwk.clone();
    decorated["kid"] = json!("k1");
    decorated["use"] = json!("sig");
    assert_eq!(thumbprint(&decorated), thumbprint(&key.jwk));
    assert_ne!(thumbprint(&Key::new().jwk), thumbprint(&key.jwk));
    // Unknown types and missing members have none.
    let mut no_y = key.jwk.clone();
    no_y.as_object_mut().unwrap().remove("y");
    for jwk in [
        no_y,
        json!({"kty": "oct", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "n": "AQAB"}),
        json!({"kty": "OKP", "crv": "Ed25519"}),
        json!({"crv": "P-256", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": 1, "x": "AA", "y": "AA"}),
    ] {
        assert_eq!(thumbprint(&jwk), None, "{jwk}");
    }
    assert!(thumbprint(&json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"})).is_some());
}
