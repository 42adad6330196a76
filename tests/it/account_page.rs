//! `/account` (SPEC "End users: …, account page") and the operator commands `logi user …`,
//! over real HTTP on both backends.
use crate::common::{form_value, json_or_null, pause_ms, unique_email, Rp, TestApp, PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn firefox() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(FIREFOX)
        .build()
        .unwrap()
}

async fn account_page(app: &TestApp, browser: &Client) -> reqwest::Response {
    browser.get(app.url("/account")).send().await.unwrap()
}

/// The account page's HTML; panics unless the browser is signed in.
async fn page_of(app: &TestApp, browser: &Client) -> String {
    let r = account_page(app, browser).await;
    assert_eq!(r.status(), StatusCode::OK, "the account page");
    r.text().await.unwrap()
}

/// Posts a form of the account page with its CSRF token.
async fn post(
    app: &TestApp,
    browser: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = app.csrf(browser, "/account").await;
    let mut form = form.to_vec();
    form.push(("csrf_token", &csrf));
    browser
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The `sid`s of the sessions the page lists (`data-session` attributes).
fn listed_sessions(page: &str) -> Vec<String> {
    page.split("data-session=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(String::from))
        .collect()
}

/// The `sid` of the row that names `needle`.
fn sid_of_row(page: &str, needle: &str) -> Option<String> {
    page.split("<tr data-session=\"").skip(1).find_map(|row| {
        let row = row.split("</tr>").next()?;
        row.contains(needle)
            .then(|| row.split('"').next().map(String::from))?
    })
}

async fn signed_up(app: &TestApp, browser: &Client) -> String {
    let email = unique_email("acct");
    let r = app.signup(browser, &email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    email
}

#[tokio::test]
async fn the_page_needs_a_session_and_every_form_needs_its_csrf_token() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let r = account_page(&app, &browser).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=/account");
    signed_up(&app, &browser).await;
    let page = page_of(&app, &browser).await;
    for action in [
        "/account/name",
        "/account/password",
        "/account/delete",
        "/account/sessions/",
    ] {
        assert!(page.contains(&format!("action=\"{action}")), "{action}");
    }
    assert!(form_value(&page, "csrf_token").is_some());
    assert!(!page.contains("<script"), "no JavaScript needed");
    let sid = listed_sessions(&page)
        .pop()
        .expect("this session is listed");
    for path in [
        "/account/name".to_string(),
        "/account/password".into(),
        "/account/delete".into(),
        format!("/account/sessions/{sid}/end"),
        "/account/applications/x/revoke".into(),
    ] {
        let r = browser
            .post(app.url(&path))
            .form(&[
                ("password", PASSWORD),
                ("name", "x"),
                ("current_password", PASSWORD),
                ("new_password", "another password"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{path} without csrf_token"
        );
    }
    // Nothing happened: still signed in, same name, same password.
    let page = page_of(&app, &browser).await;
    assert!(page.contains("value=\"Test User\""));
    // The name changes.
    let r = post(&app, &browser, "/account/name", &[("name", "Ada Lovelace")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(page_of(&app, &browser)
        .await
        .contains("value=\"Ada Lovelace\""));
    let r = post(&app, &browser, "/account/name", &[("name", "bad\u{1}name")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_the_other_sessions() {
    let app = TestApp::spawn_with(|c| c.login_max_failures_per_account = 3).await;
    let here = app.browser();
    let email = signed_up(&app, &here).await;
    let elsewhere = firefox();
    assert_eq!(
        app.login(&elsewhere, &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let new = "a brand new passphrase";
    let r = post(
        &app,
        &here,
        "/account/password",
        &[("current_password", "wrong one"), ("new_password", new)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        account_page(&app, &elsewhere).await.status(),
        StatusCode::OK,
        "nothing ended"
    );
    let r = post(
        &app,
        &here,
        "/account/password",
        &[("current_password", PASSWORD), ("new_password", "short")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = post(
        &app,
        &here,
        "/account/password",
        &[("current_password", PASSWORD), ("new_password", new)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=password");
    assert_eq!(
        account_page(&app, &here).await.status(),
        StatusCode::OK,
        "this session stays"
    );
    let r = account_page(&app, &elsewhere).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the other session ended");
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&app.browser(), &email, new).await.status(),
        StatusCode::SEE_OTHER
    );

    // Guessing the current password is throttled like logins, on the same counter: the wrong
    // current password and the old password's login were two failures; one more fills the
    // window of three, then even the right one is refused.
    let r = post(
        &app,
        &here,
        "/account/password",
        &[
            ("current_password", "guess"),
            ("new_password", "whatever123"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(
        &app,
        &here,
        "/account/password",
        &[("current_password", new), ("new_password", "whatever123")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_session_list_shows_the_other_browser_and_ends_it() {
    let app = TestApp::spawn().await;
    let here = app.browser();
    let email = signed_up(&app, &here).await;
    let elsewhere = firefox();
    assert_eq!(
        app.login(&elsewhere, &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = page_of(&app, &here).await;
    assert_eq!(listed_sessions(&page).len(), 2, "{page}");
    assert!(page.contains("Firefox on Linux"), "{page}");
    assert!(page.contains("127.0.0.1"));
    let other = sid_of_row(&page, "Firefox on Linux").expect("the Firefox row");
    let this_row = sid_of_row(&page, "(this browser)").expect("this browser's row");
    assert_ne!(this_row, other);

    // Another user cannot end it by its id.
    let stranger = app.browser();
    signed_up(&app, &stranger).await;
    let r = post(
        &app,
        &stranger,
        &format!("/account/sessions/{other}/end"),
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        account_page(&app, &elsewhere).await.status(),
        StatusCode::OK
    );

    let r = post(&app, &here, &format!("/account/sessions/{other}/end"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=session");
    let r = account_page(&app, &elsewhere).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "that browser is signed out"
    );
    let page = page_of(&app, &here).await;
    assert_eq!(listed_sessions(&page).len(), 1);

    // Ending this browser's own session signs it out.
    let mine = listed_sessions(&page).pop().unwrap();
    let r = post(&app, &here, &format!("/account/sessions/{mine}/end"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/?signed_out=1");
    assert_eq!(
        account_page(&app, &here).await.status(),
        StatusCode::SEE_OTHER
    );
}

fn confidential() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid email offline_access"})
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    json_or_null(r).await.1
}

async fn userinfo(app: &TestApp, token: &str) -> StatusCode {
    app.api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn refresh(app: &TestApp, rp: &Rp, refresh_token: &str) -> StatusCode {
    app.token(
        rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
    .status()
}

/// Both tokens of `tokens` are refused: userinfo, introspection, refresh.
async fn assert_dead(app: &TestApp, rp: &Rp, tokens: &Value) {
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo(app, at).await, StatusCode::UNAUTHORIZED);
    assert_eq!(introspect(app, rp, at).await, json!({"active": false}));
    assert_eq!(introspect(app, rp, rt).await, json!({"active": false}));
    assert_eq!(refresh(app, rp, rt).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoking_an_application_kills_its_tokens_and_forgets_the_consent() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential()).await;
    let tokens = app.tokens(&rp, "openid email offline_access").await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, at).await, StatusCode::OK);
    assert_eq!(introspect(&app, &rp, at).await["active"], true);

    let page = page_of(&app, &rp.user).await;
    assert!(
        page.contains(&format!("data-client-id=\"{}\"", rp.client_id)),
        "{page}"
    );
    assert!(page.contains("Test RP"));
    assert!(
        page.contains("See your email address"),
        "scope descriptions"
    );
    // Another user has no such application to revoke.
    let stranger = app.browser();
    signed_up(&app, &stranger).await;
    let path = format!("/account/applications/{}/revoke", rp.client_id);
    assert_eq!(
        post(&app, &stranger, &path, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(userinfo(&app, at).await, StatusCode::OK);

    let r = post(&app, &rp.user, &path, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_dead(&app, &rp, &tokens).await;
    let page = page_of(&app, &rp.user).await;
    assert!(!page.contains(&format!("data-client-id=\"{}\"", rp.client_id)));
    // The next authorization asks for consent again.
    let (_, challenge) = crate::common::pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid email"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    assert!(r.text().await.unwrap().contains("decision"));
}

#[tokio::test]
async fn deleting_the_account_needs_the_password_and_revokes_everything() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let r = post(&app, &rp.user, "/account/delete", &[("password", "not it")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    page_of(&app, &rp.user).await; // still signed in
    let r = post(&app, &rp.user, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/?signed_out=1");
    assert_eq!(
        account_page(&app, &rp.user).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.login(&app.browser(), &rp.user_email, PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_dead(&app, &rp, &tokens).await;
}

/// Runs `logi user <args>` on the test server's database, as an operator would.
pub(crate) async fn logi_user(app: &TestApp, args: &[&str]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("logi-acct-cli-{}", logi::crypto::random_token(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_logi"));
    c.current_dir(&dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGI_") {
            c.env_remove(k);
        }
    }
    // The operator's environment: the same database and master key (notices are sealed with
    // it) and issuer.
    c.env("LOGI_DATABASE_URL", &app.state.config.database_url);
    c.env("LOGI_MASTER_KEY", &app.state.config.master_key.0);
    c.env("LOGI_ISSUER", &app.state.config.issuer);
    c.arg("user").args(args);
    let out = c.output().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Polls until `check` holds (other processes hear of a change through the database: at once
/// on PostgreSQL, within `key_refresh_interval_seconds` on SQLite).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..40 {
        if check().await {
            return;
        }
        pause_ms(100).await;
    }
    panic!("{what}");
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_its_tokens_die_in_every_process() {
    let app = TestApp::spawn_with(|c| c.key_refresh_interval_seconds = 1).await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let rp = app.rp(confidential()).await;
    let tokens = app.tokens(&rp, "openid email offline_access").await;
    let at = tokens["access_token"].as_str().unwrap().to_string();
    // Both processes have the grant cached as alive.
    assert_eq!(userinfo(&app, &at).await, StatusCode::OK);
    assert_eq!(userinfo(&sibling, &at).await, StatusCode::OK);

    let (ok, out) = logi_user(&app, &["disable", "--email", &rp.user_email]).await;
    assert!(ok, "{out}");
    let (ok, out) = logi_user(&app, &["list"]).await;
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.contains(&rp.user_email))
        .expect("listed");
    assert_eq!(row.split('\t').nth(3), Some("disabled"), "{row}");

    // The browser session ended; sign-in is refused with a generic message.
    assert_eq!(
        account_page(&app, &rp.user).await.status(),
        StatusCode::SEE_OTHER
    );
    let r = app.login(&app.browser(), &rp.user_email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("cannot sign in"));
    let r = app
        .login(&app.browser(), &rp.user_email, "wrong password")
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a wrong password learns nothing more"
    );
    // The tokens: in the sibling too (it hears of the change through the database).
    eventually("the access token dies in this process", || async {
        userinfo(&app, &at).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_dead(&app, &rp, &tokens).await;
    eventually("the access token dies in the sibling", || async {
        userinfo(&sibling, &at).await == StatusCode::UNAUTHORIZED
    })
    .await;

    // Enabling restores sign-in, not the old tokens.
    let (ok, out) = logi_user(&app, &["enable", "--email", &rp.user_email]).await;
    assert!(ok, "{out}");
    assert_eq!(
        app.login(&app.browser(), &rp.user_email, PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_dead(&app, &rp, &tokens).await;
    assert_eq!(userinfo(&sibling, &at).await, StatusCode::UNAUTHORIZED);

    let (ok, out) = logi_user(&app, &["disable", "--email", "nobody@example.com"]).await;
    assert!(!ok && out.contains("no account"), "{out}");
}

#[tokio::test]
async fn the_library_disable_is_what_the_command_does() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let user = logi::store::users::by_email(&app.state.store, &rp.user_email)
        .await
        .unwrap()
        .unwrap();
    assert!(logi::accounts::manage::disable(
        &app.state.store,
        logi::accounts::manage::Mailing {
            keys: &app.state.keys,
            issuer: &app.state.config.issuer,
        },
        &user,
        app.now()
    )
    .await
    .unwrap());
    // In the process that wrote: at once.
    assert_dead(&app, &rp, &tokens).await;
}

#[tokio::test]
async fn unlock_lifts_a_lockout_and_delete_removes_the_account() {
    let app = TestApp::spawn_with(|c| c.login_max_failures_per_account = 2).await;
    let browser = app.browser();
    let email = signed_up(&app, &browser).await;
    for _ in 0..2 {
        assert_eq!(
            app.login(&app.browser(), &email, "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (ok, out) = logi_user(&app, &["unlock", "--email", &email]).await;
    assert!(ok, "{out}");
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let (ok, out) = logi_user(&app, &["delete", "--email", &email]).await;
    assert!(ok, "{out}");
    assert_eq!(
        account_page(&app, &browser).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, out) = logi_user(&app, &["list"]).await;
    assert!(!out.contains(&email), "{out}");
}
