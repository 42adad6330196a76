//! The OAuth core end to end over real HTTP: authorize → consent → code → token → refresh,
//! replay and reuse detection, and the checks at the token endpoint.

use crate::common::{json_of, location_params, pkce_pair, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn public_rp() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

#[tokio::test]
async fn full_flow_with_refresh_rotation_and_reuse_detection() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (code, verifier) = app.code(&rp, "openid profile offline_access").await;
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let (status, first) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scope"], "openid profile offline_access");
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();

    let (s, second) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    let (s, third) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_string();

    // Reuse of the first token: refused, and the whole family (the newest token too) dies.
    let (s, e) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (s, e) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt3)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "newest token revoked too"
    );

    // Consent is remembered: a second authorization goes straight back to the client.
    let (_, challenge) = pkce_pair();
    let r = app
        .authorize(
            &rp,
            &[
                ("scope", "openid profile offline_access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location_params(&r).contains_key("code"));
}

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

fn confidential_rp() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
           "scope": "openid profile email offline_access api.read"})
}

async fn exchange(
    app: &TestApp,
    rp: &crate::common::Rp,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    json_of(
        app.token(rp, &code_form(code, redirect_uri, Some(verifier)))
            .await,
    )
    .await
}

/// A public client's refresh of `rt` at the token endpoint `url` (of any process).
async fn public_refresh(url: String, client_id: String, rt: String) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json::<Value>().await.unwrap())
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_exactly_one_wins_and_the_family_is_revoked() {
    let app = TestApp::spawn().await;
    let rp = std::sync::Arc::new(app.rp(public_rp()).await);
    let first = app.tokens(&rp, "openid offline_access").await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        tasks.push(tokio::spawn(public_refresh(
            app.url("/oauth/token"),
            rp.client_id.clone(),
            rt.clone(),
        )));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::OK {
            ok.push(body);
        } else {
            assert_eq!(
                (status, err(&body)),
                (StatusCode::BAD_REQUEST, "invalid_grant"),
                "{body}"
            );
        }
    }
    assert_eq!(
        ok.len(),
        1,
        "exactly one of 20 concurrent refreshes succeeds"
    );
    // The losers presented a rotated token: reuse, so the family (the winner's token too) is revoked.
    let winner = ok[0]["refresh_token"].as_str().unwrap();
    let (s, e) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", winner)],
        )
        .await,
    )
    .await;
    assert_eq!((s, err(&e)), (StatusCode::BAD_REQUEST, "invalid_grant"));
}

/// Two processes on one database, on a runtime with two threads, so that their writes really
/// overlap: on SQLite each process has its own writers (sqlx's and the hot statements' on the
/// request's thread), which meet SQLite's write lock and wait for it without holding a thread.
/// Every step of independent chains refreshed alternately through both processes succeeds,
/// and of concurrent refreshes of one token through both exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_chains_concurrently_and_one_token_has_one_winner() {
    let app = TestApp::spawn().await;
    let sibling = app.spawn_sibling(|_| {}).await;
    let rp = std::sync::Arc::new(app.rp(public_rp()).await);
    let urls = [app.url("/oauth/token"), sibling.url("/oauth/token")];
    let mut chains = Vec::new();
    for i in 0..6 {
        let first = app.tokens(&rp, "openid offline_access").await;
        let mut rt = first["refresh_token"].as_str().unwrap().to_string();
        let (urls, client_id) = (urls.clone(), rp.client_id.clone());
        chains.push(tokio::spawn(async move {
            for step in 0..12 {
                let url = urls[(i + step) % 2].clone();
                let (status, body) = public_refresh(url, client_id.clone(), rt.clone()).await;
                assert_eq!(status, StatusCode::OK, "chain {i}, step {step}: {body}");
                rt = body["refresh_token"].as_str().unwrap().to_string();
            }
        }));
    }
    let shared = app.tokens(&rp, "openid offline_access").await;
    let shared = shared["refresh_token"].as_str().unwrap().to_string();
    let racers: Vec<_> = (0..12)
        .map(|i| {
            tokio::spawn(public_refresh(
                urls[i % 2].clone(),
                rp.client_id.clone(),
                shared.clone(),
            ))
        })
        .collect();
    for chain in chains {
        chain.await.unwrap();
    }
    let mut winners = 0;
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        match status {
            StatusCode::OK => winners += 1,
            _ => assert_eq!(
                (status, err(&body)),
                (StatusCode::BAD_REQUEST, "invalid_grant"),
                "{body}"
            ),
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one of 12 refreshes across two processes wins"
    );
}

#[tokio::test]
async fn concurrent_exchanges_of_one_code_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let rp = std::sync::Arc::new(app.rp(public_rp()).await);
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (client, url, rp, code, verifier) = (
            app.api(),
            app.url("/oauth/token"),
            rp.clone(),
            code.clone(),
            verifier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", rp.redirect_uri.as_str()),
                    ("code_verifier", verifier.as_str()),
                    ("client_id", rp.client_id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::OK {
            winners.push(body);
        } else {
            assert_eq!(
                (status, err(&body)),
                (StatusCode::BAD_REQUEST, "invalid_grant"),
                "{body}"
            );
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 12 exchanges gets tokens");
    // Exactly one refresh token was stored for the grant: the losers wrote nothing.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM refresh_tokens r JOIN applications a ON a.id = r.application_id \
         WHERE a.client_id = $1",
    )
    .bind(&rp.client_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_the_first_exchange_issued() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (s, first) = json_of(app.token(&rp, &form).await).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = json_of(app.token(&rp, &form).await).await;
    assert_eq!((s, err(&e)), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, e) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "tokens of the first exchange are revoked"
    );
    let (revoked,): (Option<i64>,) = sqlx::query_as("SELECT revoked_at FROM grants")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(revoked.is_some());
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = TestApp::spawn_with(|c| c.authorization_code_ttl_seconds = 1).await;
    let rp = app.rp(public_rp()).await;
    let (code, verifier) = app.code(&rp, "openid").await;
    app.advance(2);
    let (s, e) = json_of(
        app.token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &rp.redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!((s, err(&e)), (StatusCode::BAD_REQUEST, "invalid_grant"));
}

#[tokio::test]
async fn token_endpoint_refuses_bad_codes_verifiers_and_redirect_uris() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let other = app.rp(public_rp()).await;
    let (code, verifier) = app.code(&rp, "openid").await;
    // The code of another client.
    let (s, e) = exchange(&app, &other, &code, &other.redirect_uri, &verifier).await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "code of another client"
    );
    // A wrong verifier.
    let (wrong, _) = pkce_pair();
    let (s, e) = exchange(&app, &rp, &code, &rp.redirect_uri, &wrong).await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "wrong code_verifier"
    );
    // A redirect_uri other than the one used at authorize.
    let (s, e) = exchange(&app, &rp, &code, "https://rp.example/other", &verifier).await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "redirect_uri mismatch"
    );
    // None of these burned the code: the right request still works.
    let (s, body) = exchange(&app, &rp, &code, &rp.redirect_uri, &verifier).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// The token endpoint's answer to a refused request: (status, error, description).
async fn refused(
    app: &TestApp,
    rp: &crate::common::Rp,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let (s, e) = json_of(app.token(rp, form).await).await;
    let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    (s, text("error"), text("error_description"))
}

/// The form of a code exchange.
fn code_form<'a>(
    code: &'a str,
    redirect_uri: &'a str,
    verifier: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    form.extend(verifier.map(|v| ("code_verifier", v)));
    form
}

#[tokio::test]
async fn a_refused_exchange_gets_its_precise_answer_writes_nothing_and_a_replay_revokes() {
    // The exchange redeems in one statement when every check holds; each refusal below makes
    // that statement write nothing and still gets the answer of its own check.
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let other = app.rp(public_rp()).await;
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let (wrong, _) = pkce_pair();
    let bad = StatusCode::BAD_REQUEST;
    let grant = |d: &str| (bad, "invalid_grant".to_string(), d.to_string());
    let here = rp.redirect_uri.as_str();
    let cases = [
        (
            &other,
            code_form(&code, &other.redirect_uri, Some(&verifier)),
            grant("invalid authorization code"),
        ),
        (
            &rp,
            code_form(&code, "https://rp.example/other", Some(&verifier)),
            grant("redirect_uri does not match the authorization request"),
        ),
        (
            &rp,
            code_form(&code, here, Some(&wrong)),
            grant("code_verifier does not match the code_challenge"),
        ),
        (
            &rp,
            code_form(&code, here, Some("too-short")),
            grant("code_verifier does not match the code_challenge"),
        ),
        (
            &rp,
            code_form(&code, here, None),
            (
                bad,
                "invalid_request".to_string(),
                "code_verifier is required".to_string(),
            ),
        ),
    ];
    for (client, form, answer) in cases {
        assert_eq!(refused(&app, client, &form).await, answer, "{form:?}");
    }
    // None of them wrote anything: the right exchange gets the grant's first tokens.
    let right = code_form(&code, here, Some(&verifier));
    let (s, first) = json_of(app.token(&rp, &right).await).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert!(first["id_token"].is_string(), "{first}");
    let rt = first["refresh_token"].as_str().expect("refresh token");
    // A replay is refused and revokes what the code gave.
    assert_eq!(
        refused(&app, &rp, &right).await,
        grant("authorization code already used; tokens issued with it are revoked")
    );
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let (s, error, _) = refused(&app, &rp, &refresh).await;
    assert_eq!((s, error.as_str()), (bad, "invalid_grant"));
    // An expired code (60 s by default) is refused as expired, and stays unused.
    let (code, verifier) = app.code(&rp, "openid").await;
    app.advance(61);
    let form = code_form(&code, here, Some(&verifier));
    for _ in 0..2 {
        assert_eq!(
            refused(&app, &rp, &form).await,
            grant("authorization code expired"),
            "never a replay: a refused exchange does not use the code"
        );
    }
}

#[tokio::test]
async fn a_code_gives_a_refresh_token_only_with_offline_access_and_the_refresh_grant() {
    // Policy row "refresh tokens", through the one-statement exchange: the statement stores the
    // first refresh token only when both halves of the rule hold.
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let no_refresh_grant = app
        .rp(
            json!({"client_type": "public", "grant_types": ["authorization_code"],
                   "scope": "openid profile email offline_access"}),
        )
        .await;
    for (client, scope, expected) in [
        (&rp, "openid offline_access", true),
        (&rp, "openid profile", false),
        (&no_refresh_grant, "openid offline_access", false),
    ] {
        let (code, verifier) = app.code(client, scope).await;
        let form = code_form(&code, &client.redirect_uri, Some(&verifier));
        let (s, body) = json_of(app.token(client, &form).await).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(
            body["refresh_token"].is_string(),
            expected,
            "{scope}: {body}"
        );
    }
}

#[tokio::test]
async fn malformed_token_requests() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_rp()).await;
    let secret = rp.client_secret.clone().unwrap();
    let raw = |body: &'static str| {
        app.api()
            .post(app.url("/oauth/token"))
            .basic_auth(&rp.client_id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let (s, e) = json_of(
        raw("grant_type=client_credentials&grant_type=client_credentials")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "duplicated parameter"
    );
    let (s, e) = json_of(
        raw("grant_type=password&username=a&password=b")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );
    let (s, e) = json_of(raw("scope=api.read").await.unwrap()).await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "no grant_type"
    );
    let (s, e) = json_of(raw("grant_type=authorization_code").await.unwrap()).await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "no code"
    );
    let (s, e) = json_of(
        raw("grant_type=client_credentials&scope=api.write")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_scope"),
        "unregistered scope"
    );
    let (s, e) = json_of(
        raw("grant_type=client_credentials&scope=openid")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, err(&e)),
        (StatusCode::BAD_REQUEST, "invalid_scope"),
        "user-only scope"
    );
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth("nobody", Some("x"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
}

/// RFC 6749 §5.1: `scope` is optional in a token response; logi leaves it out when nothing was
/// granted (never `"scope":""`), and sends it whenever something was.
#[tokio::test]
async fn token_responses_leave_out_an_empty_scope() {
    let app = TestApp::spawn().await;
    // Only user scopes registered: client_credentials grants none of them.
    let users_only = app
        .rp(json!({"client_type": "confidential",
                   "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                   "scope": "openid email offline_access"}))
        .await;
    let (s, body) = json_of(
        app.token(&users_only, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    assert!(
        body.as_object().unwrap().get("scope").is_none(),
        "no scope granted, no `scope` key: {body}"
    );
    // The same application's code and refresh grants have scopes, and say so.
    let t = app.tokens(&users_only, "openid offline_access").await;
    assert_eq!(t["scope"], "openid offline_access", "{t}");
    let (s, refreshed) = json_of(
        app.token(
            &users_only,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["scope"], "openid offline_access", "{refreshed}");
    // A machine scope granted to client_credentials is named.
    let rp = app.rp(confidential_rp()).await;
    let (s, body) = json_of(
        app.token(&rp, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "api.read", "{body}");
}

#[tokio::test]
async fn scope_may_shrink_but_not_widen_on_refresh() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_rp()).await;
    let first = app.tokens(&rp, "openid email offline_access").await;
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, e) = json_of(
        app.token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid email profile offline_access"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!((s, err(&e)), (StatusCode::BAD_REQUEST, "invalid_scope"));
    let (s, body) = json_of(
        app.token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid");
    // The successor keeps the original scope.
    let rt2 = body["refresh_token"].as_str().unwrap();
    let (s, body) = json_of(
        app.token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid email offline_access");
}

#[tokio::test]
async fn signed_out_users_log_in_and_come_back_to_the_same_request() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let stranger = app.browser();
    let (_, challenge) = pkce_pair();
    let query = [
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", rp.user_email.as_str()),
    ];
    let r = stranger
        .get(app.url("/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize%3Frequest_id%3D"),
        "{location}"
    );
    let login_page = stranger
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login_page.contains(&format!("value=\"{}\"", rp.user_email)),
        "login_hint pre-fills the email: {login_page}"
    );
    let csrf = crate::common::form_value(&login_page, "csrf_token").unwrap();
    let next = crate::common::form_value(&login_page, "next").unwrap();
    let r = stranger
        .post(app.url("/login"))
        .form(&[
            ("email", rp.user_email.as_str()),
            ("password", crate::common::PASSWORD),
            ("csrf_token", &csrf),
            ("next", &next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with("/oauth/authorize?request_id="), "{back}");
    let consent = stranger.get(app.url(&back)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let page = consent.text().await.unwrap();
    assert!(
        page.contains("Test RP") && page.contains("See your email address"),
        "names the app and scopes in words"
    );
    let csrf = crate::common::form_value(&page, "csrf_token").unwrap();
    let request_id = crate::common::form_value(&page, "request_id").unwrap();
    let r = stranger
        .post(app.url("/oauth/consent"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request_id", request_id.as_str()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    let params = location_params(&r);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], app.base);
    // A consent decision cannot be replayed.
    let r = stranger
        .post(app.url("/oauth/consent"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request_id", request_id.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn authorize_errors_after_the_redirect_uri_go_back_to_the_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (_, challenge) = pkce_pair();
    for (extra, expected) in [
        (
            vec![
                ("scope", "openid admin"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("scope", "openid"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
    ] {
        let mut extra = extra;
        extra.push(("state", "s1"));
        let r = app.authorize(&rp, &extra).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let p = location_params(&r);
        assert_eq!(p["error"], expected);
        assert_eq!(p["state"], "s1");
        assert_eq!(p["iss"], app.base);
        assert!(p.contains_key("error_description"));
    }
    let r = rp
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("response_type", "token"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location_params(&r)["error"], "unsupported_response_type");
}

#[tokio::test]
async fn prompt_none_and_max_age() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_rp()).await;
    let (_, challenge) = pkce_pair();
    let base = [
        ("scope", "openid"),
        ("state", "p"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // Signed in, no consent yet: prompt=none cannot show the consent page.
    let mut q = base.to_vec();
    q.push(("prompt", "none"));
    let r = app.authorize(&rp, &q).await;
    assert_eq!(location_params(&r)["error"], "consent_required");
    // Without a session: login_required, never a page (for a verified application; an
    // unverified one gets a page with the link instead, see `authz_hardening`).
    app.set_verified(&rp.client_id, true).await;
    let stranger = app.browser();
    let mut full: Vec<(&str, &str)> = vec![
        ("client_id", &rp.client_id),
        ("redirect_uri", &rp.redirect_uri),
        ("response_type", "code"),
    ];
    full.extend_from_slice(&q);
    let r = stranger
        .get(app.url("/oauth/authorize"))
        .query(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(location_params(&r)["error"], "login_required");
    // max_age=0 sends a signed-in user to the login page again.
    let mut q = base.to_vec();
    q.push(("max_age", "0"));
    app.advance(1);
    let r = app.authorize(&rp, &q).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?"));
}
