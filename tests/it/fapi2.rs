//! The FAPI 2.0 Security Profile for an application registered with
//! `require_pushed_authorization_requests`, `dpop_bound_access_tokens` and `private_key_jwt`
//! (SPEC "Pushed authorization requests, key-based client authentication, …"; the mapping of
//! every requirement to its test is `docs/fapi2.md`).

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::common::{
    jwt_claims, location_params, pkce_pair, serve_loopback, unique_email, DpopKey, TestApp,
};
use crate::helpers::ClientKey;
use crate::private_key_jwt::{assertion, ASSERTION_TYPE};

/// FAPI 2.0 §5.3.2.2: nonces up to 64 characters must be supported.
const NONCE: &str = "n-01234567890123456789012345678901234567890123456789012345678901";

struct FapiClient {
    client_id: String,
    key: ClientKey,
    redirect_uri: String,
    user: reqwest::Client,
}

/// A FAPI client whose keys are served at its `jwks_uri`, and a signed-up user.
async fn register(app: &TestApp) -> FapiClient {
    let key = ClientKey::es256();
    let jwks = json!({"keys": [key.jwk("fapi-1")]}).to_string();
    let base = serve_loopback(axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { jwks }
        }),
    ))
    .await;
    let dev = app.developer(&unique_email("fapi-dev")).await;
    let created = app
        .register(
            &dev,
            json!({"client_name": "FAPI client", "client_type": "confidential",
                   "token_endpoint_auth_method": "private_key_jwt",
                   "jwks_uri": format!("{base}/jwks"),
                   "require_pushed_authorization_requests": true,
                   "dpop_bound_access_tokens": true,
                   "id_token_signed_response_alg": "ES256",
                   "grant_types": ["authorization_code", "refresh_token"],
                   "redirect_uris": ["https://rp.example/cb"],
                   "scope": "openid offline_access"}),
        )
        .await;
    let user = app.browser();
    let r = app
        .signup(&user, &unique_email("fapi-user"), crate::common::PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    FapiClient {
        client_id: created["client_id"].as_str().unwrap().to_string(),
        key,
        redirect_uri: "https://rp.example/cb".into(),
        user,
    }
}

impl FapiClient {
    /// A fresh assertion for `aud` (the issuer, as FAPI 2.0 clients send it).
    fn assertion(&self, app: &TestApp) -> String {
        let claims = json!({"iss": self.client_id, "sub": self.client_id, "aud": app.base,
                            "iat": app.now(), "exp": app.now() + 60,
                            "jti": unique_email("jti")});
        assertion(&self.key, "fapi-1", &claims)
    }

    /// POST to `path` with client authentication (and a DPoP proof when given).
    async fn post(
        &self,
        app: &TestApp,
        path: &str,
        form: &[(&str, &str)],
        dpop: Option<String>,
    ) -> (StatusCode, Value) {
        let a = self.assertion(app);
        let mut form = form.to_vec();
        form.push(("client_assertion_type", ASSERTION_TYPE));
        form.push(("client_assertion", &a));
        let mut req = app.api().post(app.url(path)).form(&form);
        if let Some(proof) = dpop {
            req = req.header("DPoP", proof);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or_default())
    }
}

#[tokio::test]
async fn a_fapi_client_signs_a_user_in_with_par_private_key_jwt_and_dpop() {
    let app = TestApp::spawn().await;
    let client = register(&app).await;
    app.set_verified(&client.client_id, true).await;
    let (verifier, challenge) = pkce_pair();
    let request = [
        ("response_type", "code"),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid offline_access"),
        ("state", "fapi-state"),
        ("nonce", NONCE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    // Not pushed: refused (FAPI 2.0 §5.3.2.2 "shall reject authorization requests sent
    // without PAR").
    let mut direct: Vec<(&str, &str)> = request.to_vec();
    direct.push(("client_id", &client.client_id));
    let r = client
        .user
        .get(app.url("/oauth/authorize"))
        .query(&direct)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_params(&r)["error"], "invalid_request");

    // No CORS at the authorization endpoint (§5.2.3 item 3: clients redirect, never call it).
    for method in [reqwest::Method::OPTIONS, reqwest::Method::GET] {
        let r = app
            .api()
            .request(method.clone(), app.url("/oauth/authorize"))
            .query(&direct)
            .header(header::ORIGIN, "https://rp.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{method}"
        );
    }

    // Pushed without PKCE: refused at the PAR endpoint, as JSON.
    let without_pkce: Vec<(&str, &str)> = request
        .iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .copied()
        .collect();
    let (status, body) = client.post(&app, "/oauth/par", &without_pkce, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    // Pushed without redirect_uri: refused too (§5.3.2.2 item 6).
    let without_redirect: Vec<(&str, &str)> = request
        .iter()
        .filter(|(k, _)| *k != "redirect_uri")
        .copied()
        .collect();
    let (status, body) = client
        .post(&app, "/oauth/par", &without_redirect, None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    // Pushed without client authentication: refused.
    let r = app
        .api()
        .post(app.url("/oauth/par"))
        .form(&direct)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Pushed with an assertion: a short-lived request_uri.
    let (status, body) = client.post(&app, "/oauth/par", &request, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["expires_in"].as_i64().unwrap() < 600);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    let r = client
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", client.client_id.as_str()),
            ("request_uri", request_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("FAPI client"),
        "the consent page names the client"
    );
    let csrf = crate::common::form_value(&page, "csrf_token").unwrap();
    let request_id = crate::common::form_value(&page, "request_id").unwrap();
    let r = client
        .user
        .post(app.url("/oauth/consent"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request_id", request_id.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    // 303, with iss (RFC 9207).
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = location_params(&r);
    assert_eq!(params["iss"], app.base);
    assert_eq!(params["state"], "fapi-state");
    let code = params["code"].clone();

    // The token request without a DPoP proof is refused: only sender-constrained tokens.
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body) = client.post(&app, "/oauth/token", &exchange, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")),
        "{body}"
    );
    // With a proof: DPoP-bound tokens; the ID token signed ES256 with the nonce.
    let dpop = DpopKey::new();
    let proof = dpop.proof("POST", &app.url("/oauth/token"), None);
    let (status, body) = client
        .post(&app, "/oauth/token", &exchange, Some(proof))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let at = body["access_token"].as_str().unwrap();
    let at_claims = jwt_claims(at);
    assert_eq!(at_claims["cnf"]["jkt"], dpop.thumbprint());
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(id_token).unwrap().alg,
        jsonwebtoken::Algorithm::ES256
    );
    assert_eq!(jwt_claims(id_token)["nonce"], NONCE);

    // The access token works only with a proof of its key.
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .header(header::AUTHORIZATION, format!("DPoP {at}"))
        .header(
            "DPoP",
            dpop.proof("GET", &app.url("/oauth/userinfo"), Some(at)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The code works once; the request_uri works once.
    let proof = dpop.proof("POST", &app.url("/oauth/token"), None);
    let (status, body) = client
        .post(&app, "/oauth/token", &exchange, Some(proof))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = client
        .user
        .get(app.url("/oauth/authorize"))
        .query(&[
            ("client_id", client.client_id.as_str()),
            ("request_uri", request_uri.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

impl FapiClient {
    /// PAR (with `extra` parameters and a DPoP proof of `dpop`, if given) → authorize → the
    /// code (the consent is given, or remembered).
    async fn code(
        &self,
        app: &TestApp,
        challenge: &str,
        extra: &[(&str, &str)],
        dpop: Option<&DpopKey>,
    ) -> Result<String, Value> {
        let mut form = vec![
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", "openid"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        form.extend_from_slice(extra);
        let proof = dpop.map(|k| k.proof("POST", &app.url("/oauth/par"), None));
        let (status, body) = self.post(app, "/oauth/par", &form, proof).await;
        if status != StatusCode::CREATED {
            return Err(body);
        }
        let mut r = self
            .user
            .get(app.url("/oauth/authorize"))
            .query(&[
                ("client_id", self.client_id.as_str()),
                ("request_uri", body["request_uri"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            let page = r.text().await.unwrap();
            let csrf = crate::common::form_value(&page, "csrf_token").unwrap();
            let request_id = crate::common::form_value(&page, "request_id").unwrap();
            r = self
                .user
                .post(app.url("/oauth/consent"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("request_id", request_id.as_str()),
                    ("decision", "allow"),
                ])
                .send()
                .await
                .unwrap();
        }
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        Ok(location_params(&r)["code"].clone())
    }

    async fn exchange(
        &self,
        app: &TestApp,
        code: &str,
        verifier: &str,
        dpop: &DpopKey,
    ) -> (StatusCode, Value) {
        let proof = dpop.proof("POST", &app.url("/oauth/token"), None);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        self.post(app, "/oauth/token", &form, Some(proof)).await
    }
}

#[tokio::test]
async fn a_code_is_bound_to_the_dpop_key_of_the_pushed_request() {
    let app = TestApp::spawn().await;
    let client = register(&app).await;
    let (mine, other) = (DpopKey::new(), DpopKey::new());

    // A proof at the PAR endpoint binds the code to its key (RFC 9449 §10.1): another key's
    // proof at the token endpoint is refused, and the code stays good for the right one.
    let (verifier, challenge) = pkce_pair();
    let code = client
        .code(&app, &challenge, &[], Some(&mine))
        .await
        .unwrap();
    let (status, body) = client.exchange(&app, &code, &verifier, &other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = client.exchange(&app, &code, &verifier, &mine).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        mine.thumbprint()
    );

    // dpop_jkt binds the same way, without a proof at the PAR endpoint.
    let (verifier, challenge) = pkce_pair();
    let jkt = mine.thumbprint();
    let code = client
        .code(&app, &challenge, &[("dpop_jkt", jkt.as_str())], None)
        .await
        .unwrap();
    let (status, _) = client.exchange(&app, &code, &verifier, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = client.exchange(&app, &code, &verifier, &mine).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // dpop_jkt and a proof of another key: refused; a malformed dpop_jkt: refused.
    let (_, challenge) = pkce_pair();
    let e = client
        .code(
            &app,
            &challenge,
            &[("dpop_jkt", jkt.as_str())],
            Some(&other),
        )
        .await
        .unwrap_err();
    assert_eq!(e["error"], "invalid_dpop_proof", "{e}");
    let e = client
        .code(&app, &challenge, &[("dpop_jkt", "not-a-thumbprint")], None)
        .await
        .unwrap_err();
    assert_eq!(e["error"], "invalid_request", "{e}");
}
