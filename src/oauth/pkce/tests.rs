use super::*;

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[test]
fn rfc_7636_appendix_b() {
    assert_eq!(s256(VERIFIER), CHALLENGE);
    let cases = [
        (CHALLENGE, VERIFIER, true),
        // plain: the verifier itself as the challenge.
        (VERIFIER, VERIFIER, false),
        (CHALLENGE, CHALLENGE, false),
        // One character off on either side.
        (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN",
            VERIFIER,
            false,
        ),
        (
            CHALLENGE,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            false,
        ),
        // Padded or truncated challenges are not the same string.
        (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=",
            VERIFIER,
            false,
        ),
        (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c",
            VERIFIER,
            false,
        ),
        ("", VERIFIER, false),
    ];
    for (challenge, verifier, ok) in cases {
        assert_eq!(
            verify_s256(challenge, verifier),
            ok,
            "{challenge} {verifier}"
        );
    }
}

#[test]
fn the_verifier_itself_must_be_43_to_128_unreserved_characters() {
    // Even when the challenge is its hash, a malformed verifier is refused.
    for verifier in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}/", "a".repeat(42)),
        format!("{} ", "a".repeat(42)),
        String::new(),
    ] {
        assert!(!verify_s256(&s256(&verifier), &verifier), "{verifier:?}");
    }
    for verifier in [
        "a".repeat(43),
        "~".repeat(128),
        format!("{}-._~", "Z9".repeat(20)),
    ] {
        assert!(verify_s256(&s256(&verifier), &verifier), "{verifier:?}");
    }
}

#[test]
fn length_and_characters() {
    let cases = [
        ("a".repeat(42), false),
        ("a".repeat(43), true),
        ("a".repeat(128), true),
        ("a".repeat(129), false),
        (String::new(), false),
        (VERIFIER.to_string(), true),
        (format!("{}-._~", "aZ09".repeat(10)), true),
        // Everything outside ALPHA / DIGIT / "-" / "." / "_" / "~".
        (format!("{}+", "a".repeat(42)), false),
        (format!("{}/", "a".repeat(42)), false),
        (format!("{}=", "a".repeat(42)), false),
        (format!("{}%", "a".repeat(42)), false),
        (format!("{} ", "a".repeat(42)), false),
        (format!("{}é", "a".repeat(42)), false),
        // Length counts bytes: 43 two-byte characters are not 43 valid ones.
        ("é".repeat(43), false),
    ];
    for (s, ok) in cases {
        assert_eq!(is_valid_verifier_or_challenge(&s), ok, "{s:?}");
    }
}

#[test]
fn only_s256_is_advertised() {
    assert_eq!(METHODS, ["S256"]);
}
