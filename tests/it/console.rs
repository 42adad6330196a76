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
