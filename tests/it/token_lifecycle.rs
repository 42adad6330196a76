//! Revocation (RFC 7009), introspection (RFC 7662) and DPoP (RFC 9449) over real HTTP.
use crate::common::{json_or_null, DpopKey, Rp, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn public_meta() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email offline_access"})
}

fn confidential_meta() -> Value {
    json!({"client_type": "confidential", "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
           "scope": "openid email offline_access api"})
}

/// POST to `path` authenticated as `rp` (Basic for confidential, client_id for public).
async fn post_as(app: &TestApp, rp: &Rp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    let req = app.api().post(app.url(path));
    let req = match &rp.client_secret {
        Some(s) => req.basic_auth(&rp.client_id, Some(s)),
        None => {
            form.push(("client_id", &rp.client_id));
            req
        }
    };
    req.form(&form).send().await.unwrap()
}

async fn userinfo_status(app: &TestApp, token: &str) -> StatusCode {
    app.api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn refresh(app: &TestApp, rp: &Rp, rt: &str) -> (StatusCode, Value) {
    json_or_null(
        app.token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await,
    )
    .await
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let t = app.tokens(&rp, "openid email offline_access").await;
    let (rt, at) = (
        t["refresh_token"].as_str().unwrap(),
        t["access_token"].as_str().unwrap(),
    );
    let r = post_as(
        &app,
        &rp,
        "/oauth/revoke",
        &[("token", rt), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(refresh(&app, &rp, rt).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        userinfo_status(&app, at).await,
        StatusCode::UNAUTHORIZED,
        "the family's access token dies too"
    );
}

#[tokio::test]
async fn revoking_an_access_token_stops_userinfo() {
    let app = TestApp::spawn().await;
    let rp = app.rp(confidential_meta()).await;
    let t = app.tokens(&rp, "openid email offline_access").await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&app, at).await, StatusCode::OK);
    let r = post_as(&app, &rp, "/oauth/revoke", &[("token", at)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(userinfo_status(&app, at).await, StatusCode::UNAUTHORIZED);
    // A grant-less client_credentials token is revoked by its jti.
    let (_, cc) = json_or_null(
        app.token(&rp, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    let cc = cc["access_token"].as_str().unwrap();
    let (_, active) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", cc)]).await).await;
    assert_eq!(active["active"], true);
    post_as(&app, &rp, "/oauth/revoke", &[("token", cc)]).await;
    let (_, after) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", cc)]).await).await;
    assert_eq!(after, json!({"active": false}));
}

#[tokio::test]
async fn another_clients_token_is_not_revoked_and_garbage_is_200() {
    let app = TestApp::spawn().await;
    let owner = app.rp(public_meta()).await;
    let other = app.rp(confidential_meta()).await;
    let t = app.tokens(&owner, "openid email offline_access").await;
    let (rt, at) = (
        t["refresh_token"].as_str().unwrap(),
        t["access_token"].as_str().unwrap(),
    );
    assert_eq!(
        post_as(&app, &other, "/oauth/revoke", &[("token", rt)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post_as(&app, &other, "/oauth/revoke", &[("token", at)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(userinfo_status(&app, at).await, StatusCode::OK, "untouched");
    assert_eq!(
        refresh(&app, &owner, rt).await.0,
        StatusCode::OK,
        "untouched"
    );
    assert_eq!(
        post_as(&app, &other, "/oauth/revoke", &[("token", "garbage")])
            .await
            .status(),
        StatusCode::OK
    );
    // Revocation needs the same client authentication as the token endpoint.
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&owner.client_id, Some("x"))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a public client never presents a secret"
    );
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[("token", rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_reports_only_active_own_tokens() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl_seconds = 2).await;
    let rp = app.rp(confidential_meta()).await;
    let other = app.rp(confidential_meta()).await;
    let t = app.tokens(&rp, "openid email offline_access").await;
    let (rt, at) = (
        t["refresh_token"].as_str().unwrap(),
        t["access_token"].as_str().unwrap(),
    );
    let r = post_as(&app, &rp, "/oauth/introspect", &[("token", at)]).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (_, active) = json_or_null(r).await;
    assert_eq!(active["active"], true);
    for k in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "token_type",
        "jti",
    ] {
        assert!(active.get(k).is_some(), "{k} in {active}");
    }
    assert_eq!(active["client_id"], rp.client_id);
    assert_eq!(active["token_type"], "Bearer");
    let (_, refresh_info) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", rt)]).await).await;
    assert_eq!(refresh_info["active"], true);
    // Foreign, unknown, expired, revoked: exactly {"active": false}.
    let (_, foreign) =
        json_or_null(post_as(&app, &other, "/oauth/introspect", &[("token", at)]).await).await;
    assert_eq!(foreign, json!({"active": false}));
    let (_, unknown) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", "nope")]).await).await;
    assert_eq!(unknown, json!({"active": false}));
    app.advance(3);
    let (_, expired) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", at)]).await).await;
    assert_eq!(expired, json!({"active": false}));
    post_as(&app, &rp, "/oauth/revoke", &[("token", rt)]).await;
    let (_, revoked) =
        json_or_null(post_as(&app, &rp, "/oauth/introspect", &[("token", rt)]).await).await;
    assert_eq!(revoked, json!({"active": false}));
}

/// A DPoP-bound code exchange for a public client; returns (tokens, key).
async fn dpop_tokens(app: &TestApp, rp: &Rp) -> (Value, DpopKey) {
    let key = DpopKey::new();
    let (code, verifier) = app.code(rp, "openid email offline_access").await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .header("DPoP", key.proof("POST", &app.url("/oauth/token"), None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &rp.client_id),
        ])
        .send()
        .await
        .unwrap();
    let (s, body) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    (body, key)
}

async fn dpop_userinfo(app: &TestApp, token: &str, proof: &str) -> reqwest::Response {
    app.api()
        .get(app.url("/oauth/userinfo"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn dpop_bound_tokens_work_only_with_fresh_proofs_from_their_key() {
    let app = TestApp::spawn().await;
    let rp = app.rp(public_meta()).await;
    let (t, key) = dpop_tokens(&app, &rp).await;
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap();
    let claims: Value = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(at.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    let url = app.url("/oauth/userinfo");

    let r = dpop_userinfo(&app, at, &key.proof("GET", &url, Some(at))).await;
    assert_eq!(r.status(), StatusCode::OK, "fresh proof works");
    // As Bearer: refused.
    assert_eq!(userinfo_status(&app, at).await, StatusCode::UNAUTHORIZED);
    // A proof from another key.
    let r = dpop_userinfo(&app, at, &DpopKey::new().proof("GET", &url, Some(at))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A replayed proof (same jti).
    let once = key.proof("GET", &url, Some(at));
    assert_eq!(
        dpop_userinfo(&app, at, &once).await.status(),
        StatusCode::OK
    );
    let r = dpop_userinfo(&app, at, &once).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_dpop_proof"));
    // Wrong htu, wrong htm, old iat, missing ath.
    let ath = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use sha2::Digest;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(at.as_bytes()))
    };
    for (claims, what) in [
        (
            json!({"htm": "GET", "htu": app.url("/oauth/token"), "ath": ath}),
            "wrong htu",
        ),
        (json!({"htm": "POST", "htu": url, "ath": ath}), "wrong htm"),
        (
            json!({"htm": "GET", "htu": url, "ath": ath, "iat": logi::clock::system_now() - 3600}),
            "iat far in the past",
        ),
        (json!({"htm": "GET", "htu": url}), "no ath"),
    ] {
        let r = dpop_userinfo(&app, at, &key.proof_with(claims)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    // Without any proof.
    let r = app
        .api()
        .get(&url)
        .header("Authorization", format!("DPoP {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The public client's refresh token is bound: without a proof from the key, refresh fails.
    let rt = t["refresh_token"].as_str().unwrap();
    let (s, e) = refresh(&app, &rp, rt).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "no proof"
    );
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .header(
            "DPoP",
            DpopKey::new().proof("POST", &app.url("/oauth/token"), None),
        )
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "proof from another key"
    );
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .header("DPoP", key.proof("POST", &app.url("/oauth/token"), None))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (s, body) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "proof from the bound key: {body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn clients_registered_for_dpop_must_send_a_proof_and_introspection_shows_cnf() {
    let app = TestApp::spawn().await;
    let mut meta = confidential_meta();
    meta["dpop_bound_access_tokens"] = json!(true);
    let rp = app.rp(meta).await;
    let (s, e) = json_or_null(
        app.token(&rp, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );
    let key = DpopKey::new();
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .header("DPoP", key.proof("POST", &app.url("/oauth/token"), None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (s, body) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, info) = json_or_null(
        post_as(
            &app,
            &rp,
            "/oauth/introspect",
            &[("token", body["access_token"].as_str().unwrap())],
        )
        .await,
    )
    .await;
    assert_eq!(info["token_type"], "DPoP");
    assert_eq!(info["cnf"]["jkt"], key.thumbprint());
    // A bad proof at the token endpoint.
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .header("DPoP", key.proof("GET", &app.url("/oauth/token"), None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (s, e) = json_or_null(r).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );
}

#[tokio::test]
async fn dpop_nonces_are_issued_and_required_when_configured() {
    let app = TestApp::spawn_with(|c| c.dpop_nonce_required = true).await;
    let rp = app.rp(confidential_meta()).await;
    let key = DpopKey::new();
    let token_url = app.url("/oauth/token");
    let (code, verifier) = app.code(&rp, "openid email").await;
    let exchange = |proof: String| {
        app.api()
            .post(&token_url)
            .basic_auth(&rp.client_id, rp.client_secret.as_ref())
            .header("DPoP", proof)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", rp.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
    };
    // Without a nonce: use_dpop_nonce, and the nonce to use comes in DPoP-Nonce.
    let r = exchange(key.proof("POST", &token_url, None)).await.unwrap();
    let nonce = r
        .headers()
        .get("dpop-nonce")
        .expect("DPoP-Nonce header")
        .to_str()
        .unwrap()
        .to_string();
    let (s, e) = json_or_null(r).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    // A made-up nonce is refused the same way; the server's nonce works.
    let r = exchange(key.proof_with(json!({"htm": "POST", "htu": token_url, "nonce": "made-up"})))
        .await
        .unwrap();
    assert_eq!(json_or_null(r).await.1["error"], "use_dpop_nonce");
    let r = exchange(key.proof_with(json!({"htm": "POST", "htu": token_url, "nonce": nonce})))
        .await
        .unwrap();
    assert!(
        r.headers().contains_key("dpop-nonce"),
        "successful DPoP responses carry the next nonce"
    );
    let (s, t) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let at = t["access_token"].as_str().unwrap();

    // At userinfo the same: 401 use_dpop_nonce with a nonce, then success with it.
    let url = app.url("/oauth/userinfo");
    let r = app
        .api()
        .get(&url)
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", key.proof("GET", &url, Some(at)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("use_dpop_nonce"));
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let ath = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use sha2::Digest;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(at.as_bytes()))
    };
    let proof = key.proof_with(json!({"htm": "GET", "htu": url, "ath": ath, "nonce": nonce}));
    let r = app
        .api()
        .get(&url)
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
