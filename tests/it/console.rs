//! The developer console at /developer: the developer API over HTML forms.
use crate::common::{form_value, unique_email, TestApp, PASSWORD};
use reqwest::{header, StatusCode};

#[tokio::test]
async fn console_requires_a_session() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .get(app.url("/developer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/login?next=/developer");
}

#[tokio::test]
async fn console_registers_rotates_and_deletes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(&browser, &unique_email("console"), PASSWORD)
        .await;
    let page = browser
        .get(app.url("/developer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No applications yet."));
    let csrf = form_value(&page, "csrf_token").unwrap();

    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Console app"),
            ("client_type", "confidential"),
            (
                "redirect_uris",
                "https://rp.example/cb\nhttp://127.0.0.1:9000/cb",
            ),
            ("grant_types", "authorization_code refresh_token"),
            ("scope", "openid email offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = r.text().await.unwrap();
    assert!(created.contains("client_secret (shown only now"));
    let (id, hash): (String, String) = sqlx::query_as("SELECT id, secret_hash FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let secret = created
        .split("class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(
        app.state.keys.verify_secret(secret, &hash),
        "the page shows the real secret"
    );

    let again = browser
        .get(app.url("/developer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.contains("Console app") && !again.contains(secret),
        "secret shown once"
    );

    let r = browser
        .post(app.url(&format!("/developer/console/{id}/rotate_secret")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (new_hash,): (String,) = sqlx::query_as("SELECT secret_hash FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!app.state.keys.verify_secret(secret, &new_hash));

    // Bad metadata is shown on the page, nothing is written.
    let r = browser
        .post(app.url("/developer/console/applications"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_name", "Bad"),
            ("client_type", "public"),
            ("redirect_uris", "http://example.com/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("plain http is only allowed for loopback"));

    // Without the CSRF token nothing happens.
    let r = browser
        .post(app.url(&format!("/developer/console/{id}/delete")))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .post(app.url(&format!("/developer/console/{id}/delete")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn console_registers_key_based_clients_and_back_channel_logout() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(&browser, &unique_email("console-keys"), PASSWORD)
        .await;
    let csrf = app.csrf(&browser, "/developer").await;
    let register = |fields: Vec<(&'static str, String)>| {
        let (browser, url, csrf) = (
            browser.clone(),
            app.url("/developer/console/applications"),
            csrf.clone(),
        );
        async move {
            let mut form = vec![
                ("csrf_token", csrf),
                ("client_type", "confidential".to_string()),
                ("redirect_uris", "https://rp.example/cb".to_string()),
                ("grant_types", "authorization_code".to_string()),
                ("scope", "openid".to_string()),
            ];
            form.extend(fields);
            let r = browser.post(url).form(&form).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // A JWK Set URL and a back-channel logout URL: registered, no secret shown.
    let (status, page) = register(vec![
        ("client_name", "By URI".into()),
        ("token_endpoint_auth_method", "private_key_jwt".into()),
        ("jwks_uri", "https://rp.example/jwks".into()),
        ("backchannel_logout_uri", "https://rp.example/logout".into()),
        ("backchannel_logout_session_required", "yes".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(!page.contains("client_secret (shown only now"));
    let row: (String, Option<String>, Option<String>, i64) = sqlx::query_as(
        "SELECT token_endpoint_auth_method, jwks_uri, backchannel_logout_uri, \
         backchannel_logout_session_required FROM applications WHERE client_name = 'By URI'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "private_key_jwt".to_string(),
            Some("https://rp.example/jwks".to_string()),
            Some("https://rp.example/logout".to_string()),
            1
        )
    );
    // A pasted JWK Set works too.
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let (status, page) = register(vec![
        ("client_name", "Inline".into()),
        ("token_endpoint_auth_method", "private_key_jwt".into()),
        ("jwks", jwk.into()),
    ])
    .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    // Refused: plain http to another host, both kinds of keys, keys that are not JSON.
    for (what, fields) in [
        (
            "http jwks_uri",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks_uri", "http://rp.example/jwks".to_string()),
            ],
        ),
        (
            "both",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks_uri", "https://rp.example/jwks".to_string()),
                ("jwks", jwk.to_string()),
            ],
        ),
        (
            "not JSON",
            vec![
                ("token_endpoint_auth_method", "private_key_jwt".to_string()),
                ("jwks", "keys please".to_string()),
            ],
        ),
        (
            "http logout",
            vec![(
                "backchannel_logout_uri",
                "http://rp.example/logout".to_string(),
            )],
        ),
    ] {
        let mut fields = fields;
        fields.push(("client_name", format!("Refused {what}")));
        let (status, page) = register(fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert!(page.contains("role=\"alert\""), "{what}: {page}");
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM applications")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 2);
}
