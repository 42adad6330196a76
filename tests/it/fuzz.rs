//! Property tests over HTTP: random and half-valid input at every parser a stranger can reach
//! (form and query parameters, the Basic header, redirect URIs at registration, DPoP proofs,
//! bearer JWTs, developer JSON). Whatever arrives, logi answers a 4xx (or a success), never a
//! 5xx, and an OAuth JSON error always names an `error` code.
//!
//! The inputs come from `proptest` strategies with a fixed seed (the same cases every run, on
//! both backends); the number of cases per target is bounded so the module takes seconds
//! (`LOGI_FUZZ_CASES=5000 cargo test --test it fuzz` runs a longer campaign).

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::common::{Rp, TestApp};

/// Cases per target; `LOGI_FUZZ_CASES` runs more (the seed stays fixed).
fn cases() -> usize {
    std::env::var("LOGI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

/// `cases()` values of `strategy`, the same every run.
fn samples<S: Strategy>(strategy: S) -> Vec<S::Value> {
    let mut runner = runner();
    (0..cases())
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// Text that parsers find awkward: percent escapes (valid and invalid UTF-8, NUL), separators,
/// control characters, non-ASCII, very long runs.
fn awkward_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9_.~-]{0,12}",
        Just("%00".to_string()),
        Just("%FF".to_string()),
        Just("%C3%A9".to_string()),
        Just("%".to_string()),
        Just("%G1".to_string()),
        Just("&".to_string()),
        Just("=".to_string()),
        Just("+".to_string()),
        Just(";".to_string()),
        Just("\\".to_string()),
        Just("é".to_string()),
        Just("\u{FFFD}".to_string()),
        Just("x".repeat(3000)),
        "[\\x00-\\x1f]{1,3}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
}

/// A parameter list mixing the names the endpoints know with random ones.
fn awkward_params(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(names).prop_map(String::from),
        awkward_text()
    ];
    prop::collection::vec((name, awkward_text()), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// `header.payload.signature` with random JSON in the first two parts.
fn jwt_shaped() -> impl Strategy<Value = String> {
    let alg = prop::sample::select(vec![
        "ES256", "RS256", "EdDSA", "HS256", "none", "PS256", "",
    ]);
    let typ = prop::sample::select(vec!["dpop+jwt", "at+jwt", "JWT", ""]);
    (alg, typ, awkward_text(), any::<i64>(), awkward_text()).prop_map(
        |(alg, typ, text, number, sig)| {
            let header = json!({"alg": alg, "typ": typ, "kid": text,
                "jwk": {"kty": "EC", "crv": "P-256", "x": text, "y": text}});
            let payload = json!({"iat": number, "exp": number, "htm": "POST", "htu": text,
                "jti": text, "iss": text, "aud": text, "sub": text, "scope": text});
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(payload.to_string()),
                URL_SAFE_NO_PAD.encode(sig)
            )
        },
    )
}

/// The input, shortened for a readable failure message.
fn shown(input: &str) -> String {
    let mut s: String = input.chars().take(300).collect();
    if s.len() < input.len() {
        s.push('…');
    }
    s
}

fn assert_not_5xx(status: StatusCode, what: &str, input: &str) {
    assert!(
        !status.is_server_error(),
        "{what} answered {status} for input {:?}",
        shown(input)
    );
}

/// An OAuth/API error body names its code.
fn assert_error_shape(status: StatusCode, body: &str, what: &str, input: &str) {
    if status.is_client_error() {
        let value: Value = serde_json::from_str(body).unwrap_or_else(|_| {
            panic!(
                "{what}: {status} without JSON for {:?}: {body}",
                shown(input)
            )
        });
        assert!(
            value["error"].is_string(),
            "{what}: {status} without `error` for {:?}: {body}",
            shown(input)
        );
    }
}

async fn confidential(app: &TestApp) -> Rp {
    app.rp(json!({"client_type": "confidential",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "openid profile offline_access api"}))
        .await
}

#[tokio::test]
async fn authorization_requests_never_fail_the_server() {
    let app = TestApp::spawn().await;
    let rp = confidential(&app).await;
    let names = &[
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "request_id",
        "login_hint",
    ];
    let known = format!(
        "client_id={}&redirect_uri={}&response_type=code&",
        rp.client_id,
        urlencode(&rp.redirect_uri)
    );
    for (i, query) in samples(awkward_params(names)).into_iter().enumerate() {
        // Half the cases start from a valid client and redirect URI, to get past the first checks.
        let query = if i % 2 == 0 {
            format!("{known}{query}")
        } else {
            query
        };
        let url = format!("{}?{query}", app.url("/oauth/authorize"));
        let r = rp.user.get(&url).send().await.expect("authorize");
        assert_not_5xx(r.status(), "GET /oauth/authorize", &query);
        let r = rp
            .user
            .post(app.url("/oauth/authorize"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(query.clone())
            .send()
            .await
            .expect("authorize");
        assert_not_5xx(r.status(), "POST /oauth/authorize", &query);
    }
}

#[tokio::test]
async fn token_requests_never_fail_the_server() {
    let app = TestApp::spawn().await;
    let rp = confidential(&app).await;
    let secret = rp.client_secret.clone().expect("secret");
    let names = &[
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
        "device_code",
        "token",
    ];
    let basics = samples(prop_oneof![
        awkward_text().prop_map(|t| format!("Basic {}", STANDARD.encode(t))),
        awkward_text().prop_map(|t| format!("Basic {t}")),
        awkward_text(),
        Just(format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{secret}", rp.client_id))
        )),
    ]);
    let dpops = samples(prop_oneof![jwt_shaped(), awkward_text()]);
    let bodies = samples(awkward_params(names));
    let grants = [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    ];
    for (i, ((body, basic), dpop)) in bodies.into_iter().zip(basics).zip(dpops).enumerate() {
        let body = format!("grant_type={}&{body}", grants[i % grants.len()]);
        for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
            let mut req = app
                .api()
                .post(app.url(path))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone());
            // Header values must be visible ASCII for the client library; others are dropped.
            if basic.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                req = req.header(header::AUTHORIZATION, basic.clone());
            }
            if i % 3 == 0 && dpop.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                req = req.header("DPoP", dpop.clone());
            }
            let r = req.send().await.expect("token endpoint");
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            let input = format!("{body} | {basic} | {dpop}");
            assert_not_5xx(status, path, &input);
            assert_error_shape(status, &text, path, &input);
        }
    }
}

#[tokio::test]
async fn presented_access_tokens_never_fail_the_server() {
    let app = TestApp::spawn().await;
    let tokens = samples(prop_oneof![jwt_shaped(), awkward_text()]);
    let proofs = samples(jwt_shaped());
    for (token, proof) in tokens.into_iter().zip(proofs) {
        if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            continue;
        }
        for scheme in ["Bearer", "DPoP"] {
            let r = app
                .api()
                .get(app.url("/oauth/userinfo"))
                .header(header::AUTHORIZATION, format!("{scheme} {token}"))
                .header("DPoP", proof.clone())
                .send()
                .await
                .expect("userinfo");
            let status = r.status();
            assert_not_5xx(status, "/oauth/userinfo", &token);
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
                "a made-up token is refused, got {status} for {token:?}"
            );
        }
    }
}

#[tokio::test]
async fn registration_metadata_never_fails_the_server() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("fuzz")).await;
    let uri = prop_oneof![
        awkward_text(),
        awkward_text().prop_map(|t| format!("https://{t}")),
        awkward_text().prop_map(|t| format!("http://127.0.0.1:{t}")),
        awkward_text().prop_map(|t| format!("com.example.app:{t}")),
        awkward_text().prop_map(|t| format!("https:{t}")),
    ];
    let cases = samples((
        prop::collection::vec(uri, 0..4),
        prop::sample::select(vec!["public", "confidential", "", "other"]),
        awkward_text(),
    ));
    for (uris, client_type, text) in cases {
        let metadata = json!({"client_name": text, "client_type": client_type,
            "redirect_uris": uris, "scope": text, "grant_types": ["authorization_code"]});
        let r = app.post_app(&dev, &metadata).await;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert_not_5xx(
            status,
            "POST /developer/applications",
            &metadata.to_string(),
        );
        assert_error_shape(status, &body, "registration", &metadata.to_string());
        let distinct: std::collections::HashSet<&String> = uris.iter().collect();
        if status == StatusCode::CREATED && distinct.len() == uris.len() {
            // Whatever was accepted is followed exactly as registered.
            let created: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(created["redirect_uris"], json!(uris), "{metadata}");
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
