//! Pushed authorization requests (RFC 9126, SPEC "Pushed authorization requests, …").

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{location_params, pkce_pair, Rp, TestApp};

fn confidential_meta() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile offline_access"})
}

/// POST /oauth/par as `rp` (Basic for a confidential client, client_id for a public one).
async fn push(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let req = app.api().post(app.url("/oauth/par"));
    let req = match &rp.client_secret {
        Some(secret) => req.basic_auth(&rp.client_id, Some(secret)),
        None => {
            form.push(("client_id", &rp.client_id));
            req
        }
    };
    let r = req.form(&form).send().await.unwrap();
    let status = r.status();
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    (status, r.json().await.unwrap())
}

fn request<'a>(rp: &'a Rp, challenge: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", &rp.redirect_uri),
        ("scope", scope),
        ("state", "pushed-state"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn authorize_with(app: &TestApp, rp: &Rp, client_id: &str, uri: &str) -> reqwest::Response {
    rp.user
        .get(app.url("/oauth/authorize"))
        .query(&[("client_id", client_id), ("request_uri", uri)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pushed_request_signs_the_user_in_once() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let (verifier, challenge) = pkce_pair();
    let (status, body) = push(&app, &rp, &request(&rp, &challenge, "openid profile")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    assert!((1..=60).contains(&body["expires_in"].as_i64().unwrap()));

    // The browser brings only client_id and request_uri (anything else is ignored).
    let r = rp
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("request_uri", uri.as_str()),
            ("scope", "offline_access"),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    let r = app.decide(&rp, r, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with(&rp.redirect_uri), "{location}");
    let params = location_params(&r);
    assert_eq!(params["state"], "pushed-state");
    let code = params["code"].clone();
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let status = r.status();
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        tokens["scope"], "openid profile",
        "the pushed scope, not the query's"
    );

    // Single use.
    let again = authorize_with(&app, &rp, &rp.client_id, &uri).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again
        .text()
        .await
        .unwrap()
        .contains("expired or was already used"));
}

#[tokio::test]
async fn a_request_uri_is_bound_to_its_client_and_expires() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let other = app.rp(confidential_meta()).await;
    let (_, challenge) = pkce_pair();
    let (_, body) = push(&app, &rp, &request(&rp, &challenge, "openid")).await;
    let uri = body["request_uri"].as_str().unwrap().to_string();
    let r = authorize_with(&app, &other, &other.client_id, &uri).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "another client cannot use it"
    );
    // …and that attempt did not consume it: the right client still can, within 60 s.
    let r = authorize_with(&app, &rp, &rp.client_id, &uri).await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");

    let (_, body) = push(&app, &rp, &request(&rp, &challenge, "openid")).await;
    let uri = body["request_uri"].as_str().unwrap().to_string();
    app.advance(61);
    let r = authorize_with(&app, &rp, &rp.client_id, &uri).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "expired");
    let r = authorize_with(
        &app,
        &rp,
        &rp.client_id,
        "urn:ietf:params:oauth:request_uri:made-up",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unknown");
}

#[tokio::test]
async fn pushed_requests_are_validated_and_answered_in_json() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let public = app
        .rp(json!({"client_type": "public", "scope": "openid"}))
        .await;
    let (_, challenge) = pkce_pair();
    let ok = request(&rp, &challenge, "openid");
    let with = |name: &'static str, value: &'static str| {
        let mut v: Vec<(&str, &str)> = ok.iter().filter(|(k, _)| *k != name).cloned().collect();
        v.push((name, value));
        v
    };
    for (form, error) in [
        (
            with("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (with("scope", "openid admin"), "invalid_scope"),
        (with("code_challenge_method", "plain"), "invalid_request"),
        (with("response_type", "token"), "unsupported_response_type"),
        (with("request_uri", "urn:x"), "invalid_request"),
    ] {
        let (status, body) = push(&app, &rp, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{form:?}: {body}"
        );
    }
    // A public client pushes with its client_id and must use PKCE.
    let no_pkce = vec![
        ("response_type", "code"),
        ("redirect_uri", public.redirect_uri.as_str()),
        ("scope", "openid"),
    ];
    let (status, body) = push(&app, &public, &no_pkce).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _) = push(&app, &public, &request(&public, &challenge, "openid")).await;
    assert_eq!(status, StatusCode::CREATED);
    // Client authentication is that of the token endpoint.
    let r = app
        .api()
        .post(app.url("/oauth/par"))
        .basic_auth(&rp.client_id, Some("wrong"))
        .form(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .api()
        .post(app.url("/oauth/par"))
        .form(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_can_be_required_to_push_and_discovery_says_where() {
    let app = TestApp::spawn().await;
    let mut meta = confidential_meta();
    meta["require_pushed_authorization_requests"] = json!(true);
    let rp = app.rp(meta).await;
    app.set_verified(&rp.client_id, true).await;
    let (_, challenge) = pkce_pair();
    let mut query: Vec<(&str, &str)> = request(&rp, &challenge, "openid");
    query.push(("client_id", &rp.client_id));
    let r = rp
        .user
        .get(app.url("/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = location_params(&r);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    // Pushed, it works.
    let (_, body) = push(&app, &rp, &request(&rp, &challenge, "openid")).await;
    let r = authorize_with(
        &app,
        &rp,
        &rp.client_id,
        body["request_uri"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    // Shown in the developer API.
    let r = app
        .api()
        .get(app.url(&format!("/developer/applications/{}", rp.app_id)))
        .bearer_auth(&rp.dev_token)
        .send()
        .await
        .unwrap();
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["require_pushed_authorization_requests"], true);

    let discovery: Value = app
        .api()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        app.url("/oauth/par")
    );
    assert_eq!(discovery["require_pushed_authorization_requests"], false);

    // A browser app may push from an origin it allows.
    let spa = app
        .rp(json!({"client_type": "public", "redirect_uris": ["https://spa.example/cb"], "scope": "openid"}))
        .await;
    let _ = spa;
    let r = app
        .api()
        .request(Method::OPTIONS, app.url("/oauth/par"))
        .header(header::ORIGIN, "https://spa.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://spa.example"
    );
}
