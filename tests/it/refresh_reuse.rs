//! `refresh_token_reuse_interval_seconds` (SPEC "Tokens"): a client whose refresh response was
//! lost may present the just-rotated token again within its application's interval and gets the
//! same successor back; after it, or once the successor was used, that is reuse and revokes the
//! family. The successor is kept only sealed under the rotated token.

use crate::common::{DpopKey, Rp, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn rp_metadata(interval: Option<i64>) -> Value {
    let mut m = json!({"client_type": "confidential",
                       "grant_types": ["authorization_code", "refresh_token"],
                       "scope": "openid profile offline_access"});
    if let Some(i) = interval {
        m["refresh_token_reuse_interval_seconds"] = json!(i);
    }
    m
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> (StatusCode, Value) {
    let r = app
        .token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    let status = r.status();
    (status, r.json().await.expect("JSON body"))
}

async fn refreshed(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let (status, body) = refresh(app, rp, token).await;
    assert_eq!(status, StatusCode::OK, "refresh failed: {body}");
    body
}

async fn assert_invalid_grant(app: &TestApp, rp: &Rp, token: &str, why: &str) {
    let (status, body) = refresh(app, rp, token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{why}: {body}"
    );
}

/// An application with `interval` (None: the default), a user's first tokens and its refresh
/// token.
async fn setup(app: &TestApp, interval: Option<i64>) -> (Rp, String) {
    let rp = app.rp(rp_metadata(interval)).await;
    let first = app.tokens(&rp, "openid offline_access").await;
    let rt = first["refresh_token"].as_str().expect("refresh token");
    (rp, rt.to_string())
}

fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

#[tokio::test]
async fn a_retry_within_the_interval_gets_the_same_successor_which_then_rotates_normally() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, Some(30)).await;

    // The first answer is "lost": the client only has rt1.
    let lost = refreshed(&app, &rp, &rt1).await;
    let rt2 = rt(&lost);
    assert_ne!(rt2, rt1);

    app.advance(10);
    let retry = refreshed(&app, &rp, &rt1).await;
    assert_eq!(rt(&retry), rt2, "the same successor, not a new one");
    assert_ne!(
        retry["access_token"], lost["access_token"],
        "a fresh access token"
    );
    assert!(
        retry["id_token"].as_str().is_some(),
        "openid was granted: an ID token as in a normal refresh: {retry}"
    );
    assert_eq!(retry["scope"], "openid offline_access");
    // The access token of the retry works.
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(retry["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A second retry still within the interval: again the same successor.
    app.advance(10);
    assert_eq!(rt(&refreshed(&app, &rp, &rt1).await), rt2);

    // The successor rotates normally, and its successor too.
    let third = refreshed(&app, &rp, &rt2).await;
    let rt3 = rt(&third);
    assert!(rt3 != rt2 && rt3 != rt1);
    let rt4 = rt(&refreshed(&app, &rp, &rt3).await);
    assert!(![&rt1, &rt2, &rt3].contains(&&rt4));
}

#[tokio::test]
async fn a_retry_after_the_successor_was_used_revokes_the_family_even_within_the_interval() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, Some(30)).await;
    let rt2 = rt(&refreshed(&app, &rp, &rt1).await);
    let third = refreshed(&app, &rp, &rt2).await;
    let rt3 = rt(&third);

    app.advance(1);
    assert_invalid_grant(&app, &rp, &rt1, "the successor was already used").await;
    assert_invalid_grant(&app, &rp, &rt3, "the family is revoked").await;
    // The newest access token dies with the family.
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(third["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_retry_after_the_interval_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, Some(30)).await;
    let rt2 = rt(&refreshed(&app, &rp, &rt1).await);

    app.advance(31);
    assert_invalid_grant(&app, &rp, &rt1, "the interval has passed: reuse").await;
    assert_invalid_grant(&app, &rp, &rt2, "the successor dies with the family").await;
}

#[tokio::test]
async fn a_retry_after_the_family_was_revoked_gets_nothing() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, Some(30)).await;
    let rt2 = rt(&refreshed(&app, &rp, &rt1).await);
    // The client signs out: it revokes the successor (RFC 7009), which revokes the grant.
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", rt2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_invalid_grant(&app, &rp, &rt1, "the grant is revoked").await;
}

#[tokio::test]
async fn without_an_interval_a_retry_revokes_the_family_at_once() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, None).await;
    let rt2 = rt(&refreshed(&app, &rp, &rt1).await);

    assert_invalid_grant(&app, &rp, &rt1, "default 0: reuse at once").await;
    assert_invalid_grant(&app, &rp, &rt2, "the successor dies with the family").await;
    // Nothing is sealed for applications without an interval.
    let sealed: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT successor_enc FROM refresh_tokens WHERE application_id = $1")
            .bind(&rp.app_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|(s,)| s.is_none()), "{sealed:?}");
}

#[tokio::test]
async fn the_database_holds_no_plaintext_successor() {
    let app = TestApp::spawn().await;
    let (rp, rt1) = setup(&app, Some(30)).await;
    let rt2 = rt(&refreshed(&app, &rp, &rt1).await);

    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT token_hash, grant_id, application_id, scope, dpop_jkt, successor_enc \
         FROM refresh_tokens WHERE application_id = $1",
    )
    .bind(&rp.app_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "the rotated token and its successor");
    let mut sealed = Vec::new();
    for (hash, grant, application, scope, jkt, enc) in &rows {
        for text in [hash, grant, application, scope]
            .into_iter()
            .chain(jkt)
            .chain(enc)
        {
            for token in [&rt1, &rt2] {
                assert!(!text.contains(token.as_str()), "a token in the database");
            }
        }
        sealed.extend(enc.clone());
    }
    assert_eq!(
        sealed.len(),
        1,
        "only the rotated row holds a sealed successor"
    );
    // It is the successor, sealed under the rotated token: opened with it, and with nothing else.
    assert_eq!(
        logi::crypto::open_successor(&rt1, &sealed[0]).as_deref(),
        Some(rt2.as_str())
    );
    assert_eq!(logi::crypto::open_successor(&rt2, &sealed[0]), None);

    // Housekeeping drops it once every interval has passed.
    app.advance(61);
    logi::store::delete_expired(&app.state.store, app.now())
        .await
        .unwrap();
    let left: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT successor_enc FROM refresh_tokens WHERE application_id = $1")
            .bind(&rp.app_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(left.iter().all(|(s,)| s.is_none()), "{left:?}");
}

#[tokio::test]
async fn the_reuse_interval_is_validated_shown_and_patched() {
    let app = TestApp::spawn().await;
    let dev = app.developer(&crate::common::unique_email("dev")).await;
    let base = json!({"client_name": "Reuse", "client_type": "confidential", "redirect_uris": ["https://rp.example/cb"],
                      "grant_types": ["authorization_code", "refresh_token"],
                      "scope": "openid offline_access"});

    for bad in [json!(61), json!(-1), json!("x"), json!(1.5), huge()] {
        let mut m = base.clone();
        m["refresh_token_reuse_interval_seconds"] = bad.clone();
        let r = app.post_app(&dev, &m).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
            "registration with {bad}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("refresh_token_reuse_interval_seconds"),
            "{body}"
        );
    }
    let created = app.register(&dev, base.clone()).await;
    assert_eq!(
        created["refresh_token_reuse_interval_seconds"], 0,
        "default"
    );
    for ok in [1, 60] {
        let mut m = base.clone();
        m["refresh_token_reuse_interval_seconds"] = json!(ok);
        let created = app.register(&dev, m).await;
        assert_eq!(created["refresh_token_reuse_interval_seconds"], ok);
    }

    let url = app.url(&format!(
        "/developer/applications/{}",
        created["id"].as_str().unwrap()
    ));
    let patch = |v: Value| {
        let req = app
            .api()
            .patch(&url)
            .bearer_auth(&dev)
            .json(&json!({"refresh_token_reuse_interval_seconds": v}));
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    for v in 0..=60 {
        let (status, body) = patch(json!(v)).await;
        assert_eq!(status, StatusCode::OK, "PATCH {v}: {body}");
        assert_eq!(body["refresh_token_reuse_interval_seconds"], v);
    }
    for bad in [json!(61), json!(-1), json!("x")] {
        let (status, body) = patch(bad.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
            "PATCH {bad}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("refresh_token_reuse_interval_seconds"),
            "{body}"
        );
    }
    let r = app.api().get(&url).bearer_auth(&dev).send().await.unwrap();
    let shown: Value = r.json().await.unwrap();
    assert_eq!(
        shown["refresh_token_reuse_interval_seconds"], 60,
        "refused PATCHes change nothing"
    );
}

/// A number no i64 holds.
fn huge() -> Value {
    serde_json::from_str("1e30").unwrap()
}

/// A public client's refresh token bound to its DPoP key (RFC 9449 §5.0): a retry gets the
/// successor only with a proof from that key; without one it is reuse.
#[tokio::test]
async fn a_dpop_bound_retry_needs_a_proof_from_the_same_key() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "public",
                   "grant_types": ["authorization_code", "refresh_token"],
                   "scope": "openid offline_access",
                   "refresh_token_reuse_interval_seconds": 30}))
        .await;
    let key = DpopKey::new();
    let (code, verifier) = app.code(&rp, "openid offline_access").await;
    let dpop_token = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let mut req = app.api().post(app.url("/oauth/token"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        let mut form = form;
        form.push(("client_id", rp.client_id.clone()));
        async move {
            let r = req.form(&form).send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let proof = || Some(key.proof("POST", &app.url("/oauth/token"), None));
    let (s, first) = dpop_token(
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", rp.redirect_uri.clone()),
            ("code_verifier", verifier),
        ],
        proof(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let rt1 = rt(&first);
    let refresh_form = |t: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", t.to_string()),
        ]
    };
    let (s, lost) = dpop_token(refresh_form(&rt1), proof()).await;
    assert_eq!(s, StatusCode::OK, "{lost}");
    let rt2 = rt(&lost);

    let (s, retry) = dpop_token(refresh_form(&rt1), proof()).await;
    assert_eq!(s, StatusCode::OK, "{retry}");
    assert_eq!(rt(&retry), rt2);
    assert_eq!(retry["token_type"], "DPoP");

    let (s, e) = dpop_token(refresh_form(&rt1), None).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (s, e) = dpop_token(refresh_form(&rt2), proof()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a retry without the key is reuse: the family is revoked"
    );
}
