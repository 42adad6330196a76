//! The developer API over real HTTP: tokens, registration rules, secrets, ownership.
use crate::common::{unique_email, TestApp, PASSWORD};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.expect("JSON error body");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

fn public_app(redirect: &str) -> Value {
    json!({ "client_name": "Native app", "client_type": "public", "redirect_uris": [redirect] })
}

#[tokio::test]
async fn developer_tokens_are_minted_used_and_revoked() {
    let app = TestApp::spawn().await;
    let email = unique_email("dev");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let r = app
        .api()
        .post(app.url("/developer/tokens"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let minted: Value = r.json().await.unwrap();
    let token = minted["token"].as_str().unwrap().to_string();
    assert_eq!(minted["name"], "ci");
    assert!(minted["id"].is_string() && minted["created_at"].is_i64());
    // Stored only as a keyed hash.
    let (hash,): (String,) = sqlx::query_as("SELECT token_hash FROM developer_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(hash, token);
    assert!(!hash.contains(&token));

    let list = app
        .api()
        .get(app.url("/developer/applications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);

    let id = minted["id"].as_str().unwrap();
    let r = app
        .api()
        .delete(app.url(&format!("/developer/tokens/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .api()
        .get(app.url("/developer/applications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(error_of(r).await.1, "invalid_token");
}

#[tokio::test]
async fn minting_with_a_wrong_password_or_no_token_is_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email("dev");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let r = app
        .api()
        .post(app.url("/developer/tokens"))
        .json(&json!({"email": email, "password": "nope nope", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_grant".into())
    );
    let r = app
        .api()
        .get(app.url("/developer/applications"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .api()
        .get(app.url("/developer/applications"))
        .bearer_auth("logi_dev_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn public_client_accepts_each_allowed_redirect_uri_kind() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    for uri in [
        "https://app.example.com/callback",
        "http://127.0.0.1:8765/callback",
        "http://[::1]/callback",
        "http://localhost/callback",
        "com.example.app:/cb",
    ] {
        let body = app.register(&token, public_app(uri)).await;
        assert_eq!(body["redirect_uris"], json!([uri]));
        assert_eq!(body["client_type"], "public");
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert!(
            body.get("client_secret").is_none(),
            "public clients get no secret"
        );
    }
}

#[tokio::test]
async fn public_client_refuses_each_forbidden_redirect_uri() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    for uri in [
        "http://example.com/cb",
        "https://app.example.com/cb#fragment",
        "https://*.example.com/cb",
        "/relative/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
    ] {
        let r = app.post_app(&token, &public_app(uri)).await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, "invalid_redirect_uri".into()),
            "{uri}"
        );
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing half-written");
}

#[tokio::test]
async fn confidential_client_refuses_private_use_schemes_and_plain_http() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    for uri in ["com.example.app:/cb", "http://example.com/cb"] {
        let r = app
            .post_app(&token, &json!({"client_name": "Backend", "client_type": "confidential", "redirect_uris": [uri]}))
            .await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, "invalid_redirect_uri".into()),
            "{uri}"
        );
    }
    app.register(&token, json!({"client_name": "Backend", "client_type": "confidential", "redirect_uris": ["http://127.0.0.1/cb"]}))
        .await;
}

#[tokio::test]
async fn contradictory_metadata_is_invalid_client_metadata() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    let cases = [
        json!({"client_name": "x", "client_type": "public", "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "confidential", "token_endpoint_auth_method": "none", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "public", "grant_types": ["client_credentials"]}),
        json!({"client_name": "x", "client_type": "public", "grant_types": ["implicit"], "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "confidential", "id_token_signed_response_alg": "none", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "confidential", "id_token_signed_response_alg": "HS256", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "sideways", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "", "client_type": "public", "redirect_uris": ["https://a.example/cb"]}),
        json!({"client_name": "x", "client_type": "public", "redirect_uris": "https://a.example/cb"}),
        json!({"client_name": "x", "client_type": "public", "scope": "openid bad\"scope", "redirect_uris": ["https://a.example/cb"]}),
        json!(["not", "an", "object"]),
    ];
    for case in cases {
        let r = app.post_app(&token, &case).await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, "invalid_client_metadata".into()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn confidential_client_secret_is_shown_once_and_stored_hashed() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    let created = app
        .register(
            &token,
            json!({"client_name": "Backend", "client_type": "confidential", "redirect_uris": ["https://rp.example/cb"],
                   "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}),
        )
        .await;
    let secret = created["client_secret"]
        .as_str()
        .expect("secret shown at creation");
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["client_secret_expires_at"], 0);
    let id = created["id"].as_str().unwrap();

    let one: Value = app
        .api()
        .get(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(one.get("client_secret").is_none());
    assert_eq!(one["client_id"], created["client_id"]);
    let list: Value = app
        .api()
        .get(app.url("/developer/applications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["applications"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    let (stored,): (String,) = sqlx::query_as("SELECT secret_hash FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(stored, secret);
    assert!(app.state.keys.verify_secret(secret, &stored));
}

#[tokio::test]
async fn client_type_cannot_be_changed_by_patch() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    let created = app
        .register(&token, public_app("https://app.example/cb"))
        .await;
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/developer/applications/{id}"));
    let before: Value = app
        .api()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    for patch in [
        json!({"client_type": "confidential"}),
        json!({"client_type": "confidential", "client_name": "Renamed"}),
        json!({"token_endpoint_auth_method": "client_secret_post", "client_name": "Renamed"}),
    ] {
        let r = app
            .api()
            .patch(&url)
            .bearer_auth(&token)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, "invalid_client_metadata".into()),
            "{patch}"
        );
    }
    let after: Value = app
        .api()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before, after, "nothing changed");

    // Allowed changes go through, and the same client_type may be repeated.
    let r = app
        .api()
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"client_type": "public", "client_name": "Renamed", "redirect_uris": ["http://127.0.0.1/cb"], "scope": "openid email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["client_name"], "Renamed");
    assert_eq!(patched["redirect_uris"], json!(["http://127.0.0.1/cb"]));
    assert_eq!(patched["scope"], "openid email");
    assert_eq!(patched["client_type"], "public");
    // A PATCH must still satisfy the redirect URI rules.
    let r = app
        .api()
        .patch(&url)
        .bearer_auth(&token)
        .json(&json!({"redirect_uris": ["http://example.com/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_redirect_uri".into())
    );
}

#[tokio::test]
async fn rotate_secret_replaces_the_old_secret_at_once() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    let created = app
        .register(&token, json!({"client_name": "Backend", "client_type": "confidential", "redirect_uris": ["https://rp.example/cb"]}))
        .await;
    let id = created["id"].as_str().unwrap();
    let old = created["client_secret"].as_str().unwrap();
    let r = app
        .api()
        .post(app.url(&format!("/developer/applications/{id}/rotate_secret")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let rotated: Value = r.json().await.unwrap();
    let new = rotated["client_secret"]
        .as_str()
        .expect("new secret shown once");
    assert_ne!(old, new);
    let (stored,): (String,) = sqlx::query_as("SELECT secret_hash FROM applications WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        !app.state.keys.verify_secret(old, &stored),
        "old secret no longer verifies"
    );
    assert!(
        app.state.keys.verify_secret(new, &stored),
        "new secret verifies"
    );

    let public = app
        .register(&token, public_app("https://app.example/cb"))
        .await;
    let pid = public["id"].as_str().unwrap();
    let r = app
        .api()
        .post(app.url(&format!("/developer/applications/{pid}/rotate_secret")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
}

#[tokio::test]
async fn another_developers_application_is_not_found() {
    let app = TestApp::spawn().await;
    let alice = app.developer(&unique_email("alice")).await;
    let mallory = app.developer(&unique_email("mallory")).await;
    let created = app
        .register(&alice, json!({"client_name": "Alice's", "client_type": "confidential", "redirect_uris": ["https://a.example/cb"]}))
        .await;
    let id = created["id"].as_str().unwrap();
    let url = app.url(&format!("/developer/applications/{id}"));
    let api = app.api();
    for r in [
        api.get(&url).bearer_auth(&mallory).send().await.unwrap(),
        api.patch(&url)
            .bearer_auth(&mallory)
            .json(&json!({"client_name": "pwned"}))
            .send()
            .await
            .unwrap(),
        api.post(format!("{url}/rotate_secret"))
            .bearer_auth(&mallory)
            .send()
            .await
            .unwrap(),
        api.delete(&url).bearer_auth(&mallory).send().await.unwrap(),
    ] {
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let list: Value = api
        .get(app.url("/developer/applications"))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["applications"], json!([]));
    // Alice's application is intact, and Alice can delete it.
    let one: Value = api
        .get(&url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["client_name"], "Alice's");
    assert_eq!(
        api.delete(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn malformed_requests_are_4xx() {
    let app = TestApp::spawn().await;
    let token = app.developer(&unique_email("dev")).await;
    let api = app.api();
    let url = app.url("/developer/applications");
    let r = api
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let r = api
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request".into())
    );
    let r = api
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![b' '; 300_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = api
        .post(&url)
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = api
        .post(app.url("/developer/tokens"))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
