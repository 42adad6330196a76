//! The device authorization grant (RFC 8628) end to end, for a public CLI client.
use crate::common::{form_value, json_or_null, DpopKey, Rp, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn cli_meta() -> Value {
    json!({"client_name": "logi CLI", "client_type": "public", "grant_types": [DEVICE_GRANT, "refresh_token"],
           "redirect_uris": [], "scope": "openid email offline_access"})
}

async fn start(app: &TestApp, rp: &Rp) -> Value {
    let r = app
        .api()
        .post(app.url("/oauth/device_authorization"))
        .form(&[
            ("client_id", rp.client_id.as_str()),
            ("scope", "openid email offline_access"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (s, body) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

async fn poll(
    app: &TestApp,
    rp: &Rp,
    device_code: &str,
    dpop: Option<&DpopKey>,
) -> (StatusCode, Value) {
    let mut req = app.api().post(app.url("/oauth/token"));
    if let Some(key) = dpop {
        req = req.header("DPoP", key.proof("POST", &app.url("/oauth/token"), None));
    }
    json_or_null(
        req.form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap(),
    )
    .await
}

/// The person at the browser enters the code and answers the consent page.
async fn answer(app: &TestApp, rp: &Rp, started: &Value, decision: &str) -> reqwest::Response {
    let code = started["user_code"].as_str().unwrap().to_string();
    let page = rp
        .user
        .get(started["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert_eq!(
        page.matches("<input id=\"user_code\"").count(),
        1,
        "one text input user_code"
    );
    let csrf = form_value(&page, "csrf_token").unwrap();
    assert!(
        page.contains(&format!("value=\"{code}\"")),
        "verification_uri_complete pre-fills the code"
    );
    let consent = rp
        .user
        .post(app.url("/device"))
        .form(&[("csrf_token", csrf.as_str()), ("user_code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("logi CLI") && consent.contains(&code),
        "names the app and the code"
    );
    rp.user
        .post(app.url("/device"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("user_code", code.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cli_signs_a_user_in_and_calls_userinfo_with_a_dpop_bound_token() {
    let app = TestApp::spawn_with(|c| c.device_poll_interval_seconds = 1).await;
    let rp = app.rp(cli_meta()).await;
    let started = start(&app, &rp).await;
    let user_code = started["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9
            && user_code.chars().enumerate().all(|(i, c)| if i == 4 {
                c == '-'
            } else {
                "BCDFGHJKLMNPQRSTVWXZ".contains(c)
            }),
        "{user_code}"
    );
    assert_eq!(started["verification_uri"], app.url("/device"));
    assert_eq!(started["interval"], 1);
    assert!(started["expires_in"].as_u64().unwrap() > 0);
    let device_code = started["device_code"].as_str().unwrap();

    let key = DpopKey::new();
    let (s, e) = poll(&app, &rp, device_code, Some(&key)).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );

    let done = answer(&app, &rp, &started, "allow").await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Device connected"));

    app.advance(1); // the polling interval
    let (s, tokens) = poll(&app, &rp, device_code, Some(&key)).await;
    assert_eq!(s, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    let at = tokens["access_token"].as_str().unwrap();
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .header("Authorization", format!("DPoP {at}"))
        .header(
            "DPoP",
            key.proof("GET", &app.url("/oauth/userinfo"), Some(at)),
        )
        .send()
        .await
        .unwrap();
    let (s, info) = json_or_null(r).await;
    assert_eq!(s, StatusCode::OK, "{info}");
    assert_eq!(info["email"], rp.user_email);

    // Each device code is redeemable once.
    app.advance(1);
    let (s, e) = poll(&app, &rp, device_code, Some(&key)).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn polling_too_fast_gets_slow_down_and_a_longer_interval() {
    let app = TestApp::spawn().await;
    let rp = app.rp(cli_meta()).await;
    let started = start(&app, &rp).await;
    assert_eq!(started["interval"], 5);
    let device_code = started["device_code"].as_str().unwrap();
    let (_, first) = poll(&app, &rp, device_code, None).await;
    assert_eq!(first["error"], "authorization_pending");
    let (s, second) = poll(&app, &rp, device_code, None).await;
    assert_eq!(
        (s, second["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "slow_down")
    );
    let (interval,): (i64,) = sqlx::query_as("SELECT poll_interval FROM device_codes")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(interval, 10, "the interval grows by 5 seconds");
}

#[tokio::test]
async fn a_denied_request_is_access_denied() {
    let app = TestApp::spawn_with(|c| c.device_poll_interval_seconds = 1).await;
    let rp = app.rp(cli_meta()).await;
    let started = start(&app, &rp).await;
    let r = answer(&app, &rp, &started, "deny").await;
    assert!(r.text().await.unwrap().contains("Request denied"));
    let (s, e) = poll(&app, &rp, started["device_code"].as_str().unwrap(), None).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "access_denied")
    );
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token() {
    let app = TestApp::spawn_with(|c| c.device_code_ttl_seconds = 1).await;
    let rp = app.rp(cli_meta()).await;
    let started = start(&app, &rp).await;
    app.advance(2);
    let (s, e) = poll(&app, &rp, started["device_code"].as_str().unwrap(), None).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "expired_token")
    );
}

#[tokio::test]
async fn the_device_page_needs_a_session_and_a_valid_code() {
    let app = TestApp::spawn().await;
    let rp = app.rp(cli_meta()).await;
    let r = app
        .browser()
        .get(app.url("/device?user_code=BCDF-GHJK"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next=%2Fdevice%3Fuser_code%3DBCDF-GHJK"));
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
    let r = rp
        .user
        .post(app.url("/device"))
        .form(&[("csrf_token", csrf.as_str()), ("user_code", "ZZZZ-ZZZZ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid"));
    // A client not registered for the device grant cannot start one.
    let web = app
        .rp(json!({"client_type": "public", "scope": "openid"}))
        .await;
    let r = app
        .api()
        .post(app.url("/oauth/device_authorization"))
        .form(&[("client_id", web.client_id.as_str())])
        .send()
        .await
        .unwrap();
    let (s, e) = json_or_null(r).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}
