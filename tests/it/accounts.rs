//! End-user accounts over real HTTP: signup, login, logout, CSRF, throttling.
use crate::common::{form_value, unique_email, TestApp, PASSWORD};
use reqwest::{header, StatusCode};

fn set_cookie_of<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

#[tokio::test]
async fn signup_signs_in_with_a_server_side_session_cookie() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = unique_email("signup");
    let r = app.signup(&browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/");
    let cookie = set_cookie_of(&r, "logi_session").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "no Secure on an http issuer: {cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("logi_session=");
    // The database holds only a hash of the cookie value.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT id_hash FROM sessions")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, value);

    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(&email), "home page shows the signed-in user");
    // Password stored with argon2id at OWASP parameters.
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let r = app.browser().get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let body = r.text().await.unwrap();
    assert!(body.contains("name=\"email\"") && body.contains("name=\"password\""));
}

#[tokio::test]
async fn duplicate_signup_and_bad_input_are_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email("dup");
    assert_eq!(
        app.signup(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.signup(&app.browser(), &email.to_uppercase(), PASSWORD)
            .await
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.signup(&app.browser(), "not-an-email", PASSWORD)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.signup(&app.browser(), &unique_email("short"), "short")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn login_and_logout() {
    let app = TestApp::spawn().await;
    let email = unique_email("login");
    app.signup(&app.browser(), &email, PASSWORD).await;

    let browser = app.browser();
    let r = app.login(&browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(&email));

    let csrf = form_value(&home, "csrf_token").unwrap();
    let r = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains(&email), "signed out");
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(&email)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        n, 1,
        "only the signup session is left; the logged-out one is deleted"
    );
}

#[tokio::test]
async fn login_returns_to_a_local_path_only() {
    let app = TestApp::spawn().await;
    let email = unique_email("next");
    app.signup(&app.browser(), &email, PASSWORD).await;
    for (next, expected) in [
        ("/developer", "/developer"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
    ] {
        let browser = app.browser();
        let csrf = app.csrf(&browser, "/login").await;
        let r = browser
            .post(app.url("/login"))
            .form(&[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], expected, "next={next}");
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    let email = unique_email("same");
    app.signup(&app.browser(), &email, PASSWORD).await;

    let wrong = app.login(&app.browser(), &email, "wrong password!").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = app
        .login(&app.browser(), &unique_email("nobody"), "wrong password!")
        .await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_status, unknown_status);
    assert!(wrong_body.contains("Incorrect email or password."));
    assert!(unknown_body.contains("Incorrect email or password."));
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_forbidden() {
    let app = TestApp::spawn().await;
    let email = unique_email("csrf");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let browser = app.browser();
    let _ = app.csrf(&browser, "/login").await; // sets the CSRF cookie
    let r = browser
        .post(app.url("/login"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "missing token");
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "forged token");
    // A token from another browser does not match this browser's cookie.
    let other = app.csrf(&app.browser(), "/login").await;
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", other.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "token of another browser"
    );
    for path in ["/signup", "/logout"] {
        let r = browser
            .post(app.url(path))
            .form(&[("email", "a@b.co")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn_with(|c| {
        c.login_max_failures_per_account = 3;
        c.login_lockout_seconds = 2;
    })
    .await;
    let email = unique_email("throttle");
    app.signup(&app.browser(), &email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(
            app.login(&app.browser(), &email, "bad password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login(&app.browser(), &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The lock is in the database: the developer-token endpoint honours it too.
    let r = app
        .api()
        .post(app.url("/developer/tokens"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD, "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // It lifts by itself.
    app.advance(2);
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn repeated_failures_from_one_ip_lock_that_ip() {
    let app = TestApp::spawn_with(|c| c.login_max_failures_per_ip = 4).await;
    let victim = unique_email("victim");
    app.signup(&app.browser(), &victim, PASSWORD).await;
    for i in 0..4 {
        let r = app
            .login(&app.browser(), &unique_email(&format!("spray{i}")), "guess")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login(&app.browser(), &victim, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the IP is locked"
    );
}

#[tokio::test]
async fn bad_form_bodies_are_4xx() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.csrf(&browser, "/login").await;
    let r = browser
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "email=a%40b.co&email=c%40d.co&password=x&csrf_token={csrf}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "duplicated parameter");
    let r = browser
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"email=%FF%FE&password=x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "invalid UTF-8");
    let r = browser
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = browser
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn cookies_are_secure_on_an_https_issuer() {
    let app = TestApp::spawn().await;
    // A second process configured with a public https issuer (TLS ends at a proxy in front).
    let behind_tls = app
        .spawn_sibling(|c| c.issuer = "https://login.example.com".into())
        .await;
    let r = behind_tls
        .browser()
        .get(behind_tls.url("/login"))
        .send()
        .await
        .unwrap();
    // `__Host-` on an https issuer: Secure, Path=/, no Domain (more in authn_hardening).
    let cookie = set_cookie_of(&r, "__Host-logi_csrf").expect("csrf cookie");
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("; Path=/")
            && !cookie.contains("Domain")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}
