//! `private_key_jwt` with a `jwks_uri` (SPEC "Pushed authorization requests, key-based client
//! authentication, …"; issue 13): logi fetches the client's JWK Set from a loopback server the
//! test runs, caches it, fetches it again for an unknown `kid` at most once a minute (the
//! test's clock decides the minute), and refuses the assertion as `invalid_client` whenever the
//! keys cannot be had.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use axum::{http::header, response::IntoResponse, routing::get, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{serve_loopback, unique_email, TestApp};
use crate::helpers::ClientKey;
use crate::private_key_jwt::{assertion, cc, claims, ASSERTION_TYPE};

/// The client's own server: `/jwks` serves the current set (and counts fetches); the other
/// paths misbehave in one way each.
struct KeyServer {
    base: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(keys: Value) -> KeyServer {
        let set = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (s, f) = (set.clone(), fetches.clone());
        let router = Router::new()
            .route(
                "/jwks",
                get(move || {
                    let (s, f) = (s.clone(), f.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let body = s.lock().unwrap().to_string();
                        ([(header::CONTENT_TYPE, "application/jwk-set+json")], body)
                    }
                }),
            )
            // 200 KiB of a JSON string: over the 64 KiB cap.
            .route(
                "/big",
                get(|| async {
                    let pad = "a".repeat(200 * 1024);
                    json!({"keys": [], "pad": pad}).to_string()
                }),
            )
            // Answers long after logi's outbound timeout (set to 500 ms below).
            .route(
                "/slow",
                get(|| async {
                    crate::common::pause_ms(3000).await;
                    json!({"keys": []}).to_string()
                }),
            )
            .route(
                "/html",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>keys</html>") }),
            )
            // A redirect to the real set is not followed.
            .route(
                "/moved",
                get(|| async {
                    (StatusCode::FOUND, [(header::LOCATION, "/jwks")], "moved").into_response()
                }),
            );
        let base = serve_loopback(router).await;
        KeyServer { base, set, fetches }
    }

    fn uri(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn publish(&self, keys: Value) {
        *self.set.lock().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(|c| {
        c.outbound_timeout_ms = 500;
        c.outbound_connect_timeout_ms = 500;
    })
    .await
}

async fn register(app: &TestApp, jwks_uri: &str) -> String {
    let dev = app.developer(&unique_email("jwks-uri")).await;
    let created = app
        .register(
            &dev,
            json!({"client_name": "URI client", "client_type": "confidential",
                   "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri,
                   "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"}),
        )
        .await;
    assert_eq!(created["jwks_uri"], jwks_uri, "{created}");
    assert!(created.get("jwks").is_none(), "{created}");
    assert!(created.get("client_secret").is_none(), "{created}");
    created["client_id"].as_str().unwrap().to_string()
}

/// client_credentials with an assertion by `key` named `kid`.
async fn authenticate(
    app: &TestApp,
    client_id: &str,
    key: &ClientKey,
    kid: &str,
) -> (StatusCode, Value) {
    let a = assertion(key, kid, &claims(app, client_id, &app.base));
    cc(
        app,
        &[
            ("client_id", client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    )
    .await
}

#[tokio::test]
async fn keys_are_fetched_cached_and_refetched_for_a_new_kid_at_most_once_a_minute() {
    let app = spawn().await;
    let (k1, k2, k3) = (ClientKey::es256(), ClientKey::ed25519(), ClientKey::es256());
    let server = KeyServer::start(json!({"keys": [k1.jwk("k1")]})).await;
    let client = register(&app, &server.uri("/jwks")).await;
    assert_eq!(server.fetches(), 0, "registration fetches nothing");

    let (status, body) = authenticate(&app, &client, &k1, "k1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.fetches(), 1);
    // Cached: more assertions with a known kid fetch nothing.
    for _ in 0..3 {
        let (status, body) = authenticate(&app, &client, &k1, "k1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(server.fetches(), 1);

    // The client rotates its keys. Within a minute of the last fetch an unknown kid does not
    // fetch again: refused.
    server.publish(json!({"keys": [k2.jwk("k2")]}));
    let (status, body) = authenticate(&app, &client, &k2, "k2").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    assert_eq!(server.fetches(), 1);
    // A minute later the unknown kid makes logi fetch the set again: accepted.
    app.advance(60);
    let (status, body) = authenticate(&app, &client, &k2, "k2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.fetches(), 2);
    // The old key is gone with the old set.
    let (status, _) = authenticate(&app, &client, &k1, "k1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another rotation right away: a second unknown kid within the minute is refused without
    // a fetch, however often it is tried.
    server.publish(json!({"keys": [k2.jwk("k2"), k3.jwk("k3")]}));
    for _ in 0..3 {
        let (status, _) = authenticate(&app, &client, &k3, "k3").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.fetches(), 2, "no fetch within a minute of the last");
    app.advance(60);
    let (status, body) = authenticate(&app, &client, &k3, "k3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.fetches(), 3);

    // A cached set has an age: after it, the set is fetched again even for a known kid.
    app.advance(301);
    let (status, body) = authenticate(&app, &client, &k2, "k2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.fetches(), 4);
}

#[tokio::test]
async fn keys_that_cannot_be_had_fail_closed_as_invalid_client() {
    let app = spawn().await;
    let key = ClientKey::es256();
    let server = KeyServer::start(json!({"keys": [key.jwk("k1")]})).await;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/jwks", l.local_addr().unwrap())
    };
    let endless = endless_chunked_server().await;
    // (what, URL, what the description says)
    for (what, uri, why) in [
        ("oversized", server.uri("/big"), "larger than 65536 bytes"),
        (
            "oversized without a length",
            endless,
            "larger than 65536 bytes",
        ),
        ("slow", server.uri("/slow"), "timed out"),
        (
            "not JSON",
            server.uri("/html"),
            "jwks must be a JSON object",
        ),
        ("redirected", server.uri("/moved"), "answered HTTP 302"),
        (
            "not found",
            server.uri("/nothing-here"),
            "answered HTTP 404",
        ),
        ("unreachable", closed, "could not connect"),
    ] {
        let client = register(&app, &uri).await;
        let (status, body) = authenticate(&app, &client, &key, "k1").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{what}: {body}"
        );
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.contains("jwks_uri") && description.contains(why),
            "{what}: the description says why: {body}"
        );
    }
    assert_eq!(server.fetches(), 0, "the redirect was not followed");
}

/// A server that answers every request with a chunked body (no `Content-Length`) of 1 MiB:
/// logi must stop reading at its cap instead of trusting a declared size.
async fn endless_chunked_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
                for _ in 0..1024 {
                    if conn.write_all(chunk.as_bytes()).await.is_err() {
                        return; // logi hung up: what it should do
                    }
                }
                let _ = conn.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    uri
}

#[tokio::test]
async fn a_failing_jwks_uri_is_not_fetched_again_within_a_minute() {
    let app = spawn().await;
    let key = ClientKey::es256();
    let server = KeyServer::start(json!({"keys": [{"kty": "oct", "k": "AAAA"}]})).await;
    let client = register(&app, &server.uri("/jwks")).await;
    // A set logi cannot use (a symmetric key) fails like an unreachable one, and is remembered
    // as failed for a minute.
    for _ in 0..3 {
        let (status, _) = authenticate(&app, &client, &key, "k1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(server.fetches(), 1);
    server.publish(json!({"keys": [key.jwk("k1")]}));
    app.advance(60);
    let (status, body) = authenticate(&app, &client, &key, "k1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn jwks_uri_registration_rules() {
    let app = spawn().await;
    let dev = app.developer(&unique_email("jwks-uri-reg")).await;
    let key = ClientKey::es256();
    let base = json!({"client_name": "x", "client_type": "confidential",
                      "token_endpoint_auth_method": "private_key_jwt",
                      "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"});
    let with = |extra: Value| {
        let mut m = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    for metadata in [
        with(json!({"jwks_uri": "http://rp.example/jwks"})),
        with(json!({"jwks_uri": "http://10.1.2.3/jwks"})),
        with(json!({"jwks_uri": "ftp://rp.example/jwks"})),
        with(json!({"jwks_uri": "file:///etc/passwd"})),
        with(json!({"jwks_uri": "https://rp.example/jwks#keys"})),
        with(json!({"jwks_uri": "https://user:pw@rp.example/jwks"})),
        with(json!({"jwks_uri": "/jwks"})),
        with(json!({"jwks_uri": "https://rp.example/jwks", "jwks": {"keys": [key.jwk("k1")]}})),
        with(json!({})),
        with(
            json!({"token_endpoint_auth_method": "client_secret_basic", "jwks_uri": "https://rp.example/jwks"}),
        ),
    ] {
        let r = app.post_app(&dev, &metadata).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "invalid_client_metadata",
            "{metadata}: {body}"
        );
    }
    // https and loopback http are fine; a PATCH moves between a URI and inline keys (exactly
    // one of them each time).
    let created = app
        .register(&dev, with(json!({"jwks_uri": "https://rp.example/jwks"})))
        .await;
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
    let (status, body) = patch(json!({"jwks": {"keys": [key.jwk("k1")]}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("jwks_uri").is_none(), "{body}");
    assert_eq!(body["jwks"]["keys"][0]["kid"], "k1");
    let (status, body) = patch(json!({"jwks_uri": "http://[::1]:8765/jwks"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jwks_uri"], "http://[::1]:8765/jwks");
    assert!(body.get("jwks").is_none(), "{body}");
    let (status, body) =
        patch(json!({"jwks_uri": "https://rp.example/jwks", "jwks": {"keys": [key.jwk("k1")]}}))
            .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    let (status, body) = patch(json!({"jwks_uri": "http://rp.example/jwks"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    // Nothing of the refused PATCHes was written.
    let r = app
        .api()
        .get(app.url(&format!("/developer/applications/{id}")))
        .bearer_auth(&dev)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["jwks_uri"], "http://[::1]:8765/jwks");
}
