use axum::http::{header, HeaderMap, HeaderValue};

use super::*;

fn headers(value: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_bytes(value).unwrap(),
    );
    h
}

fn basic(user_pass: &[u8]) -> HeaderMap {
    headers(format!("Basic {}", STANDARD.encode(user_pass)).as_bytes())
}

#[test]
fn no_authorization_header_is_no_basic_credentials() {
    assert_eq!(basic_credentials(&HeaderMap::new()), Ok(None));
}

#[test]
fn basic_credentials_are_form_decoded() {
    let cases: &[(HeaderMap, &str, &str)] = &[
        (basic(b"client-1:s3cret"), "client-1", "s3cret"),
        // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
        (basic(b"my%3Aclient:a%2Bb+c"), "my:client", "a+b c"),
        (basic(b"client:%C3%A9%26%3D%25"), "client", "é&=%"),
        // The first colon separates; later ones belong to the secret.
        (basic(b"client:se:cret"), "client", "se:cret"),
        (basic(b"client:"), "client", ""),
        (basic(b":secret"), "", "secret"),
        // The scheme is case-insensitive; spaces around the credentials are ignored.
        (headers(b"basic Y2xpZW50OnNlY3JldA=="), "client", "secret"),
        (headers(b"BASIC Y2xpZW50OnNlY3JldA=="), "client", "secret"),
        (headers(b"Basic  Y2xpZW50OnNlY3JldA== "), "client", "secret"),
    ];
    for (h, id, secret) in cases {
        assert_eq!(
            basic_credentials(h),
            Ok(Some((id.to_string(), secret.to_string()))),
            "{h:?}"
        );
    }
}

#[test]
fn malformed_basic_credentials_are_invalid_client_with_a_challenge() {
    let cases: &[HeaderMap] = &[
        // No colon.
        basic(b"client-only"),
        // Not base64.
        headers(b"Basic !!!not-base64!!!"),
        headers(b"Basic Y2xpZW50OnNlY3JldA"),
        // Not UTF-8, decoded or raw.
        basic(b"client:\xff\xfe"),
        headers(b"Basic \xff"),
        // No credentials at all.
        headers(b"Basic"),
        headers(b"Basic "),
        // Another scheme.
        headers(b"Bearer eyJhbGciOiJFUzI1NiJ9"),
        headers(b"DPoP token"),
        headers(b"Digest username=\"client\""),
        headers(b"Basicc Y2xpZW50OnNlY3JldA=="),
    ];
    for h in cases {
        let err = basic_credentials(h).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidClient, "{h:?}");
        assert!(err.basic_challenge, "{h:?}");
    }
}

#[test]
fn control_characters_in_basic_credentials_are_invalid_request() {
    let cases: &[HeaderMap] = &[
        basic(b"client\0:secret"),
        basic(b"client:sec\0ret"),
        basic(b"client%00:secret"),
        basic(b"client:%00"),
        basic(b"cli%0Aent:secret"),
        basic(b"client:%7F"),
    ];
    for h in cases {
        let err = basic_credentials(h).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest, "{h:?}");
    }
}
