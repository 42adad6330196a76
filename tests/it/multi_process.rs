//! Two logi processes on one database: what one changes, the other honours at once.
//!
//! This module measures how long a change takes to travel between processes, which only real
//! time can show: it may read the system's monotonic clock and wait (nothing here waits for
//! something to expire).
#![allow(clippy::disallowed_methods)]
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long the second process may take to notice: PostgreSQL notifies at once; SQLite (one
/// process per database in production) falls back to the periodic version check.
fn allowed_delay() -> Duration {
    if crate::common::backend_url().is_some() {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(2500)
    }
}

async fn cc_status(app: &TestApp, client_id: &str, secret: &str) -> StatusCode {
    app.api()
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn until_refused(app: &TestApp, client_id: &str, secret: &str) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if cc_status(app, client_id, secret).await == StatusCode::UNAUTHORIZED {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the second process still accepts the old credentials after 5 s");
}

#[tokio::test]
async fn secret_rotation_and_deletion_reach_every_process() {
    let first = TestApp::spawn_with(|c| c.key_refresh_interval_seconds = 1).await;
    let second = first.spawn_sibling(|_| {}).await;
    let rp = first
        .rp(json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"}))
        .await;
    let old = rp.client_secret.clone().unwrap();
    // Both processes have the application cached now.
    assert_eq!(cc_status(&first, &rp.client_id, &old).await, StatusCode::OK);
    assert_eq!(
        cc_status(&second, &rp.client_id, &old).await,
        StatusCode::OK
    );

    let r = first
        .api()
        .post(first.url(&format!(
            "/developer/applications/{}/rotate_secret",
            rp.app_id
        )))
        .bearer_auth(&rp.dev_token)
        .send()
        .await
        .unwrap();
    let new = r.json::<serde_json::Value>().await.unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        cc_status(&first, &rp.client_id, &old).await,
        StatusCode::UNAUTHORIZED,
        "at once in the same process"
    );
    let waited = until_refused(&second, &rp.client_id, &old).await;
    assert!(waited <= allowed_delay(), "second process took {waited:?}");
    assert_eq!(
        cc_status(&second, &rp.client_id, &new).await,
        StatusCode::OK
    );

    let r = first
        .api()
        .delete(first.url(&format!("/developer/applications/{}", rp.app_id)))
        .bearer_auth(&rp.dev_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let waited = until_refused(&second, &rp.client_id, &new).await;
    assert!(waited <= allowed_delay(), "deletion took {waited:?}");
}

#[tokio::test]
async fn revocation_reaches_every_process() {
    let first = TestApp::spawn_with(|c| c.key_refresh_interval_seconds = 1).await;
    let second = first.spawn_sibling(|_| {}).await;
    let rp = first
        .rp(json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"], "scope": "openid offline_access"}))
        .await;
    let tokens = first.tokens(&rp, "openid offline_access").await;
    let at = tokens["access_token"].as_str().unwrap();
    let userinfo = |app: &TestApp| {
        let (client, url) = (app.api(), app.url("/oauth/userinfo"));
        let at = at.to_string();
        async move {
            client
                .get(url)
                .bearer_auth(at)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Both processes have verified the token and cached its grant.
    assert_eq!(userinfo(&first).await, StatusCode::OK);
    assert_eq!(userinfo(&second).await, StatusCode::OK);
    let r = first
        .api()
        .post(first.url("/oauth/revoke"))
        .form(&[
            ("token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", rp.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        userinfo(&first).await,
        StatusCode::UNAUTHORIZED,
        "at once in the same process"
    );
    let start = Instant::now();
    while userinfo(&second).await != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the second process still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() <= allowed_delay(),
        "second process took {:?}",
        start.elapsed()
    );
}

/// The grant cache holds users: a changed or deleted account must not be served stale by any
/// process (the path the account pages will use).
#[tokio::test]
async fn user_changes_reach_every_process() {
    let first = TestApp::spawn_with(|c| c.key_refresh_interval_seconds = 1).await;
    let second = first.spawn_sibling(|_| {}).await;
    let rp = first
        .rp(json!({"client_type": "public", "scope": "openid profile"}))
        .await;
    let tokens = first.tokens(&rp, "openid profile").await;
    let at = tokens["access_token"].as_str().unwrap().to_string();
    let userinfo = |app: &TestApp| {
        let (client, url, at) = (app.api(), app.url("/oauth/userinfo"), at.clone());
        async move {
            let r = client.get(url).bearer_auth(at).send().await.unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (
                status,
                body["name"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    // Both processes cache the grant with its user.
    assert_eq!(userinfo(&first).await.1, "Test User");
    assert_eq!(userinfo(&second).await.1, "Test User");
    let user = logi::store::users::by_email(&first.state.store, &rp.user_email)
        .await
        .unwrap()
        .unwrap();
    assert!(
        logi::store::users::update_name(&first.state.store, &user.id, "Renamed", first.now())
            .await
            .unwrap()
    );
    assert_eq!(
        userinfo(&first).await.1,
        "Renamed",
        "at once in the same process"
    );
    let start = Instant::now();
    while userinfo(&second).await.1 != "Renamed" {
        assert!(start.elapsed() < Duration::from_secs(5), "stale user");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() <= allowed_delay(),
        "took {:?}",
        start.elapsed()
    );

    assert!(logi::store::users::delete(&first.state.store, &user.id)
        .await
        .unwrap());
    assert_eq!(userinfo(&first).await.0, StatusCode::UNAUTHORIZED);
    let start = Instant::now();
    while userinfo(&second).await.0 != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "deleted user served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() <= allowed_delay(),
        "took {:?}",
        start.elapsed()
    );
}
