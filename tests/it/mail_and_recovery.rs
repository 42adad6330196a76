//! Mail, email verification and password recovery (SPEC "End users: verification, recovery,
//! account page, second factors"; issue 14 items 1 and 2).
//!
//! logi sends real SMTP to a small sink the test runs on a loopback port (`smtp_url =
//! smtp://127.0.0.1:<port>`); without `smtp_url` it writes `.eml` files. Mail leaves through the
//! outbox worker (its poll is 100 ms here), so tests wait in real time for a mail to arrive,
//! and move the clock for expiry and retries.

use std::sync::{Arc, Mutex};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::common::{form_value, jwt_claims, pause_ms, unique_email, TestApp, PASSWORD};

/// A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
/// that keeps every message it receives.
#[derive(Clone, Default)]
struct Sink {
    messages: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: TcpListener) {
        let messages = self.messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let messages = messages.clone();
                tokio::spawn(async move {
                    let _ = session(stream, messages).await;
                });
            }
        });
    }

    async fn start() -> (Sink, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let sink = Sink::default();
        sink.serve(listener);
        (sink, port)
    }

    fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Waits (real time, for the outbox worker) until at least `n` messages arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            if self.count() >= n {
                break;
            }
            pause_ms(50).await;
        }
        let messages = self.messages.lock().unwrap().clone();
        assert!(
            messages.len() >= n,
            "expected {n} mail(s), got {}",
            messages.len()
        );
        messages
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    messages: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                messages.lock().unwrap().push(data);
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(answer).await?;
    }
}

/// The message with quoted-printable soft breaks and escapes undone (enough to read links).
fn decoded(message: &str) -> String {
    let joined = message.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token of the first `<path>?token=…` link in a message.
fn link_token(message: &str, path: &str) -> String {
    let text = decoded(message);
    let marker = format!("{path}?token=");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        + marker.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .split("\r\n\r\n")
        .next()?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

async fn spawn_with_sink() -> (TestApp, Sink) {
    let (sink, port) = Sink::start().await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = logi::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.mail_from = "Logi Test <noreply@logi.test>".into();
        c.outbox_poll_interval_ms = 100;
    })
    .await;
    (app, sink)
}

/// The mails the sink got for `to`.
fn mails_to(sink: &Sink, to: &str) -> Vec<String> {
    sink.messages
        .lock()
        .unwrap()
        .iter()
        .filter(|m| header(m, "To").is_some_and(|h| h.contains(to)))
        .cloned()
        .collect()
}

async fn wait_mail_to(sink: &Sink, to: &str, n: usize) -> Vec<String> {
    for _ in 0..100 {
        if mails_to(sink, to).len() >= n {
            break;
        }
        pause_ms(50).await;
    }
    let mails = mails_to(sink, to);
    assert!(
        mails.len() >= n,
        "expected {n} mail(s) to {to}, got {}",
        mails.len()
    );
    mails
}

async fn get_text(client: &Client, url: String) -> (StatusCode, String) {
    let r = client.get(url).send().await.expect("get");
    (r.status(), r.text().await.expect("body"))
}

async fn userinfo(app: &TestApp, access_token: &str) -> Value {
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

#[tokio::test]
async fn signup_mails_a_verification_link_over_smtp_that_works_once() {
    let (app, sink) = spawn_with_sink().await;
    let rp = app.rp(json!({ "client_type": "confidential" })).await;
    let mails = wait_mail_to(&sink, &rp.user_email, 1).await;
    let mail = &mails[0];
    assert!(
        header(mail, "From").is_some_and(|f| f.contains("noreply@logi.test")),
        "{mail}"
    );
    assert_eq!(header(mail, "Subject"), Some("Confirm your email address"));
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    let token = link_token(mail, &format!("{}/verify-email", app.url("")));

    // Before: email_verified is false in the ID token and in userinfo.
    let tokens = app.tokens(&rp, "openid email").await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["email_verified"],
        false
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await["email_verified"], false);
    let (_, home) = get_text(&rp.user, app.url("/")).await;
    assert!(
        home.contains("data-action=\"resend-verification\""),
        "{home}"
    );

    let browser = app.browser();
    let (status, page) = get_text(&browser, app.url(&format!("/verify-email?token={token}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("verified"), "{page}");

    // After: true in userinfo (same access token) and in a new ID token.
    assert_eq!(userinfo(&app, access).await["email_verified"], true);
    let tokens = app.tokens(&rp, "openid email").await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["email_verified"],
        true
    );
    let (_, home) = get_text(&rp.user, app.url("/")).await;
    assert!(!home.contains("resend-verification"), "{home}");

    // Single use; unknown and malformed tokens get a clear page, never a 5xx.
    let (status, page) = get_text(&browser, app.url(&format!("/verify-email?token={token}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");
    for bad in [
        "",
        "?token=",
        "?token=nope",
        "?token=%ff%fe",
        &format!("?token={}", "a".repeat(5000)),
    ] {
        let (status, page) = get_text(&browser, app.url(&format!("/verify-email{bad}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {page}");
        assert!(page.contains("not valid"), "{bad}: {page}");
    }
}

#[tokio::test]
async fn a_verification_link_expires_after_24_hours_and_can_be_sent_again() {
    let (app, sink) = spawn_with_sink().await;
    let browser = app.browser();
    let email = unique_email("late");
    assert_eq!(
        app.signup(&browser, &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let first = link_token(&wait_mail_to(&sink, &email, 1).await[0], "/verify-email");
    app.advance(24 * 3600 + 1);
    let (status, page) = get_text(&browser, app.url(&format!("/verify-email?token={first}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");

    // The session is gone after 24 h too: sign in again, then ask for a new mail.
    assert_eq!(
        app.login(&browser, &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let csrf = app.csrf(&browser, "/").await;
    let r = browser
        .post(app.url("/verify-email/resend"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mails = wait_mail_to(&sink, &email, 2).await;
    let second = link_token(&mails[1], "/verify-email");
    assert_ne!(first, second);
    let (status, _) = get_text(&browser, app.url(&format!("/verify-email?token={second}"))).await;
    assert_eq!(status, StatusCode::OK);

    // Without a CSRF token, or without a session, resend does nothing.
    let r = browser
        .post(app.url("/verify-email/resend"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    pause_ms(300).await;
    assert_eq!(mails_to(&sink, &email).len(), 2);
}

#[tokio::test]
async fn resending_the_verification_mail_is_throttled() {
    let (app, sink) = spawn_with_sink().await;
    let browser = app.browser();
    let email = unique_email("resend");
    app.signup(&browser, &email, PASSWORD).await;
    let csrf = app.csrf(&browser, "/").await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = browser
            .post(app.url("/verify-email/resend"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses[6], StatusCode::TOO_MANY_REQUESTS);
    wait_mail_to(&sink, &email, 6).await;
}

async fn forgot(app: &TestApp, client: &Client, email: &str) -> (StatusCode, String) {
    let csrf = app.csrf(client, "/forgot-password").await;
    let r = client
        .post(app.url("/forgot-password"))
        .form(&[("email", email), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("forgot");
    (r.status(), r.text().await.unwrap())
}

async fn reset(
    app: &TestApp,
    client: &Client,
    token: &str,
    password: &str,
) -> (StatusCode, String) {
    let (status, page) = get_text(client, app.url(&format!("/reset-password?token={token}"))).await;
    let csrf = match form_value(&page, "csrf_token") {
        Some(csrf) => csrf,
        None => return (status, page),
    };
    assert_eq!(form_value(&page, "token").as_deref(), Some(token));
    let r = client
        .post(app.url("/reset-password"))
        .form(&[
            ("token", token),
            ("password", password),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("reset");
    (r.status(), r.text().await.unwrap())
}

/// Strips what differs between two renderings of one page (the CSRF token, the echoed address).
fn page_shape(page: &str, email: &str) -> String {
    let page = page.replace(email, "EMAIL");
    match form_value(&page, "csrf_token") {
        Some(csrf) => page.replace(&csrf, "CSRF"),
        None => page,
    }
}

#[tokio::test]
async fn forgot_password_answers_alike_for_unknown_addresses_and_the_link_resets_once() {
    let (app, sink) = spawn_with_sink().await;
    let rp = app
        .rp(json!({ "client_type": "confidential",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "scope": "openid email offline_access" }))
        .await;
    let email = rp.user_email.clone();
    wait_mail_to(&sink, &email, 1).await; // the verification mail
    let tokens = app.tokens(&rp, "openid email offline_access").await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let access = tokens["access_token"].as_str().unwrap().to_string();

    // The login page links to the form.
    let (_, login) = get_text(&app.browser(), app.url("/login")).await;
    assert!(login.contains("href=\"/forgot-password\"") && login.contains("Forgot password?"));

    let stranger = app.browser();
    let unknown = unique_email("nobody");
    let (s1, known_page) = forgot(&app, &stranger, &email).await;
    let (s2, unknown_page) = forgot(&app, &stranger, &unknown).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        page_shape(&known_page, &email),
        page_shape(&unknown_page, &unknown)
    );
    let mails = wait_mail_to(&sink, &email, 2).await;
    let mail = &mails[1];
    assert_eq!(header(mail, "Subject"), Some("Reset your password"));
    let token = link_token(mail, &format!("{}/reset-password", app.url("")));
    pause_ms(300).await;
    assert!(
        mails_to(&sink, &unknown).is_empty(),
        "no mail for an unknown address"
    );

    // A malformed form gets a 4xx.
    let (status, _) = forgot(&app, &stranger, "not-an-address").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A too short password keeps the link usable.
    let (status, page) = reset(&app, &stranger, &token, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");

    let new_password = "a brand new passphrase";
    let (status, page) = reset(&app, &stranger, &token, new_password).await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // Every session ended: the user's old cookie no longer signs in.
    let (_, home) = get_text(&rp.user, app.url("/")).await;
    assert!(
        !home.contains(&email),
        "the old session still works: {home}"
    );
    // The refresh-token family and the access token are revoked.
    let r = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The old password is gone, the new one works; the address counts as verified.
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&app.browser(), &email, new_password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // A notice went to the address.
    let mails = wait_mail_to(&sink, &email, 3).await;
    assert_eq!(
        header(&mails[2], "Subject"),
        Some("Your password was changed")
    );

    // The link works once.
    let (status, page) = reset(&app, &stranger, &token, "yet another passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");
    let csrf = app.csrf(&stranger, "/forgot-password").await;
    let r = stranger
        .post(app.url("/reset-password"))
        .form(&[
            ("token", token.as_str()),
            ("password", "yet another passphrase"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login(&app.browser(), &email, new_password)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_reset_link_expires_after_30_minutes_and_requests_are_throttled() {
    let (app, sink) = spawn_with_sink().await;
    let browser = app.browser();
    let email = unique_email("slow");
    app.signup(&browser, &email, PASSWORD).await;
    let (status, _) = forgot(&app, &browser, &email).await;
    assert_eq!(status, StatusCode::OK);
    let token = link_token(&wait_mail_to(&sink, &email, 2).await[1], "/reset-password");
    app.advance(30 * 60 + 1);
    let (status, page) = reset(&app, &browser, &token, "a brand new passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    // Per address: five requests an hour, then 429, alike for an unknown address.
    for address in [email.clone(), unique_email("ghost")] {
        let already = if address == email { 1 } else { 0 };
        for _ in already..5 {
            assert_eq!(forgot(&app, &browser, &address).await.0, StatusCode::OK);
        }
        assert_eq!(
            forgot(&app, &browser, &address).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_is_delivered_when_it_comes_up() {
    // A port with nobody listening yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = logi::config::Secret(format!("smtp://127.0.0.1:{port}"));
        c.outbox_poll_interval_ms = 100;
    })
    .await;
    let email = unique_email("patient");
    app.signup(&app.browser(), &email, PASSWORD).await;
    // The first attempt fails (connection refused) and is scheduled 10 s later.
    let mut attempted = false;
    for _ in 0..100 {
        let rows = logi::store::outbox::all_of_kind(&app.state.store, "mail")
            .await
            .unwrap();
        if rows.first().is_some_and(|r| r.last_error.is_some()) {
            attempted = true;
            break;
        }
        pause_ms(50).await;
    }
    assert!(attempted, "the first attempt should have failed");
    let sink = Sink::default();
    sink.serve(
        TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("rebind the port"),
    );
    pause_ms(300).await;
    assert_eq!(sink.count(), 0, "not before the retry is due");
    app.advance(11);
    let mails = sink.wait_for(1).await;
    assert!(header(&mails[0], "To").is_some_and(|t| t.contains(&email)));
    // The worker records the delivery just after the SMTP server took the mail: wait for it.
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = logi::store::outbox::all_of_kind(&app.state.store, "mail")
            .await
            .unwrap();
        if rows[0].delivered_at.is_some() {
            break;
        }
        pause_ms(50).await;
    }
    assert!(rows[0].delivered_at.is_some());
    assert!(
        !rows[0].payload.contains("verify-email"),
        "the queued mail is sealed"
    );
}

#[tokio::test]
async fn without_smtp_url_mail_is_written_as_eml_files() {
    let app = TestApp::spawn_with(|c| c.outbox_poll_interval_ms = 100).await;
    let email = unique_email("dev");
    app.signup(&app.browser(), &email, PASSWORD).await;
    let dir = app.state.config.data_dir.join("outbox");
    let mut files = Vec::new();
    for _ in 0..100 {
        // A message appears whole, by a rename (a temporary `.partial` file is not a message).
        files = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        pause_ms(50).await;
    }
    assert_eq!(files.len(), 1, "one .eml file in {}", dir.display());
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let message = std::fs::read_to_string(&files[0]).unwrap();
    assert!(message.contains(&email));
    let token = link_token(&message, "/verify-email");
    let (status, _) = get_text(
        &app.browser(),
        app.url(&format!("/verify-email?token={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn account_post(
    app: &TestApp,
    browser: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> StatusCode {
    let csrf = app.csrf(browser, "/account").await;
    let mut form = form.to_vec();
    form.push(("csrf_token", csrf.as_str()));
    browser
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .expect("account form")
        .status()
}

#[tokio::test]
async fn account_changes_mail_a_notice_to_the_owner() {
    let (app, sink) = spawn_with_sink().await;
    let browser = app.browser();
    let email = unique_email("notice");
    app.signup(&browser, &email, PASSWORD).await;
    wait_mail_to(&sink, &email, 1).await; // the verification mail

    let new = "another long passphrase";
    let form = [("current_password", PASSWORD), ("new_password", new)];
    assert_eq!(
        account_post(&app, &browser, "/account/password", &form).await,
        StatusCode::SEE_OTHER
    );
    let mails = wait_mail_to(&sink, &email, 2).await;
    assert_eq!(
        header(&mails[1], "Subject"),
        Some("Your password was changed")
    );
    assert!(
        decoded(&mails[1]).contains(&format!("{}/forgot-password", app.url(""))),
        "the notice says what to do if it was not the owner: {}",
        mails[1]
    );

    // A refused change sends nothing.
    let wrong = [("current_password", "not it at all"), ("new_password", new)];
    assert_eq!(
        account_post(&app, &browser, "/account/password", &wrong).await,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        account_post(&app, &browser, "/account/delete", &[("password", new)]).await,
        StatusCode::SEE_OTHER
    );
    let mails = wait_mail_to(&sink, &email, 3).await;
    assert_eq!(mails.len(), 3, "one notice per change");
    assert_eq!(
        header(&mails[2], "Subject"),
        Some("Your account was deleted")
    );
}

#[tokio::test]
async fn a_disabled_account_is_sent_no_reset_link_and_an_earlier_link_stops_working() {
    let (app, sink) = spawn_with_sink().await;
    let browser = app.browser();
    let email = unique_email("barred");
    app.signup(&browser, &email, PASSWORD).await;
    assert_eq!(forgot(&app, &browser, &email).await.0, StatusCode::OK);
    let token = link_token(&wait_mail_to(&sink, &email, 2).await[1], "/reset-password");

    let store = &app.state.store;
    let user = logi::store::users::by_email(store, &email)
        .await
        .unwrap()
        .unwrap();
    let mailing = logi::accounts::manage::Mailing {
        keys: &app.state.keys,
        issuer: &app.state.config.issuer,
    };
    assert!(
        logi::accounts::manage::disable(store, mailing, &user, app.now())
            .await
            .unwrap()
    );
    let mails = wait_mail_to(&sink, &email, 3).await;
    assert_eq!(
        header(&mails[2], "Subject"),
        Some("Your account was disabled")
    );

    // The link sent before: no form, and a direct post changes nothing.
    let (status, page) = reset(&app, &browser, &token, "a brand new passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("not valid"), "{page}");
    let csrf = app.csrf(&browser, "/forgot-password").await;
    let r = browser
        .post(app.url("/reset-password"))
        .form(&[
            ("token", token.as_str()),
            ("password", "a brand new passphrase"),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A new request answers as for anyone, and mails nothing.
    assert_eq!(forgot(&app, &browser, &email).await.0, StatusCode::OK);
    pause_ms(500).await;
    assert_eq!(mails_to(&sink, &email).len(), 3);

    // Enabled again, the old password still works (the link did not change it).
    assert!(logi::accounts::manage::enable(store, &user.id, app.now())
        .await
        .unwrap());
    assert_eq!(
        app.login(&app.browser(), &email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}
