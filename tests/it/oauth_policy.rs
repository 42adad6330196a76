//! The client-type policy (SPEC "Client types — the policy") row by row, for public and
//! confidential clients, over real HTTP.

use crate::common::{json_of, location_params, pkce_pair, Rp, TestApp};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const USER_ONLY: &[&str] = &["openid", "profile", "email", "offline_access"];

fn public_meta() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

fn confidential_meta() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

/// Asserts an OAuth JSON error response and returns its headers.
async fn expect_error(r: reqwest::Response, status: StatusCode, error: &str) -> header::HeaderMap {
    let headers = r.headers().clone();
    let (s, body) = json_of(r).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (status, Some(error)),
        "unexpected response: {body}"
    );
    headers
}

fn assert_basic_challenge(headers: &header::HeaderMap) {
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .expect("a WWW-Authenticate header")
        .to_str()
        .expect("ascii");
    assert!(
        challenge.starts_with("Basic"),
        "WWW-Authenticate should be a Basic challenge, got {challenge:?}"
    );
}

/// The authorization_code form for a code obtained with `app.code`.
fn code_form<'a>(rp: &'a Rp, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &rp.redirect_uri),
        ("code_verifier", verifier),
    ]
}

fn assert_tokens(body: &Value) {
    assert!(
        body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "access_token in {body}"
    );
    assert_eq!(body["token_type"], "Bearer", "{body}");
}

/// Asserts that `r` redirects back to `redirect_uri` with `error`, the client's `state` and `iss`.
fn assert_redirected_error(app: &TestApp, r: &reqwest::Response, redirect_uri: &str, error: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "expected a redirect");
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{redirect_uri}?")),
        "redirected to the client: {location}"
    );
    let params = location_params(r);
    assert_eq!(params.get("error").map(String::as_str), Some(error));
    assert!(params.contains_key("error_description"), "{location}");
    assert_eq!(params.get("state").map(String::as_str), Some("st4te"));
    assert_eq!(params.get("iss"), Some(&app.base));
    assert!(!params.contains_key("code"), "{location}");
}

/// Asserts that `r` is an HTML error page with status 400 and no redirect.
async fn assert_error_page(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers().get(header::LOCATION).is_none(),
        "must never redirect"
    );
    let content_type = r.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

// ---------------------------------------------------------------------------------------------
// Client authentication at /oauth/token
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_client_authenticates_with_client_id_only() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    assert!(rp.client_secret.is_none(), "public clients get no secret");
    let (code, verifier) = app.code(&rp, "openid profile").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &rp.client_id),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);

    // Without client_id the request identifies no client at all.
    let (code, verifier) = app.code(&rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&code_form(&rp, &code, &verifier))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn confidential_client_with_basic_auth_gets_tokens() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let secret = rp
        .client_secret
        .clone()
        .expect("confidential clients get a secret");
    let (code, verifier) = app.code(&rp, "openid profile").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, Some(&secret))
        .form(&code_form(&rp, &code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);
    assert_eq!(body["scope"], "openid profile");
}

#[tokio::test]
async fn confidential_client_registered_for_post_uses_client_secret_param() {
    let app = TestApp::spawn().await;
    let mut meta = confidential_meta();
    meta["token_endpoint_auth_method"] = json!("client_secret_post");
    let rp = app.rp(meta).await;
    let secret = rp.client_secret.clone().expect("a secret");
    let (code, verifier) = app.code(&rp, "openid").await;
    let mut form = code_form(&rp, &code, &verifier);
    form.push(("client_id", &rp.client_id));
    form.push(("client_secret", &secret));
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);

    // A wrong secret in the body is refused.
    let (code, verifier) = app.code(&rp, "openid").await;
    let mut form = code_form(&rp, &code, &verifier);
    form.push(("client_id", &rp.client_id));
    form.push(("client_secret", "not-the-secret"));
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

/// SPEC row "client authentication": a secret client accepts `client_secret_basic` and
/// `client_secret_post` alike, whichever it registered; two methods at once are
/// `invalid_request`.
#[tokio::test]
async fn confidential_client_may_use_either_secret_method() {
    let app = TestApp::spawn().await;

    // Registered for client_secret_basic, uses client_secret_post.
    let basic_rp = app.rp(confidential_meta()).await;
    let secret = basic_rp.client_secret.clone().unwrap();
    let (code, verifier) = app.code(&basic_rp, "openid").await;
    let mut form = code_form(&basic_rp, &code, &verifier);
    form.push(("client_id", &basic_rp.client_id));
    form.push(("client_secret", &secret));
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);

    // Registered for client_secret_post, uses client_secret_basic.
    let mut meta = confidential_meta();
    meta["token_endpoint_auth_method"] = json!("client_secret_post");
    let post_rp = app.rp(meta).await;
    let secret = post_rp.client_secret.clone().unwrap();
    let (code, verifier) = app.code(&post_rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&post_rp.client_id, Some(&secret))
        .form(&code_form(&post_rp, &code, &verifier))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);
    // The registered value is what the API still shows.
    let shown: Value = app
        .api()
        .get(app.url(&format!("/developer/applications/{}", post_rp.app_id)))
        .bearer_auth(&post_rp.dev_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["token_endpoint_auth_method"], "client_secret_post");

    // A wrong secret by the other method is still refused.
    let (code, verifier) = app.code(&post_rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&post_rp.client_id, Some("not-the-secret"))
        .form(&code_form(&post_rp, &code, &verifier))
        .send()
        .await
        .unwrap();
    let headers = expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_basic_challenge(&headers);

    // Both methods in one request: invalid_request, and the code is not consumed.
    let mut form = code_form(&post_rp, &code, &verifier);
    form.push(("client_secret", &secret));
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&post_rp.client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    let (status, body) = json_of(
        app.token(&post_rp, &code_form(&post_rp, &code, &verifier))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn public_client_with_basic_auth_is_invalid_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    for password in [None, Some(""), Some("made-up-secret")] {
        let (code, verifier) = app.code(&rp, "openid").await;
        let r = app
            .api()
            .post(app.url("/oauth/token"))
            .basic_auth(&rp.client_id, password)
            .form(&code_form(&rp, &code, &verifier))
            .send()
            .await
            .unwrap();
        let headers = expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
        assert_basic_challenge(&headers);
    }
}

#[tokio::test]
async fn confidential_client_with_wrong_secret_is_invalid_client_with_basic_challenge() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let (code, verifier) = app.code(&rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, Some("not-the-secret"))
        .form(&code_form(&rp, &code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let headers = expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_basic_challenge(&headers);

    // No secret at all (client_id only, as a public client would) is refused too.
    let mut form = code_form(&rp, &code, &verifier);
    form.push(("client_id", &rp.client_id));
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn public_client_with_client_secret_param_is_invalid_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    // (An empty `client_secret=` counts as absent, RFC 6749 §3.2, so only real values here.)
    for secret in ["made-up-secret", "x"] {
        let (code, verifier) = app.code(&rp, "openid").await;
        let mut form = code_form(&rp, &code, &verifier);
        form.push(("client_id", &rp.client_id));
        form.push(("client_secret", secret));
        let r = app
            .api()
            .post(app.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}

// ---------------------------------------------------------------------------------------------
// PKCE
// ---------------------------------------------------------------------------------------------

/// A syntactically valid challenge/verifier (43 base64url characters) for `plain`.
const PLAIN_CHALLENGE: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::test]
async fn public_client_without_code_challenge_is_refused() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let r = app
        .authorize(&rp, &[("scope", "openid"), ("state", "st4te")])
        .await;
    assert_redirected_error(&app, &r, &rp.redirect_uri, "invalid_request");
}

#[tokio::test]
async fn confidential_client_may_omit_pkce_but_if_sent_must_be_s256() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;

    // Without PKCE: consent, code, token (no code_verifier).
    let r = app
        .authorize(&rp, &[("scope", "openid"), ("state", "st4te")])
        .await;
    let r = app.decide(&rp, r, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = location_params(&r);
    assert_eq!(params.get("state").map(String::as_str), Some("st4te"));
    let code = params.get("code").expect("a code").clone();
    let (status, body) = json_of(
        app.token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect_uri),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);

    // With PKCE, only S256: any other method is refused.
    let (_, challenge) = pkce_pair();
    for method in ["S512", "s256", "RS256"] {
        let r = app
            .authorize(
                &rp,
                &[
                    ("scope", "openid"),
                    ("state", "st4te"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", method),
                ],
            )
            .await;
        assert_redirected_error(&app, &r, &rp.redirect_uri, "invalid_request");
    }

    // With S256 the verifier is then required and checked at the token endpoint.
    let (code, _verifier) = app.code(&rp, "openid").await;
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", PLAIN_CHALLENGE),
            ],
        )
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

async fn plain_is_refused(meta: Value) {
    let app = TestApp::spawn().await;
    let rp = app.rp(meta).await;
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid"),
                ("state", "st4te"),
                ("code_challenge", PLAIN_CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        )
        .await;
    assert_redirected_error(&app, &r, &rp.redirect_uri, "invalid_request");
}

#[tokio::test]
async fn code_challenge_method_plain_is_refused_for_public_client() {
    plain_is_refused(public_meta()).await;
}

#[tokio::test]
async fn code_challenge_method_plain_is_refused_for_confidential_client() {
    plain_is_refused(confidential_meta()).await;
}

async fn missing_method_is_refused(meta: Value) {
    let app = TestApp::spawn().await;
    let rp = app.rp(meta).await;
    // Both a plain-looking challenge and a genuine S256 challenge: without the method it is plain.
    let (_, s256_challenge) = pkce_pair();
    for challenge in [PLAIN_CHALLENGE, s256_challenge.as_str()] {
        let r = app
            .authorize(
                &rp,
                &[
                    ("scope", "openid"),
                    ("state", "st4te"),
                    ("code_challenge", challenge),
                ],
            )
            .await;
        assert_redirected_error(&app, &r, &rp.redirect_uri, "invalid_request");
    }
}

#[tokio::test]
async fn missing_code_challenge_method_means_plain_and_is_refused_for_public_client() {
    missing_method_is_refused(public_meta()).await;
}

#[tokio::test]
async fn missing_code_challenge_method_means_plain_and_is_refused_for_confidential_client() {
    missing_method_is_refused(confidential_meta()).await;
}

// ---------------------------------------------------------------------------------------------
// Redirect URIs at registration
// ---------------------------------------------------------------------------------------------

async fn application_count(app: &TestApp, dev_token: &str) -> usize {
    let r = app
        .api()
        .get(app.url("/developer/applications"))
        .bearer_auth(dev_token)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["applications"].as_array().expect("a list").len()
}

#[tokio::test]
async fn public_client_may_register_private_use_scheme() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    meta["redirect_uris"] = json!([
        "com.example.app:/cb",
        "https://rp.example/cb",
        "http://127.0.0.1/cb",
        "http://[::1]/cb",
        "http://localhost:8080/cb"
    ]);
    let rp = app.rp(meta).await;
    assert_eq!(rp.redirect_uri, "com.example.app:/cb");

    // And the code comes back to the private-use URI.
    let (_, challenge) = pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid"),
                ("state", "st4te"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let r = app.decide(&rp, r, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("com.example.app:/cb?"), "{location}");
    assert!(location_params(&r).contains_key("code"));
}

#[tokio::test]
async fn confidential_client_may_not_register_private_use_scheme() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    let mut meta = confidential_meta();
    meta["client_name"] = json!("Confidential");
    meta["redirect_uris"] = json!(["https://rp.example/cb", "com.example.app:/cb"]);
    let r = app.post_app(&dev, &meta).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
    assert_eq!(application_count(&app, &dev).await, 0, "nothing registered");

    // https and loopback http are fine for confidential clients.
    meta["redirect_uris"] = json!([
        "https://rp.example/cb",
        "http://127.0.0.1/cb",
        "http://[::1]/cb",
        "http://localhost:8080/cb"
    ]);
    let created = app.register(&dev, meta).await;
    assert_eq!(created["client_type"], "confidential");
}

async fn plain_http_is_refused(client_type: &str) {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    for uri in [
        "http://rp.example/cb",
        "http://192.168.1.10/cb",
        "http://127.0.0.1.rp.example/cb",
        "http://localhost.rp.example/cb",
    ] {
        let meta = json!({"client_type": client_type, "client_name": "Plain http",
                          "grant_types": ["authorization_code"], "scope": "openid",
                          "redirect_uris": ["https://rp.example/cb", uri]});
        let r = app.post_app(&dev, &meta).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_redirect_uri").await;
    }
    assert_eq!(application_count(&app, &dev).await, 0, "nothing registered");
}

#[tokio::test]
async fn plain_http_non_loopback_redirect_uri_is_refused_for_public() {
    plain_http_is_refused("public").await;
}

#[tokio::test]
async fn plain_http_non_loopback_redirect_uri_is_refused_for_confidential() {
    plain_http_is_refused("confidential").await;
}

// ---------------------------------------------------------------------------------------------
// client_credentials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_client_cannot_use_client_credentials() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    for grants in [
        json!(["client_credentials"]),
        json!(["authorization_code", "client_credentials"]),
    ] {
        let meta = json!({"client_type": "public", "client_name": "Public cc",
                          "grant_types": grants, "scope": "api.read",
                          "redirect_uris": ["https://rp.example/cb"]});
        let r = app.post_app(&dev, &meta).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_client_metadata").await;
    }
    assert_eq!(application_count(&app, &dev).await, 0, "nothing registered");

    // A public client asking for the grant at the token endpoint.
    let rp = app.rp(public_meta()).await;
    let r = app
        .token(&rp, &[("grant_type", "client_credentials")])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[tokio::test]
async fn confidential_client_registered_for_client_credentials_gets_a_token() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "confidential",
                   "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                   "scope": "openid profile email offline_access api.read"}))
        .await;
    let r = app
        .token(&rp, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials: {body}"
    );
    let scope = body["scope"].as_str().expect("scope");
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    for user_only in USER_ONLY {
        assert!(!scopes.contains(user_only), "{user_only} in {scope:?}");
    }
    assert_eq!(scopes, ["api.read"]);

    // A wrong secret is still refused for this grant.
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, Some("not-the-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let headers = expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_basic_challenge(&headers);
}

#[tokio::test]
async fn confidential_client_not_registered_for_client_credentials_is_unauthorized_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let r = app
        .token(&rp, &[("grant_type", "client_credentials")])
        .await;
    expect_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------------

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> (StatusCode, Value) {
    json_of(
        app.token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await,
    )
    .await
}

async fn rotates_and_reuse_revokes_family(meta: Value) {
    let app = TestApp::spawn().await;
    let rp = app.rp(meta).await;
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let (status, first) = json_of(app.token(&rp, &code_form(&rp, &code, &verifier)).await).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();

    let (status, second) = refresh(&app, &rp, &rt1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_tokens(&second);
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_string();
    assert_ne!(rt1, rt2, "rotated on use");

    let (status, third) = refresh(&app, &rp, &rt2).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt2, rt3, "rotated on every use");

    // Reuse of an already-used token: refused, and the whole family dies.
    let (status, body) = refresh(&app, &rp, &rt1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = refresh(&app, &rp, &rt3).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the newest token of the family is revoked too: {body}"
    );

    // Another family (a new authorization) is unaffected.
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let (status, other) = json_of(app.token(&rp, &code_form(&rp, &code, &verifier)).await).await;
    assert_eq!(status, StatusCode::OK, "{other}");
    let (status, body) = refresh(&app, &rp, other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn public_refresh_token_rotates_and_reuse_revokes_family() {
    rotates_and_reuse_revokes_family(public_meta()).await;
}

#[tokio::test]
async fn confidential_refresh_token_rotates_and_reuse_revokes_family() {
    rotates_and_reuse_revokes_family(confidential_meta()).await;
}

// ---------------------------------------------------------------------------------------------
// Redirect URI matching at /oauth/authorize
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_client_id_is_an_html_error_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let (_, challenge) = pkce_pair();
    let r = rp
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", "no-such-client"),
            ("redirect_uri", "https://rp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st4te"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_error_page(r).await;
}

#[tokio::test]
async fn unregistered_redirect_uri_is_an_html_error_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let (_, challenge) = pkce_pair();
    for redirect_uri in [
        "https://evil.example/cb",
        "https://rp.example/cb/",
        "https://rp.example/cb?x=1",
        "https://rp.example:8443/cb",
        "http://rp.example/cb",
    ] {
        let r = rp
            .user
            .get(app.url("/oauth/authorize"))
            .query(&[
                ("client_id", rp.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st4te"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_error_page(r).await;
    }
    // Even an otherwise broken request (plain PKCE) is not redirected to an unregistered URI.
    let r = rp
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", PLAIN_CHALLENGE),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .unwrap();
    assert_error_page(r).await;
}

#[tokio::test]
async fn loopback_ip_redirect_uri_may_use_a_different_port() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    meta["redirect_uris"] = json!(["http://127.0.0.1/cb"]);
    let mut rp = app.rp(meta).await;
    assert_eq!(rp.redirect_uri, "http://127.0.0.1/cb");
    rp.redirect_uri = "http://127.0.0.1:5555/cb".to_string();

    let (verifier, challenge) = pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid offline_access"),
                ("state", "st4te"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let r = app.decide(&rp, r, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:5555/cb?"),
        "back to the port the client asked for: {location}"
    );
    let params = location_params(&r);
    assert_eq!(params.get("state").map(String::as_str), Some("st4te"));
    assert_eq!(params.get("iss"), Some(&app.base));
    let code = params.get("code").expect("a code").clone();

    let (status, body) = json_of(app.token(&rp, &code_form(&rp, &code, &verifier)).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_tokens(&body);

    // Only the port may differ: another loopback path or host is not a match.
    for redirect_uri in ["http://127.0.0.1:5555/other", "http://[::1]:5555/cb"] {
        let r = rp
            .user
            .get(app.url("/oauth/authorize"))
            .query(&[
                ("client_id", rp.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "st4te"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert_error_page(r).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Rows "client authentication at /oauth/revoke" and "/oauth/introspect"
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_client_revokes_with_client_id_only_and_basic_is_invalid_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&rp.client_id, Some("anything"))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    let headers = expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_basic_challenge(&headers);
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", rt),
            ("client_id", rp.client_id.as_str()),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[("token", rt), ("client_id", rp.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "revoked");
}

#[tokio::test]
async fn confidential_client_revokes_with_its_secret() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let secret = rp.client_secret.clone().unwrap();
    // A wrong secret is refused, by either method.
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", rt),
            ("client_id", rp.client_id.as_str()),
            ("client_secret", "not-the-secret"),
        ])
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Registered for Basic, the secret in the body works as well (SPEC: either method).
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", rt),
            ("client_id", rp.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "revoked");
}

#[tokio::test]
async fn public_client_cannot_introspect() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let tokens = app.tokens(&rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", tokens["access_token"].as_str().unwrap()),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn confidential_client_may_introspect() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let tokens = app.tokens(&rp, "openid").await;
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    let (s, body) = json_of(r).await;
    assert_eq!(
        (s, body["active"].clone()),
        (StatusCode::OK, json!(true)),
        "{body}"
    );
}
