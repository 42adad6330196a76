//! A real client library (`oauth2` crate) against the running server: authorization code with
//! PKCE, client_credentials, and the access token verified against `/oauth/jwks`.

use crate::common::{location_params, TestApp};
use jsonwebtoken::{decode, decode_header, jwk::JwkSet, Algorithm, DecodingKey, Validation};
use oauth2::{
    basic::BasicClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Verifies an RFC 9068 access token with the keys the server publishes.
async fn verify_access_token(app: &TestApp, token: &str) -> Value {
    let header = decode_header(token).expect("JWT header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwks: JwkSet = app
        .api()
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(&kid).expect("signing key published in the JWKS");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&app.base]);
    validation.set_audience(&[&app.base]);
    let data = decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("valid signature and claims");
    for claim in [
        "iss",
        "sub",
        "aud",
        "client_id",
        "scope",
        "jti",
        "exp",
        "iat",
    ] {
        assert!(
            data.claims.get(claim).is_some(),
            "claim {claim} missing: {}",
            data.claims
        );
    }
    // A tampered token does not verify.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(decode::<Value>(
        &parts.join("."),
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation
    )
    .is_err());
    data.claims
}

fn http() -> oauth2::reqwest::Client {
    oauth2::reqwest::ClientBuilder::new()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn oauth2_crate_authorization_code_with_pkce() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "public", "redirect_uris": ["http://127.0.0.1:8765/callback"],
                   "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile offline_access"}))
        .await;
    let client = BasicClient::new(ClientId::new(rp.client_id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    // The user's browser follows the URL, consents, and lands on the redirect URI.
    let consent = rp.user.get(auth_url.as_str()).send().await.unwrap();
    let back = app.decide(&rp, consent, "allow").await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert!(back.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&rp.redirect_uri));
    let params = location_params(&back);
    assert_eq!(&params["state"], csrf.secret());
    assert_eq!(params["iss"], app.base);

    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("code exchange");
    assert!(token.refresh_token().is_some());
    let claims = verify_access_token(&app, token.access_token().secret()).await;
    assert_eq!(claims["client_id"], rp.client_id);
    assert_eq!(claims["scope"], "openid offline_access");
    assert!(
        claims["sub"].as_str().unwrap().starts_with("usr_"),
        "sub is the user id, not the email"
    );

    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http())
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        token.refresh_token().unwrap().secret()
    );
    verify_access_token(&app, refreshed.access_token().secret()).await;
}

#[tokio::test]
async fn oauth2_crate_client_credentials() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [],
                   "scope": "openid api.read api.write"}))
        .await;
    let client = BasicClient::new(ClientId::new(rp.client_id.clone()))
        .set_client_secret(ClientSecret::new(rp.client_secret.clone().unwrap()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .request_async(&http())
        .await
        .expect("client_credentials");
    assert!(token.refresh_token().is_none());
    let claims = verify_access_token(&app, token.access_token().secret()).await;
    assert_eq!(claims["sub"], rp.client_id);
    assert_eq!(
        claims["scope"], "api.read api.write",
        "default scope minus user-only scopes"
    );

    let narrowed = client
        .exchange_client_credentials()
        .add_scope(Scope::new("api.read".into()))
        .request_async(&http())
        .await
        .expect("narrowed");
    assert_eq!(
        verify_access_token(&app, narrowed.access_token().secret()).await["scope"],
        "api.read"
    );

    let wrong = BasicClient::new(ClientId::new(rp.client_id.clone()))
        .set_client_secret(ClientSecret::new("not-the-secret".into()))
        .set_token_uri(TokenUrl::new(app.url("/oauth/token")).unwrap());
    assert!(wrong
        .exchange_client_credentials()
        .request_async(&http())
        .await
        .is_err());
}

#[tokio::test]
async fn the_private_signing_key_is_encrypted_at_rest() {
    let app = TestApp::spawn().await;
    let (enc, jwk): (String, String) =
        sqlx::query_as("SELECT private_key_enc, public_jwk FROM signing_keys")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let jwk: Value = serde_json::from_str(&jwk).unwrap();
    assert!(
        jwk.get("d").is_none(),
        "no private part in the published JWK"
    );
    // A PKCS#8 P-256 key starts with this DER prefix; the stored value must not contain it.
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let raw = URL_SAFE_NO_PAD.decode(&enc).unwrap();
    assert!(
        !raw.windows(4).any(|w| w == [0x30, 0x81, 0x87, 0x02]),
        "ciphertext, not PKCS#8"
    );
    assert!(!enc.contains("BEGIN"));
}
