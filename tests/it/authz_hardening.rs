//! Issue 10 ("Hardening"), authorization items: redirect URIs, unverified applications, native
//! public clients and remembered consent, code replay across clients, refresh scopes and the
//! absolute family lifetime, repeated parameters at `/oauth/authorize`.

use crate::common::{json_of, location_params, pkce_pair, unique_email, Rp, TestApp};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

fn public_meta() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

fn confidential_meta() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    json_of(app.token(rp, &form).await).await
}

async fn userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    app.api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn patch_app(app: &TestApp, rp: &Rp, body: Value) -> (StatusCode, Value) {
    json_of(
        app.api()
            .patch(app.url(&format!("/developer/applications/{}", rp.app_id)))
            .bearer_auth(&rp.dev_token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Item 12: another client's code
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_clients_used_code_does_not_revoke_the_owners_grant() {
    let app = TestApp::spawn().await;
    let a = app.rp(confidential_meta()).await;
    let b = app.rp(confidential_meta()).await;
    let (code, verifier) = app.code(&a, "openid offline_access").await;
    let form = |rp: &Rp| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", rp.redirect_uri.clone()),
            ("code_verifier", verifier.clone()),
        ]
    };
    let send = |rp: &Rp, f: Vec<(&'static str, String)>| {
        let req = app
            .api()
            .post(app.url("/oauth/token"))
            .basic_auth(&rp.client_id, rp.client_secret.as_ref());
        req.form(&f).send()
    };
    let (status, tokens) = json_of(send(&a, form(&a)).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();

    // B replays A's used code: a plain invalid_grant that says nothing about the code's state.
    let (status, body) = json_of(send(&b, form(&b)).await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap_or_default();
    for revealing in ["used", "revoked", "another", "expired", "client"] {
        assert!(
            !description.contains(revealing),
            "the message reveals the code's state: {description}"
        );
    }
    // Exactly what an unknown code gets.
    let mut unknown = form(&b);
    unknown[1].1 = "no-such-code".into();
    let (_, unknown_body) = json_of(send(&b, unknown).await.unwrap()).await;
    assert_eq!(body, unknown_body);

    // A's tokens keep working.
    assert_eq!(userinfo(&app, &access).await, StatusCode::OK);
    let (status, body) = refresh(&app, &a, &refresh_token, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "A's grant survives B's attempt: {body}"
    );

    // A replaying its own code still revokes its grant (RFC 6749 §4.1.2).
    let (status, _) = json_of(send(&a, form(&a)).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = refresh(&app, &a, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "own replay revokes");
}

#[tokio::test]
async fn another_clients_unused_code_is_a_plain_invalid_grant_and_stays_usable() {
    let app = TestApp::spawn().await;
    let a = app.rp(public_meta()).await;
    let b = app.rp(public_meta()).await;
    let (code, verifier) = app.code(&a, "openid").await;
    let form = |rp: &Rp| {
        [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", a.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("client_id", rp.client_id.as_str()),
        ]
        .map(|(k, v)| (k, v.to_string()))
    };
    let send =
        |f: [(&'static str, String); 5]| app.api().post(app.url("/oauth/token")).form(&f).send();
    let (status, body) = json_of(send(form(&b)).await.unwrap()).await;
    assert_eq!(
        (
            status,
            body["error"].as_str(),
            body["error_description"].as_str()
        ),
        (
            StatusCode::BAD_REQUEST,
            Some("invalid_grant"),
            Some("invalid authorization code")
        ),
    );
    let (status, body) = json_of(send(form(&a)).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---------------------------------------------------------------------------------------------
// Item 13: refresh scopes and the absolute family lifetime
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refresh_keeps_only_the_scopes_the_application_still_has() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "confidential",
                   "grant_types": ["authorization_code", "refresh_token"],
                   "scope": "openid email offline_access api.read"}))
        .await;
    let tokens = app
        .tokens(&rp, "openid email offline_access api.read")
        .await;
    assert_eq!(tokens["scope"], "openid email offline_access api.read");
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();

    // The developer drops email and api.read.
    let (status, body) = patch_app(&app, &rp, json!({"scope": "openid offline_access"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A narrower requested scope still works; a dropped one is refused.
    let (status, body) = refresh(&app, &rp, &rt, Some("api.read")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );
    let (status, body) = refresh(&app, &rp, &rt, Some("openid")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // Without a scope: what is left of the grant.
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access");
    let rt = body["refresh_token"].as_str().unwrap().to_string();

    // Registering the scopes again does not give them back to this grant.
    let (status, _) = patch_app(
        &app,
        &rp,
        json!({"scope": "openid email offline_access api.read"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid offline_access");
    let rt = body["refresh_token"].as_str().unwrap().to_string();

    // Without offline_access the application holds no refresh token any more.
    let (status, _) = patch_app(&app, &rp, json!({"scope": "openid email"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn rotation_never_extends_a_family_beyond_its_absolute_lifetime() {
    let app = TestApp::spawn_with(|c| {
        c.refresh_token_ttl_seconds = 600;
        c.refresh_token_absolute_ttl_seconds = 1000;
    })
    .await;
    let rp = app.rp(public_meta()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let mut rt = tokens["refresh_token"].as_str().unwrap().to_string();
    // Rotating every 450 s keeps each token within its own 600 s ...
    for _ in 0..2 {
        app.advance(450);
        let (status, body) = refresh(&app, &rp, &rt, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        rt = body["refresh_token"].as_str().unwrap().to_string();
    }
    // ... but the family ends 1000 s after the authorization, however fresh the last token.
    app.advance(100);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

/// The one-round-trip rotation (`store::oauth::refresh_and_rotate`) stores the successor with
/// the expiry, scope and client that the read-first path would: checked through introspection
/// of the successor, the ttl capped by the family's end, and then the uncapped ttl.
#[tokio::test]
async fn a_successor_expires_at_its_ttl_but_never_after_the_family_ends() {
    let app = TestApp::spawn_with(|c| {
        c.refresh_token_ttl_seconds = 600;
        c.refresh_token_absolute_ttl_seconds = 1000;
    })
    .await;
    let rp = app.rp(confidential_meta()).await;
    let started = app.now();
    let tokens = app.tokens(&rp, "openid email offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let introspect = |token: String| {
        let app = &app;
        let rp = &rp;
        async move {
            let r = app
                .api()
                .post(app.url("/oauth/introspect"))
                .basic_auth(&rp.client_id, rp.client_secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            json_of(r).await.1
        }
    };
    // At +100 s: 100 + 600 is within the family's 1000 s.
    app.advance(100);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "openid email offline_access");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let info = introspect(rt.clone()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["exp"], started + 700, "{info}");
    assert_eq!(info["scope"], "openid email offline_access", "{info}");
    assert_eq!(info["client_id"], rp.client_id.as_str(), "{info}");
    // At +500 s: 500 + 600 would pass the family's end, so the successor ends with it.
    app.advance(400);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let info = introspect(rt.clone()).await;
    assert_eq!(info["exp"], started + 1000, "{info}");
    // The rotated token is spent: presenting it again is reuse, which revokes the family.
    app.advance(1);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let newest = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(introspect(newest).await["active"], false);
}

#[tokio::test]
async fn an_absolute_lifetime_shorter_than_the_refresh_ttl_caps_the_first_token() {
    let app = TestApp::spawn_with(|c| {
        c.refresh_token_ttl_seconds = 3600;
        c.refresh_token_absolute_ttl_seconds = 300;
    })
    .await;
    let rp = app.rp(confidential_meta()).await;
    let tokens = app.tokens(&rp, "openid offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    app.advance(300);
    let (status, body) = refresh(&app, &rp, &rt, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 11: redirect URIs as written
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn registration_refuses_redirect_uris_a_parser_would_rewrite() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    for uri in [
        "https:evil.com",
        "https:///cb",
        "https://a.example.com\\@evil.com",
        "http://127.1:8765/callback",
        "http://2130706433:8765/callback",
        "http://127.0.0.1:8765/x/../callback",
        "https://RP.example/cb",
        "https://rp.example:443/cb",
    ] {
        for client_type in ["public", "confidential"] {
            for field in ["redirect_uris", "post_logout_redirect_uris"] {
                let mut meta = json!({"client_type": client_type, "client_name": "Rewritten",
                                      "redirect_uris": ["https://rp.example/cb"]});
                meta[field] = json!([uri]);
                let (status, body) = json_of(app.post_app(&dev, &meta).await).await;
                assert_eq!(
                    (status, body["error"].as_str()),
                    (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")),
                    "{client_type} {field} {uri}: {body}"
                );
            }
        }
    }
    // Nothing was registered.
    let (_, list) = json_of(
        app.api()
            .get(app.url("/developer/applications"))
            .bearer_auth(&dev)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        list["applications"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
}

async fn authorize_to(app: &TestApp, rp: &Rp, redirect_uri: &str) -> reqwest::Response {
    let (_, challenge) = pkce_pair();
    rp.user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st4te"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap()
}

async fn assert_error_page(r: reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers().get(header::LOCATION).is_none(),
        "must never redirect"
    );
    let content_type = r.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn rewritten_loopback_uris_do_not_match_the_registered_one() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    meta["redirect_uris"] = json!(["http://127.0.0.1:8765/callback"]);
    let rp = app.rp(meta).await;
    for presented in [
        "http://127.1:8765/callback",
        "http://2130706433:8765/callback",
        "http://127.0.0.1:8765/x/../callback",
        "http://127.1:9999/callback",
        "http://127.0.0.1:08765/callback",
    ] {
        assert_error_page(authorize_to(&app, &rp, presented).await).await;
    }
    // The registered one, and another port of it (RFC 8252 §7.3), still work; the browser goes
    // to exactly the string presented.
    for presented in [
        "http://127.0.0.1:8765/callback",
        "http://127.0.0.1:9999/callback",
    ] {
        let r = authorize_to(&app, &rp, presented).await;
        let r = app.decide(&rp, r, "deny").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = r.headers()[header::LOCATION].to_str().unwrap();
        assert!(
            location.starts_with(&format!("{presented}?error=access_denied&")),
            "{location}"
        );
    }
}

#[tokio::test]
async fn the_browser_goes_to_the_registered_string_byte_for_byte() {
    let app = TestApp::spawn().await;
    let mut meta = confidential_meta();
    meta["redirect_uris"] = json!(["https://rp.example/", "https://rp.example/cb?tenant=a%2Fb"]);
    let mut rp = app.rp(meta).await;
    assert_eq!(rp.redirect_uri, "https://rp.example/");
    let (code, verifier) = app.code(&rp, "openid").await;
    // (app.code checked the redirect; here its exact text.)
    let r = app
        .authorize(&rp, &[("scope", "openid"), ("state", "st4te")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("https://rp.example/?code="),
        "the registered string, then the parameters: {location}"
    );
    // The token endpoint compares the same string.
    let r = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    rp.redirect_uri = "https://rp.example/cb?tenant=a%2Fb".into();
    let r = app
        .authorize(&rp, &[("scope", "openid"), ("state", "st4te")])
        .await;
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("https://rp.example/cb?tenant=a%2Fb&code="),
        "{location}"
    );
    assert_eq!(location_params(&r)["tenant"], "a/b");
}

// ---------------------------------------------------------------------------------------------
// Item 10: native public clients and remembered consent (RFC 8252 §8.6)
// ---------------------------------------------------------------------------------------------

async fn authorize_with(
    app: &TestApp,
    rp: &Rp,
    redirect_uri: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let (_, challenge) = pkce_pair();
    let mut q = vec![
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st4te"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    rp.user
        .get(app.url("/oauth/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn public_native_redirects_ask_for_consent_every_time() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    let loopback = "http://127.0.0.1:8765/cb";
    let private_use = "com.example.app:/cb";
    let https = "https://rp.example/cb";
    meta["redirect_uris"] = json!([loopback, private_use, https]);
    let rp = app.rp(meta).await;

    for uri in [loopback, "http://127.0.0.1:9999/cb", private_use] {
        // Consent once ...
        let r = authorize_with(&app, &rp, uri, &[]).await;
        let r = app.decide(&rp, r, "allow").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(location_params(&r).contains_key("code"));
        // ... and the page again next time: the consent is not reused silently.
        let r = authorize_with(&app, &rp, uri, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}: the consent page again");
        assert!(r.text().await.unwrap().contains("name=\"decision\""));
        // prompt=none cannot show it: consent_required, never a code.
        let r = authorize_with(&app, &rp, uri, &[("prompt", "none")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = r.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with(&format!("{uri}?")), "{location}");
        let p = location_params(&r);
        assert_eq!(p["error"], "consent_required", "{uri}");
        assert!(!p.contains_key("code"));
    }
    // The same client's https redirect reuses the remembered consent.
    let r = authorize_with(&app, &rp, https, &[("prompt", "none")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location_params(&r).contains_key("code"));
}

/// A confidential client with a loopback redirect whose user has allowed it once.
async fn loopback_client_with_consent(app: &TestApp) -> Rp {
    let mut meta = confidential_meta();
    meta["redirect_uris"] = json!(["http://127.0.0.1:8765/cb"]);
    let rp = app.rp(meta).await;
    let r = authorize_with(app, &rp, &rp.redirect_uri, &[]).await;
    let r = app.decide(&rp, r, "allow").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    rp
}

#[tokio::test]
async fn confidential_clients_reuse_consent_on_loopback() {
    let app = TestApp::spawn().await;
    let rp = loopback_client_with_consent(&app).await;
    let r = authorize_with(&app, &rp, &rp.redirect_uri, &[("prompt", "none")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location_params(&r).contains_key("code"));
}

/// The remembered consent is read with the session (one statement since issue 16): it is the
/// signed-in user's, for this application, and no one else's.
#[tokio::test]
async fn one_users_remembered_consent_is_not_anothers() {
    let app = TestApp::spawn().await;
    let rp = loopback_client_with_consent(&app).await;
    // Another user in another browser, same application, same request.
    let other = app.browser();
    let r = app
        .signup(&other, &unique_email("other"), "correct horse battery")
        .await;
    assert!(r.status().is_redirection() || r.status().is_success());
    let (_, challenge) = pkce_pair();
    let ask = |prompt: Option<&'static str>| {
        let mut q = vec![
            ("client_id", rp.client_id.clone()),
            ("redirect_uri", rp.redirect_uri.clone()),
            ("response_type", "code".into()),
            ("scope", "openid".into()),
            ("state", "st4te".into()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".into()),
        ];
        if let Some(p) = prompt {
            q.push(("prompt", p.into()));
        }
        other.get(app.url("/oauth/authorize")).query(&q).send()
    };
    // prompt=none: no remembered consent for this user, so no code.
    let r = ask(Some("none")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let p = location_params(&r);
    assert_eq!(p.get("error").map(String::as_str), Some("consent_required"));
    assert!(!p.contains_key("code"));
    // Without a prompt: the consent page, not a code.
    let r = ask(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("consent"));
    // The first user's consent still counts for the first user.
    let r = authorize_with(&app, &rp, &rp.redirect_uri, &[("prompt", "none")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location_params(&r).contains_key("code"));
}

// ---------------------------------------------------------------------------------------------
// Item 9: unverified applications (RFC 9700 §4.11.2)
// ---------------------------------------------------------------------------------------------

/// The `href` of the page's "return" link, HTML entities decoded.
fn return_link(page: &str) -> String {
    let marker = "id=\"return\" href=\"";
    let start = page.find(marker).expect("a return link") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn query_of(link: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(link)
        .expect("an absolute link")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// /oauth/authorize for `rp` from a browser without a session.
async fn stranger_authorize(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> reqwest::Response {
    let (_, challenge) = pkce_pair();
    let mut q = vec![
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("response_type", "code"),
        ("state", "st4te"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    app.browser()
        .get(app.url("/oauth/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap()
}

/// Asserts the unverified-application page for `error` and returns the link's parameters.
async fn assert_unverified_page(
    app: &TestApp,
    rp: &Rp,
    r: reqwest::Response,
    error: &str,
) -> std::collections::HashMap<String, String> {
    let page = assert_error_page(r).await;
    assert!(
        page.contains("Unverified RP"),
        "names the application: {page}"
    );
    assert!(page.contains(error), "names the error: {page}");
    let link = return_link(&page);
    assert!(link.starts_with(&format!("{}?", rp.redirect_uri)), "{link}");
    let p = query_of(&link);
    assert_eq!(p.get("error").map(String::as_str), Some(error), "{link}");
    assert!(p.contains_key("error_description"), "{link}");
    assert_eq!(p.get("state").map(String::as_str), Some("st4te"), "{link}");
    assert_eq!(p.get("iss"), Some(&app.base), "{link}");
    assert!(!p.contains_key("code"));
    p
}

fn assert_redirected(r: &reqwest::Response, rp: &Rp, error: &str) {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{}?", rp.redirect_uri)),
        "{location}"
    );
    let p = location_params(r);
    assert_eq!(
        p.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
}

#[tokio::test]
async fn unverified_applications_errors_before_sign_in_are_a_page_with_a_link() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    meta["client_name"] = json!("Unverified RP");
    let rp = app.rp(meta).await;

    // Not redirected at once: a page naming the error and the application, with the link.
    let r = stranger_authorize(&app, &rp, &[("scope", "openid not-registered")]).await;
    assert_unverified_page(&app, &rp, r, "invalid_scope").await;
    let r = stranger_authorize(
        &app,
        &rp,
        &[("scope", "openid"), ("response_type", "token")],
    )
    .await;
    // (response_type given twice above: that is invalid_request, item 16.)
    assert_unverified_page(&app, &rp, r, "invalid_request").await;
    let r = stranger_authorize(&app, &rp, &[("scope", "openid"), ("prompt", "none")]).await;
    assert_unverified_page(&app, &rp, r, "login_required").await;

    // A signed-in user gets the plain redirect.
    let r = app
        .authorize(
            &rp,
            &[("scope", "openid not-registered"), ("state", "st4te")],
        )
        .await;
    assert_redirected(&r, &rp, "invalid_scope");

    // Once an operator verifies the application, the plain redirect for everyone.
    app.set_verified(&rp.client_id, true).await;
    let r = stranger_authorize(&app, &rp, &[("scope", "openid not-registered")]).await;
    assert_redirected(&r, &rp, "invalid_scope");
    let r = stranger_authorize(&app, &rp, &[("scope", "openid"), ("prompt", "none")]).await;
    assert_redirected(&r, &rp, "login_required");
    assert_eq!(location_params(&r)["state"], "st4te");

    // And the page again once it is unverified.
    app.set_verified(&rp.client_id, false).await;
    let r = stranger_authorize(&app, &rp, &[("scope", "openid"), ("prompt", "none")]).await;
    assert_unverified_page(&app, &rp, r, "login_required").await;
}

async fn get_app(app: &TestApp, rp: &Rp) -> Value {
    let (status, body) = json_of(
        app.api()
            .get(app.url(&format!("/developer/applications/{}", rp.app_id)))
            .bearer_auth(&rp.dev_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn verified_is_read_only_in_the_developer_api() {
    let app = TestApp::spawn().await;
    let mut meta = confidential_meta();
    meta["verified"] = json!(true);
    let rp = app.rp(meta).await;
    assert_eq!(get_app(&app, &rp).await["verified"], json!(false));
    let (_, list) = json_of(
        app.api()
            .get(app.url("/developer/applications"))
            .bearer_auth(&rp.dev_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["applications"][0]["verified"], json!(false), "{list}");
    let (status, body) = patch_app(&app, &rp, json!({"verified": true, "client_name": "X"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], json!(false));

    app.set_verified(&rp.client_id, true).await;
    assert_eq!(get_app(&app, &rp).await["verified"], json!(true));
    // A developer's PATCH keeps the operator's verification.
    let (status, body) = patch_app(&app, &rp, json!({"client_name": "Y", "verified": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified"], json!(true));
}

fn logi_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("logi-cli-apps-{}", logi::crypto::random_token(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_logi"));
    c.current_dir(&dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGI_") {
            c.env_remove(k);
        }
    }
    let out = c
        .args(args)
        .env("LOGI_DATABASE_URL", &app.state.config.database_url)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    out
}

#[tokio::test]
async fn operators_verify_with_the_cli_and_the_server_follows() {
    let app = TestApp::spawn().await;
    let mut meta = public_meta();
    meta["client_name"] = json!("Unverified RP");
    let rp = app.rp(meta).await;
    let owner: Value = json_of(
        app.api()
            .get(app.url("/developer/applications"))
            .bearer_auth(&rp.dev_token)
            .send()
            .await
            .unwrap(),
    )
    .await
    .1;
    assert_eq!(owner["applications"].as_array().unwrap().len(), 1);
    // The server has the application in its cache, unverified.
    let r = stranger_authorize(&app, &rp, &[("scope", "nope")]).await;
    assert_unverified_page(&app, &rp, r, "invalid_scope").await;

    let line = |out: &std::process::Output| -> Option<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with(&rp.client_id))
            .map(String::from)
    };
    let out = logi_cli(&app, &["apps", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = line(&out).expect("the application is listed");
    let columns: Vec<&str> = shown.split('\t').collect();
    assert_eq!(
        columns,
        [
            rp.client_id.as_str(),
            "Unverified RP",
            &owner_email(&app, &rp).await,
            "no"
        ]
    );

    let out = logi_cli(&app, &["apps", "verify", &rp.client_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(line(&logi_cli(&app, &["apps", "list"]))
        .unwrap()
        .ends_with("\tyes"));
    assert_eq!(get_app(&app, &rp).await["verified"], json!(true));
    // The running server hears of it (NOTIFY on PostgreSQL, the change log on SQLite).
    let mut redirected = false;
    for _ in 0..100 {
        let r = stranger_authorize(&app, &rp, &[("scope", "nope")]).await;
        if r.status() == StatusCode::SEE_OTHER {
            assert_redirected(&r, &rp, "invalid_scope");
            redirected = true;
            break;
        }
        crate::common::pause_ms(100).await;
    }
    assert!(
        redirected,
        "the server still treats the application as unverified"
    );

    let out = logi_cli(&app, &["apps", "unverify", &rp.client_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(line(&logi_cli(&app, &["apps", "list"]))
        .unwrap()
        .ends_with("\tno"));
    let out = logi_cli(&app, &["apps", "verify", "no-such-client"]);
    assert!(!out.status.success(), "an unknown client_id is an error");
}

/// The email of the developer who owns `rp`, as the operator sees it.
async fn owner_email(app: &TestApp, rp: &Rp) -> String {
    let row: (String,) = sqlx::query_as(
        "SELECT u.email FROM applications a JOIN users u ON u.id = a.owner_id WHERE a.client_id = $1",
    )
    .bind(&rp.client_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    row.0
}

// ---------------------------------------------------------------------------------------------
// Item 16: repeated parameters at /oauth/authorize
// ---------------------------------------------------------------------------------------------

/// GET /oauth/authorize with a raw query (so that names can repeat).
async fn raw_authorize(app: &TestApp, browser: &reqwest::Client, query: &str) -> reqwest::Response {
    browser
        .get(format!("{}?{query}", app.url("/oauth/authorize")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request_redirected_to_a_valid_client() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let base = format!(
        "client_id={}&redirect_uri={}&response_type=code",
        rp.client_id,
        url::form_urlencoded::byte_serialize(rp.redirect_uri.as_bytes()).collect::<String>()
    );
    for repeated in [
        "scope=openid&scope=email&state=st4te",
        "scope=openid&state=st4te&nonce=a&nonce=b",
        "scope=openid&state=st4te&response_type=code",
        "scope=openid&state=st4te&prompt=&prompt=none",
    ] {
        let r = raw_authorize(&app, &rp.user, &format!("{base}&{repeated}")).await;
        assert_redirected(&r, &rp, "invalid_request");
        let p = location_params(&r);
        assert_eq!(p["state"], "st4te", "{repeated}");
        assert_eq!(p["iss"], app.base);
        assert!(p["error_description"].contains("repeated"), "{p:?}");
    }
    // A repeated state cannot be returned: the redirect has none.
    let r = raw_authorize(
        &app,
        &rp.user,
        &format!("{base}&scope=openid&state=a&state=b"),
    )
    .await;
    assert_redirected(&r, &rp, "invalid_request");
    assert!(!location_params(&r).contains_key("state"));
    // The same in a POSTed form.
    let r = rp
        .user
        .post(app.url("/oauth/authorize"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("{base}&scope=openid&scope=email&state=st4te"))
        .send()
        .await
        .unwrap();
    assert_redirected(&r, &rp, "invalid_request");

    // client_id or redirect_uri itself repeated, or invalid: the page, never a redirect.
    let uri = url::form_urlencoded::byte_serialize(rp.redirect_uri.as_bytes()).collect::<String>();
    for query in [
        format!("{base}&client_id={}&scope=openid&scope=x", rp.client_id),
        format!("{base}&redirect_uri={uri}&scope=openid&scope=x"),
        format!("{base}&redirect_uri=&scope=openid"),
        format!("client_id=nobody&redirect_uri={uri}&scope=a&scope=b"),
        format!(
            "client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=a&scope=b",
            rp.client_id
        ),
        format!("redirect_uri={uri}&scope=a&scope=b"),
    ] {
        let r = raw_authorize(&app, &rp.user, &query).await;
        assert_error_page(r).await;
    }
    // Before sign-in the unverified-application rule applies as for any other error.
    let stranger = app.browser();
    let r = raw_authorize(&app, &stranger, &format!("{base}&scope=openid&scope=email")).await;
    assert_error_page(r).await;
    app.set_verified(&rp.client_id, true).await;
    let r = raw_authorize(&app, &stranger, &format!("{base}&scope=openid&scope=email")).await;
    assert_redirected(&r, &rp, "invalid_request");
}
