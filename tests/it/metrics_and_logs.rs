//! `/metrics` only for loopback peers or the `metrics_token` bearer; failed logins logged
//! without the email (SPEC "Details that clients rely on").

use std::sync::{Mutex, OnceLock};

use reqwest::StatusCode;

use crate::common::{unique_email, TestApp, PASSWORD};

const TOKEN: &str = "a-long-random-metrics-token";

async fn metrics(app: &TestApp, bearer: Option<&str>, forwarded: Option<&str>) -> StatusCode {
    let mut req = app.api().get(app.url("/metrics"));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn metrics_answer_loopback_peers_or_the_token_bearer_only() {
    // Defaults: loopback peers (the tests' own) are served; a forwarded address is not consulted.
    let app = TestApp::spawn_with(|c| c.client_ip_header = "x-forwarded-for".into()).await;
    assert_eq!(metrics(&app, None, None).await, StatusCode::OK);
    assert_eq!(
        metrics(&app, None, Some("203.0.113.9")).await,
        StatusCode::OK,
        "the TCP peer decides, not X-Forwarded-For"
    );

    // Loopback not trusted: only the token opens it.
    let app = TestApp::spawn_with(|c| {
        c.metrics_allow_loopback = false;
        c.metrics_token = logi::config::Secret(TOKEN.into());
        c.client_ip_header = "x-forwarded-for".into();
    })
    .await;
    assert_eq!(metrics(&app, None, None).await, StatusCode::NOT_FOUND);
    assert_eq!(
        metrics(&app, Some("wrong-token"), None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        metrics(&app, Some(&TOKEN[..TOKEN.len() - 1]), None).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        metrics(&app, None, Some("127.0.0.1")).await,
        StatusCode::NOT_FOUND,
        "a forwarded loopback address opens nothing"
    );
    let r = app
        .api()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("http_requests_total"));

    // Neither: nobody.
    let app = TestApp::spawn_with(|c| c.metrics_allow_loopback = false).await;
    assert_eq!(metrics(&app, None, None).await, StatusCode::NOT_FOUND);
    assert_eq!(metrics(&app, Some(""), None).await, StatusCode::NOT_FOUND);
}

/// Everything logged at INFO and above in this test process.
fn captured() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct Writer;
        impl std::io::Write for Writer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                captured().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(|| Writer)
            .finish();
        // Another module may have installed one first; then this test cannot see the logs.
        let _ = tracing::subscriber::set_global_default(subscriber);
        Mutex::new(Vec::new())
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap()).into_owned()
}

#[tokio::test]
async fn failed_logins_are_logged_without_the_email() {
    captured();
    let app = TestApp::spawn_with(|c| c.login_max_failures_per_account = 2).await;
    let browser = app.browser();
    let known = unique_email("known");
    assert_eq!(
        app.signup(&browser, &known, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let user_id: (String,) = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(&known)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let unknown = unique_email("unknown");
    let stranger = app.browser();
    for _ in 0..3 {
        app.login(&stranger, &known, "a wrong password here").await;
        app.login(&stranger, &unknown, "a wrong password here")
            .await;
    }
    let log = logged();
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("login"))
        .filter(|l| l.contains(&user_id.0) || l.contains(&app.state.keys.log_pseudonym(&unknown)))
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("login failed") && l.contains(&user_id.0)),
        "a failed login names the account by id: {ours:#?}"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("login failed")
                && l.contains(&app.state.keys.log_pseudonym(&unknown))),
        "an unknown email is logged as its keyed hash: {ours:#?}"
    );
    assert!(
        log.lines().any(|l| l.contains("throttled")),
        "throttled attempts are logged"
    );
    for email in [&known, &unknown] {
        let local = email.split('@').next().unwrap();
        assert!(
            !log.contains(local),
            "the email {email} appears in the INFO log"
        );
    }
}
