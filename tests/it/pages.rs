//! What a person sees on the sign-in pages: the application named, a consent page that says who
//! asks and where the browser goes, and error pages with a next step.
use crate::common::{form_value, pkce_pair, unique_email, TestApp, PASSWORD};
use reqwest::{header, StatusCode};
use serde_json::json;

#[tokio::test]
async fn consent_names_the_owner_the_origin_and_offers_not_you() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({
            "client_name": "Acme Notes",
            "client_type": "public",
            "redirect_uris": ["http://127.0.0.1:9000/cb"],
        }))
        .await;
    let (_, challenge) = pkce_pair();
    let extra = [
        ("scope", "openid profile"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = app.authorize(&rp, &extra).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("http:&#x2f;&#x2f;127.0.0.1:9000") || page.contains("http://127.0.0.1:9000"),
        "scheme, host and port: {page}"
    );
    assert!(
        page.contains("unverified"),
        "an unverified application is marked"
    );
    assert!(page.contains("is registered by"), "the owner is named");
    assert!(page.contains(&format!("<strong>{}</strong>", rp.user_email)));
    assert!(page.contains("your email address is sent as your username"));

    // Verified: no mark.
    app.set_verified(&rp.client_id, true).await;
    let page = app.authorize(&rp, &extra).await.text().await.unwrap();
    assert!(!page.contains("unverified"));

    // "Not you?" signs out and leads to the login page of the same request, which names the
    // application.
    let csrf = form_value(&page, "csrf_token").unwrap();
    let next = form_value(&page, "next").unwrap().replace("&amp;", "&");
    let r = rp
        .user
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str()), ("next", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(
        login.starts_with("/login?next=%2Foauth%2Fauthorize"),
        "{login}"
    );
    let page = rp
        .user
        .get(app.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in to continue to <strong>Acme Notes</strong>"),
        "{page}"
    );
    // Signed out indeed: the developer console wants a login.
    let r = rp.user.get(app.url("/developer")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A plain /login names nothing.
    let page = app
        .browser()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("to continue to"));
}

#[tokio::test]
async fn lockout_message_is_plural_and_error_pages_give_a_next_step() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let email = unique_email("lock");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let max = app.state.config.login_max_failures_per_account as i64;
    let mut bodies = Vec::new();
    for _ in 0..max + 2 {
        let r = app.login(&browser, &email, "wrong password").await;
        bodies.push(r.text().await.unwrap());
    }
    // A warning before the lock, from three attempts left down to the locking attempt.
    let at = |i: i64| &bodies[(i - 1) as usize];
    assert!(!at(max - 4).contains("left before"), "no warning early");
    assert!(at(max - 3).contains("3 attempts left"), "{}", at(max - 3));
    assert!(at(max - 2).contains("2 attempts left"), "{}", at(max - 2));
    assert!(at(max - 1).contains("1 attempt left"), "{}", at(max - 1));
    assert!(at(max).contains("now locked"), "{}", at(max));
    let last = bodies.last().unwrap().clone();
    assert!(last.contains("Try again in"), "{last}");
    assert!(!last.contains("minute(s)"));
    assert!(last.contains(" minutes.") || last.contains(" 1 minute."));

    let r = browser.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("<code class=\"id\">{request_id}</code>")),
        "the request id is on the page: {page}"
    );
    assert!(page.contains("Check the address"));
    assert!(page.contains("Details for the developer"));
    assert!(page.contains("<code>404</code>"));
}

#[tokio::test]
async fn the_device_flow_login_says_what_it_is_for() {
    let app = TestApp::spawn().await;
    let r = app
        .browser()
        .get(app.url("/device?user_code=BCDF-GHJK"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    let page = app
        .browser()
        .get(app.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in to connect your device"), "{page}");
}
