//! OIDC Back-Channel Logout 1.0 (SPEC "Pushed authorization requests, key-based client
//! authentication, back-channel logout"; issue 13 item 3): when a session ends, every
//! application that received an ID token in it gets a signed `logout_token` POSTed to its
//! `backchannel_logout_uri`, from a durable outbox, with retries, without delaying the user.
//!
//! The receiver is the application's server, run by the test on a loopback port; it checks each
//! logout token against logi's JWKS like a relying party would. The clock that decides retries
//! is the test's; only the worker's poll (100 ms here) runs in real time, so the tests wait in
//! real time for deliveries to arrive, never for something to expire.

use std::sync::{Arc, Mutex};

use axum::{extract::State, http::StatusCode as AxumStatus, routing::post, Form, Router};
use jsonwebtoken::{decode, decode_header, jwk::JwkSet, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    form_value, jwt_claims, pause_ms, serve_loopback, unique_email, Rp, TestApp, PASSWORD,
};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ok,
    /// 500 to the first `n` deliveries, then 204.
    FailFirst(usize),
    /// Answers after 30 s (longer than logi waits).
    Hang,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Shared {
    mode: Mode,
    tokens: Arc<Mutex<Vec<String>>>,
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    logout_token: String,
}

async fn receive(State(s): State<Shared>, Form(form): Form<LogoutForm>) -> AxumStatus {
    let n = {
        let mut tokens = s.tokens.lock().unwrap();
        tokens.push(form.logout_token);
        tokens.len()
    };
    match s.mode {
        Mode::Ok => AxumStatus::OK,
        Mode::FailFirst(k) if n <= k => AxumStatus::INTERNAL_SERVER_ERROR,
        Mode::FailFirst(_) => AxumStatus::NO_CONTENT,
        Mode::Hang => {
            pause_ms(30_000).await;
            AxumStatus::OK
        }
    }
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/backchannel", post(receive))
            .with_state(Shared {
                mode,
                tokens: tokens.clone(),
            });
        Receiver {
            base: serve_loopback(router).await,
            tokens,
        }
    }

    fn uri(&self) -> String {
        format!("{}/backchannel", self.base)
    }

    fn received(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    /// Waits (real time, at most 10 s) until `n` deliveries have arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..500 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            pause_ms(20).await;
        }
        panic!(
            "expected {n} deliveries, got {} after 10 s",
            self.received().len()
        );
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.outbox_poll_interval_ms = 100;
        c.outbound_timeout_ms = 1500;
    })
    .await
}

/// Checks a logout token as a relying party must (§2.6): signature by a key in logi's JWKS,
/// `typ`, `iss`, `aud`, `iat`/`exp`, `jti`, the event, `sub` and `sid` of the session, no
/// `nonce`. Returns its claims.
async fn validate(app: &TestApp, token: &str, client_id: &str, id_token: &str) -> Value {
    let header = decode_header(token).expect("a JWT header");
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let id_header = decode_header(id_token).unwrap();
    assert_eq!(
        header.alg, id_header.alg,
        "signed like the client's ID tokens"
    );
    let jwks: JwkSet = app
        .api()
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&app.state.config.issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    // The test's clock is the server's: it may be ahead of the system time.
    validation.leeway = 0;
    validation.validate_exp = false;
    let claims = decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("a valid signature and claims")
        .claims;
    let id = jwt_claims(id_token);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 120, "{claims}");
    assert!(exp > app.now(), "not expired on arrival: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert_eq!(claims["sid"], id["sid"], "the sid of the ID token");
    assert_eq!(claims["sub"], id["sub"]);
    assert!(claims.get("nonce").is_none(), "§2.4: no nonce");
    claims
}

/// Registers an application for `rp`'s developer and returns an [`Rp`] for the same signed-in
/// user.
async fn another_app(app: &TestApp, rp: &Rp, metadata: Value) -> Rp {
    let mut metadata = metadata;
    metadata["client_name"] = json!("Another RP");
    if metadata.get("redirect_uris").is_none() {
        metadata["redirect_uris"] = json!(["https://rp.example/cb"]);
    }
    let created = app.register(&rp.dev_token, metadata).await;
    Rp {
        client_id: created["client_id"].as_str().unwrap().to_string(),
        client_secret: created["client_secret"].as_str().map(String::from),
        redirect_uri: created["redirect_uris"][0].as_str().unwrap().to_string(),
        app_id: created["id"].as_str().unwrap().to_string(),
        dev_token: rp.dev_token.clone(),
        user: rp.user.clone(),
        user_email: rp.user_email.clone(),
    }
}

/// Signs `rp`'s user out with `POST /logout` (the home page's form).
async fn sign_out(app: &TestApp, rp: &Rp) -> reqwest::Response {
    let home = rp
        .user
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_value(&home, "csrf_token").expect("the sign-out form");
    rp.user
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, rp: &Rp) -> Value {
    let r = app
        .api()
        .get(app.url(&format!("/developer/applications/{}", rp.app_id)))
        .bearer_auth(&rp.dev_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.unwrap()["backchannel_logout_status"].clone()
}

fn listening(receiver: &Receiver) -> Value {
    json!({"client_type": "confidential", "scope": "openid profile",
           "backchannel_logout_uri": receiver.uri(),
           "backchannel_logout_session_required": true,
           "post_logout_redirect_uris": ["https://rp.example/bye"]})
}

#[tokio::test]
async fn sign_out_tells_exactly_the_applications_that_got_an_id_token() {
    let app = spawn().await;
    let receiver = Receiver::start(Mode::Ok).await;
    let other = Receiver::start(Mode::Ok).await;
    let rp = app.rp(listening(&receiver)).await;
    let id_token = app.tokens(&rp, "openid profile").await["id_token"]
        .as_str()
        .expect("an ID token")
        .to_string();
    // In the same session: an application authorized without `openid` (no ID token), and one
    // that got an ID token but registered no back-channel URI.
    let no_id_token = another_app(&app, &rp, listening(&other)).await;
    let tokens = app.tokens(&no_id_token, "profile").await;
    assert!(tokens.get("id_token").is_none());
    let silent = another_app(
        &app,
        &rp,
        json!({"client_type": "confidential", "scope": "openid"}),
    )
    .await;
    app.tokens(&silent, "openid").await;

    assert_eq!(
        status_of(&app, &rp).await,
        Value::Null,
        "nothing delivered yet"
    );
    let r = sign_out(&app, &rp).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(1).await;
    validate(&app, &got[0], &rp.client_id, &id_token).await;
    // Nothing more arrives, anywhere.
    pause_ms(500).await;
    assert_eq!(receiver.received().len(), 1);
    assert!(other.received().is_empty(), "no ID token, no logout token");
    let status = status_of(&app, &rp).await;
    assert_eq!(status["last_result"], "delivered", "{status}");
    assert_eq!(status["last_error"], Value::Null);
    assert!(status["last_attempt_at"].as_i64().is_some());
    // The outbox row is settled.
    let rows: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT delivered_at, attempts FROM outbox WHERE kind = 'backchannel_logout'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].0.is_some());
    assert_eq!(rows[0].1, 1);
}

#[tokio::test]
async fn rp_initiated_logout_delivers_a_logout_token() {
    let app = spawn().await;
    let receiver = Receiver::start(Mode::Ok).await;
    let rp = app.rp(listening(&receiver)).await;
    let id_token = app.tokens(&rp, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = rp
        .user
        .get(app.url("/oauth/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(1).await;
    let claims = validate(&app, &got[0], &rp.client_id, &id_token).await;
    // A second sign-in makes a new session: its logout names the new sid.
    let r = app.login(&rp.user, &rp.user_email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let second = app.tokens(&rp, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(jwt_claims(&second)["sid"], claims["sid"]);
    let r = sign_out(&app, &rp).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(2).await;
    validate(&app, &got[1], &rp.client_id, &second).await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_after_its_backoff_and_the_developer_sees_both() {
    let app = spawn().await;
    let receiver = Receiver::start(Mode::FailFirst(1)).await;
    let rp = app.rp(listening(&receiver)).await;
    let id_token = app.tokens(&rp, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    sign_out(&app, &rp).await;
    receiver.wait_for(1).await;
    // The status is written right after the answer: wait for it.
    let mut status = Value::Null;
    for _ in 0..100 {
        status = status_of(&app, &rp).await;
        if status != Value::Null {
            break;
        }
        pause_ms(20).await;
    }
    assert_eq!(status["last_result"], "failed", "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{status}"
    );
    // Not before the backoff (10 s after the first failure) …
    app.advance(5);
    pause_ms(400).await;
    assert_eq!(receiver.received().len(), 1, "retried before its time");
    // … and soon after it.
    app.advance(6);
    let got = receiver.wait_for(2).await;
    let first = validate(&app, &got[0], &rp.client_id, &id_token).await;
    let second = validate(&app, &got[1], &rp.client_id, &id_token).await;
    assert_ne!(first["jti"], second["jti"], "each attempt is a new token");
    let mut status = Value::Null;
    for _ in 0..100 {
        status = status_of(&app, &rp).await;
        if status["last_result"] == "delivered" {
            break;
        }
        pause_ms(20).await;
    }
    assert_eq!(status["last_result"], "delivered", "{status}");
    assert_eq!(status["last_error"], Value::Null);
    let (attempts, delivered): (i64, Option<i64>) = sqlx::query_as(
        "SELECT attempts, delivered_at FROM outbox WHERE kind = 'backchannel_logout'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((attempts, delivered.is_some()), (2, true));
}

#[tokio::test]
async fn a_logout_token_is_delivered_after_logi_restarts_mid_retry() {
    let mut app = spawn().await;
    let receiver = Receiver::start(Mode::FailFirst(1)).await;
    let rp = app.rp(listening(&receiver)).await;
    let id_token = app.tokens(&rp, "openid").await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    sign_out(&app, &rp).await;
    receiver.wait_for(1).await;
    // The failure is recorded: the delivery waits for its retry in the database.
    let mut row: (i64, Option<i64>, Option<String>) = (0, None, None);
    for _ in 0..100 {
        row = sqlx::query_as("SELECT attempts, delivered_at, last_error FROM outbox WHERE kind = 'backchannel_logout'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if row.2.is_some() {
            break;
        }
        pause_ms(20).await;
    }
    assert_eq!(row.0, 1);
    assert_eq!(row.1, None);
    assert!(
        row.2.as_deref().is_some_and(|e| e.contains("HTTP 500")),
        "{row:?}"
    );

    // logi stops (its worker with it) before the retry is due …
    app.stop().await;
    app.advance(60);
    pause_ms(300).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "a stopped instance delivers nothing"
    );
    // … and a new instance on the same database delivers it.
    let restarted = app.spawn_sibling(|_| {}).await;
    let got = receiver.wait_for(2).await;
    validate(&restarted, &got[1], &rp.client_id, &id_token).await;
    let mut delivered = None;
    for _ in 0..100 {
        delivered = sqlx::query_as::<_, (Option<i64>,)>(
            "SELECT delivered_at FROM outbox WHERE kind = 'backchannel_logout'",
        )
        .fetch_one(&restarted.db)
        .await
        .unwrap()
        .0;
        if delivered.is_some() {
            break;
        }
        pause_ms(20).await;
    }
    assert!(delivered.is_some());
    pause_ms(300).await;
    assert_eq!(receiver.received().len(), 2, "delivered once");
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // measures how long the user's page takes, in real time
async fn the_sign_out_page_does_not_wait_for_a_hanging_receiver() {
    let app = spawn().await;
    let receiver = Receiver::start(Mode::Hang).await;
    let rp = app.rp(listening(&receiver)).await;
    app.tokens(&rp, "openid").await;
    let started = std::time::Instant::now();
    let r = sign_out(&app, &rp).await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    receiver.wait_for(1).await;
    assert!(
        took < std::time::Duration::from_millis(1000),
        "the page took {took:?}"
    );
    // logi gives up on the hanging answer after its timeout (1.5 s here) and says so.
    let mut status = Value::Null;
    for _ in 0..250 {
        status = status_of(&app, &rp).await;
        if status != Value::Null {
            break;
        }
        pause_ms(20).await;
    }
    assert_eq!(status["last_result"], "failed", "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{status}"
    );
}

#[tokio::test]
async fn processes_sharing_a_database_deliver_each_logout_token_once() {
    let app = spawn().await;
    let siblings = [
        app.spawn_sibling(|_| {}).await,
        app.spawn_sibling(|_| {}).await,
    ];
    let receiver = Receiver::start(Mode::Ok).await;
    let rp = app.rp(listening(&receiver)).await;
    let mut users = vec![rp.user.clone()];
    for _ in 0..5 {
        let browser = app.browser();
        let r = app
            .signup(&browser, &unique_email("bcl-user"), PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        users.push(browser);
    }
    let mut sids = Vec::new();
    for user in &users {
        let as_user = Rp {
            user: user.clone(),
            client_id: rp.client_id.clone(),
            client_secret: rp.client_secret.clone(),
            redirect_uri: rp.redirect_uri.clone(),
            app_id: rp.app_id.clone(),
            dev_token: rp.dev_token.clone(),
            user_email: String::new(),
        };
        let id_token = app.tokens(&as_user, "openid").await["id_token"]
            .as_str()
            .unwrap()
            .to_string();
        sids.push(jwt_claims(&id_token)["sid"].clone());
        // Sign-outs spread over the three processes.
        let at = [&app, &siblings[0], &siblings[1]][sids.len() % 3];
        let r = sign_out(at, &as_user).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let got = receiver.wait_for(users.len()).await;
    pause_ms(500).await;
    let got_after = receiver.received();
    assert_eq!(
        got_after.len(),
        got.len(),
        "no second delivery of any token"
    );
    let mut delivered: Vec<Value> = got_after
        .iter()
        .map(|t| jwt_claims(t)["sid"].clone())
        .collect();
    delivered.sort_by_key(|v| v.to_string());
    sids.sort_by_key(|v| v.to_string());
    assert_eq!(delivered, sids, "each session's logout, once");
}

#[tokio::test]
async fn registration_rules_and_discovery() {
    let app = spawn().await;
    let dev = app.developer(&unique_email("bcl-dev")).await;
    let base = json!({"client_name": "x", "client_type": "confidential",
                      "redirect_uris": ["https://rp.example/cb"]});
    for uri in [
        "http://rp.example/logout",
        "http://192.168.1.1/logout",
        "https://rp.example/logout#frag",
        "ftp://rp.example/logout",
        "javascript:alert(1)",
        "https:rp.example/logout",
        "/logout",
        "",
    ] {
        let mut m = base.clone();
        m["backchannel_logout_uri"] = json!(uri);
        let r = app.post_app(&dev, &m).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
            "{uri}: {body}"
        );
    }
    let mut m = base.clone();
    m["backchannel_logout_uri"] = json!("https://rp.example/logout");
    m["backchannel_logout_session_required"] = json!(true);
    let created = app.register(&dev, m).await;
    assert_eq!(
        created["backchannel_logout_uri"],
        "https://rp.example/logout"
    );
    assert_eq!(created["backchannel_logout_session_required"], true);
    let id = created["id"].as_str().unwrap();
    let patch = |body: Value| {
        let (api, url, dev) = (
            app.api(),
            app.url(&format!("/developer/applications/{id}")),
            dev.clone(),
        );
        async move {
            let r = api
                .patch(url)
                .bearer_auth(dev)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) =
        patch(json!({"backchannel_logout_uri": "http://127.0.0.1:9/logout"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backchannel_logout_uri"], "http://127.0.0.1:9/logout");
    let (status, body) = patch(json!({"backchannel_logout_uri": "http://rp.example/x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = patch(
        json!({"backchannel_logout_uri": null, "backchannel_logout_session_required": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backchannel_logout_uri"], Value::Null);
    assert_eq!(body["backchannel_logout_session_required"], false);
    let r = app
        .api()
        .get(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["backchannel_logout_uri"], Value::Null);
    assert_eq!(body["backchannel_logout_status"], Value::Null);

    let d: Value = app
        .api()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn every_way_a_session_ends_goes_through_end_sessions() {
    use logi::accounts::sessions::{end_sessions, Ending};
    let app = spawn().await;
    let receiver = Receiver::start(Mode::Ok).await;
    let rp = app.rp(listening(&receiver)).await;
    // The same user signed in in three browsers: three sessions, an ID token in each.
    let mut browsers = vec![rp.user.clone()];
    for _ in 0..2 {
        let browser = app.browser();
        let r = app.login(&browser, &rp.user_email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        browsers.push(browser);
    }
    let mut sids = Vec::new();
    let mut sub = Value::Null;
    for browser in &browsers {
        let as_browser = Rp {
            user: browser.clone(),
            client_id: rp.client_id.clone(),
            client_secret: rp.client_secret.clone(),
            redirect_uri: rp.redirect_uri.clone(),
            app_id: rp.app_id.clone(),
            dev_token: rp.dev_token.clone(),
            user_email: rp.user_email.clone(),
        };
        let id_token = app.tokens(&as_browser, "openid").await["id_token"]
            .as_str()
            .unwrap()
            .to_string();
        let claims = jwt_claims(&id_token);
        sids.push(claims["sid"].as_str().unwrap().to_string());
        sub = claims["sub"].clone();
    }
    let user_id = sub.as_str().unwrap();
    let store = &app.state.store;
    // One session by its sid (the account page's sign-out of a session): that one only; a
    // sid of another user ends nothing.
    let ended = end_sessions(
        store,
        Ending::Session {
            user_id: "usr_someone_else",
            sid: &sids[0],
        },
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(ended, 0);
    let ended = end_sessions(
        store,
        Ending::Session {
            user_id,
            sid: &sids[0],
        },
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(ended, 1);
    let got = receiver.wait_for(1).await;
    assert_eq!(jwt_claims(&got[0])["sid"], sids[0].as_str());
    // Every session of the user (password reset, operator disable): the other two.
    let ended = end_sessions(store, Ending::AllOf { user_id }, app.now())
        .await
        .unwrap();
    assert_eq!(ended, 2);
    let got = receiver.wait_for(3).await;
    let mut notified: Vec<String> = got
        .iter()
        .map(|t| jwt_claims(t)["sid"].as_str().unwrap().to_string())
        .collect();
    notified.sort();
    sids.sort();
    assert_eq!(notified, sids);
    // The browsers are signed out; ending again tells nobody twice.
    for browser in &browsers {
        let home = browser
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!home.contains(&rp.user_email), "still signed in");
    }
    let ended = end_sessions(store, Ending::AllOf { user_id }, app.now())
        .await
        .unwrap();
    assert_eq!(ended, 0);
    pause_ms(300).await;
    assert_eq!(receiver.received().len(), 3);
}
