//! CORS (SPEC "Browser applications (CORS)"): public documents for everyone, client endpoints
//! only for the origins the request's client allows, nothing elsewhere.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{DpopKey, Rp, TestApp};

const SPA: &str = "https://spa.example";

fn spa_meta() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"],
           "redirect_uris": [format!("{SPA}/callback"), "http://127.0.0.1:5173/cb"],
           "scope": "openid profile offline_access"})
}

fn acao(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.api()
        .request(Method::OPTIONS, app.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type, dpop")
        .send()
        .await
        .unwrap()
}

async fn refresh_from(app: &TestApp, rp: &Rp, token: &str, origin: &str) -> reqwest::Response {
    app.api()
        .post(app.url("/oauth/token"))
        .header(header::ORIGIN, origin)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", &rp.client_id),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_and_jwks_are_readable_from_any_origin() {
    let app = TestApp::spawn().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/oauth/jwks",
    ] {
        let r = app
            .api()
            .get(app.url(path))
            .header(header::ORIGIN, "https://anyone.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(acao(&r).as_deref(), Some("*"), "{path}");
    }
}

#[tokio::test]
async fn preflights_are_answered_for_origins_some_application_allows() {
    let app = TestApp::spawn().await;
    let before = preflight(&app, "/oauth/token", SPA).await;
    assert_eq!(acao(&before), None, "no application allows it yet");
    app.rp(spa_meta()).await;
    for (path, methods) in [
        ("/oauth/token", "POST"),
        ("/oauth/revoke", "POST"),
        ("/oauth/userinfo", "GET, POST"),
    ] {
        for origin in [SPA, "http://127.0.0.1:5173"] {
            let r = preflight(&app, path, origin).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}");
            assert_eq!(acao(&r).as_deref(), Some(origin), "{path} {origin}");
            let h = r.headers();
            assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], methods);
            let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
            for name in ["authorization", "content-type", "dpop"] {
                assert!(allowed.contains(name), "{allowed}");
            }
            assert!(h.contains_key(header::ACCESS_CONTROL_MAX_AGE));
            assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        }
        let other = preflight(&app, path, "https://evil.example").await;
        assert_eq!(acao(&other), None, "{path}: another origin");
    }
    // Introspection, the developer API and pages answer no CORS at all.
    for path in ["/oauth/introspect", "/developer/applications", "/login"] {
        let r = preflight(&app, path, SPA).await;
        assert_eq!(acao(&r), None, "{path}");
    }
}

#[tokio::test]
async fn real_responses_allow_only_the_origins_of_the_requests_client() {
    let app = TestApp::spawn().await;
    let spa = app.rp(spa_meta()).await;
    let tokens = app.tokens(&spa, "openid profile offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();

    let r = refresh_from(&app, &spa, rt, SPA).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r).as_deref(), Some(SPA));
    let h = r.headers();
    assert!(h[header::VARY].to_str().unwrap().contains("origin"));
    let exposed = h[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap();
    assert!(exposed.contains("DPoP-Nonce") && exposed.contains("WWW-Authenticate"));
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    let body: Value = r.json().await.unwrap();
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let at = body["access_token"].as_str().unwrap().to_string();

    // Errors for this client are readable too (the SPA must see invalid_grant).
    let r = refresh_from(&app, &spa, "not-a-token", SPA).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Another origin, even one another application allows, gets nothing.
    let other = app
        .rp(
            json!({"client_type": "public", "redirect_uris": ["https://other.example/cb"],
                   "scope": "openid"}),
        )
        .await;
    let r = refresh_from(&app, &spa, &rt, "https://other.example").await;
    assert_eq!(acao(&r), None);
    let _ = other;

    // Userinfo: the access token's client decides.
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .header(header::ORIGIN, SPA)
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Revocation.
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .header(header::ORIGIN, SPA)
        .form(&[
            ("token", at.as_str()),
            ("client_id", spa.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Requests without Origin (servers, CLIs) are untouched.
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", spa.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(acao(&r), None);
    assert!(!r.headers().contains_key(header::VARY));
}

#[tokio::test]
async fn confidential_clients_and_introspection_get_no_cors() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(
            json!({"client_type": "confidential", "grant_types": ["client_credentials"],
                   "redirect_uris": [], "scope": "api"}),
        )
        .await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .header(header::ORIGIN, "https://rp.example")
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r), None);
    let at = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .header(header::ORIGIN, "https://rp.example")
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r), None);
}

#[tokio::test]
async fn allowed_cors_origins_is_registered_shown_and_edited() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("cors")).await;
    // Default: the origins of the https and loopback redirect URIs.
    let created = app
        .register(&dev, {
            let mut m = spa_meta();
            m["client_name"] = json!("SPA");
            m
        })
        .await;
    assert_eq!(
        created["allowed_cors_origins"],
        json!(["http://127.0.0.1:5173", SPA])
    );
    // Explicit list, then PATCH.
    let id = created["id"].as_str().unwrap();
    let r = app
        .api()
        .patch(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&dev)
        .json(&json!({"allowed_cors_origins": ["https://app.example", "https://app.example:8443"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["allowed_cors_origins"],
        json!(["https://app.example", "https://app.example:8443"])
    );
    let r = preflight(&app, "/oauth/token", "https://app.example:8443").await;
    assert_eq!(
        acao(&r).as_deref(),
        Some("https://app.example:8443"),
        "the change is seen at once"
    );
    let r = preflight(&app, "/oauth/token", SPA).await;
    assert_eq!(acao(&r), None, "the old default no longer applies");

    // Refused: confidential clients, and anything that is not an origin.
    let bad = [
        json!({"client_name": "x", "client_type": "confidential", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["https://rp.example"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["https://rp.example/"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["https://rp.example/app"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["http://rp.example"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["*"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": ["https://rp.example/cb"],
               "allowed_cors_origins": ["HTTPS://RP.EXAMPLE"]}),
    ];
    for metadata in bad {
        let r = app.post_app(&dev, &metadata).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{metadata}");
    }
}

#[tokio::test]
async fn a_new_origin_reaches_every_process() {
    let first = TestApp::spawn_with(|c| c.key_refresh_interval_seconds = 1).await;
    let second = first.spawn_sibling(|_| {}).await;
    assert_eq!(acao(&preflight(&second, "/oauth/token", SPA).await), None);
    first.rp(spa_meta()).await;
    let mut seen = false;
    for _ in 0..60 {
        if acao(&preflight(&second, "/oauth/token", SPA).await).as_deref() == Some(SPA) {
            seen = true;
            break;
        }
        crate::common::pause_ms(50).await;
    }
    assert!(seen, "the second process allows the new origin within 3 s");
}

/// A DPoP proof for `method url` carrying `nonce` (and `ath` for `access_token`).
fn proof_with_nonce(
    key: &DpopKey,
    method: &str,
    url: &str,
    at: Option<&str>,
    nonce: &str,
) -> String {
    let mut claims = json!({"htm": method, "htu": url, "nonce": nonce});
    if let Some(at) = at {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use sha2::Digest;
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(at.as_bytes())));
    }
    key.proof_with(claims)
}

#[tokio::test]
async fn userinfo_errors_are_readable_from_the_origins_of_the_tokens_client() {
    // A browser app must be able to read why userinfo refused: `use_dpop_nonce` (retry with
    // the DPoP-Nonce sent along) and `invalid_token` (expired or revoked: refresh or sign in).
    let app = TestApp::spawn_with(|c| c.dpop_nonce_required = true).await;
    let spa = app.rp(spa_meta()).await;
    let key = DpopKey::new();
    let token_url = app.url("/oauth/token");
    let (code, verifier) = app.code(&spa, "openid profile offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", spa.client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", spa.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let exchange = |proof: String| {
        app.api()
            .post(&token_url)
            .header(header::ORIGIN, SPA)
            .header("dpop", proof)
            .form(&form)
            .send()
    };
    let r = exchange(key.proof("POST", &token_url, None)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let r = exchange(proof_with_nonce(&key, "POST", &token_url, None, &nonce))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();

    let userinfo_url = app.url("/oauth/userinfo");
    let userinfo = |origin: &'static str, authorization: String, proof: Option<String>| {
        let mut req = app
            .api()
            .get(&userinfo_url)
            .header(header::ORIGIN, origin)
            .header(header::AUTHORIZATION, authorization);
        if let Some(proof) = proof {
            req = req.header("dpop", proof);
        }
        req.send()
    };
    let challenge = |r: &reqwest::Response| {
        r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_string()
    };

    // A proof without the nonce: the app must read the challenge and the new nonce.
    let stale = key.proof("GET", &userinfo_url, Some(at));
    let r = userinfo(SPA, format!("DPoP {at}"), Some(stale.clone()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&r).contains("use_dpop_nonce"),
        "{}",
        challenge(&r)
    );
    assert_eq!(acao(&r).as_deref(), Some(SPA));
    let exposed = r.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(exposed.contains("DPoP-Nonce") && exposed.contains("WWW-Authenticate"));
    // Another origin learns nothing, error or not.
    let r = userinfo("https://evil.example", format!("DPoP {at}"), Some(stale))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(acao(&r), None);
    let fresh = proof_with_nonce(&key, "GET", &userinfo_url, Some(at), &nonce);
    let r = userinfo(SPA, format!("DPoP {at}"), Some(fresh))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Revoked: the app reads `invalid_token`.
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[("token", rt), ("client_id", spa.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let proof = proof_with_nonce(&key, "GET", &userinfo_url, Some(at), &nonce);
    let r = userinfo(SPA, format!("DPoP {at}"), Some(proof))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("invalid_token"), "{}", challenge(&r));
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Expired: the same.
    app.advance(601);
    let r = userinfo(SPA, format!("Bearer {at}"), None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).contains("invalid_token"), "{}", challenge(&r));
    assert_eq!(acao(&r).as_deref(), Some(SPA));

    // Something logi never signed names no client: no CORS.
    let r = userinfo(SPA, "Bearer not-a-token".into(), None)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(acao(&r), None);
}
