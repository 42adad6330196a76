//! Health, readiness, metrics and request ids.
use crate::common::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let r = api.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("x-request-id"),
        "request id echoed"
    );
    assert_eq!(
        api.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let _ = api.get(app.url("/login")).send().await.unwrap();
    let _ = api.get(app.url("/no-such-page")).send().await.unwrap();
    let text = api
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/login\""), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.state.store.close().await;
    let r = app.api().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        app.api()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_routes_are_404_pages() {
    let app = TestApp::spawn().await;
    let r = app.api().get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn housekeeping_drops_expired_rows_only() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.signup(
        &browser,
        &crate::common::unique_email("hk"),
        crate::common::PASSWORD,
    )
    .await;
    let key = crate::common::DpopKey::new();
    // A DPoP proof leaves a replay-cache row; a rejected proof leaves none, so send one to a
    // client that accepts it: a client_credentials client.
    let rp = app
        .rp(serde_json::json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"}))
        .await;
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .header("DPoP", key.proof("POST", &app.url("/oauth/token"), None))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let count = |table: &'static str| {
        let pool = app.db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    assert!(count("sessions").await >= 2 && count("dpop_proofs").await == 1);
    let now = app.now();
    logi::store::delete_expired(&app.state.store, now)
        .await
        .unwrap();
    assert!(count("sessions").await >= 2, "live rows stay");
    assert_eq!(count("dpop_proofs").await, 1);
    logi::store::delete_expired(&app.state.store, now + 365 * 24 * 3600)
        .await
        .unwrap();
    assert_eq!(count("sessions").await, 0, "expired sessions go");
    assert_eq!(count("dpop_proofs").await, 0, "expired DPoP jtis go");
}
