//! Assertion checks as a table, with keys made here and the time passed in.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_800_000_000;
const CLIENT: &str = "client-1";
const ISSUER: &str = "https://logi.example";

fn key() -> EcdsaKeyPair {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap()
}

fn jwk(k: &EcdsaKeyPair, kid: &str) -> Value {
    let p = k.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
           "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
}

fn sign(k: &EcdsaKeyPair, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = k.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn claims() -> Value {
    json!({"iss": CLIENT, "sub": CLIENT, "aud": ISSUER, "exp": NOW + 60, "jti": "j1"})
}

#[test]
fn assertions_are_checked_claim_by_claim() {
    let (k, other) = (key(), key());
    let jwks = json!({"keys": [jwk(&k, "k1")]}).to_string();
    let audiences = (ISSUER, "/oauth/token");
    let header = json!({"alg": "ES256", "kid": "k1"});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, String, bool)> = vec![
        ("valid", sign(&k, header.clone(), claims()), true),
        (
            "aud as a list with the endpoint",
            sign(
                &k,
                header.clone(),
                with(&|c| c["aud"] = json!(["x", format!("{ISSUER}/oauth/token")])),
            ),
            true,
        ),
        (
            "no kid: every key is tried",
            sign(&k, json!({"alg": "ES256"}), claims()),
            true,
        ),
        (
            "typ client-authentication+jwt",
            sign(
                &k,
                json!({"alg": "ES256", "typ": "client-authentication+jwt"}),
                claims(),
            ),
            true,
        ),
        (
            "exp exactly 5 minutes ahead",
            sign(
                &k,
                header.clone(),
                with(&|c| c["exp"] = json!(NOW + MAX_LIFETIME_SECONDS)),
            ),
            true,
        ),
        (
            "exp 5 minutes and 1 s ahead",
            sign(
                &k,
                header.clone(),
                with(&|c| c["exp"] = json!(NOW + MAX_LIFETIME_SECONDS + 1)),
            ),
            false,
        ),
        (
            "exp now",
            sign(&k, header.clone(), with(&|c| c["exp"] = json!(NOW))),
            false,
        ),
        (
            "exp a string",
            sign(&k, header.clone(), with(&|c| c["exp"] = json!("soon"))),
            false,
        ),
        (
            "nbf and iat a little ahead (clock skew)",
            sign(
                &k,
                header.clone(),
                with(&|c| {
                    c["nbf"] = json!(NOW + CLOCK_SKEW_SECONDS);
                    c["iat"] = json!(NOW + CLOCK_SKEW_SECONDS);
                }),
            ),
            true,
        ),
        (
            "nbf in the future",
            sign(
                &k,
                header.clone(),
                with(&|c| c["nbf"] = json!(NOW + CLOCK_SKEW_SECONDS + 1)),
            ),
            false,
        ),
        (
            "iat in the future",
            sign(
                &k,
                header.clone(),
                with(&|c| c["iat"] = json!(NOW + CLOCK_SKEW_SECONDS + 1)),
            ),
            false,
        ),
        (
            "iss differs",
            sign(&k, header.clone(), with(&|c| c["iss"] = json!("other"))),
            false,
        ),
        (
            "aud elsewhere",
            sign(
                &k,
                header.clone(),
                with(&|c| c["aud"] = json!("https://elsewhere.example")),
            ),
            false,
        ),
        (
            "no aud",
            sign(
                &k,
                header.clone(),
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
            false,
        ),
        (
            "empty jti",
            sign(&k, header.clone(), with(&|c| c["jti"] = json!(""))),
            false,
        ),
        ("another key", sign(&other, header.clone(), claims()), false),
        (
            "unknown kid",
            sign(&k, json!({"alg": "ES256", "kid": "k2"}), claims()),
            false,
        ),
        (
            "typ at+jwt",
            sign(&k, json!({"alg": "ES256", "typ": "at+jwt"}), claims()),
            false,
        ),
        (
            "HS256 header",
            sign(&k, json!({"alg": "HS256"}), claims()),
            false,
        ),
        (
            "ES384 header",
            sign(&k, json!({"alg": "ES384"}), claims()),
            false,
        ),
    ];
    for (what, assertion, ok) in cases {
        let got = verify(&jwks, &assertion, CLIENT, audiences, NOW);
        assert_eq!(got.is_ok(), ok, "{what}: {got:?}");
        if ok {
            assert_eq!(got.unwrap().jti, "j1");
        }
    }
    assert!(verify(&jwks, &"x".repeat(9000), CLIENT, audiences, NOW).is_err());
    assert_eq!(
        claimed_client_id(&sign(&k, header, claims())).as_deref(),
        Some(CLIENT)
    );
    assert_eq!(claimed_client_id("not a jwt"), None);
}

#[test]
fn registered_key_sets_hold_usable_public_keys() {
    let k = key();
    let mut private = jwk(&k, "k1");
    private["d"] = json!("AAAA");
    let many: Vec<Value> = (0..21).map(|i| jwk(&k, &format!("k{i}"))).collect();
    let cases = [
        (json!({"keys": [jwk(&k, "k1")]}), true),
        (json!({"keys": []}), false),
        (json!({"keys": many}), false),
        (json!({"keys": [private]}), false),
        (json!({"keys": [{"kty": "oct", "k": "AAAA"}]}), false),
        (json!({"keys": [{"kty": "EC", "crv": "P-256"}]}), false),
        (json!([jwk(&k, "k1")]), false),
        (json!("keys"), false),
    ];
    for (set, ok) in cases {
        assert_eq!(check_jwks(&set.to_string()).is_ok(), ok, "{set}");
    }
    assert!(check_jwks("not json").is_err());
}

#[test]
fn rsa_keys_shorter_than_2048_bits_are_refused() {
    // A 1024-bit and a 2048-bit modulus (their top bit set), e = 65537.
    let n = |bytes: usize| URL_SAFE_NO_PAD.encode(vec![0xC5u8; bytes]);
    let set = |n: String| json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB"}]}).to_string();
    assert!(check_jwks(&set(n(128)))
        .unwrap_err()
        .contains("at least 2048 bits"));
    assert_eq!(check_jwks(&set(n(256))), Ok(()));
    // Leading zero bytes do not count.
    let mut padded = vec![0u8; 2];
    padded.extend(vec![0xC5u8; 200]);
    assert!(check_jwks(&set(URL_SAFE_NO_PAD.encode(padded))).is_err());
}

#[test]
fn keys_sharing_a_kid_are_each_tried() {
    // FAPI 2.0 §5.4.3: a set should not repeat a kid, but if it does, the verifier picks the
    // key that fits.
    let (old, new) = (key(), key());
    let jwks = json!({"keys": [jwk(&old, "k1"), jwk(&new, "k1")]}).to_string();
    for signer in [&old, &new] {
        let a = sign(signer, json!({"alg": "ES256", "kid": "k1"}), claims());
        assert!(
            verify(&jwks, &a, CLIENT, (ISSUER, "/oauth/token"), NOW).is_ok(),
            "either key of the kid verifies"
        );
    }
    let stranger = sign(&key(), json!({"alg": "ES256", "kid": "k1"}), claims());
    assert!(verify(&jwks, &stranger, CLIENT, (ISSUER, "/oauth/token"), NOW).is_err());
}
