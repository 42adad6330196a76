//! The OAuth core end to end over real HTTP: authorize → consent → code → token → refresh,
//! replay and reuse detection, and the checks at the token endpoint.

mod common;

use common::{location_params, pkce_pair, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn public_rp() -> Value {
    json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"],
           "scope": "openid profile email offline_access"})
}

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.expect("JSON body"))
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
