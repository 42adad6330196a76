//! NUL and other control characters in text that would reach SQL: `400 invalid_request` (or a
//! 400 page) at every entry, on both backends; never a 500 (PostgreSQL cannot store NUL).

use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::common::{unique_email, TestApp, PASSWORD};

async fn assert_json_400(what: &str, r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request", "{what}: {body}");
}

fn assert_page_400(what: &str, r: &reqwest::Response) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
    let html = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"));
    assert!(html, "{what}: an HTML page");
}

#[tokio::test]
async fn nul_in_oauth_parameters_is_invalid_request() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({ "client_type": "confidential", "grant_types": ["authorization_code", "client_credentials"] }))
        .await;
    let api = app.api();

    // The authorization endpoint, before the client is known: an HTML page.
    for query in [
        "client_id=%00",
        "client_id=abc%00def&response_type=code",
        "client_id=x&response_type=code&state=%01",
    ] {
        let r = api
            .get(app.url(&format!("/oauth/authorize?{query}")))
            .send()
            .await
            .unwrap();
        assert_page_400(&format!("authorize ?{query}"), &r);
    }
    // A known client with NUL in another parameter: never a 500.
    let r = app.authorize(&rp, &[("state", "a\0b")]).await;
    assert!(
        r.status().is_client_error() || r.status().is_redirection(),
        "{}",
        r.status()
    );

    // Token, revocation, introspection: form bodies.
    for (path, form) in [
        (
            "/oauth/token",
            vec![("grant_type", "client_credentials"), ("client_id", "\0")],
        ),
        (
            "/oauth/token",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", rp.client_id.as_str()),
                ("client_secret", "a\0"),
            ],
        ),
        (
            "/oauth/token",
            vec![("grant_type", "refresh_token"), ("refresh_token", "x\0y")],
        ),
        ("/oauth/revoke", vec![("token", "\0")]),
        ("/oauth/introspect", vec![("token", "\0")]),
        ("/oauth/device_authorization", vec![("client_id", "\0")]),
    ] {
        let r = api.post(app.url(path)).form(&form).send().await.unwrap();
        assert_json_400(&format!("{path} {form:?}"), r).await;
    }

    // Basic credentials with NUL in the client id (base64 of raw NUL, and form-encoded).
    for user_pass in ["cli\0ent:secret", "cli%00ent:secret"] {
        let r = api
            .post(app.url("/oauth/token"))
            .header(
                header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(user_pass)),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_json_400(&format!("Basic {user_pass:?}"), r).await;
    }

    // Logout (query) and userinfo (form).
    let r = api
        .get(app.url("/oauth/logout?client_id=%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "logout");
}

#[tokio::test]
async fn nul_in_json_forms_and_paths_is_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email("dev");
    let token = app.developer(&email).await;
    let api = app.api();

    // Developer API JSON: strings anywhere in the document, member names included.
    for body in [
        json!({ "email": "a\u{0}@example.com", "password": PASSWORD, "name": "x" }),
        json!({ "email": email, "password": PASSWORD, "name": "x\u{0}" }),
    ] {
        let r = api
            .post(app.url("/developer/tokens"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_json_400(&format!("tokens {body}"), r).await;
    }
    for body in [
        json!({ "client_name": "a\u{0}b", "redirect_uris": ["https://rp.example/cb"] }),
        json!({ "client_name": "ok", "redirect_uris": ["https://rp.example/cb\u{0}"] }),
        json!({ "client_name": "ok", "redirect_uris": ["https://rp.example/cb"], "x\u{0}": 1 }),
        json!({ "client_name": "ok", "redirect_uris": ["https://rp.example/cb"], "scope": "openid\u{1}" }),
    ] {
        let r = app.post_app(&token, &body).await;
        assert_json_400(&format!("register {body}"), r).await;
    }
    // Path segments.
    for (method, path) in [
        (reqwest::Method::GET, "/developer/applications/%00"),
        (reqwest::Method::DELETE, "/developer/applications/a%00b"),
        (reqwest::Method::DELETE, "/developer/tokens/%00"),
        (
            reqwest::Method::POST,
            "/developer/applications/%00/rotate_secret",
        ),
    ] {
        let r = api
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_json_400(&format!("{method} {path}"), r).await;
    }

    // Browser forms: login, signup, device (with a valid CSRF token).
    let browser = app.browser();
    for (path, fields) in [
        (
            "/login",
            vec![("email", "a\0@example.com"), ("password", PASSWORD)],
        ),
        (
            "/signup",
            vec![
                ("email", "b\0@example.com"),
                ("password", PASSWORD),
                ("name", "x"),
            ],
        ),
        (
            "/signup",
            vec![
                ("email", "c@example.com"),
                ("password", PASSWORD),
                ("name", "x\0"),
            ],
        ),
    ] {
        let csrf = app.csrf(&browser, path).await;
        let mut form = fields.clone();
        form.push(("csrf_token", &csrf));
        let r = browser
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_page_400(&format!("{path} {fields:?}"), &r);
    }
    // Signed in: the device form and the console.
    let r = app.login(&browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let csrf = app.csrf(&browser, "/device").await;
    let r = browser
        .post(app.url("/device"))
        .form(&[("user_code", "AB\0C-DEFG"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_page_400("device", &r);
    let csrf = app.csrf(&browser, "/developer").await;
    let r = browser
        .post(app.url("/developer/console/%00/delete"))
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_page_400("console delete", &r);
    // A textarea's line breaks are still fine in a page form.
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("client_name", "Two URIs"),
            ("client_type", "public"),
            (
                "redirect_uris",
                "https://a.example/cb\r\nhttps://b.example/cb",
            ),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "line breaks in a textarea are kept"
    );
}
