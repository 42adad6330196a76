//! Issue 10, authentication hardening: nothing stored before sign-in at `/oauth/authorize`,
//! per-IP limits, atomic lockouts (in parallel and across processes), trusted proxies,
//! `__Host-` cookies and session-bound CSRF, `max_age=0`.
use crate::common::{form_value, location_params, pkce_pair, unique_email, TestApp, PASSWORD};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};

fn public_rp() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code"],
           "scope": "openid email"})
}

async fn pending_rows(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM authorization_requests")
        .fetch_one(&app.db)
        .await
        .unwrap();
    n
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

/// The `next` of a `/login?next=…` location.
fn next_of(login_location: &str) -> String {
    let url = reqwest::Url::parse(&format!("http://x{login_location}")).unwrap();
    assert_eq!(url.path(), "/login", "{login_location}");
    url.query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .expect("next")
}

/// Signs `browser` in through the login page that `login_location` names; returns the
/// redirect that follows the login.
async fn login_via(app: &TestApp, browser: &Client, login_location: &str, email: &str) -> String {
    let page = browser
        .get(app.url(login_location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let next = form_value(&page, "next").expect("the login page keeps next");
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
            ("next", &next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login succeeds");
    location(&r)
}

fn authorize_query<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Item 2: no row before sign-in
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unauthenticated_authorize_requests_store_nothing_and_the_flow_still_completes() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (verifier, challenge) = pkce_pair();
    let long_state = "x".repeat(2048);
    let mut query = authorize_query(&rp.client_id, &rp.redirect_uri, &challenge);
    query.retain(|(k, _)| *k != "state");
    query.push(("state", &long_state));
    query.push(("nonce", &long_state));
    query.push(("login_hint", &rp.user_email));
    let stranger = app.browser();
    let mut first = None;
    for _ in 0..60 {
        let r = stranger
            .get(app.url("/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        first.get_or_insert(location(&r));
    }
    assert_eq!(pending_rows(&app).await, 0, "no row before sign-in");
    let login = first.unwrap();
    // Even with state and nonce at their maximum the URL stays bounded.
    assert!(
        login.len() < 16 * 1024,
        "login URL of {} bytes",
        login.len()
    );
    let back = login_via(&app, &stranger, &login, &rp.user_email).await;
    assert!(back.starts_with("/oauth/authorize?request_id="), "{back}");
    let consent = stranger.get(app.url(&back)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK, "the consent page");
    // The consent step, after sign-in, is bound to the user in the database as before.
    assert_eq!(pending_rows(&app).await, 1);
    let page = consent.text().await.unwrap();
    let r = stranger
        .post(app.url("/oauth/consent"))
        .form(&[
            (
                "csrf_token",
                form_value(&page, "csrf_token").unwrap().as_str(),
            ),
            (
                "request_id",
                form_value(&page, "request_id").unwrap().as_str(),
            ),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let params = location_params(&r);
    assert_eq!(params["state"], long_state);
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_or_expired_sealed_request_is_refused() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (_, challenge) = pkce_pair();
    let query = authorize_query(&rp.client_id, &rp.redirect_uri, &challenge);
    let r = app
        .browser()
        .get(app.url("/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    let next = next_of(&location(&r));
    let blob = next
        .strip_prefix("/oauth/authorize?request_id=")
        .unwrap()
        .to_string();
    let expired_page = |r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.text().await.unwrap();
        assert!(body.contains("sign-in request has expired"), "{body}");
    };
    // rp.user is signed in: the intact request goes on to the consent page.
    let r = rp.user.get(app.url(&next)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the sealed request is good");
    // One character changed anywhere is refused.
    for i in [0, blob.len() / 2, blob.len() - 1] {
        let mut tampered = blob.clone().into_bytes();
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let r = rp
            .user
            .get(app.url(&format!("/oauth/authorize?request_id={tampered}")))
            .send()
            .await
            .unwrap();
        expired_page(r).await;
    }
    // A request sealed by another server (another master key) is refused too.
    let other = TestApp::spawn().await;
    let r = rp.user.get(other.url(&next)).send().await.unwrap();
    expired_page(r).await;
    // Ten minutes later it has expired.
    app.advance(599);
    let r = rp.user.get(app.url(&next)).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "still good just before ten minutes"
    );
    app.advance(1);
    let r = rp.user.get(app.url(&next)).send().await.unwrap();
    expired_page(r).await;
}

// ---------------------------------------------------------------------------------------------
// Item 2: per-IP limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn signup_is_limited_per_ip() {
    let app = TestApp::spawn_with(|c| c.signup_max_per_ip_per_hour = 3).await;
    for _ in 0..3 {
        let r = app
            .signup(&app.browser(), &unique_email("s"), PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let email = unique_email("fourth");
    let r = app.signup(&app.browser(), &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0, "no account was created");
    app.advance(3600);
    let r = app.signup(&app.browser(), &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the next hour");
}

#[tokio::test]
async fn developer_token_minting_is_limited_per_ip_successful_or_not() {
    let app = TestApp::spawn_with(|c| c.developer_tokens_max_per_ip_per_hour = 3).await;
    let email = unique_email("minter");
    let r = app.signup(&app.browser(), &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mint = |password: &'static str| {
        let (client, url, email) = (app.api(), app.url("/developer/tokens"), email.clone());
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": email, "password": password, "name": "t"}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(mint(PASSWORD).await.status(), StatusCode::CREATED);
    assert_eq!(
        mint("wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(mint(PASSWORD).await.status(), StatusCode::CREATED);
    let r = mint(PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth from this IP"
    );
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM developer_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 2, "no row for the refused request");
    app.advance(3600);
    assert_eq!(
        mint(PASSWORD).await.status(),
        StatusCode::CREATED,
        "the next hour"
    );
}

#[tokio::test]
async fn signup_limit_zero_means_off() {
    let app = TestApp::spawn_with(|c| c.signup_max_per_ip_per_hour = 0).await;
    for _ in 0..25 {
        let r = app
            .signup(&app.browser(), &unique_email("s"), PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
}

// ---------------------------------------------------------------------------------------------
// Item 5: the lockout holds in parallel and across processes
// ---------------------------------------------------------------------------------------------

/// Fires one wrong login per app in `apps` (round robin), `n` at once; returns the statuses.
async fn parallel_wrong_logins(apps: &[&TestApp], email: &str, n: usize) -> Vec<StatusCode> {
    let mut prepared = Vec::new();
    for i in 0..n {
        let app = apps[i % apps.len()];
        let browser = app.browser();
        let csrf = app.csrf(&browser, "/login").await;
        prepared.push((browser, app.url("/login"), csrf));
    }
    let tasks: Vec<_> = prepared
        .into_iter()
        .map(|(browser, url, csrf)| {
            let email = email.to_string();
            tokio::spawn(async move {
                browser
                    .post(url)
                    .form(&[
                        ("email", email.as_str()),
                        ("password", "a wrong guess"),
                        ("csrf_token", csrf.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn count(statuses: &[StatusCode], s: StatusCode) -> usize {
    statuses.iter().filter(|x| **x == s).count()
}

async fn assert_locked_then_lifts(app: &TestApp, email: &str) {
    let r = app.login(&app.browser(), email, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused during the lock"
    );
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    app.advance(300);
    let r = app.login(&app.browser(), email, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the lock lifts by itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_passwords_check_at_most_ten() {
    let app = TestApp::spawn().await;
    let email = unique_email("parallel");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let statuses = parallel_wrong_logins(&[&app], &email, 40).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(
        checked <= 10,
        "{checked} wrong passwords checked: {statuses:?}"
    );
    assert_eq!(
        checked + count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        40,
        "{statuses:?}"
    );
    assert_locked_then_lifts(&app, &email).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lockout_holds_across_two_processes() {
    let app = TestApp::spawn().await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let email = unique_email("siblings");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let statuses = parallel_wrong_logins(&[&app, &sibling], &email, 40).await;
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(
        checked <= 10,
        "{checked} wrong passwords checked: {statuses:?}"
    );
    assert_eq!(
        checked + count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        40,
        "{statuses:?}"
    );
    let r = sibling.login(&sibling.browser(), &email, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the other process"
    );
    assert_locked_then_lifts(&app, &email).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_developer_token_guesses_share_the_login_limit() {
    let app = TestApp::spawn().await;
    let email = unique_email("mint");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (client, url, email) = (app.api(), app.url("/developer/tokens"), email.clone());
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"email": email, "password": "a wrong guess", "name": "x"}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let retry = r.headers().get(header::RETRY_AFTER).is_some();
                let body: Value = r.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry, "Retry-After on a JSON 429");
                assert!(body["error"].is_string(), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(checked <= 10, "{checked} wrong passwords checked");
    let r = app
        .api()
        .post(app.url("/developer/tokens"))
        .json(&json!({"email": email, "password": PASSWORD, "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

fn cli_meta() -> Value {
    json!({"client_name": "logi CLI", "client_type": "public",
           "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
           "redirect_uris": [], "scope": "openid"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_device_codes_are_limited_per_ip() {
    let app = TestApp::spawn().await;
    let rp = app.rp(cli_meta()).await;
    let started: Value = app
        .api()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", rp.client_id.as_str()), ("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = rp
        .user
        .get(app.url("/device"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let tasks: Vec<_> = (0..35)
        .map(|_| {
            let (browser, url, csrf) = (rp.user.clone(), app.url("/device"), csrf.clone());
            tokio::spawn(async move {
                browser
                    .post(url)
                    .form(&[("csrf_token", csrf.as_str()), ("user_code", "ZZZZ-ZZZZ")])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = count(&statuses, StatusCode::BAD_REQUEST);
    assert!(
        checked <= 20,
        "{checked} wrong codes looked up: {statuses:?}"
    );
    assert_eq!(
        checked + count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        35
    );
    // The right code is refused too until the lock lifts.
    let code = started["user_code"].as_str().unwrap();
    let post = |code: String| {
        let (browser, url, csrf) = (rp.user.clone(), app.url("/device"), csrf.clone());
        async move {
            browser
                .post(url)
                .form(&[("csrf_token", csrf.as_str()), ("user_code", code.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let r = post(code.to_string()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get(header::RETRY_AFTER).is_some());
    app.advance(300);
    assert_eq!(post(code.to_string()).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Item 6: trusted proxies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_forged_forwarded_for_entry_does_not_dodge_the_ip_lock() {
    let app = TestApp::spawn_with(|c| {
        c.client_ip_header = "x-forwarded-for".into();
        // The test client connects from 127.0.0.1: it plays the trusted reverse proxy.
        c.trusted_proxies = vec!["127.0.0.1".into()];
        c.login_max_failures_per_ip = 3;
    })
    .await;
    let login_as = |forwarded: String, email: String| {
        let app = &app;
        async move {
            let browser = app.browser();
            let csrf = app.csrf(&browser, "/login").await;
            browser
                .post(app.url("/login"))
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("email", email.as_str()),
                    ("password", "guess"),
                    ("csrf_token", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The attacker writes a new left-most address every time; the proxy appends the real one.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let forged = format!("10.9.{i}.{i}, 203.0.113.7");
        statuses.push(login_as(forged, unique_email("spray")).await);
    }
    assert_eq!(
        statuses,
        [
            vec![StatusCode::UNAUTHORIZED; 3],
            vec![StatusCode::TOO_MANY_REQUESTS; 3]
        ]
        .concat(),
        "the client is the right-most untrusted address"
    );
    // Another client behind the same proxy is not locked.
    assert_eq!(
        login_as("198.51.100.9".into(), unique_email("other")).await,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------------------------------------
// Item 7: __Host- cookies, CSRF bound to the session
// ---------------------------------------------------------------------------------------------

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn an_https_issuer_uses_host_prefixed_cookies_everywhere() {
    let app = TestApp::spawn().await;
    let tls = app
        .spawn_sibling(|c| c.issuer = "https://login.example.com".into())
        .await;
    // A plain client: cookies by hand (a cookie store would not send Secure cookies over http).
    let client = tls.api();
    let r = client.get(tls.url("/signup")).send().await.unwrap();
    let cookies = set_cookies(&r);
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-logi_csrf="))
        .unwrap_or_else(|| panic!("__Host-logi_csrf: {cookies:?}"));
    for attr in ["; Secure", "; Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(csrf_cookie.contains(attr), "{csrf_cookie}");
    }
    assert!(!csrf_cookie.contains("Domain"), "{csrf_cookie}");
    let csrf = form_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    let email = unique_email("tls");
    let r = client
        .post(tls.url("/signup"))
        .header(header::COOKIE, cookie_pair(csrf_cookie))
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the __Host- CSRF cookie is read"
    );
    let cookies = set_cookies(&r);
    assert!(
        cookies.iter().all(|c| c.starts_with("__Host-")),
        "{cookies:?}"
    );
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-logi_session="))
        .unwrap_or_else(|| panic!("__Host-logi_session: {cookies:?}"));
    assert!(
        session.contains("; Secure") && session.contains("; Path=/"),
        "{session}"
    );
    assert!(!session.contains("Domain"), "{session}");
    // The session is read under the same name, and only under it.
    let home = |cookie: String| {
        let (client, url) = (client.clone(), tls.url("/"));
        async move {
            client
                .get(url)
                .header(header::COOKIE, cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(home(cookie_pair(session)).await.contains(&email));
    let value = cookie_pair(session)
        .trim_start_matches("__Host-logi_session=")
        .to_string();
    assert!(!home(format!("logi_session={value}")).await.contains(&email));
}

/// POST /logout from `browser` with `token`.
async fn logout_with(app: &TestApp, browser: &Client, token: &str) -> StatusCode {
    browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session() {
    let app = TestApp::spawn().await;
    let email = unique_email("bound");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let browser = app.browser();
    // A token from before sign-in, in this very browser (same CSRF cookie).
    let before = app.csrf(&browser, "/login").await;
    let r = app.login(&browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        logout_with(&app, &browser, &before).await,
        StatusCode::FORBIDDEN,
        "a token from before sign-in"
    );
    // A token of this session, then a new session in the same browser: the old one is refused.
    let first_session = app.csrf(&browser, "/").await;
    let r = app.login(&browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        logout_with(&app, &browser, &first_session).await,
        StatusCode::FORBIDDEN,
        "a token of another session"
    );
    // Another browser's session token.
    let other = app.browser();
    app.login(&other, &email, PASSWORD).await;
    let others = app.csrf(&other, "/").await;
    assert_eq!(
        logout_with(&app, &browser, &others).await,
        StatusCode::FORBIDDEN
    );
    // This session's own token works.
    let own = app.csrf(&browser, "/").await;
    assert_eq!(
        logout_with(&app, &browser, &own).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_consent_form_refuses_a_token_from_before_sign_in() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let browser = app.browser();
    let before = app.csrf(&browser, "/login").await;
    app.login(&browser, &rp.user_email, PASSWORD).await;
    let (_, challenge) = pkce_pair();
    let consent = browser
        .get(app.url("/oauth/authorize"))
        .query(&authorize_query(
            &rp.client_id,
            &rp.redirect_uri,
            &challenge,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let page = consent.text().await.unwrap();
    let request_id = form_value(&page, "request_id").unwrap();
    let post = |token: String| {
        let (browser, url, request_id) = (
            browser.clone(),
            app.url("/oauth/consent"),
            request_id.clone(),
        );
        async move {
            browser
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("request_id", request_id.as_str()),
                    ("decision", "allow"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(post(before).await.status(), StatusCode::FORBIDDEN);
    let r = post(form_value(&page, "csrf_token").unwrap()).await;
    assert!(location_params(&r).contains_key("code"));
}

// ---------------------------------------------------------------------------------------------
// Item 8: max_age=0 and prompt=login always re-authenticate
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn max_age_zero_always_signs_in_again_and_then_completes() {
    for demand in [("max_age", "0"), ("prompt", "login")] {
        let app = TestApp::spawn().await;
        let rp = app.rp(public_rp()).await;
        // rp.user signed up this very second (the clock stands still).
        let (verifier, challenge) = pkce_pair();
        let mut query = authorize_query(&rp.client_id, &rp.redirect_uri, &challenge);
        query.push(demand);
        let r = rp
            .user
            .get(app.url("/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{demand:?}");
        let login = location(&r);
        assert!(login.starts_with("/login?"), "{demand:?}: {login}");
        // Coming back without signing in again (same session, same second) is not enough.
        let r = rp.user.get(app.url(&next_of(&login))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{demand:?}");
        assert!(location(&r).starts_with("/login?"), "{demand:?}");
        // A fresh login, still in the same second, completes the flow: no loop.
        let back = login_via(&app, &rp.user, &login, &rp.user_email).await;
        let consent = rp.user.get(app.url(&back)).send().await.unwrap();
        let r = app.decide(&rp, consent, "allow").await;
        let params = location_params(&r);
        let r = app
            .token(
                &rp,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &params["code"]),
                    ("redirect_uri", &rp.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{demand:?}");
    }
}
