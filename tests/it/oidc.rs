//! OpenID Connect with a real relying-party library (`openidconnect`), once per signing
//! algorithm; discovery; userinfo; logout; key rotation across two processes.

use crate::common::{location_params, TestApp};
use openidconnect::{
    core::{
        CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreUserInfoClaims,
    },
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn relying_party_signs_in(alg: &str, jws: CoreJwsSigningAlgorithm) {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "public", "id_token_signed_response_alg": alg,
                   "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email offline_access"}))
        .await;
    // The library knows nothing but the issuer URL.
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http())
            .await
            .expect("discovery");
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(rp.client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let consent = rp.user.get(url.as_str()).send().await.unwrap();
    let back = app.decide(&rp, consent, "allow").await;
    let params = location_params(&back);
    assert_eq!(&params["state"], csrf.secret());

    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("code exchange");
    let id_token = token.id_token().expect("an ID token for scope openid");
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![jws.clone()]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("ID token verifies: signature, iss, aud, nonce, exp");
    assert_eq!(id_token.signing_alg().unwrap(), &jws);
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected, "at_hash matches the access token");
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some(rp.user_email.as_str())
    );
    assert_ne!(
        claims.subject().as_str(),
        rp.user_email,
        "sub is not the email"
    );

    let info: CoreUserInfoClaims = client
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(
        info.email().map(|e| e.as_str()),
        Some(rp.user_email.as_str())
    );

    // A refresh issues a new ID token too.
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .unwrap()
        .request_async(&http())
        .await
        .expect("refresh");
    let again = refreshed.id_token().expect("ID token on refresh");
    let again_claims = again
        .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
        .expect("refreshed ID token verifies");
    assert_eq!(again_claims.subject(), claims.subject());
}

#[tokio::test]
async fn relying_party_library_signs_in_with_rs256() {
    relying_party_signs_in("RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

#[tokio::test]
async fn relying_party_library_signs_in_with_es256() {
    relying_party_signs_in("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

#[tokio::test]
async fn relying_party_library_signs_in_with_eddsa() {
    relying_party_signs_in("EdDSA", CoreJwsSigningAlgorithm::EdDsa).await;
}

#[tokio::test]
async fn discovery_advertises_exactly_what_is_implemented() {
    let app = TestApp::spawn_with(|c| c.jwks_max_age_seconds = 42).await;
    let r = app.api().get(app.url("/oauth/jwks")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=42");
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app
            .api()
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], app.base, "issuer byte for byte");
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["claims_parameter_supported"], false);
        for m in ["client_secret_basic", "client_secret_post", "none"] {
            assert!(doc["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(m)));
        }
        for s in ["openid", "profile", "email", "offline_access"] {
            assert!(doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(s)));
        }
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256", "EdDSA"])
        );
        // Every advertised endpoint answers (not 404).
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
        ] {
            let url = doc[key].as_str().unwrap();
            let r = app.api().get(url).send().await.unwrap();
            assert_ne!(r.status(), StatusCode::NOT_FOUND, "{key}");
        }
    }
}

#[tokio::test]
async fn userinfo_errors_follow_rfc_6750_and_honour_revocation() {
    let app = TestApp::spawn().await;
    let rp = app.rp(json!({"client_type": "public", "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email offline_access"})).await;
    let tokens = app.tokens(&rp, "openid email offline_access").await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = app
        .api()
        .post(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "POST works too");
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"logi\"");
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    // Reuse of a rotated refresh token revokes the family: its access tokens stop working.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let _ = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    let _ = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "revoked grant");
    // A client_credentials token has no user: insufficient_scope.
    let cc = app.rp(json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"})).await;
    let t: Value = app
        .token(&cc, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .api()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

#[tokio::test]
async fn rp_initiated_logout() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "public", "scope": "openid", "post_logout_redirect_uris": ["https://rp.example/bye"]}))
        .await;
    let hint = app.tokens(&rp, "openid").await["id_token"]
        .as_str()
        .expect("id_token")
        .to_string();
    // An unregistered post_logout_redirect_uri is an error page, never a redirect.
    let r = rp
        .user
        .get(app.url("/oauth/logout"))
        .query(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // With a valid hint and a registered URI: signed out and sent back with state.
    let r = rp
        .user
        .get(app.url("/oauth/logout"))
        .query(&[
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
            ("state", "s9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://rp.example/bye?state=s9");
    let home = rp
        .user
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains(&rp.user_email), "the logi session ended");
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation() {
    let app = TestApp::spawn().await;
    let rp = app.rp(json!({"client_type": "public", "scope": "openid", "post_logout_redirect_uris": ["https://rp.example/bye"]})).await;
    let r = rp
        .user
        .get(app.url("/oauth/logout"))
        .query(&[
            ("client_id", rp.client_id.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Sign out of logi?"));
    let home = rp
        .user
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&rp.user_email),
        "still signed in until confirmed"
    );
    let csrf = crate::common::form_value(&page, "csrf_token").unwrap();
    let r = rp
        .user
        .post(app.url("/oauth/logout"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("confirm", "yes"),
            ("client_id", rp.client_id.as_str()),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "https://rp.example/bye");
    let home = rp
        .user
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!home.contains(&rp.user_email));
}

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

async fn jwks_kids(app: &TestApp, alg: &str) -> Vec<String> {
    let r = app.api().get(app.url("/oauth/jwks")).send().await.unwrap();
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let jwks: Value = r.json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

async fn cc_token(app: &TestApp, rp: &crate::common::Rp) -> String {
    let t: Value = app
        .token(rp, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn key_rotation_publishes_first_and_every_process_follows() {
    let app = TestApp::spawn_with(|c| {
        c.key_activation_delay_seconds = 2;
        c.key_refresh_interval_seconds = 1;
    })
    .await;
    let second = app.spawn_sibling(|_| {}).await;
    let rp = app.rp(json!({"client_type": "confidential", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": "api"})).await;
    let before = cc_token(&app, &rp).await;
    let old_kid = kid_of(&before);
    assert_eq!(jwks_kids(&app, "ES256").await, vec![old_kid.clone()]);

    // `logi keys rotate`, run as a separate process against the same database.
    let config = &app.state.config;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logi"))
        .args(["keys", "rotate"])
        .env("LOGI_DATABASE_URL", &config.database_url)
        .env("LOGI_MASTER_KEY", &config.master_key.0)
        .env("LOGI_KEY_ACTIVATION_DELAY_SECONDS", "2")
        .env("LOGI_DATA_DIR", &config.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("next") && listing.contains("current"),
        "{listing}"
    );

    // Published at once, not yet signing.
    let kids = jwks_kids(&app, "ES256").await;
    assert_eq!(kids.len(), 2, "the next key is published at once");
    let new_kid = kids.iter().find(|k| **k != old_kid).unwrap().clone();
    assert_eq!(
        kid_of(&cc_token(&app, &rp).await),
        old_kid,
        "the next key does not sign yet"
    );

    // After the delay (the command ran on the system clock) both processes sign with the new
    // key, once their key refresh has run.
    app.state.clock.set(logi::clock::system_now() + 3);
    for process in [&app, &second] {
        let mut signs_with_new = false;
        for _ in 0..50 {
            if kid_of(&cc_token(process, &rp).await) == new_kid {
                signs_with_new = true;
                break;
            }
            crate::common::pause_ms(100).await;
        }
        assert!(signs_with_new, "every process follows within 5 s");
    }
    // The old key stays published while its tokens live, so old tokens still verify.
    assert!(jwks_kids(&second, "ES256").await.contains(&old_kid));
    let r = second
        .api()
        .get(second.url("/oauth/userinfo"))
        .bearer_auth(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "verified (then refused for scope, not for its signature)"
    );
    // Once every token it signed has expired, the old key leaves the JWKS.
    let later = app.now()
        + config
            .access_token_ttl_seconds
            .max(config.id_token_ttl_seconds) as i64
        + 120;
    let jwks = logi::keys::jwks(&app.state.store, later)
        .await
        .unwrap()
        .to_string();
    assert!(!jwks.contains(&old_kid) && jwks.contains(&new_kid));
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest_for_every_algorithm() {
    let app = TestApp::spawn().await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT alg, private_key_enc, public_jwk FROM signing_keys")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3, "one key per algorithm");
    for (alg, enc, jwk) in rows {
        let jwk: Value = serde_json::from_str(&jwk).unwrap();
        assert!(
            jwk.get("d").is_none() && jwk.get("p").is_none(),
            "{alg}: no private part published"
        );
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let raw = URL_SAFE_NO_PAD.decode(&enc).unwrap();
        // Every PKCS#8 document starts with a DER SEQUENCE and version 0 / 1; ciphertext does not
        // reveal that structure, and decrypting needs the master key.
        assert!(
            !(raw[0] == 0x30
                && raw
                    .windows(3)
                    .take(8)
                    .any(|w| w == [0x02, 0x01, 0x00] || w == [0x02, 0x01, 0x01])),
            "{alg}: stored in clear"
        );
        let other = logi::crypto::ServerKeys::from_master(&[7u8; 32]);
        let kid = jwk["kid"].as_str().unwrap();
        assert!(
            other.decrypt(kid, &enc).is_none(),
            "{alg}: another master key cannot decrypt it"
        );
        assert!(
            app.state.keys.decrypt(kid, &enc).is_some(),
            "{alg}: the right master key can"
        );
    }
}

#[tokio::test]
async fn automatic_rotation_publishes_the_next_key_on_its_period() {
    let app = TestApp::spawn_with(|c| {
        c.key_rotation_period_seconds = 2;
        c.key_activation_delay_seconds = 1;
        c.key_refresh_interval_seconds = 1;
    })
    .await;
    let first = jwks_kids(&app, "ES256").await;
    assert_eq!(first.len(), 1);
    app.advance(2); // one rotation period
    let mut rotated = false;
    for _ in 0..40 {
        let kids = jwks_kids(&app, "ES256").await;
        if kids.len() > 1 {
            assert!(kids.contains(&first[0]), "the old key stays published");
            rotated = true;
            break;
        }
        crate::common::pause_ms(200).await;
    }
    assert!(
        rotated,
        "the rotation task publishes the next key within 8 s"
    );
    // Every algorithm rotates, not only ES256.
    for alg in ["RS256", "EdDSA"] {
        assert!(jwks_kids(&app, alg).await.len() > 1, "{alg} rotated too");
    }
}
