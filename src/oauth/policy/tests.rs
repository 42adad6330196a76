//! Every row of the client-type policy, as tables of accepted and refused inputs.

use super::*;
use crate::test_support::{keys, strings};

const SECRET: &str = "the-registered-secret";

fn app(auth: ClientAuth, grants: &[&str]) -> Application {
    Application {
        id: "app-1".into(),
        client_id: "client-1".into(),
        owner_id: "owner-1".into(),
        client_name: "Test client".into(),
        auth,
        redirect_uris: vec!["https://rp.example/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: strings(grants),
        scope: "openid profile".into(),
        id_token_signed_response_alg: "RS256".into(),
        dpop_bound_access_tokens: false,
        allowed_cors_origins: None,
        cors_origins: vec![],
        require_pushed_authorization_requests: false,
        refresh_token_reuse_interval_seconds: 0,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        verified: false,
        created_at: 0,
        updated_at: 0,
    }
}

fn secret_auth(method: SecretMethod, keys: &ServerKeys) -> ClientAuth {
    ClientAuth::Secret {
        method,
        hash: keys.hash_secret(SECRET),
    }
}

/// The code of an error and whether it asks for `WWW-Authenticate: Basic`.
fn code(r: Result<(), OAuthError>) -> Option<(ErrorCode, bool)> {
    r.err().map(|e| (e.code, e.basic_challenge))
}

fn is_bad_metadata<T: std::fmt::Debug>(r: &Result<T, MetadataError>) -> bool {
    matches!(r, Err(MetadataError::InvalidClientMetadata(_)))
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

#[test]
fn type_and_auth_method_resolve_or_are_refused() {
    use AuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
    use ClientType::{Confidential, Public};
    let basic = Some("client_secret_basic");
    let post = Some("client_secret_post");
    let cases = [
        (None, None, None),
        (None, Some("none"), Some((Public, AuthMethod::None))),
        (None, basic, Some((Confidential, Basic))),
        (None, post, Some((Confidential, Post))),
        (None, Some("bogus"), None),
        (Some("public"), None, Some((Public, AuthMethod::None))),
        (
            Some("public"),
            Some("none"),
            Some((Public, AuthMethod::None)),
        ),
        (Some("public"), basic, None),
        (Some("public"), post, None),
        (Some("public"), Some("bogus"), None),
        (Some("confidential"), None, Some((Confidential, Basic))),
        (Some("confidential"), Some("none"), None),
        (Some("confidential"), basic, Some((Confidential, Basic))),
        (Some("confidential"), post, Some((Confidential, Post))),
        (Some("confidential"), Some("bogus"), None),
        (Some("bogus"), None, None),
        (Some("bogus"), Some("none"), None),
        (Some("bogus"), basic, None),
        (Some("bogus"), post, None),
        (Some("bogus"), Some("bogus"), None),
        // Names are case-sensitive; an empty string is not an omission.
        (Some("Public"), None, None),
        (Some("confidential"), Some("Client_Secret_Basic"), None),
        (Some(""), None, None),
        (None, Some(""), None),
        // Keys are for confidential clients.
        (
            None,
            Some("private_key_jwt"),
            Some((Confidential, AuthMethod::PrivateKeyJwt)),
        ),
        (
            Some("confidential"),
            Some("private_key_jwt"),
            Some((Confidential, AuthMethod::PrivateKeyJwt)),
        ),
        (Some("public"), Some("private_key_jwt"), None),
    ];
    for (t, m, expected) in cases {
        let got = resolve_type_and_auth_method(t, m);
        match expected {
            Some(ok) => assert_eq!(got, Ok(ok), "{t:?} {m:?}"),
            None => assert!(is_bad_metadata(&got), "{t:?} {m:?}: {got:?}"),
        }
    }
}

#[test]
fn only_confidential_clients_get_a_secret_at_registration() {
    let keys = keys();
    // Every combination registration can resolve to.
    let resolved = [
        (ClientType::Public, AuthMethod::None, None),
        (
            ClientType::Confidential,
            AuthMethod::ClientSecretBasic,
            Some(SecretMethod::Basic),
        ),
        (
            ClientType::Confidential,
            AuthMethod::ClientSecretPost,
            Some(SecretMethod::Post),
        ),
    ];
    for (client_type, method, secret_method) in resolved {
        let (auth, secret) = new_client_auth(client_type, method, None, None, &keys).unwrap();
        assert_eq!(
            auth.client_type(),
            client_type,
            "{client_type:?} {method:?}"
        );
        assert_eq!(auth.method(), method, "{client_type:?} {method:?}");
        match (secret_method, &auth, secret) {
            (None, ClientAuth::Public, None) => {}
            (Some(m), ClientAuth::Secret { method, hash }, Some(secret)) => {
                assert_eq!(*method, m);
                assert!(
                    keys.verify_secret(&secret, hash),
                    "the hash is the secret's"
                );
                assert!(!keys.verify_secret("another secret", hash));
                // 256 bits, base64url without padding.
                assert_eq!(secret.len(), 43);
            }
            (m, auth, secret) => panic!("{m:?}: got {auth:?} and secret {secret:?}"),
        }
    }
    // A public client never gets a secret, whatever method is asked for.
    for method in AuthMethod::ALL {
        assert_eq!(
            new_client_auth(ClientType::Public, method, None, None, &keys).unwrap(),
            (ClientAuth::Public, None),
            "{method:?}"
        );
    }
    // Two registrations never share a secret.
    let first = new_client_auth(
        ClientType::Confidential,
        AuthMethod::ClientSecretBasic,
        None,
        None,
        &keys,
    )
    .unwrap();
    let second = new_client_auth(
        ClientType::Confidential,
        AuthMethod::ClientSecretBasic,
        None,
        None,
        &keys,
    )
    .unwrap();
    assert_ne!(first.1, second.1);
    assert_ne!(first.0, second.0);
}

#[test]
fn a_method_change_keeps_the_secret_and_never_applies_to_public_clients() {
    let secret = |method| ClientAuth::Secret {
        method,
        hash: "kept-hash".into(),
    };
    let cases = [
        (ClientAuth::Public, AuthMethod::None, None),
        (ClientAuth::Public, AuthMethod::ClientSecretBasic, None),
        (ClientAuth::Public, AuthMethod::ClientSecretPost, None),
        (
            secret(SecretMethod::Basic),
            AuthMethod::ClientSecretPost,
            Some(secret(SecretMethod::Post)),
        ),
        (
            secret(SecretMethod::Basic),
            AuthMethod::ClientSecretBasic,
            Some(secret(SecretMethod::Basic)),
        ),
        (
            secret(SecretMethod::Post),
            AuthMethod::ClientSecretBasic,
            Some(secret(SecretMethod::Basic)),
        ),
        // A confidential client cannot drop its secret by switching to `none`.
        (secret(SecretMethod::Basic), AuthMethod::None, None),
        (secret(SecretMethod::Post), AuthMethod::None, None),
    ];
    for (auth, method, expected) in cases {
        assert_eq!(
            with_secret_method(&auth, method),
            expected,
            "{auth:?} {method:?}"
        );
    }
}

#[test]
fn the_client_type_never_changes() {
    use ClientType::{Confidential, Public};
    let cases = [
        (Public, None, true),
        (Public, Some("public"), true),
        (Public, Some("confidential"), false),
        (Confidential, None, true),
        (Confidential, Some("confidential"), true),
        (Confidential, Some("public"), false),
        (Public, Some("Public"), false),
        (Public, Some(""), false),
        (Confidential, Some("bogus"), false),
    ];
    for (current, requested, ok) in cases {
        let got = check_type_unchanged(current, requested);
        if ok {
            assert_eq!(got, Ok(()), "{current:?} {requested:?}");
        } else {
            assert!(is_bad_metadata(&got), "{current:?} {requested:?}: {got:?}");
        }
    }
}

#[test]
fn grant_types_at_registration() {
    use ClientType::{Confidential, Public};
    const CODE: &str = GRANT_AUTHORIZATION_CODE;
    const REFRESH: &str = GRANT_REFRESH_TOKEN;
    const CC: &str = GRANT_CLIENT_CREDENTIALS;
    const DEVICE: &str = GRANT_DEVICE_CODE;
    let cases: &[(ClientType, &[&str], bool)] = &[
        (Public, &[CODE], true),
        (Public, &[CODE, REFRESH], true),
        (Public, &[DEVICE], true),
        (Public, &[DEVICE, REFRESH], true),
        (Confidential, &[CODE, REFRESH, CC, DEVICE], true),
        (Confidential, &[CC], true),
        // A public client has no credentials for client_credentials.
        (Public, &[CC], false),
        (Public, &[CODE, CC], false),
        // Deprecated by the Security BCP, for everyone.
        (Public, &["implicit"], false),
        (Confidential, &["implicit"], false),
        (Confidential, &["password"], false),
        (Confidential, &[CODE, "password"], false),
        // refresh_token needs a grant that issues refresh tokens.
        (Public, &[REFRESH], false),
        (Confidential, &[REFRESH], false),
        (Confidential, &[CC, REFRESH], false),
        (Public, &[], false),
        (Confidential, &[], false),
        (
            Confidential,
            &["urn:ietf:params:oauth:grant-type:jwt-bearer"],
            false,
        ),
        (Confidential, &["Authorization_Code"], false),
        (Confidential, &[CODE, ""], false),
    ];
    for (client_type, grants, ok) in cases {
        let got = check_grant_types(*client_type, &strings(grants));
        if *ok {
            assert_eq!(got, Ok(()), "{client_type:?} {grants:?}");
        } else {
            assert!(is_bad_metadata(&got), "{client_type:?} {grants:?}: {got:?}");
        }
    }
}

#[test]
fn redirect_uris_at_registration() {
    let too_long = format!("https://rp.example/{}", "a".repeat(2001 - 19));
    let longest = format!("https://rp.example/{}", "a".repeat(2000 - 19));
    assert_eq!((too_long.len(), longest.len()), (2001, 2000));
    // (uri, allowed for a public client, allowed for a confidential client)
    let cases: &[(&str, bool, bool)] = &[
        ("https://rp.example/cb", true, true),
        ("https://rp.example:8443/cb?tenant=1", true, true),
        (&longest, true, true),
        // Loopback http, for both types (RFC 8252 §7.3, §8.3).
        ("http://127.0.0.1/cb", true, true),
        ("http://127.0.0.1:8080/cb", true, true),
        ("http://[::1]:9000/cb", true, true),
        ("http://localhost:3000/cb", true, true),
        // Any other plain http.
        ("http://rp.example/cb", false, false),
        ("http://127.0.0.2/cb", false, false),
        ("http://localhost.rp.example/cb", false, false),
        ("http://10.0.0.1/cb", false, false),
        // Private-use schemes: native (public) clients only, reverse domain names only.
        ("com.example.app:/cb", true, false),
        ("com.example.app://callback", true, false),
        ("myapp:/cb", false, false),
        ("com..example:/cb", false, false),
        // Fragments (RFC 6749 §3.1.2), even empty.
        ("https://rp.example/cb#frag", false, false),
        ("https://rp.example/cb#", false, false),
        ("com.example.app:/cb#x", false, false),
        // Wildcards.
        ("https://*.rp.example/cb", false, false),
        ("https://rp.example/*", false, false),
        // Credentials in the URI.
        ("https://user:pass@rp.example/cb", false, false),
        ("https://user@rp.example/cb", false, false),
        ("http://user@127.0.0.1/cb", false, false),
        // Whitespace and control characters.
        ("https://rp.example/c b", false, false),
        (" https://rp.example/cb", false, false),
        ("https://rp.example/cb\n", false, false),
        ("https://rp.example/\tcb", false, false),
        ("https://rp.example/\u{0}cb", false, false),
        // Dangerous schemes.
        ("javascript:alert(1)", false, false),
        ("javascript://rp.example/%0Aalert(1)", false, false),
        ("data:text/html,<script>alert(1)</script>", false, false),
        ("file:///etc/passwd", false, false),
        ("vbscript:msgbox(1)", false, false),
        ("ftp://rp.example/cb", false, false),
        ("wss://rp.example/cb", false, false),
        // Length.
        ("", false, false),
        (&too_long, false, false),
        // Relative references.
        ("/cb", false, false),
        ("cb", false, false),
        ("//rp.example/cb", false, false),
        ("https://", false, false),
        // Anything a URL parser would rewrite (SPEC "Redirect URIs"): logi follows the string as
        // registered, so it must be the string every parser reads the same way.
        ("https:evil.com", false, false),
        ("https:evil.com/cb", false, false),
        ("https:/evil.com/cb", false, false),
        ("https:///cb", false, false),
        ("https:////evil.com/cb", false, false),
        ("https://a.example.com\\@evil.com", false, false),
        ("https://a.example.com\\@evil.com/cb", false, false),
        ("https://rp.example\\cb", false, false),
        ("com.example.app:/a\\b", false, false),
        ("http://127.1:8765/callback", false, false),
        ("http://2130706433:8765/callback", false, false),
        ("http://0x7f.0.0.1:8765/callback", false, false),
        ("http://0177.0.0.1:8765/callback", false, false),
        ("http://127.000.000.001/cb", false, false),
        ("http://[0:0:0:0:0:0:0:1]:8765/cb", false, false),
        ("http://[::1]:08765/cb", false, false),
        ("http://127.0.0.1:8765/x/../callback", false, false),
        ("http://127.0.0.1:8765/./callback", false, false),
        ("https://rp.example/x/%2e%2e/cb", false, false),
        ("https://rp.example/a/../cb", false, false),
        ("com.example.app:/x/../cb", false, false),
        ("https://RP.example/cb", false, false),
        ("HTTPS://rp.example/cb", false, false),
        ("Com.Example.App:/cb", false, false),
        ("http://LOCALHOST:3000/cb", false, false),
        ("https://rp.example:443/cb", false, false),
        ("http://127.0.0.1:80/cb", false, false),
        ("https://rp.example./cb", true, true),
        ("https://bücher.example/cb", false, false),
        ("https://xn--bcher-kva.example/cb", true, true),
        ("https://rp.example/é", false, false),
        ("https://rp.example/cb?q=\"x\"", false, false),
        ("https://rp.example/%7e", true, true),
        ("https://rp.example/cb?", true, true),
        // SPEC: even the empty path a parser writes as `/` is a rewrite.
        ("https://rp.example", false, false),
        ("https://rp.example?tenant=1", false, false),
        ("https://rp.example/?tenant=1", true, true),
        ("http://127.0.0.1:8765", false, false),
        ("http://127.0.0.1:8765/", true, true),
        ("https://rp.example/", true, true),
        ("https:rp.example", false, false),
        ("https://rp.example:443", false, false),
    ];
    for (uri, public_ok, confidential_ok) in cases {
        for (client_type, ok) in [
            (ClientType::Public, *public_ok),
            (ClientType::Confidential, *confidential_ok),
        ] {
            let got = check_redirect_uri(client_type, uri);
            if ok {
                assert_eq!(got, Ok(()), "{client_type:?} {uri:?}");
            } else {
                assert!(
                    matches!(&got, Err(MetadataError::InvalidRedirectUri(m)) if m.starts_with(*uri)),
                    "{client_type:?} {uri:?}: {got:?}"
                );
            }
            // Post-logout redirect URIs follow the same rules.
            assert_eq!(check_post_logout_redirect_uri(client_type, uri), got);
        }
    }
}

#[test]
fn loopback_hosts() {
    for (host, loopback) in [
        ("127.0.0.1", true),
        ("[::1]", true),
        ("::1", true),
        ("localhost", true),
        ("127.0.0.2", false),
        ("localhost.rp.example", false),
        ("LOCALHOST", false),
        ("0.0.0.0", false),
    ] {
        assert_eq!(is_loopback_host(host), loopback, "{host}");
    }
}

// ---------------------------------------------------------------------------------------------
// At the endpoints
// ---------------------------------------------------------------------------------------------

#[test]
fn redirect_uri_matching_is_exact_but_for_the_loopback_port() {
    let registered = strings(&[
        "https://rp.example/cb",
        "http://127.0.0.1:8080/cb",
        "http://[::1]:8080/cb?x=1",
        "http://localhost:8080/cb",
        "com.example.app:/cb",
    ]);
    let cases = [
        ("https://rp.example/cb", true),
        ("http://127.0.0.1:8080/cb", true),
        ("http://localhost:8080/cb", true),
        ("com.example.app:/cb", true),
        // Exact string comparison otherwise.
        ("https://rp.example/cb/", false),
        ("https://rp.example/cb?x=1", false),
        ("https://RP.example/cb", false),
        ("https://rp.example:443/cb", false),
        ("https://rp.example:8443/cb", false),
        ("https://rp.example/cb#x", false),
        ("com.example.app:/cb2", false),
        // Any port for a loopback IP literal (RFC 8252 §7.3) ...
        ("http://127.0.0.1:51234/cb", true),
        ("http://127.0.0.1/cb", true),
        ("http://[::1]:51234/cb?x=1", true),
        // ... with the same host, path and query.
        ("http://127.0.0.1:51234/other", false),
        ("http://127.0.0.1:51234/cb?x=1", false),
        ("http://[::1]:51234/cb", false),
        ("http://[::1]:51234/cb?x=2", false),
        ("http://[::1]:8080/cb", false),
        ("http://127.0.0.1:51234/cb#x", false),
        ("http://user@127.0.0.1:51234/cb", false),
        ("http://:pass@127.0.0.1:51234/cb", false),
        ("https://127.0.0.1:8080/cb", false),
        // `localhost` is not an IP literal: its port must match.
        ("http://localhost:51234/cb", false),
        ("", false),
        // The strings as written are compared, never what a parser makes of them.
        ("http://127.1:8080/cb", false),
        ("http://127.1/cb", false),
        ("http://2130706433:8080/cb", false),
        ("http://2130706433:51234/cb", false),
        ("http://0x7f000001:8080/cb", false),
        ("http://127.0.0.1:8080/x/../cb", false),
        ("http://127.0.0.1:51234/./cb", false),
        ("http://127.0.0.1:08080/cb", false),
        ("http://127.0.0.1:80/cb", false),
        ("http://127.0.0.1:/cb", false),
        ("http://127.0.0.1:51234\\cb", false),
        ("http://127.0.0.1:51234/CB", false),
        ("http://127.0.0.1.evil.example:51234/cb", false),
        ("http://127.0.0.10:8080/cb", false),
        ("http://[0:0:0:0:0:0:0:1]:51234/cb?x=1", false),
        ("HTTP://127.0.0.1:51234/cb", false),
        ("https://rp.example/x/../cb", false),
        ("https://rp.example/%63b", false),
    ];
    for (presented, matches) in cases {
        assert_eq!(
            redirect_uri_matches(&registered, presented),
            matches,
            "{presented}"
        );
    }
    assert!(!redirect_uri_matches(&[], "https://rp.example/cb"));
    // The example of the audit: a registered http://127.0.0.1:8765/callback.
    let registered = strings(&["http://127.0.0.1:8765/callback"]);
    for (presented, matches) in [
        ("http://127.0.0.1:8765/callback", true),
        ("http://127.0.0.1:9999/callback", true),
        ("http://127.1:8765/callback", false),
        ("http://2130706433:8765/callback", false),
        ("http://127.0.0.1:8765/x/../callback", false),
        ("http://127.0.0.1:8765/callback/", false),
    ] {
        assert_eq!(
            redirect_uri_matches(&registered, presented),
            matches,
            "{presented}"
        );
    }
    // A loopback https registration gets no port leeway.
    assert!(!redirect_uri_matches(
        &strings(&["https://127.0.0.1:8443/cb"]),
        "https://127.0.0.1:9443/cb"
    ));
}

fn creds(
    basic: Option<(&str, &str)>,
    client_id: Option<&str>,
    secret: Option<&str>,
) -> PresentedCredentials {
    PresentedCredentials {
        basic: basic.map(|(i, s)| (i.to_string(), s.to_string())),
        client_id_param: client_id.map(String::from),
        client_secret_param: secret.map(String::from),
        assertion_type: None,
        assertion: None,
    }
}

/// Secret and public clients need no assertion context.
fn no_assertions() -> AssertionContext<'static> {
    AssertionContext {
        issuer: "https://logi.example",
        endpoint: "/oauth/token",
        now: 0,
        client_keys: None,
    }
}

#[test]
fn the_presented_client_id() {
    use ErrorCode::{InvalidClient, InvalidRequest};
    let cases = [
        (creds(Some(("a", "s")), None, None), Ok("a")),
        (creds(None, Some("a"), None), Ok("a")),
        (creds(Some(("a", "s")), Some("a"), None), Ok("a")),
        (creds(None, Some("a"), Some("s")), Ok("a")),
        // Both places must agree.
        (
            creds(Some(("a", "s")), Some("b"), None),
            Err((InvalidRequest, true)),
        ),
        (
            creds(Some(("", "s")), Some("a"), None),
            Err((InvalidRequest, true)),
        ),
        // Nobody.
        (creds(None, None, None), Err((InvalidClient, false))),
        (creds(None, None, Some("s")), Err((InvalidClient, false))),
    ];
    for (c, expected) in cases {
        let got = c.client_id().map_err(|e| (e.code, e.basic_challenge));
        assert_eq!(got, expected.map(String::from), "{c:?}");
    }
}

#[test]
fn client_authentication() {
    use ErrorCode::{InvalidClient, InvalidRequest};
    let keys = keys();
    let public = app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]);
    let basic = app(
        secret_auth(SecretMethod::Basic, &keys),
        &[GRANT_AUTHORIZATION_CODE],
    );
    let post = app(
        secret_auth(SecretMethod::Post, &keys),
        &[GRANT_AUTHORIZATION_CODE],
    );
    let id = "client-1";
    let ok = None;
    let refused = Some((InvalidClient, false));
    let refused_basic = Some((InvalidClient, true));
    let two_methods = Some((InvalidRequest, true));
    let cases = [
        // Public clients: client_id alone, nothing else (downgrade defence).
        (&public, creds(None, Some(id), None), ok),
        (&public, creds(Some((id, "")), None, None), refused_basic),
        (
            &public,
            creds(Some((id, SECRET)), None, None),
            refused_basic,
        ),
        (&public, creds(None, Some(id), Some(SECRET)), refused),
        (&public, creds(None, Some(id), Some("x")), refused),
        // Registered for client_secret_basic: the secret in either place, right or wrong.
        (&basic, creds(Some((id, SECRET)), None, None), ok),
        (&basic, creds(Some((id, SECRET)), Some(id), None), ok),
        (
            &basic,
            creds(Some((id, "wrong")), None, None),
            refused_basic,
        ),
        (&basic, creds(Some((id, "")), None, None), refused_basic),
        (&basic, creds(None, Some(id), Some(SECRET)), ok),
        (&basic, creds(None, Some(id), Some("wrong")), refused),
        (&basic, creds(None, Some(id), None), refused),
        // Registered for client_secret_post: the same, both places accepted.
        (&post, creds(None, Some(id), Some(SECRET)), ok),
        (&post, creds(None, Some(id), Some("wrong")), refused),
        (&post, creds(Some((id, SECRET)), None, None), ok),
        (&post, creds(Some((id, SECRET)), Some(id), None), ok),
        (&post, creds(Some((id, "wrong")), None, None), refused_basic),
        (&post, creds(None, Some(id), None), refused),
        // Two methods at once (RFC 6749 §2.3), for every kind of client.
        (
            &public,
            creds(Some((id, SECRET)), None, Some(SECRET)),
            two_methods,
        ),
        (
            &basic,
            creds(Some((id, SECRET)), None, Some(SECRET)),
            two_methods,
        ),
        (
            &post,
            creds(Some((id, SECRET)), None, Some(SECRET)),
            two_methods,
        ),
    ];
    for (app, c, expected) in cases {
        let got = code(authenticate_client(app, &c, &keys, &no_assertions()).map(|_| ()));
        assert_eq!(got, expected, "{:?} {c:?}", app.auth);
    }
    // The secret is checked against this server's keys only.
    let other = ServerKeys::from_master(&[8u8; 32]);
    assert_eq!(
        code(
            authenticate_client(
                &basic,
                &creds(Some((id, SECRET)), None, None),
                &other,
                &no_assertions()
            )
            .map(|_| ())
        ),
        refused_basic
    );
}

#[test]
fn pkce_at_the_authorization_endpoint() {
    use ClientType::{Confidential, Public};
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let short = "a".repeat(42);
    let longest = "a".repeat(128);
    let too_long = "a".repeat(129);
    let bad_char = format!("{}+", "a".repeat(42));
    let s256 = Some("S256");
    let cases = [
        (Public, None, None, Err(())),
        (Confidential, None, None, Ok(None)),
        (Public, Some(challenge), s256, Ok(Some(challenge))),
        (Confidential, Some(challenge), s256, Ok(Some(challenge))),
        (
            Public,
            Some(longest.as_str()),
            s256,
            Ok(Some(longest.as_str())),
        ),
        // A method without a challenge.
        (Public, None, s256, Err(())),
        (Confidential, None, Some("plain"), Err(())),
        // A missing method means plain (RFC 7636 §4.3), refused like plain.
        (Public, Some(challenge), None, Err(())),
        (Confidential, Some(challenge), None, Err(())),
        (Public, Some(challenge), Some("plain"), Err(())),
        (Confidential, Some(challenge), Some("plain"), Err(())),
        (Public, Some(challenge), Some("s256"), Err(())),
        // Length and characters of the challenge.
        (Public, Some(short.as_str()), s256, Err(())),
        (Confidential, Some(too_long.as_str()), s256, Err(())),
        (Public, Some(bad_char.as_str()), s256, Err(())),
    ];
    for (client_type, c, m, expected) in cases {
        let got = check_pkce(client_type, c, m);
        match expected {
            Ok(v) => assert_eq!(got, Ok(v.map(String::from)), "{client_type:?} {c:?} {m:?}"),
            Err(()) => assert_eq!(
                got.map_err(|e| e.code),
                Err(ErrorCode::InvalidRequest),
                "{client_type:?} {c:?} {m:?}"
            ),
        }
    }
}

#[test]
fn grant_types_at_the_token_endpoint() {
    let keys = keys();
    let confidential = |grants| app(secret_auth(SecretMethod::Basic, &keys), grants);
    let unauthorized = Some((ErrorCode::UnauthorizedClient, false));
    let cases = [
        (
            app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]),
            GRANT_AUTHORIZATION_CODE,
            None,
        ),
        (
            app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]),
            GRANT_REFRESH_TOKEN,
            unauthorized,
        ),
        (
            app(ClientAuth::Public, &[GRANT_DEVICE_CODE]),
            GRANT_DEVICE_CODE,
            None,
        ),
        // Even a public client that somehow holds client_credentials cannot use it.
        (
            app(
                ClientAuth::Public,
                &[GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS],
            ),
            GRANT_CLIENT_CREDENTIALS,
            unauthorized,
        ),
        (
            confidential(&[GRANT_CLIENT_CREDENTIALS]),
            GRANT_CLIENT_CREDENTIALS,
            None,
        ),
        (
            confidential(&[GRANT_AUTHORIZATION_CODE]),
            GRANT_CLIENT_CREDENTIALS,
            unauthorized,
        ),
        (
            confidential(&[GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN]),
            GRANT_REFRESH_TOKEN,
            None,
        ),
        (confidential(&[GRANT_AUTHORIZATION_CODE]), "", unauthorized),
        (
            confidential(&[GRANT_AUTHORIZATION_CODE]),
            "password",
            unauthorized,
        ),
    ];
    for (app, grant, expected) in cases {
        assert_eq!(
            code(check_grant_allowed(&app, grant)),
            expected,
            "{:?} {:?} {grant}",
            app.auth,
            app.grant_types
        );
    }
}

#[test]
fn refresh_tokens_need_the_grant_and_offline_access() {
    let keys = keys();
    let with_refresh = [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN];
    let without = [GRANT_AUTHORIZATION_CODE];
    for auth in [ClientAuth::Public, secret_auth(SecretMethod::Post, &keys)] {
        let cases: [(&[&str], &[&str], bool); 5] = [
            (&with_refresh, &["openid", "offline_access"], true),
            (&with_refresh, &["offline_access"], true),
            (&with_refresh, &["openid", "profile"], false),
            (&with_refresh, &[], false),
            (&without, &["openid", "offline_access"], false),
        ];
        for (grants, granted, issued) in cases {
            assert_eq!(
                issues_refresh_token(&app(auth.clone(), grants), &strings(granted)),
                issued,
                "{auth:?} {grants:?} {granted:?}"
            );
        }
    }
}

#[test]
fn dpop_bound_clients_must_send_a_proof() {
    for (bound, present, expected) in [
        (true, false, Some((ErrorCode::InvalidDpopProof, false))),
        (true, true, None),
        (false, true, None),
        (false, false, None),
    ] {
        let mut a = app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]);
        a.dpop_bound_access_tokens = bound;
        assert_eq!(
            code(check_dpop_required(&a, present)),
            expected,
            "{bound} {present}"
        );
    }
}

#[test]
fn refresh_tokens_of_public_clients_are_bound_to_the_dpop_key() {
    let keys = keys();
    let public = app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]);
    let confidential = app(
        secret_auth(SecretMethod::Basic, &keys),
        &[GRANT_AUTHORIZATION_CODE],
    );
    let cases = [
        (&public, Some("jkt"), Some("jkt")),
        (&public, None, None),
        (&confidential, Some("jkt"), None),
        (&confidential, None, None),
    ];
    for (app, jkt, expected) in cases {
        assert_eq!(
            refresh_token_binding(app, jkt).as_deref(),
            expected,
            "{:?} {jkt:?}",
            app.auth
        );
    }
}

#[test]
fn only_confidential_clients_introspect() {
    let keys = keys();
    let cases = [
        (ClientAuth::Public, Some((ErrorCode::InvalidClient, false))),
        (secret_auth(SecretMethod::Basic, &keys), None),
        (secret_auth(SecretMethod::Post, &keys), None),
    ];
    for (auth, expected) in cases {
        let a = app(auth, &[GRANT_AUTHORIZATION_CODE]);
        assert_eq!(code(may_introspect(&a)), expected, "{:?}", a.auth);
    }
}

#[test]
fn cors_origins_are_for_public_clients_and_must_be_origins() {
    use ClientType::{Confidential, Public};
    let cases: &[(ClientType, &[&str], bool)] = &[
        (Public, &["https://spa.example"], true),
        (Public, &["https://spa.example:8443"], true),
        (
            Public,
            &[
                "http://127.0.0.1:5173",
                "http://localhost:3000",
                "http://[::1]:8080",
            ],
            true,
        ),
        (Public, &[], true),
        (Confidential, &[], true),
        // A confidential client calls logi from its backend.
        (Confidential, &["https://rp.example"], false),
        // Not origins in the exact form browsers send.
        (Public, &["https://spa.example/"], false),
        (Public, &["https://spa.example/app"], false),
        (Public, &["https://spa.example?x"], false),
        (Public, &["https://SPA.example"], false),
        (Public, &["https://spa.example:443"], false),
        (Public, &["*"], false),
        (Public, &["null"], false),
        (Public, &["spa.example"], false),
        // Plain http only on loopback; no other schemes.
        (Public, &["http://spa.example"], false),
        (Public, &["com.example.app://cb"], false),
        (Public, &["file://"], false),
    ];
    for (client_type, origins, ok) in cases {
        let list = strings(origins);
        let got = check_cors_origins(*client_type, Some(&list));
        assert_eq!(got.is_ok(), *ok, "{client_type:?} {origins:?}: {got:?}");
    }
    let too_many: Vec<String> = (0..21).map(|i| format!("https://a{i}.example")).collect();
    assert!(check_cors_origins(Public, Some(&too_many)).is_err());
    assert!(check_cors_origins(Confidential, None).is_ok());
}

#[test]
fn the_default_cors_origins_come_from_https_and_loopback_redirect_uris() {
    let redirects = strings(&[
        "https://spa.example/callback",
        "https://spa.example/other",
        "http://127.0.0.1:5173/cb",
        "com.example.app:/cb",
        "https://www.example:8443/cb?x=1",
    ]);
    assert_eq!(
        cors_origins(ClientType::Public, None, &redirects),
        strings(&[
            "http://127.0.0.1:5173",
            "https://spa.example",
            "https://www.example:8443"
        ])
    );
    let registered = strings(&["https://b.example", "https://a.example"]);
    assert_eq!(
        cors_origins(ClientType::Public, Some(&registered), &redirects),
        strings(&["https://a.example", "https://b.example"]),
        "a registered list replaces the default"
    );
    assert!(cors_origins(ClientType::Confidential, None, &redirects).is_empty());
    assert!(cors_origins(ClientType::Public, Some(&[]), &redirects).is_empty());
}

#[test]
fn remembered_consent_is_reused_only_where_no_other_app_can_claim_the_redirect() {
    let keys = keys();
    let public = app(ClientAuth::Public, &[GRANT_AUTHORIZATION_CODE]);
    let confidential = app(
        secret_auth(SecretMethod::Basic, &keys),
        &[GRANT_AUTHORIZATION_CODE],
    );
    let cases = [
        ("https://rp.example/cb", true, true),
        ("https://127.0.0.1:8443/cb", true, true),
        // Loopback and private-use redirects of a public client: any app on the device may
        // listen there (RFC 8252 §8.6).
        ("http://127.0.0.1:8765/cb", false, true),
        ("http://[::1]:8765/cb", false, true),
        ("http://localhost:3000/cb", false, true),
        ("com.example.app:/cb", false, true),
        ("com.example.app://https://rp.example/cb", false, true),
        ("HTTPS://rp.example/cb", false, true),
    ];
    for (uri, public_reuses, confidential_reuses) in cases {
        assert_eq!(
            may_reuse_consent(&public, uri),
            public_reuses,
            "public {uri}"
        );
        assert_eq!(
            may_reuse_consent(&confidential, uri),
            confidential_reuses,
            "confidential {uri}"
        );
    }
}

#[test]
fn a_patch_keeps_secrets_keys_and_none_apart() {
    let secret = |method| ClientAuth::Secret {
        method,
        hash: "kept-hash".into(),
    };
    let keyed = ClientAuth::PrivateKeyJwt {
        keys: ClientKeys::Inline(r#"{"keys":[]}"#.into()),
    };
    // (current, requested method, accepted?)
    let cases = [
        (
            secret(SecretMethod::Basic),
            AuthMethod::ClientSecretPost,
            true,
        ),
        (
            secret(SecretMethod::Basic),
            AuthMethod::ClientSecretBasic,
            true,
        ),
        (
            secret(SecretMethod::Basic),
            AuthMethod::PrivateKeyJwt,
            false,
        ),
        (secret(SecretMethod::Post), AuthMethod::None, false),
        (keyed.clone(), AuthMethod::PrivateKeyJwt, true),
        (keyed.clone(), AuthMethod::ClientSecretBasic, false),
        (ClientAuth::Public, AuthMethod::None, true),
        (ClientAuth::Public, AuthMethod::PrivateKeyJwt, false),
    ];
    for (auth, method, ok) in cases {
        let got = with_auth_method(&auth, method);
        assert_eq!(got.is_ok(), ok, "{auth:?} {method:?}: {got:?}");
        if let Ok(next) = got {
            assert_eq!(next.method(), method);
            assert_eq!(next.secret_hash(), auth.secret_hash(), "a secret is kept");
        }
    }
    // Keys are replaced only on a key-based client, and only by usable public keys or an
    // allowed URL; inline keys and a URL replace each other; both at once never.
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let uri = "https://rp.example/jwks.json";
    let inline = ClientAuth::PrivateKeyJwt {
        keys: ClientKeys::Inline(jwk.into()),
    };
    let by_uri = ClientAuth::PrivateKeyJwt {
        keys: ClientKeys::Uri(uri.into()),
    };
    assert_eq!(with_keys(&keyed, Some(jwk), None), Ok(inline.clone()));
    assert_eq!(with_keys(&keyed, None, Some(uri)), Ok(by_uri.clone()));
    assert_eq!(with_keys(&by_uri, Some(jwk), None), Ok(inline.clone()));
    assert_eq!(with_keys(&inline, None, None), Ok(inline.clone()));
    assert!(is_bad_metadata(&with_keys(&keyed, Some(jwk), Some(uri))));
    assert!(is_bad_metadata(&with_keys(
        &keyed,
        Some(r#"{"keys":[]}"#),
        None
    )));
    assert!(is_bad_metadata(&with_keys(
        &keyed,
        None,
        Some("http://rp.example/jwks")
    )));
    for other in [secret(SecretMethod::Basic), ClientAuth::Public] {
        assert!(is_bad_metadata(&with_keys(&other, Some(jwk), None)));
        assert!(is_bad_metadata(&with_keys(&other, None, Some(uri))));
        assert_eq!(with_keys(&other, None, None), Ok(other.clone()));
    }
}

#[test]
fn a_key_based_client_registers_exactly_one_of_jwks_and_jwks_uri() {
    let keys = keys();
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let uri = "https://rp.example/jwks.json";
    let register = |jwks, jwks_uri| {
        new_client_auth(
            ClientType::Confidential,
            AuthMethod::PrivateKeyJwt,
            jwks,
            jwks_uri,
            &keys,
        )
    };
    assert_eq!(
        register(None, Some(uri)),
        Ok((
            ClientAuth::PrivateKeyJwt {
                keys: ClientKeys::Uri(uri.into())
            },
            None
        ))
    );
    assert_eq!(
        register(Some(jwk), None).map(|(a, s)| (a.jwks().map(String::from), s)),
        Ok((Some(jwk.to_string()), None))
    );
    assert!(is_bad_metadata(&register(Some(jwk), Some(uri))));
    assert!(is_bad_metadata(&register(None, None)));
    // Keys on a client that authenticates otherwise are refused, not ignored.
    for (client_type, method) in [
        (ClientType::Confidential, AuthMethod::ClientSecretBasic),
        (ClientType::Confidential, AuthMethod::ClientSecretPost),
        (ClientType::Public, AuthMethod::None),
    ] {
        assert!(is_bad_metadata(&new_client_auth(
            client_type,
            method,
            None,
            Some(uri),
            &keys
        )));
        assert!(is_bad_metadata(&new_client_auth(
            client_type,
            method,
            Some(jwk),
            None,
            &keys
        )));
    }
}

#[test]
fn urls_logi_calls_are_https_or_loopback_http_in_canonical_form() {
    let ok = [
        "https://rp.example/jwks",
        "https://rp.example:8443/.well-known/jwks.json?v=2",
        "http://127.0.0.1:9000/jwks",
        "http://[::1]:9000/logout",
        "http://localhost:9000/logout",
    ];
    for uri in ok {
        assert_eq!(check_outbound_uri("jwks_uri", uri), Ok(()), "{uri}");
    }
    let refused = [
        "",
        "http://rp.example/jwks",
        "http://10.0.0.1/jwks",
        "ftp://rp.example/jwks",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "com.example.app:/jwks",
        "https://rp.example/jwks#frag",
        "https://user:pw@rp.example/jwks",
        "https:rp.example/jwks",
        "https://RP.example/jwks",
        "http://127.1/jwks",
        "https://rp.example/a/../jwks",
        "https://rp.example/ jwks",
        "https://rp.example\\jwks",
        "/jwks",
    ];
    for uri in refused {
        assert!(
            matches!(
                check_outbound_uri("jwks_uri", uri),
                Err(MetadataError::InvalidClientMetadata(_))
            ),
            "{uri}"
        );
    }
}

#[test]
fn a_key_based_client_whose_keys_cannot_be_had_is_refused() {
    let keys = keys();
    let app = app(
        ClientAuth::PrivateKeyJwt {
            keys: ClientKeys::Uri("https://rp.example/jwks".into()),
        },
        &["client_credentials"],
    );
    let creds = PresentedCredentials {
        client_id_param: Some("client-1".into()),
        assertion_type: Some(super::super::client_assertion::ASSERTION_TYPE.into()),
        assertion: Some("a.b.c".into()),
        ..PresentedCredentials::default()
    };
    for client_keys in [None, Some(Err("the client's jwks_uri timed out"))] {
        let ctx = AssertionContext {
            client_keys,
            ..no_assertions()
        };
        let e = authenticate_client(&app, &creds, &keys, &ctx).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClient, "{client_keys:?}");
        if let Some(Err(why)) = client_keys {
            assert_eq!(e.description, why);
        }
    }
}

#[test]
fn an_application_that_requires_pushed_requests_requires_pkce_whatever_its_type() {
    let keys = keys();
    let (auth, _) = new_client_auth(
        ClientType::Confidential,
        AuthMethod::ClientSecretBasic,
        None,
        None,
        &keys,
    )
    .unwrap();
    let mut fapi = app(auth, &["authorization_code"]);
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert_eq!(
        check_pkce_for(&fapi, None, None),
        Ok(None),
        "optional before"
    );
    fapi.require_pushed_authorization_requests = true;
    let e = check_pkce_for(&fapi, None, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(
        check_pkce_for(&fapi, Some(challenge), Some("S256")),
        Ok(Some(challenge.to_string()))
    );
    assert!(check_pkce_for(&fapi, Some(challenge), Some("plain")).is_err());
}
