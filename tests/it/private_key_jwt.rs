//! `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9; SPEC "Pushed authorization requests,
//! key-based client authentication, …"): a confidential client registers public keys and
//! authenticates with assertions it signs, at every endpoint where a client authenticates.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{unique_email, TestApp};
use crate::helpers::ClientKey;

pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct KeyClient {
    client_id: String,
    app_id: String,
    dev: String,
}

async fn register(app: &TestApp, keys: &[(&ClientKey, &str)]) -> KeyClient {
    let dev = app.developer(&unique_email("pkjwt")).await;
    let jwks: Vec<Value> = keys.iter().map(|(k, kid)| k.jwk(kid)).collect();
    let created = app
        .register(
            &dev,
            json!({"client_name": "Key client", "client_type": "confidential",
                   "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": jwks}, "grant_types": ["client_credentials"],
                   "redirect_uris": [], "scope": "api"}),
        )
        .await;
    assert!(
        created.get("client_secret").is_none(),
        "no secret: {created}"
    );
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(
        created["jwks"]["keys"].as_array().unwrap().len(),
        keys.len()
    );
    KeyClient {
        client_id: created["client_id"].as_str().unwrap().to_string(),
        app_id: created["id"].as_str().unwrap().to_string(),
        dev,
    }
}

pub(crate) fn claims(app: &TestApp, client_id: &str, aud: &str) -> Value {
    json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": app.now() + 60,
           "iat": app.now(), "jti": crate::common::unique_email("jti")})
}

pub(crate) fn assertion(key: &ClientKey, kid: &str, claims: &Value) -> String {
    key.sign(&json!({"alg": key.alg(), "kid": kid, "typ": "JWT"}), claims)
}

pub(crate) async fn cc(app: &TestApp, extra: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let r = app
        .api()
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_key_based_client_authenticates_with_signed_assertions_once_each() {
    let app = TestApp::spawn().await;
    let (es, ed) = (ClientKey::es256(), ClientKey::ed25519());
    let client = register(&app, &[(&es, "k1"), (&ed, "k2")]).await;
    let id = client.client_id.as_str();
    for (key, kid, aud) in [
        (&es, "k1", app.base.clone()),
        (&ed, "k2", app.url("/oauth/token")),
    ] {
        let a = assertion(key, kid, &claims(&app, id, &aud));
        let with_id = [
            ("client_id", id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", a.as_str()),
        ];
        let (status, body) = cc(&app, &with_id).await;
        assert_eq!(status, StatusCode::OK, "{} aud {aud}: {body}", key.alg());
        // The same assertion again is a replay.
        let (status, body) = cc(&app, &with_id).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client"))
        );
    }
    // client_id may be left out: the assertion's iss names the client.
    let a = assertion(&es, "k1", &claims(&app, id, &app.base));
    let (status, body) = cc(
        &app,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Accepted wherever a client authenticates: revocation and introspection too.
    let token = body["access_token"].as_str().unwrap().to_string();
    let a = assertion(&es, "k1", &claims(&app, id, &app.url("/oauth/introspect")));
    let r = app
        .api()
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", token.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let a = assertion(&es, "k1", &claims(&app, id, &app.base));
    let r = app
        .api()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", token.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let app = TestApp::spawn().await;
    let es = ClientKey::es256();
    let stranger = ClientKey::es256();
    let client = register(&app, &[(&es, "k1")]).await;
    let id = client.client_id.as_str();
    let ok = claims(&app, id, &app.base);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = ok.clone();
        f(&mut c);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("another key", assertion(&stranger, "k1", &ok)),
        (
            "wrong aud",
            assertion(
                &es,
                "k1",
                &with(&|c| c["aud"] = json!("https://elsewhere.example")),
            ),
        ),
        (
            "expired",
            assertion(&es, "k1", &with(&|c| c["exp"] = json!(app.now() - 1))),
        ),
        (
            "too long",
            assertion(&es, "k1", &with(&|c| c["exp"] = json!(app.now() + 600))),
        ),
        (
            "no exp",
            assertion(
                &es,
                "k1",
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        (
            "no jti",
            assertion(
                &es,
                "k1",
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
        ),
        (
            "sub differs",
            assertion(&es, "k1", &with(&|c| c["sub"] = json!("someone"))),
        ),
        (
            "not yet valid",
            assertion(&es, "k1", &with(&|c| c["nbf"] = json!(app.now() + 30))),
        ),
        ("unknown kid", assertion(&es, "k9", &ok)),
        (
            "an access token type",
            es.sign(&json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}), &ok),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
                URL_SAFE_NO_PAD.encode(ok.to_string())
            ),
        ),
        ("HS256", es.sign(&json!({"alg": "HS256", "kid": "k1"}), &ok)),
        ("garbage", "not.a.jwt".into()),
    ];
    for (what, a) in cases {
        let (status, body) = cc(
            &app,
            &[
                ("client_id", id),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &a),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    // The wrong assertion type; a secret instead; two methods at once.
    let a = assertion(&es, "k1", &claims(&app, id, &app.base));
    let (status, _) = cc(
        &app,
        &[
            ("client_id", id),
            ("client_assertion_type", "urn:x"),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = cc(&app, &[("client_id", id), ("client_secret", "guess")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = cc(
        &app,
        &[
            ("client_id", id),
            ("client_secret", "guess"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // A secret client cannot present an assertion instead of its secret.
    let secret_rp = app
        .rp(json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"}))
        .await;
    let a = assertion(&es, "k1", &claims(&app, &secret_rp.client_id, &app.base));
    let (status, _) = cc(
        &app,
        &[
            ("client_id", &secret_rp.client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn key_registration_is_checked_and_keys_can_be_replaced() {
    let app = TestApp::spawn().await;
    let es = ClientKey::es256();
    let client = register(&app, &[(&es, "k1")]).await;
    let dev = app.developer(&unique_email("pkjwt-reg")).await;
    let base = json!({"client_name": "x", "client_type": "confidential", "grant_types": ["client_credentials"],
                      "redirect_uris": [], "scope": "api"});
    let with = |extra: Value| {
        let mut m = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let mut private = es.jwk("k1");
    private["d"] = json!("AAAA");
    for metadata in [
        with(json!({"token_endpoint_auth_method": "private_key_jwt"})),
        with(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}})),
        with(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [private]}})),
        with(
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "AAAA"}]}}),
        ),
        with(
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [es.jwk("k1")]},
                   "jwks_uri": "https://rp.example/jwks"}),
        ),
        with(
            json!({"token_endpoint_auth_method": "client_secret_basic", "jwks": {"keys": [es.jwk("k1")]}}),
        ),
        json!({"client_name": "x", "client_type": "public", "token_endpoint_auth_method": "private_key_jwt",
               "jwks": {"keys": [es.jwk("k1")]}}),
    ] {
        let r = app.post_app(&dev, &metadata).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "invalid_client_metadata",
            "{metadata}: {body}"
        );
    }
    // New keys by PATCH: the old key stops working at once; the method cannot change.
    let next = ClientKey::ed25519();
    let r = app
        .api()
        .patch(app.url(&format!("/developer/applications/{}", client.app_id)))
        .bearer_auth(&client.dev)
        .json(&json!({"jwks": {"keys": [next.jwk("k2")]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = client.client_id.as_str();
    let old = assertion(&es, "k1", &claims(&app, id, &app.base));
    let (status, _) = cc(
        &app,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &old),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let new = assertion(&next, "k2", &claims(&app, id, &app.base));
    let (status, body) = cc(
        &app,
        &[
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &new),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = app
        .api()
        .patch(app.url(&format!("/developer/applications/{}", client.app_id)))
        .bearer_auth(&client.dev)
        .json(&json!({"token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // No secret to rotate.
    let r = app
        .api()
        .post(app.url(&format!(
            "/developer/applications/{}/rotate_secret",
            client.app_id
        )))
        .bearer_auth(&client.dev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Discovery says so.
    let d: Value = app
        .api()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("private_key_jwt")));
    assert_eq!(
        d["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}
